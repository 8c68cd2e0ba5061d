package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestGenerateFlagRanges: sampling flags outside their documented range, and
// generation_config.json values transformers refuses, are bad input (exit 2)
// naming the flag, or the file and field, before any generation runs.
func TestGenerateFlagRanges(t *testing.T) {
	tokPath := filepath.Join(fixtures.Dir(t, "bpe"), "tokenizer.json")
	dir := writeRandomQwen2(t, 448, 64)
	base := []string{"generate", "--model", dir, "--tokenizer", tokPath, "--prompt", "hi"}
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--repetition-penalty", "0"}, []string{"--repetition-penalty 0", "> 0"}},
		{[]string{"--repetition-penalty", "Inf"}, []string{"--repetition-penalty +Inf"}},
		{[]string{"--temperature", "Inf"}, []string{"--temperature +Inf", "finite"}},
		{[]string{"--temperature", "NaN"}, []string{"--temperature NaN"}},
		{[]string{"--temperature=-1"}, []string{"--temperature -1"}},
		{[]string{"--top-p", "0"}, []string{"--top-p 0", "(0, 1]"}},
		{[]string{"--top-p", "1.5"}, []string{"--top-p 1.5"}},
		{[]string{"--top-k=-3"}, []string{"--top-k -3"}},
		{[]string{"--min-new-tokens=-1"}, []string{"--min-new-tokens -1"}},
		{[]string{"--min-new-tokens", "10", "--max-new-tokens", "3"}, []string{"--min-new-tokens 10", "--max-new-tokens (3)"}},
		{[]string{"--min-new-tokens", "300"}, []string{"--min-new-tokens 300", "default max_new_tokens (256)"}},
		{[]string{"--max-new-tokens", "0"}, []string{"--max-new-tokens 0"}},
		{[]string{"--stop", "END", "--stop", ""}, []string{`--stop ""`}},
	} {
		wantUsage(t, append(append([]string{}, base...), c.flags...), c.want...)
	}

	gc := filepath.Join(dir, "generation_config.json")
	for _, c := range []struct{ body, want string }{
		{`{"max_new_tokens": 0}`, `field "max_new_tokens" = 0, expected > 0`},
		{`{"max_new_tokens": "8"}`, `field "max_new_tokens" = "8" (a string), expected an integer`},
		{`{"top_p": 1.5, "do_sample": true}`, `field "top_p" = 1.5`},
		{`{"repetition_penalty": 0}`, `field "repetition_penalty" = 0`},
		{`{"temperature": -1, "do_sample": true}`, `field "temperature" = -1`},
		{`{"top_k": -1}`, `field "top_k" = -1`},
		{`{"max_new_tokens": 5}`, `--min-new-tokens 9: more than max_new_tokens in ` + gc + ` (5)`},
	} {
		if err := os.WriteFile(gc, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		wantUsage(t, append(append([]string{}, base...), "--min-new-tokens", "9"), gc, c.want)
	}
}
