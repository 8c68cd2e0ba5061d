package main

import (
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/perf"
)

// TestBenchReconEvalCLI runs the end-to-end reconstruction evaluation at the
// tiny preset and reads its JSON back: every image through every stage, the
// timed ones counted, and the stage breakdown present.
func TestBenchReconEvalCLI(t *testing.T) {
	code, stdout, stderr := runCaptured(t, "bench", "--backend", "go", "--component", "recon-eval", "--preset", "tiny",
		"--batch", "2", "--iters", "2", "--warmup", "0", "--no-peak", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := perf.ReadResult([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	re := r.ReconEval
	if r.Component != "recon-eval" || r.Unit != "img/s" || r.Batch != 2 || len(r.Steps) != 2 || re == nil {
		t.Fatalf("result %+v", r)
	}
	if re.Images != 6 || re.TimedImages != 4 || re.FeatureRows != 6 || re.MetricImages != 6 || !re.Overlapped || !(re.ImgPerS > 0) {
		t.Errorf("recon_eval %+v: want 6 images, 4 timed, pipelined, a positive rate", re)
	}
	for _, n := range perf.StageNames {
		if _, ok := re.StagePerImage[n]; !ok {
			t.Errorf("no stage %s in %v", n, re.StagePerImage)
		}
	}

	code, stdout, stderr = runCaptured(t, "bench", "--backend", "go", "--component", "recon-eval", "--preset", "tiny",
		"--batch", "1", "--iters", "1", "--warmup", "0", "--no-peak", "--no-overlap")
	if code != 0 || !strings.Contains(stdout, "end to end (no overlap)") || !strings.Contains(stdout, "tokenizer") {
		t.Errorf("table run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestBenchReconEvalCLIBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--component", "recon-eval", "--preset", "tiny", "--batch", "0"}, "--batch"},
		{[]string{"--component", "recon-eval", "--preset", "tiny", "--iters", "0"}, "--iters"},
		{[]string{"--component", "recon-eval", "--preset", "fid-299"}, "no preset"},
		{[]string{"--component", "recon-eval"}, "--preset is required"},
		{[]string{"--component", "recon-eval", "--preset", "tiny", "--layers", "2", "--no-peak"}, "--layers does not apply"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--no-overlap", "--no-peak"}, "--no-overlap does not apply to --component siglip-vision (only to recon-eval)"},
	} {
		code, _, stderr := runCaptured(t, append([]string{"bench", "--backend", "go"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}
