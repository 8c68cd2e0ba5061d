package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestTokenizeEmbedFlagRanges: --max-length 0 and --batch 0 or below are
// bad input, not "raw ids" or a silent default; a tokenizer.json that is not
// an object is described in JSON terms.
func TestTokenizeEmbedFlagRanges(t *testing.T) {
	spm := filepath.Join(fixtures.Dir(t, "spm"), "spiece.model")
	for _, n := range []string{"0", "-3"} {
		wantUsage(t, []string{"tokenize", "--tokenizer", spm, "--max-length=" + n, "x"}, "--max-length "+n, "want a positive length")
	}
	arr := filepath.Join(t.TempDir(), "tokenizer.json")
	os.WriteFile(arr, []byte(`[1,2,3]`), 0o644)
	wantUsage(t, []string{"tokenize", "--tokenizer", arr, "x"}, arr, "want an object, found a list")
	code, _, errOut := runCaptured(t, "tokenize", "--tokenizer", arr, "x")
	if code != 2 || strings.Contains(errOut, "Go value") {
		t.Errorf("tokenizer.json [1,2,3]: exit %d, %q", code, errOut)
	}

	dir := fixtures.Dir(t, "siglip")
	for _, n := range []string{"0", "-1"} {
		wantUsage(t, []string{"embed", "--model", dir, "--image", "x.png", "--batch=" + n}, "--batch "+n, ">= 1")
	}
}

// TestBenchFlagRanges: numeric flags out of range are named one at a time,
// and component-specific flags given to another component (which would
// ignore them) are refused like a misplaced --no-overlap.
func TestBenchFlagRanges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--layers", "0"}, "--layers 0: want a whole number >= 1"},
		{[]string{"--component", "llm-prefill", "--preset", "tiny", "--prompt-len", "0"}, "--prompt-len 0: want a whole number >= 1"},
		{[]string{"--component", "siglip-text", "--preset", "tiny", "--seq-len", "0"}, "--seq-len 0: want a whole number >= 1"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--peak-n", "0"}, "--peak-n 0: want a whole number >= 1"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--iters", "0"}, "--iters 0: want a whole number >= 1"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--warmup=-1"}, "--warmup -1: want a whole number >= 0"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--batch=-1"}, "--batch -1"},
		{[]string{"--component", "inception", "--layers", "2"}, "--layers does not apply to --component inception"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--seq-len", "5"}, "--seq-len does not apply to --component siglip-vision (only to siglip-text)"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--prompt-len", "5"}, "--prompt-len does not apply to --component siglip-vision"},
		{[]string{"--component", "siglip-vision", "--preset", "tiny", "--no-peak", "--peak-n", "64"}, "--no-peak"},
	} {
		wantUsage(t, append([]string{"bench", "--backend", "go"}, tc.args...), tc.want)
	}
}

// TestBenchMergeBadInputs: an impossible --date is refused, and a --raw
// folder whose only files cannot be read names each file and why.
func TestBenchMergeBadInputs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "perf")
	raw := t.TempDir()
	for _, d := range []string{"2026-13-45", "2026-02-30", "26-12-01"} {
		wantUsage(t, []string{"bench-merge", "--raw", raw, "--card", "h100", "--date", d, "--out-dir", out}, `--date "`+d+`"`, "yyyy-mm-dd")
	}
	for body, want := range map[string]string{
		`{"schema": 1, "tool": "evalrun bench", "comp`: "siglip.json: not valid JSON",
		`{"schema": 1}`:                          `siglip.json: not an evalrun bench --json output: field "tool" is missing`,
		`{"schema": 9, "tool": "evalrun bench"}`: `siglip.json: field "schema" = 9: this evalrun reads schema 1`,
	} {
		os.WriteFile(filepath.Join(raw, "siglip.json"), []byte(body), 0o644)
		wantUsage(t, []string{"bench-merge", "--raw", raw, "--card", "h100", "--date", "2026-12-01", "--out-dir", out},
			"--raw "+raw, "no benchmark output could be read", want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written despite bad input", out)
	}
	code, stdout, _ := runCaptured(t, "bench-merge", "--help")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(stdout), " "), "(default: reports/perf") {
		t.Errorf("bench-merge --help does not state the --out-dir default: %q", stdout)
	}
}
