package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// siglip2Golden is testdata/siglip2/golden.json.
type siglip2Golden struct {
	Lengths []int `json:"lengths"`
	Cases   []struct {
		Text   string           `json:"text"`
		Clean  string           `json:"clean"`
		Pieces []string         `json:"pieces"`
		IDs    map[string][]int `json:"ids"`
	} `json:"cases"`
}

// readSiglip2Golden reads testdata/siglip2/golden.json and returns its
// folder too.
func readSiglip2Golden(t *testing.T) (string, *siglip2Golden) {
	t.Helper()
	dir := filepath.Join("testdata", "siglip2")
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g siglip2Golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 || len(g.Lengths) == 0 {
		t.Fatal("golden.json has no cases")
	}
	return dir, &g
}

// TestSiglip2MatchesReference checks Siglip2 against testdata/siglip2,
// written by scripts/fixtures/siglip2_text.py with Python's html.unescape,
// str methods and the sentencepiece library over a Gemma-shaped BPE model:
// the cleaned text, the pieces and the padded ids at every length, exact.
func TestSiglip2MatchesReference(t *testing.T) {
	dir, g := readSiglip2Golden(t)
	path := filepath.Join(dir, "tokenizer.model")
	sp := loadSP(t, path)
	for _, n := range g.Lengths {
		tok, err := NewSiglipText(sp, path, n)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Rules() != "siglip2" {
			t.Fatalf("%s: rules %q, want siglip2 (its eos piece is <eos>; its </s> is an HTML tag, as in Gemma's)", path, tok.Rules())
		}
		for _, c := range g.Cases {
			s2 := tok.(*Siglip2)
			if got := s2.Clean(c.Text); got != c.Clean {
				t.Errorf("Clean(%q) = %q, want %q", c.Text, got, c.Clean)
				continue
			}
			var pieces []string
			for _, p := range sp.EncodePieces(c.Clean) {
				pieces = append(pieces, p.Text)
			}
			if strings.Join(pieces, "|") != strings.Join(c.Pieces, "|") {
				t.Errorf("pieces of %q = %q, want %q", c.Clean, pieces, c.Pieces)
			}
			want := c.IDs[strconv.Itoa(n)]
			got, err := tok.Encode(c.Text)
			if err != nil || !equalInts(got, want) {
				t.Errorf("Encode(%q) at %d = %v, %v; want %v", c.Text, n, got, err, want)
			}
		}
	}
}

// Cases written from the rules (Python's html.unescape and str.lower as
// documented), beyond what the reference file covers.
func TestSiglip2Clean(t *testing.T) {
	for in, want := range map[string]string{
		"&#99999999999999999999;x":   "\ufffdx",                                           // any number of digits: past U+10FFFF
		"&#1;a&#x7f;b&#xFDD0;c":      "abc",                                               // control and non-character code points dropped
		"&#x1FFFF;&#13;z":            "z",                                                 // plane-1 non-character; CR is whitespace
		"&#;&#x;&;&":                 "x",                                                 // "&#x" keeps its x; the rest is punctuation
		"ΣΑΣ's ΣΑΣ'Σ":                "σασs σασς",                                         // the apostrophe goes before lower-casing
		"&nLt;&nGt;&nLtv; &amp;nLt;": "\u226a\u20d2\u226b\u20d2\u226a\u0338 \u226a\u20d2", // names Go's html package lacks
		"ΑΣ\u2019Σ":                  "ασ\u2019ς",                                         // a right single quote is case-ignorable, not punctuation
		"ªΣ":                         "ªς",                                                // ª is cased (Other_Lowercase)
		"ΑΣʰ":                        "αςʰ",                                               // ʰ is case-ignorable (and cased): skipped
		"Α\u0301Σ x":                 "α\u0301ς x",
		"ὈΔΥΣΣΕΎΣ":                   "ὀδυσσεύς",
		"Σ̈Α":                        "σ̈α",
	} {
		if got := (&Siglip2{}).Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// NewSiglipText picks SigLIP's rules for a model with "</s>", SigLIP2's for
// one with Gemma's "<eos>" and "<pad>", and refuses any other model with a
// one-line *NotSiglipError naming the file.
func TestNewSiglipText(t *testing.T) {
	build := func(rename map[int]string) *SentencePiece {
		t.Helper()
		s := NewUnigramSpec()
		for id, p := range rename {
			s.Pieces[id].Piece = p
		}
		for i, w := range []string{"▁a", "▁red", "▁", "a"} {
			s.Pieces = append(s.Pieces, PieceSpec{Piece: w, Score: -1 - float32(i)})
		}
		for _, c := range "dre" {
			s.Pieces = append(s.Pieces, PieceSpec{Piece: string(c), Score: -20})
		}
		return parseSpec(t, s)
	}
	v1, err := NewSiglipText(build(nil), "ok/spiece.model", 6)
	if err != nil || v1.Rules() != "siglip" {
		t.Fatalf("SigLIP-style model: %v, %v", v1, err)
	}
	ids, err := v1.Encode("A red")
	eos := v1.(*Siglip).EOSID()
	if err != nil || len(ids) != 6 || ids[2] != eos || ids[5] != eos {
		t.Errorf("SigLIP Encode: %v, %v; want 6 ids, </s> from the third on", ids, err)
	}

	v2, err := NewSiglipText(build(map[int]string{1: "<eos>"}), "gemma/tokenizer.model", 6)
	if err != nil || v2.Rules() != "siglip2" {
		t.Fatalf("Gemma-style model: %v, %v", v2, err)
	}
	ids, err = v2.Encode("A red!")
	if want := []int{3, 4, 1, 0, 0, 0}; err != nil || !equalInts(ids, want) {
		t.Errorf("SigLIP2 Encode: %v, %v; want %v (a, ▁red, <eos>, <pad>...)", ids, err, want)
	}

	_, err = NewSiglipText(build(map[int]string{1: "<eos>", 0: "<blank>"}), "other/tokenizer.model", 6)
	var refused *NotSiglipError
	if !errors.As(err, &refused) || refused.Path != "other/tokenizer.model" {
		t.Fatalf("model with neither: %v, want a *NotSiglipError for other/tokenizer.model", err)
	}
	noEOS := NewUnigramSpec()
	noEOS.Pieces[1].Piece, noEOS.EOSID = "<eos>", -1 // <eos> and <pad> there, but no eos in the trainer spec
	if tok, err := NewSiglipText(parseSpec(t, noEOS), "noeos/tokenizer.model", 6); !errors.As(err, &refused) {
		t.Errorf("model without an eos control piece: %v, %v; want a *NotSiglipError", tok, err)
	}

	_, err = NewSiglipText(build(map[int]string{1: "<eos>", 0: "<blank>"}), "other/tokenizer.model", 6)
	msg := err.Error()
	for _, want := range []string{"tokenizer other/tokenizer.model", `"</s>"`, `"<eos>"`, `"<pad>"`, "texts cannot be encoded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one line: %q", msg)
	}
}

// parseSpec serialises s and parses it back.
func parseSpec(t *testing.T, s *UnigramSpec) *SentencePiece {
	t.Helper()
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ParseSentencePiece(b)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGemmaShapedBPEMatchesSentencepiece checks the BPE engine at Gemma's
// settings (byte fallback, no dummy prefix, whitespace kept, user-defined
// HTML tags, tabs, newlines and space runs) against the sentencepiece
// library: testdata/gemma_bpe, made by scripts/fixtures/gemma_bpe.py, holds
// an 8,000-piece model and 1,500 strings with their raw ids, exact.
func TestGemmaShapedBPEMatchesSentencepiece(t *testing.T) {
	dir := filepath.Join("testdata", "gemma_bpe")
	sp := loadSP(t, filepath.Join(dir, "tokenizer.model"))
	raw, err := os.ReadFile(filepath.Join(dir, "cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n, bad := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var c struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		n++
		got, err := sp.Encode(c.Text)
		if err != nil || !equalInts(got, c.IDs) {
			if bad++; bad <= 5 {
				t.Errorf("Encode(%q) = %v, %v; want %v", c.Text, got, err, c.IDs)
			}
		}
	}
	if n < 1000 || bad > 0 {
		t.Errorf("%d of %d cases differ", bad, n)
	}
}
