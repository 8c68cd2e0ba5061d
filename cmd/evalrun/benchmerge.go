package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/dualtoken/evalharness/perf"
)

func init() {
	register("bench-merge", "Merge a GPU bench run (ours + PyTorch references) into reports/perf/<date>-<card>.json and a ratio plot.", &benchMergeCmd{})
}

type benchMergeCmd struct {
	Raw    string   `required:"" help:"Raw folder of scripts/gpu/bench.sh: our *.json, torch_siglip.out, torch_llm.jsonl, *.gpumem, steps.tsv." placeholder:"DIR"`
	Card   string   `required:"" help:"Card name for the file: h100 or h200 (lower-case letters and digits)."`
	Date   string   `required:"" help:"Date of the run, yyyy-mm-dd."`
	Device string   `help:"The device in words (nvidia-smi's name)."`
	OutDir string   `name:"out-dir" default:"reports/perf" help:"Where <date>-<card>.json and .png go (default: reports/perf, under the current folder)." placeholder:"DIR"`
	Note   []string `sep:"none" help:"A line for the report's notes (repeatable): what the raw files cannot say, e.g. that steps came from two runs." placeholder:"TEXT"`
}

func (c *benchMergeCmd) Help() string {
	return `Reads the raw outputs of one scripts/gpu/bench.sh run and writes issue 7's
report: {"card", "date", "device", "matmul_bf16_tflops", "components": {NAME:
{"ours", "reference", "unit", "ratio", "compile_cold_s", "compile_warm_s"}}}
plus what each number is (dtype, reference name, device memory, step status),
and a PNG of the ratios beside it. Missing or failed steps leave their
components out; the merge itself only fails on bad arguments.

Example:
  evalrun bench-merge --raw out/raw --card h100 --date 2026-12-01 \
      --device "NVIDIA H100 80GB HBM3" --out-dir out/reports/perf`
}

var (
	cardName = regexp.MustCompile(`^[a-z0-9]+$`)
	isoDate  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

func (c *benchMergeCmd) Run(g *Globals) error {
	if !cardName.MatchString(c.Card) {
		return usageErr("--card %q: use lower-case letters and digits, e.g. h100", c.Card)
	}
	if _, err := time.Parse(time.DateOnly, c.Date); err != nil || !isoDate.MatchString(c.Date) {
		return usageErr("--date %q: want a real date as yyyy-mm-dd, e.g. 2026-12-01", c.Date)
	}
	in, err := perf.ReadInputs(c.Raw)
	if err != nil {
		return usageErr("--raw: %v", err)
	}
	rep := perf.Merge(in, c.Card, c.Date, c.Device)
	for _, n := range c.Note {
		if n = strings.TrimSpace(n); n == "" {
			return usageErr("--note: empty text")
		}
		rep.Notes = append(rep.Notes, n)
	}
	if len(rep.Components) == 0 && len(rep.Runs) == 0 {
		if len(in.Skips) > 0 {
			return usageErr("--raw %s: no benchmark output could be read: %s", c.Raw, strings.Join(in.Skips, "; "))
		}
		return usageErr("--raw %s: no benchmark output found (want the raw/ folder scripts/gpu/bench.sh wrote: *.json from evalrun bench, torch_*.out/.jsonl)", c.Raw)
	}
	for _, s := range in.Skips {
		fmt.Fprintf(os.Stderr, "bench-merge: skipped %s/%s\n", c.Raw, s)
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return usageErr("--out-dir: %v", err)
	}
	stem := filepath.Join(c.OutDir, c.Date+"-"+c.Card)
	if err := rep.WriteJSON(stem + ".json"); err != nil {
		return err
	}
	if err := perf.PlotRatios(rep, stem+".png"); err != nil {
		return fmt.Errorf("plot %s.png: %w", stem, err)
	}
	fmt.Printf("wrote %s.json and %s.png: %d components, %d of our runs\n", stem, stem, len(rep.Components), len(rep.Runs))
	for _, n := range rep.Names() {
		e := rep.Components[n]
		line := fmt.Sprintf("  %-24s ours %10.2f %s", n, *e.Ours, e.Unit)
		if e.Ratio != nil {
			line += fmt.Sprintf("  reference %10.2f  ratio %.3f", *e.Reference, *e.Ratio)
		}
		if e.CompileCold != nil {
			line += fmt.Sprintf("  compile %.1f s", *e.CompileCold)
			if e.CompileWarm != nil {
				line += fmt.Sprintf(" (warm %.1f s)", *e.CompileWarm)
			}
		}
		if e.OursScan != nil {
			line += fmt.Sprintf("  layer loop %.2f %s, compile %.1f s", *e.OursScan, e.Unit, *e.CompileColdScan)
		}
		if e.OursTritonGEMM != nil {
			line += fmt.Sprintf("  Triton GEMMs %.2f %s, compile %.1f s", *e.OursTritonGEMM, e.Unit, *e.CompileColdTritonGEMM)
		}
		fmt.Println(line)
	}
	for _, p := range rep.Parity {
		ok := "ok"
		if !p.OK {
			ok = "FAILED"
		}
		fmt.Printf("  parity %-10s %s (%d passed, %d failed)\n", p.Package, ok, p.Passed, p.Failed)
	}
	return nil
}
