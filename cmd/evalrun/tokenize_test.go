package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

type tokenizeGolden struct {
	MaxLength int `json:"max_length"`
	Cases     []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"cases"`
}

// checkTokenizeCLI runs `evalrun tokenize` on every text of a golden file and
// checks one JSON line per text, in order, equal to the golden ids.
func checkTokenizeCLI(t *testing.T, golden string, args ...string) {
	t.Helper()
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var g tokenizeGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if g.MaxLength > 0 {
		args = append(args, "--max-length", strconv.Itoa(g.MaxLength))
	}
	args = append(args, "--")
	for _, c := range g.Cases {
		args = append(args, c.Text)
	}
	code, out := runStdout(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(g.Cases) {
		t.Fatalf("%d lines for %d texts:\n%s", len(lines), len(g.Cases), out)
	}
	for i, c := range g.Cases {
		var ids []int
		if err := json.Unmarshal([]byte(lines[i]), &ids); err != nil || ids == nil {
			t.Errorf("line %d %q is not a JSON array of ids: %v", i, lines[i], err)
			continue
		}
		want, _ := json.Marshal(c.IDs)
		got, _ := json.Marshal(ids)
		if string(got) != string(want) {
			t.Errorf("%q: got %s want %s", c.Text, got, want)
		}
	}
}

func TestTokenizeCLI(t *testing.T) {
	spm := fixtures.Dir(t, "spm")
	bpe := fixtures.Dir(t, "bpe")
	t.Run("raw sentencepiece", func(t *testing.T) {
		checkTokenizeCLI(t, filepath.Join(spm, "golden.json"), "tokenize", "--tokenizer", filepath.Join(spm, "spiece.model"))
	})
	t.Run("siglip", func(t *testing.T) {
		checkTokenizeCLI(t, filepath.Join(spm, "golden_siglip_tokenizer.json"), "tokenize", "--tokenizer", filepath.Join(spm, "spiece.model"))
	})
	t.Run("tokenizer.json", func(t *testing.T) {
		checkTokenizeCLI(t, filepath.Join(bpe, "golden.json"), "tokenize", "--tokenizer", bpe)
	})
	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"tokenize", "--tokenizer", filepath.Join(bpe, "tokenizer.json"), "--max-length", "8", "x"},
			{"tokenize", "--tokenizer", filepath.Join(spm, "spiece.model"), "--max-length=-1", "x"},
			{"tokenize", "--tokenizer", filepath.Join(t.TempDir(), "missing.model"), "x"},
			{"tokenize", "--tokenizer", filepath.Join(spm, "spiece.vocab"), "x"},
		} {
			if code, out := runStdout(t, args...); code != 2 {
				t.Errorf("%v: exit %d (want 2), stdout %q", args, code, out)
			}
		}
	})
}

// tokenize --max-length on a Gemma-shaped SentencePiece model prints
// SigLIP2's ids, as in tokenizer/testdata/siglip2 (made by
// scripts/fixtures/siglip2_text.py with Python and sentencepiece).
func TestTokenizeCLISiglip2(t *testing.T) {
	dir := filepath.Join("..", "..", "tokenizer", "testdata", "siglip2")
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Text string           `json:"text"`
			IDs  map[string][]int `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	// The tokenizer.model, and the same model as the tokenizer.json
	// transformers 5 may save alone (in a folder of its own).
	jsonDir := t.TempDir()
	js, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jsonDir, "tokenizer.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{filepath.Join(dir, "tokenizer.model"), jsonDir} {
		args := []string{"tokenize", "--tokenizer", tok, "--max-length", "8", "--"}
		for _, c := range g.Cases {
			args = append(args, c.Text)
		}
		code, out := runStdout(t, args...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if code != 0 || len(lines) != len(g.Cases) {
			t.Fatalf("%s: exit %d, %d lines for %d texts:\n%s", tok, code, len(lines), len(g.Cases), out)
		}
		for i, c := range g.Cases {
			want, _ := json.Marshal(c.IDs["8"])
			if lines[i] != string(want) {
				t.Errorf("%s: %q: got %s want %s", tok, c.Text, lines[i], want)
			}
		}
	}
}
