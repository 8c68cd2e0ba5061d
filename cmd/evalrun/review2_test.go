package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// --json and --out - would interleave two formats on stdout.
func TestReconMetricsJSONAndCSVOnStdout(t *testing.T) {
	dir := t.TempDir()
	ref, pred := filepath.Join(dir, "ref"), filepath.Join(dir, "pred")
	reconSave(t, filepath.Join(ref, "a.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(pred, "a.png"), reconTestImage(16, 16, 1))
	code, _, stderr := runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred, "--json", "--out", "-")
	if code != 2 || !strings.Contains(stderr, "--json and --out -") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}
