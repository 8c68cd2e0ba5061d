package main

import (
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/perf"
)

// TestBenchCLIScanLayers: --scan-layers runs the looped layers and records
// scan_layers in the JSON; it is refused (exit 2, one line saying what to do)
// on the Go backend's default scheduling and for components without
// transformer layers.
func TestBenchCLIScanLayers(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "go:ops_sequential", "--component", "inception"}, "no transformer layers"},
		{[]string{"--backend", "go:ops_sequential", "--component", "dualtoken-decode", "--preset", "tiny"}, "no transformer layers"},
	} {
		code, _, stderr := runCaptured(t, append(append([]string{"bench"}, tc.args...), "--scan-layers", "--no-peak")...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	// On the plain Go backend --scan-layers switches to sequential ops and says so.
	code, stdout, stderr := runCaptured(t, "bench", "--backend", "go", "--component", "siglip-vision", "--preset", "tiny",
		"--batch", "2", "--iters", "1", "--warmup", "0", "--no-peak", "--json", "--scan-layers")
	if code != 0 || !strings.Contains(stderr, "go:ops_sequential") || !strings.Contains(stdout, `"scan_layers": true`) {
		t.Errorf("--backend go --scan-layers: exit %d, stderr %q", code, stderr)
	}
	for _, comp := range []string{"siglip-vision", "siglip-text", "dualtoken-encode", "llm-prefill", "llm-decode"} {
		for _, scan := range []bool{false, true} {
			args := []string{"bench", "--backend", "go:ops_sequential", "--component", comp, "--preset", "tiny",
				"--batch", "2", "--iters", "1", "--warmup", "0", "--no-peak", "--json"}
			if strings.HasPrefix(comp, "llm-") { // --prompt-len applies to llm-* only
				args = append(args, "--prompt-len", "8")
			}
			if scan {
				args = append(args, "--scan-layers")
			}
			code, stdout, stderr := runCaptured(t, args...)
			if code != 0 {
				t.Fatalf("%s scan %v: exit %d: %s", comp, scan, code, stderr)
			}
			r, err := perf.ReadResult([]byte(stdout))
			if err != nil {
				t.Fatal(err)
			}
			if r.ScanLayers != scan || !strings.Contains(stdout, `"scan_layers": `) || r.Throughput <= 0 {
				t.Errorf("%s scan %v: scan_layers %v, throughput %v", comp, scan, r.ScanLayers, r.Throughput)
			}
		}
	}
}
