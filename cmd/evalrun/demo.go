package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	_ "github.com/dualtoken/evalharness/bench/suites" // registers every suite
	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/reports"
)

func init() {
	register("demo", "End-to-end demo: generate a benchmark bundle, run every suite a shipped tiny model can run, write tables and plots.", &demoCmd{})
}

type demoCmd struct {
	Out   string `default:"demo-out" help:"Output folder: data/ (the generated bundle), models/, results/, report/."`
	N     int    `default:"120" help:"Items per generated suite (a positive number)."`
	Seed  uint64 `default:"2026" help:"World seed for the generated data."`
	Batch int    `default:"16" help:"Batch size (a positive number)."`
	Quiet bool   `help:"No progress bars."`
}

func (c *demoCmd) Help() string {
	return `Generates, from the repo's procedural image–caption world, a small benchmark bundle
in each suite's official file layout (ImageNet val folder and ground truth, Flickr8K
token/split files, VQAv2 JSON, POPE JSONL, MME folders, MMBench TSV, SEED JSON,
MM-Vet JSON), runs every suite that a model shipped with the repo can run, and writes
results, the paper-shaped tables and plots. Re-running resumes from cached predictions.

Example:
  evalrun demo --out demo-out && open demo-out/report/index.html`
}

// demoModel is a shipped model with the kind that loads it.
type demoModel struct {
	name, kind, dir string
	model           bench.Model
}

var kindOfModelType = map[string]string{"siglip": "siglip", "dualtoken": "dualtoken", "llava": "llava"}

func (c *demoCmd) Run(g *Globals) error {
	start := time.Now()
	// Checked before anything is written: --n 0 would fail only in the
	// first suite's data writer, after folders were made.
	if c.N < 1 {
		return usageErr("--n %d: want a positive number of items per suite", c.N)
	}
	if c.Batch < 1 {
		return usageErr("--batch %d: want a positive batch size", c.Batch)
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return usageErr("--out %s: %v", c.Out, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var models []*demoModel
	for _, name := range assets.Models() {
		dir, err := assets.Extract(name, filepath.Join(c.Out, "models"))
		if err != nil {
			return err
		}
		cfg, err := config.Load(dir)
		if err != nil {
			return err
		}
		mt, _ := cfg.ModelType()
		kind, ok := kindOfModelType[mt]
		if !ok {
			continue
		}
		m, err := bench.NewModel(bench.ModelSpec{Name: name, Kind: kind, Path: dir}, b)
		if err != nil {
			return fmt.Errorf("shipped model %s: %w", name, err)
		}
		models = append(models, &demoModel{name, kind, dir, m})
	}
	type outcome struct{ task, model, status string }
	var summary []outcome
	var notes []string
	for _, name := range bench.Names() {
		writer, ok := bench.Demo(name)
		if !ok {
			summary = append(summary, outcome{name, "-", "skipped: no demo data writer"})
			continue
		}
		opts, err := writer(filepath.Join(c.Out, "data", name), c.Seed, c.N)
		if err != nil {
			return fmt.Errorf("writing demo data for %s: %w", name, err)
		}
		task, err := bench.New(name, opts)
		if err != nil {
			return fmt.Errorf("demo data for %s: %w", name, err)
		}
		ran := false
		for _, m := range models {
			if !bench.CanRun(task, m.model) {
				continue
			}
			ran = true
			cfg := bench.RunConfig{OutDir: filepath.Join(c.Out, "results"), BatchSize: c.Batch, Seed: int64(c.Seed), GitCommit: gitCommit(), Backend: backend.Resolve(g.Backend)}
			if !c.Quiet {
				cfg.Progress = progressOut()
			}
			res, err := runPair(ctx, task, m.model, cfg)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", name, m.name, err)
			}
			printResult(res)
			status := fmt.Sprintf("ran: %d items, %d failed", res.NSamples.Total, res.NSamples.Failed)
			if res.Run.Cached > 0 {
				status = fmt.Sprintf("%d items (%d computed, %d from an earlier run), %d failed", res.NSamples.Total, res.Run.Computed, res.Run.Cached, res.NSamples.Failed)
			}
			summary = append(summary, outcome{name, m.name, status})
			notes = append(notes, demoNotes(res)...)
		}
		if !ran {
			summary = append(summary, outcome{name, "-", "skipped: no shipped model can run it (needs: " + task.Needs() + ")"})
		}
	}
	var results []*bench.Result
	if resDir := filepath.Join(c.Out, "results"); dirExists(resDir) {
		if results, _, err = bench.FindResults(resDir); err != nil {
			return err
		}
	}
	if len(results) > 0 {
		if _, err := reports.Make(results, reports.Options{OutDir: filepath.Join(c.Out, "report")}); err != nil {
			return err
		}
	}
	fmt.Printf("\nDemo summary (%s, %.0fs):\n", c.Out, time.Since(start).Seconds())
	for _, o := range summary {
		fmt.Printf("  %-18s %-16s %s\n", o.task, o.model, o.status)
	}
	for _, n := range notes {
		fmt.Println("Note: " + n)
	}
	if len(results) > 0 {
		fmt.Printf("Report: %s\n", filepath.Join(c.Out, "report", "index.html"))
	}
	if len(models) == 0 {
		fmt.Println("No shipped models found: " + strings.Join(assets.Models(), ", "))
	}
	return nil
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// demoNotes says what a demo result left out or graded differently from the
// paper's protocol, so that the console says it, not only the report.
func demoNotes(r *bench.Result) []string {
	var notes []string
	if fm, _ := r.Protocol["fid_mode"].(string); strings.HasPrefix(fm, "not computed") {
		notes = append(notes, r.Task+" on "+r.Model.Name+": rFID not computed (it needs pytorch-fid's Inception weights: --opt inception=FILE with evalrun run)")
	}
	if gn, _ := r.Protocol["grader_note"].(string); gn != "" {
		notes = append(notes, r.Task+" on "+r.Model.Name+": graded by an "+gn+" (set DUALTOKEN_JUDGE_URL for the LLM judge)")
	}
	return notes
}
