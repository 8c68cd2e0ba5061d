package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/reports"
)

func init() {
	register("check", "Compare a candidate's results with a baseline; exit 1 on a regression (for CI).", &checkCmd{})
}

type checkCmd struct {
	Baseline  string   `required:"" help:"Directory (or results.json) of the baseline run." placeholder:"DIR"`
	Candidate string   `required:"" help:"Directory (or results.json) of the candidate run." placeholder:"DIR"`
	Tolerance []string `help:"Allowed absolute worsening, task/metric=ABS (also task/*=, */metric=, metric=); default 0." placeholder:"T/M=ABS"`
	JSON      bool     `name:"json" help:"Print the comparison as JSON (schema 1)."`
	// Comparing a --limit run with a full one is almost always a mistake
	// in a CI script, so it must be asked for.
	AllowDifferentItems bool `help:"Compare tasks whose runs covered different items (another --limit or --subset) instead of refusing."`
}

func (c *checkCmd) Help() string {
	return `Pairs results by task and compares every baseline metric in the direction its
higher_is_better gives. Exit 0 when nothing regressed beyond its tolerance, 1 when
something did, 2 when a baseline task is missing from the candidate or the two
runs of a task covered different items (results.json's n_samples.ids_sha256, or
the item counts for results written before it existed).

Example (in a user's CI, after evaluating a new checkpoint):
  evalrun check --baseline baselines/v1 --candidate results/ --tolerance 'recon/rfid_clean=0.05' --tolerance '*/psnr=0.1'`
}

func (c *checkCmd) Run(g *Globals) error {
	base, _, err := bench.FindResults(c.Baseline)
	if err != nil {
		return usageErr("baseline: %v", err)
	}
	cand, _, err := bench.FindResults(c.Candidate)
	if err != nil {
		return usageErr("candidate: %v", err)
	}
	if len(base) == 0 {
		return usageErr("baseline %s: no results.json found", c.Baseline)
	}
	tol, err := reports.ParseTolerances(c.Tolerance)
	if err != nil {
		return usageErr("%v", err)
	}
	rep, err := reports.Check(base, cand, tol)
	if err != nil {
		return usageErr("%v", err)
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checkJSON(rep)); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "task\tmetric\tbaseline\tcandidate\tdelta\tbetter\ttolerance\tstatus")
		for _, r := range rep.Rows {
			dir := "higher"
			if !r.HigherIsBetter {
				dir = "lower"
			}
			status := "ok"
			if r.Regressed {
				status = "REGRESSED"
			}
			if r.Note != "" {
				status += " (" + r.Note + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%.6g\t%.6g\t%+.4g\t%s\t%g\t%s\n", r.Task, r.Metric, r.Baseline, r.Candidate, r.Delta, dir, r.Tolerance, status)
		}
		tw.Flush()
	}
	if len(rep.MissingTasks) > 0 {
		return usageErr("candidate %s lacks baseline task(s) %s", c.Candidate, strings.Join(rep.MissingTasks, ", "))
	}
	if len(rep.DifferentItems) > 0 && !c.AllowDifferentItems {
		return usageErr("baseline and candidate ran on different items, %s: rerun on the same items or pass --allow-different-items", strings.Join(rep.DifferentItems, "; "))
	}
	if rep.Regressions > 0 {
		return failErr("%d metric(s) regressed beyond tolerance", rep.Regressions)
	}
	return nil
}

// checkJSON is check --json's document (schema 1): every key always
// present; rows write a missing candidate as null (CheckRow.MarshalJSON).
func checkJSON(rep *reports.CheckReport) any {
	return map[string]any{"schema": rep.Schema, "rows": rep.Rows, "regressions": rep.Regressions, "missing_tasks": rep.MissingTasks, "extra_tasks": rep.ExtraTasks, "different_items": rep.DifferentItems}
}
