package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/perf"
)

func TestBenchCLIBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--component", "vae", "--preset", "tiny"}, "unknown --component"},
		{[]string{"--component", "siglip-vision"}, "--preset is required"},
		{[]string{"--component", "siglip-vision", "--preset", "huge"}, "no preset"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--dtype", "fp16"}, "float16 is not implemented"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--dtype", "int4"}, "not a supported dtype"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--batch", "0"}, "--batch"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--peak-dtype", "int8"}, "--peak-dtype"},
		{[]string{"--component", "siglip-text", "--preset", "tiny", "--seq-len", "99", "--no-peak"}, "--seq-len 99"},
	} {
		code, _, stderr := runCaptured(t, append([]string{"bench", "--backend", "go"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestBenchCLIJSON(t *testing.T) {
	code, stdout, stderr := runCaptured(t, "bench", "--backend", "go", "--component", "llm-decode", "--preset", "tiny",
		"--batch", "2", "--iters", "2", "--warmup", "0", "--prompt-len", "8", "--peak-n", "64", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := perf.ReadResult([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if r.Component != "llm-decode" || r.Batch != 2 || r.Unit != "tokens/s" || r.DType != "float32" || r.Iters != 2 || len(r.Steps) != 2 {
		t.Errorf("result %+v", r)
	}
	if r.Peak == nil || r.Peak.N != 64 || r.Peak.DType != "float32" || r.ShareOfPeak <= 0 {
		t.Errorf("peak %+v, share %v", r.Peak, r.ShareOfPeak)
	}

	code, stdout, stderr = runCaptured(t, "bench", "--backend", "go", "--component", "siglip-vision", "--preset", "tiny", "--iters", "1", "--no-peak")
	if code != 0 || !strings.Contains(stdout, "siglip-vision") || !strings.Contains(stdout, "img/s") {
		t.Errorf("table run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestBenchCLIBF16: --dtype bf16 runs the component in bfloat16 with the
// reference matmul in bfloat16 too, and the same FLOP count as float32.
func TestBenchCLIBF16(t *testing.T) {
	results := map[string]*perf.Result{}
	for _, dt := range []string{"float32", "bf16"} {
		code, stdout, stderr := runCaptured(t, "bench", "--backend", "go", "--component", "dualtoken-encode", "--preset", "tiny",
			"--batch", "2", "--iters", "1", "--warmup", "0", "--peak-n", "64", "--dtype", dt, "--json")
		if code != 0 {
			t.Fatalf("--dtype %s: exit %d: %s", dt, code, stderr)
		}
		r, err := perf.ReadResult([]byte(stdout))
		if err != nil {
			t.Fatal(err)
		}
		results[dt] = r
	}
	r := results["bf16"]
	if r.DType != "bfloat16" || r.Peak == nil || r.Peak.DType != "bfloat16" || r.ShareOfPeak <= 0 {
		t.Errorf("bf16 run: dtype %q, peak %+v, share %v", r.DType, r.Peak, r.ShareOfPeak)
	}
	if r.FLOPsPerCall != results["float32"].FLOPsPerCall {
		t.Errorf("FLOPs per call: %v in bf16, %v in float32", r.FLOPsPerCall, results["float32"].FLOPsPerCall)
	}
	// JSON numbers: weight_bytes comes back as a float64.
	wb16, _ := r.Config["weight_bytes"].(float64)
	wb32, _ := results["float32"].Config["weight_bytes"].(float64)
	if wb32 == 0 || wb16/wb32 > 0.6 {
		t.Errorf("weight bytes %v in bf16, %v in float32: want about half", wb16, wb32)
	}
}

func TestBenchMergeCLI(t *testing.T) {
	raw := t.TempDir()
	// An empty raw folder is a usage error, not an empty report.
	if code, _, stderr := runCaptured(t, "bench-merge", "--raw", raw, "--card", "h100", "--date", "2026-12-01", "--out-dir", filepath.Join(t.TempDir(), "perf")); code != 2 || !strings.Contains(stderr, "no benchmark output found") {
		t.Errorf("empty --raw: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := runCaptured(t, "bench", "--backend", "go", "--component", "siglip-vision", "--preset", "tiny",
		"--iters", "1", "--peak-n", "64", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	os.WriteFile(filepath.Join(raw, "siglip.json"), []byte(stdout), 0o644)
	os.WriteFile(filepath.Join(raw, "steps.tsv"), []byte("siglip\t0\t3.5\n"), 0o644)
	out := filepath.Join(t.TempDir(), "perf")
	code, _, stderr = runCaptured(t, "bench-merge", "--raw", raw, "--card", "h100", "--date", "2026-12-01", "--out-dir", out,
		"--note", "first line", "--note", "second, line")
	if code != 0 {
		t.Fatalf("merge exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "2026-12-01-h100.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep perf.CardReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Component != "siglip-vision" || len(rep.Steps) != 1 {
		t.Errorf("report %+v", rep)
	}
	if n := len(rep.Notes); n < 2 || rep.Notes[n-2] != "first line" || rep.Notes[n-1] != "second, line" {
		t.Errorf("notes %q: want the two --note lines last", rep.Notes)
	}
	if _, err := os.Stat(filepath.Join(out, "2026-12-01-h100.png")); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{
		{"--raw", raw, "--card", "H100!", "--date", "2026-12-01"},
		{"--raw", raw, "--card", "h100", "--date", "1 Dec"},
		{"--raw", filepath.Join(raw, "nope"), "--card", "h100", "--date", "2026-12-01"},
		{"--raw", raw, "--card", "h100", "--date", "2026-12-01", "--note", " "},
	} {
		if code, _, _ := runCaptured(t, append([]string{"bench-merge", "--out-dir", out}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
