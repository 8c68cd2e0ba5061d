package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/reports"
)

func init() {
	register("report", "Merge results into the paper's tables (ours vs paper, delta) and plots.", &reportCmd{})
}

type reportCmd struct {
	Runs   []string  `arg:"" help:"results.json files or directories searched for them." placeholder:"RUNS"`
	Format string    `default:"text" enum:"text,markdown,csv,json,html" help:"Terminal output format: text, markdown, csv, json, html."`
	Out    string    `help:"Also write report.{md,csv,json,txt}, index.html and PNG/SVG plots here." placeholder:"DIR"`
	Match  keyValues `placeholder:"MODEL=ROW" help:"Our model name = the paper row it reproduces (repeatable), for delta rows, e.g. --match 'my-ckpt=DualToken (SigLIP-So/14-384)'; an unknown model or paper row is an error listing the known ones."`
}

func (c *reportCmd) Help() string {
	var names []string
	for _, t := range reports.Tables() {
		names = append(names, t.ID)
	}
	return `Builds the paper's table shapes (` + strings.Join(names, ", ") + `) from whichever results
touch them, with the paper's number, ours and the delta side by side and our
protocol under each table (one line per model where the table's models ran a task
with different protocols); plots: the Figure-1 scatter (zero-shot vs rFID), one
bar chart per column, and metrics across checkpoints (models ordered by the
number in their name). A paper table is shown only when our results fill at least
half of its columns (one shared column, such as Table 2's ZS, is not enough); the
table of all measured results is always shown, and --format json writes
"tables": [] when no paper table qualifies. --match names must be a model some
result has and a paper row of one of the tables; anything else is a usage error
(exit 2). Two results of one model on one task are an error naming both files.

Example:
  evalrun report results/ --out report/ --match 'step-20000=DualToken (SigLIP-So/14-384)'`
}

func (c *reportCmd) Run(g *Globals) error {
	results, paths, err := bench.FindResults(c.Runs...)
	if err != nil {
		return usageErr("%v", err)
	}
	if len(results) == 0 {
		return usageErr("no results.json found under %s", strings.Join(c.Runs, ", "))
	}
	if err := reports.CheckMatches(results, c.Match); err != nil {
		return usageErr("%v", err)
	}
	if c.Out != "" {
		if err := os.MkdirAll(c.Out, 0o755); err != nil {
			return usageErr("--out %s: %v", c.Out, err)
		}
	}
	rep, err := reports.Make(results, reports.Options{OutDir: c.Out, Matches: c.Match, Paths: paths})
	if err != nil {
		return err
	}
	for _, name := range sortedNames(c.Match) {
		if !hasDeltaRow(rep, name) {
			fmt.Fprintf(os.Stderr, "evalrun: warning: --match %q gives no delta row: no table shown has both that paper row and a result of %s\n", name+"="+c.Match[name], name)
		}
	}
	if err := rep.Write(os.Stdout, c.Format); err != nil {
		return err
	}
	if c.Out != "" {
		fmt.Fprintf(os.Stderr, "report written to %s (index.html, report.md, %d plots)\n", c.Out, len(rep.Plots))
	}
	return nil
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hasDeltaRow reports whether some table of rep compares model with its
// matched paper row.
func hasDeltaRow(rep *reports.Report, model string) bool {
	for _, t := range rep.Tables {
		for _, r := range t.Rows {
			if r.Source == "delta" && r.Model == model {
				return true
			}
		}
	}
	return false
}
