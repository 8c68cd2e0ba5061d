package tokenizer

// Regression tests for hostile or corrupt tokenizer files (found by the fuzz
// targets in fuzz_test.go).

import (
	"slices"
	"strings"
	"testing"
)

// TestAddedTokenInsideRStrip: an rstrip token swallows the whitespace after
// it; a whitespace added token matched inside that run used to slice the
// text backwards (panic). The swallowed match is dropped.
func TestAddedTokenInsideRStrip(t *testing.T) {
	added := []addedToken{{ID: 256, Content: "x", RStrip: true}, {ID: 257, Content: " ", LStrip: true}, {ID: 258, Content: "\t"}}
	tok := mustBPE(t, tinyTokenizer(t, nil, added, "null", byteLevelOnly))
	for text, want := range map[string][]int{
		"x  y":   {256, 'y'},
		"x \ty":  {256, 'y'},
		"a x  ":  {'a', 257, 256},
		"y  x\t": {'y', 257, 257, 256},
	} {
		if got := encodeOK(t, tok, text); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
}

// TestCharsmapSeed checks the fuzz seeds' hand-built charsmap: the
// normalizer's double-array walk finds its rules (longest match first).
func TestCharsmapSeed(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true,
		charsmap: seedCharsmap, pieces: []spPiece{{"a", -1, pieceNormal}}})
	for in, want := range map[string]string{
		"ＡabÉ":        "▁Axé",
		"ﬁ a\u00a0 b": "▁fi▁a▁b",
		"a\u2581":     "▁a",
		"aab":         "▁ax",
	} {
		if got := sp.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSentencePieceLongUnknownRun: a long stretch of text the vocabulary
// does not cover (no byte fallback) is one unknown piece holding the whole
// run, built in linear time (it used to be re-copied per character:
// 180 KB of unknown text took 2.3 s).
func TestSentencePieceLongUnknownRun(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true,
		pieces: []spPiece{{"▁", -1, pieceNormal}, {"a", -1, pieceNormal}}})
	bpe := mustParse(t, spSpec{modelType: modelBPE, addDummyPrefix: true, removeExtraWS: true,
		pieces: []spPiece{{"▁", -1, pieceNormal}, {"a", -1, pieceNormal}}})
	run := strings.Repeat("数\xff", 50000)
	want := strings.Repeat("数\uFFFD", 50000)
	for name, m := range map[string]*SentencePiece{"unigram": sp, "bpe": bpe} {
		ps := m.EncodePieces("a" + run + " a")
		if len(ps) != 5 || ps[2].ID != m.UnkID() || ps[2].Text != want || ps[1].ID == m.UnkID() {
			texts := pieceTexts(ps)
			for i := range texts {
				if len(texts[i]) > 20 {
					texts[i] = texts[i][:20] + "..."
				}
			}
			t.Errorf("%s: pieces %q, want ▁ a [unknown run] ▁ a", name, texts)
		}
	}
}

// TestHFBPEHugeIDs: ids must fit the int32 merge tables; a vocab id
// beyond them used to wrap, so "ab" encoded to a negative id.
func TestHFBPEHugeIDs(t *testing.T) {
	for name, c := range map[string]struct {
		data, want string
	}{
		"vocab": {`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2147483648},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}}`,
			`model.vocab["ab"] = 2147483648 is outside 0..2147483647`},
		"added": {`{"added_tokens":[{"id":4294967296,"content":"<x>"}],"model":{"type":"BPE","vocab":{"a":0}},"pre_tokenizer":{"type":"ByteLevel"}}`,
			`added_tokens[0] "<x>" has id 4294967296, outside 0..2147483647`},
	} {
		tok, err := ParseHFBPE([]byte(c.data))
		if err == nil {
			ids, _ := tok.Encode("ab<x>")
			t.Errorf("%s: loaded; Encode(ab<x>) = %v", name, ids)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want one containing %q", name, err, c.want)
		}
	}
}
