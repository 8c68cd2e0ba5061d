package main

import (
	"encoding/json"
	"fmt"
	"math"
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
	Model     []string `help:"Compare only these models' results (repeatable; on either side)." placeholder:"NAME"`
	JSON      bool     `name:"json" help:"Print the comparison as JSON (schema 1)."`
	// Comparing a --limit run with a full one is almost always a mistake
	// in a CI script, so it must be asked for.
	AllowDifferentItems bool `help:"Compare and judge tasks whose runs covered different items (another --limit or --subset, other item IDs, or other data files) instead of refusing."`
}

func (c *checkCmd) Help() string {
	return `Pairs results by task where each side has one result for it (so checkpoint v1
against v2 compares even though their model names differ), and by task and model
name where either side has several models for a task (the OUT/<task>/<model>/
folders of a demo or multi-model run); --model keeps only the named models on both
sides. Every baseline metric is compared in the direction its higher_is_better
gives. Exit 0 when nothing regressed beyond its tolerance, 1 when something did, 2
when a baseline task (or task and model) is missing from the candidate, the two
runs of a task covered different items (results.json's n_samples.ids_sha256, or
the item counts for results written before it existed) or read data files that
hashed differently (data_files), or a --tolerance key or
--model name matches nothing. Without --allow-different-items the rows of a task
whose runs covered different items are shown but not judged (status "-", note
"different items: not compared") and do not count as regressions; with it they
are judged (note "different items"). --tolerance keys are checked against the
whole baseline, before --model narrows it, so one tolerance list serves every
--model. In --json rows "note" is always present ("" when none).

Example (in a user's CI, after evaluating a new checkpoint):
  evalrun check --baseline baselines/v1 --candidate results/ --tolerance 'recon/rfid_clean=0.05' --tolerance '*/psnr=0.1'
  evalrun check --baseline demo-out/results --candidate new/results --model tiny-dualtoken`
}

func (c *checkCmd) Run(g *Globals) error {
	if samePath(c.Baseline, c.Candidate) {
		return usageErr("--baseline %s and --candidate %s are the same: the check would compare the runs with themselves", c.Baseline, c.Candidate)
	}
	base, basePaths, err := bench.FindResults(c.Baseline)
	if err != nil {
		return usageErr("baseline: %v", err)
	}
	cand, candPaths, err := bench.FindResults(c.Candidate)
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
	// Check validates the tolerances against the whole baseline before
	// --model narrows it, so one CI tolerance list serves every --model.
	rep, err := reports.Check(base, cand, reports.CheckOptions{
		Tolerances: tol, Models: c.Model, AllowDifferentItems: c.AllowDifferentItems,
		BaselinePaths: basePaths, CandidatePaths: candPaths,
	})
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
		fmt.Fprintln(tw, "task\tmodel\tmetric\tbaseline\tcandidate\tdelta\tbetter\ttolerance\tstatus")
		for _, r := range rep.Rows {
			dir := "higher"
			if !r.HigherIsBetter {
				dir = "lower"
			}
			status := "ok"
			switch {
			case r.Regressed:
				status = "REGRESSED"
			case r.NotCompared:
				status = "-"
			}
			if r.Note != "" {
				status += " (" + r.Note + ")"
			}
			model := r.Model
			if r.CandidateModel != "" {
				model += " -> " + r.CandidateModel
			}
			cand, delta := fmt.Sprintf("%.6g", r.Candidate), fmt.Sprintf("%+.4g", r.Delta)
			switch {
			case r.Missing:
				cand, delta = "-", "-"
			case math.IsNaN(r.Delta):
				delta = "NaN"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.6g\t%s\t%s\t%s\t%g\t%s\n", r.Task, model, r.Metric, r.Baseline, cand, delta, dir, r.Tolerance, status)
		}
		tw.Flush()
	}
	if len(rep.MissingTasks) > 0 {
		hint := ""
		if strings.HasSuffix(rep.MissingTasks[0], ")") && len(c.Model) == 0 {
			hint = " (--model NAME compares only the named models)"
		}
		return usageErr("candidate %s lacks baseline task(s) %s%s", c.Candidate, strings.Join(rep.MissingTasks, ", "), hint)
	}
	if len(rep.DifferentItems) > 0 && !c.AllowDifferentItems {
		return usageErr("baseline and candidate ran on different items (%s), so those rows were not judged: rerun on the same items or pass --allow-different-items", strings.Join(rep.DifferentItems, "; "))
	}
	if rep.Regressions > 0 {
		return failErr("%d metric(s) regressed beyond tolerance", rep.Regressions)
	}
	return nil
}

// checkJSON is check --json's document (schema 1): every key always
// present; rows write a metric missing from the candidate as null and a
// NaN one as "NaN" (CheckRow.MarshalJSON).
func checkJSON(rep *reports.CheckReport) any {
	list := func(s []string) []string { // [] rather than null
		if s == nil {
			return []string{}
		}
		return s
	}
	rows := rep.Rows
	if rows == nil {
		rows = []reports.CheckRow{}
	}
	return map[string]any{"schema": rep.Schema, "rows": rows, "regressions": rep.Regressions, "missing_tasks": list(rep.MissingTasks), "extra_tasks": list(rep.ExtraTasks), "different_items": list(rep.DifferentItems)}
}
