package tokenizer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

func TestCanonicalizeText(t *testing.T) {
	for in, want := range map[string]string{
		"  Hello,  World!! \t": "Hello World",
		"don't—stop":           "dont—stop", // only ASCII punctuation goes
		"\x1c a\u3000b\u00a0":  "a b",       // Python's \s: U+001C, ideographic and no-break space
		"(a)[b]{c}<d>":         "abcd",
		"":                     "",
		"数字 123, émigré.":      "数字 123 émigré",
	} {
		if got := canonicalizeText(in); got != want {
			t.Errorf("canonicalizeText(%q) = %q, want %q", in, got, want)
		}
	}
	for r, want := range map[rune]string{'A': "a", 'İ': "i\u0307", 'Σ': "σ", 'É': "é", '1': "1"} {
		if got := pyLower(r); got != want {
			t.Errorf("pyLower(%q) = %q, want %q", r, got, want)
		}
	}
}

// TestSiglipProperties checks SiglipTokenizer's rules as relations that hold
// for any vocabulary: case and punctuation do not matter, eos ends every
// sequence, truncation keeps the first N-1 ids, padding is eos, and an eos
// typed in the text is not doubled.
func TestSiglipProperties(t *testing.T) {
	sp := loadSP(t, filepath.Join(fixtures.Dir(t, "spm"), "spiece.model"))
	const n = 12
	tok := NewSiglip(sp, n)
	free := NewSiglip(sp, 0)
	enc := func(s *Siglip, text string) []int {
		t.Helper()
		ids, err := s.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	eos := tok.EOSID()
	if id, ok := sp.TokenID("</s>"); !ok || id != eos {
		t.Fatalf("EOSID %d is not the id of </s>", eos)
	}
	if a, b := enc(tok, "A Photo, of a  CAT!!"), enc(tok, "a photo of a cat"); !slices.Equal(a, b) {
		t.Errorf("case/punctuation/spacing changed ids: %v vs %v", a, b)
	}
	if a, b := enc(tok, "a\u2581photo"), enc(tok, "a photo"); !slices.Equal(a, b) {
		t.Errorf("▁ in the text must act as a space: %v vs %v", a, b)
	}
	long := strings.Repeat("a photo of a cat on a red sofa ", 10)
	full, cut := enc(free, long), enc(tok, long)
	if len(cut) != n || cut[n-1] != eos || !slices.Equal(cut[:n-1], full[:n-1]) {
		t.Errorf("truncation: got %v from %v", cut, full)
	}
	if full[len(full)-1] != eos || len(full) <= n {
		t.Errorf("unpadded ids must end with eos and be long: %v", full)
	}
	short := enc(free, "cat")
	padded := enc(tok, "cat")
	if len(padded) != n || !slices.Equal(padded[:len(short)], short) {
		t.Errorf("padding: %v from %v", padded, short)
	}
	for _, id := range padded[len(short):] {
		if id != eos {
			t.Errorf("pad id %d, want eos %d", id, eos)
		}
	}
	if got := enc(tok, ""); len(got) != n || slices.ContainsFunc(got, func(id int) bool { return id != eos }) {
		t.Errorf("empty text: %v", got)
	}
	if a, b := enc(free, "a cat </s>"), enc(free, "a cat"); !slices.Equal(a, b) {
		t.Errorf("typed </s> must be the eos itself: %v vs %v", a, b)
	}
}
