package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	_ "github.com/dualtoken/evalharness/bench/suites"
)

// The harness commands end to end on the shipped tiny SigLIP: run, score,
// report, check (pass, injected regression, missing task), with exit codes.
func TestRunScoreReportCheck(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 24)
	out := filepath.Join(dir, "results")
	if code := run([]string{"run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--out", out}); code != 0 {
		t.Fatalf("run exit %d", code)
	}
	resPath := filepath.Join(out, "imagenet-zeroshot", "tiny-siglip", "results.json")
	first, err := bench.ReadResult(resPath)
	if err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"score", resPath}); code != 0 {
		t.Fatalf("score exit %d", code)
	}
	again, _ := bench.ReadResult(resPath)
	if again.Metrics["top1"] != first.Metrics["top1"] || again.NSamples != first.NSamples {
		t.Errorf("rescore %v, run %v", again.Metrics, first.Metrics)
	}
	if code := run([]string{"report", out, "--format", "markdown", "--out", filepath.Join(dir, "report")}); code != 0 {
		t.Fatalf("report exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "report", "index.html")); err != nil {
		t.Error(err)
	}
	same := filepath.Join(dir, "same")
	if err := os.CopyFS(same, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"check", "--baseline", out, "--candidate", same}); code != 0 {
		t.Errorf("check against a copy of itself: exit %d", code)
	}
	// Injected regression: top-1 down by 5 points.
	cand := filepath.Join(dir, "cand", "results.json")
	worse := *first
	worse.Metrics = map[string]float64{}
	for k, v := range first.Metrics {
		worse.Metrics[k] = v
	}
	worse.Metrics["top1"] -= 5
	if err := worse.Write(cand); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"check", "--baseline", out, "--candidate", filepath.Dir(cand)}); code != 1 {
		t.Errorf("regression: exit %d, want 1", code)
	}
	if code := run([]string{"check", "--baseline", out, "--candidate", filepath.Dir(cand), "--tolerance", "imagenet-zeroshot/top1=5"}); code != 0 {
		t.Errorf("within tolerance: exit %d, want 0", code)
	}
	// check --json (schema 1): every key present, the regressed row readable.
	code, stdout, _ := runCaptured(t, "check", "--json", "--baseline", out, "--candidate", filepath.Dir(cand))
	var doc struct {
		Schema int `json:"schema"`
		Rows   []struct {
			Task, Metric        string
			Baseline, Candidate *float64
			Delta               *float64
			Regressed           bool
		} `json:"rows"`
		Regressions int `json:"regressions"`
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || json.Unmarshal([]byte(stdout), &keys) != nil {
		t.Fatalf("check --json: %v in %q", err, stdout)
	}
	for _, k := range []string{"schema", "rows", "regressions", "missing_tasks", "extra_tasks"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("check --json lacks %q", k)
		}
	}
	found := false
	for _, r := range doc.Rows {
		if r.Metric == "top1" {
			found = true
			if !r.Regressed || r.Candidate == nil || r.Delta == nil || math.Abs(*r.Delta+5) > 1e-9 {
				t.Errorf("top1 row %+v: want regressed, delta -5", r)
			}
		}
	}
	if code != 1 || doc.Schema != 1 || doc.Regressions < 1 || !found {
		t.Errorf("check --json: exit %d, schema %d, %d regressions, top1 row found %v", code, doc.Schema, doc.Regressions, found)
	}
	// Missing task in the candidate: usage error.
	other := worse
	other.Task = "flickr8k"
	os.Remove(cand)
	other.Write(cand)
	if code := run([]string{"check", "--baseline", out, "--candidate", filepath.Dir(cand)}); code != 2 {
		t.Errorf("missing task: exit %d, want 2", code)
	}
	// Bad inputs are exit 2.
	for _, args := range [][]string{
		{"run", "--task", "nosuch", "--model-kind", "siglip", "--model", model, "--data", opts.Data, "--out", out},
		{"run"},
		{"run", "--task", "imagenet-zeroshot", "--model-kind", "siglip", "--model", model, "--data", opts.Data, "--out", out, "--dtype", "float16"},
		{"score", filepath.Join(dir, "nope.json")},
		{"report", filepath.Join(dir, "empty-nothing")},
	} {
		if code := run(args); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	var j map[string]any
	b, _ := os.ReadFile(resPath)
	if json.Unmarshal(b, &j) != nil || j["schema"].(float64) != 1 {
		t.Errorf("results.json schema: %s", b)
	}
}
