package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

// wantUsage runs evalrun with args and requires exit 2 with one stderr line
// holding every part of want.
func wantUsage(t *testing.T, args []string, want ...string) {
	t.Helper()
	code, _, errOut := runCaptured(t, args...)
	if code != 2 {
		t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut)
		return
	}
	if n := strings.Count(strings.TrimRight(errOut, "\n"), "\n"); n != 0 {
		t.Errorf("%v: stderr has %d lines, want one: %q", args, n+1, errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("%v: stderr %q lacks %q", args, errOut, w)
		}
	}
}

// TestVerifyBadInput: tolerances that cannot be honoured, a missing model
// folder, a folder without weights beside its golden file, another suite's
// golden file and token ids stored as floats are bad input (exit 2) with a
// message naming the flag or file and what was expected.
func TestVerifyBadInput(t *testing.T) {
	dir, golden := verifyFixture(t, "siglip")
	base := []string{"verify", "--model", dir, "--golden", golden}
	for _, tol := range [][]string{{"--atol=-1"}, {"--rtol=-1"}, {"--atol", "NaN"}, {"--atol", "Inf", "--rtol", "0"}, {"--rtol", "+Inf"}} {
		wantUsage(t, append(slices.Clone(base), tol...), strings.SplitN(strings.TrimLeft(tol[0], "-"), "=", 2)[0], "want a finite non-negative number")
	}

	missing := filepath.Join(t.TempDir(), "nope")
	wantUsage(t, []string{"verify", "--model", missing, "--golden", golden}, "--model "+missing, "no such file")
	wantUsage(t, []string{"verify", "--model", golden, "--golden", golden}, "--model "+golden, "is a file")

	// config.json and golden.safetensors, no weights: the golden file is not
	// the checkpoint.
	noWeights := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(noWeights, "config.json"), cfg, 0o644)
	gb, _ := os.ReadFile(golden)
	os.WriteFile(filepath.Join(noWeights, "golden.safetensors"), gb, 0o644)
	wantUsage(t, []string{"verify", "--model", noWeights, "--golden", filepath.Join(noWeights, "golden.safetensors")},
		noWeights, "has no model.safetensors", "golden.safetensors (a parity fixture's outputs) is not taken as the checkpoint")

	// Another suite's golden file: named, with what the model wanted and what it holds.
	_, partsGolden := verifyFixture(t, "dualtoken_parts")
	wantUsage(t, []string{"verify", "--model", dir, "--golden", partsGolden}, "golden file "+partsGolden, "has no pixel_values or input_ids", "it holds")

	// input_ids stored as F64: the stored dtype is named, not a converted one.
	src, err := weights.OpenSafetensors(golden)
	if err != nil {
		t.Fatal(err)
	}
	var ts []*weights.Tensor
	for _, n := range src.Names() {
		v, _ := src.Get(n)
		if n == "input_ids" {
			ids, _ := v.Int64()
			f := make([]float64, len(ids))
			for i, id := range ids {
				f[i] = float64(id)
			}
			v = weights.FromFloat64(n, v.Shape, f)
		}
		ts = append(ts, v)
	}
	f64 := filepath.Join(t.TempDir(), "golden_f64.safetensors")
	err = weights.WriteSafetensors(f64, ts, nil) // before Close: the tensors map the file
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantUsage(t, []string{"verify", "--model", dir, "--golden", f64}, f64, "input_ids is F64", "expected integer token ids")
}

// verify on the dry backend, which computes nothing, is a usage error rather
// than "every tensor differs".
func TestVerifyRefusesDryBackend(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	code, _, stderr := runCaptured(t, "--backend", "xladry", "verify", "--model", dir, "--golden", filepath.Join(dir, "golden.safetensors"))
	want := "--backend xladry computes no values"
	if !backend.XLABuilt() {
		want = "built without XLA" // refused before verify looks at it
	}
	if code != 2 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("exit %d, %q", code, stderr)
	}
}
