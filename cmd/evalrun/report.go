package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/reports"
)

func init() {
	register("report", "Merge results into the paper's tables (ours vs paper, delta) and plots.", &reportCmd{})
}

type reportCmd struct {
	Runs   []string          `arg:"" help:"results.json files or directories searched for them." placeholder:"RUNS"`
	Format string            `default:"text" enum:"text,markdown,csv,json,html" help:"Terminal output format: text, markdown, csv, json, html."`
	Out    string            `help:"Also write report.{md,csv,json,txt}, index.html and PNG/SVG plots here." placeholder:"DIR"`
	Match  map[string]string `help:"Our model name = the paper row it reproduces (repeatable), for delta rows, e.g. --match 'my-ckpt=DualToken (SigLIP-So/14-384)'."`
}

func (c *reportCmd) Help() string {
	var names []string
	for _, t := range reports.Tables() {
		names = append(names, t.ID)
	}
	return `Builds the paper's table shapes (` + strings.Join(names, ", ") + `) from whichever results
touch them, with the paper's number, ours and the delta side by side and our
protocol under each table; plots: the Figure-1 scatter (zero-shot vs rFID), one
bar chart per column, and metrics across checkpoints (models ordered by the
number in their name).

Example:
  evalrun report results/ --out report/ --match 'step-20000=DualToken (SigLIP-So/14-384)'`
}

func (c *reportCmd) Run(g *Globals) error {
	results, _, err := bench.FindResults(c.Runs...)
	if err != nil {
		return usageErr("%v", err)
	}
	if len(results) == 0 {
		return usageErr("no results.json found under %s", strings.Join(c.Runs, ", "))
	}
	rep, err := reports.Make(results, reports.Options{OutDir: c.Out, Matches: c.Match})
	if err != nil {
		return err
	}
	if err := rep.Write(os.Stdout, c.Format); err != nil {
		return err
	}
	if c.Out != "" {
		fmt.Fprintf(os.Stderr, "report written to %s (index.html, report.md, %d plots)\n", c.Out, len(rep.Plots))
	}
	return nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
