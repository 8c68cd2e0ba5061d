// Package tokenizertest builds tokenizer files for other packages' tests.
package tokenizertest

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/dualtoken/evalharness/tokenizer"
)

// WriteGemmaLike writes a small SentencePiece model shaped like SigLIP2's
// Gemma tokenizer in the way the harness tells the two apart: "<pad>" (id
// 0) and "<eos>" (id 1) where SigLIP's has "</s>", so texts get SigLIP2's
// rules (tokenizer.NewSiglipText).
func WriteGemmaLike(t testing.TB, path string) {
	t.Helper()
	write(t, path, 0, "<pad>", "<eos>")
}

// WriteGemmaLikeSized is WriteGemmaLike with filler pieces (never chosen
// for "a red") up to n pieces, to match a text tower's vocabulary.
func WriteGemmaLikeSized(t testing.TB, path string, n int) {
	t.Helper()
	write(t, path, n, "<pad>", "<eos>")
}

// WriteForeign writes a small SentencePiece model that is neither SigLIP's
// nor SigLIP2's tokenizer ("<eos>" but no "</s>" or "<pad>"), which the
// harness refuses to encode texts with.
func WriteForeign(t testing.TB, path string) {
	t.Helper()
	write(t, path, 0, "<blank>", "<eos>")
}

// write builds a tiny unigram model whose ids 0 and 1 are the control
// pieces p0 and p1 and whose pieces spell "a red", padded with fillers to n
// pieces (n <= 0: none).
func write(t testing.TB, path string, n int, p0, p1 string) {
	t.Helper()
	s := tokenizer.NewUnigramSpec()
	s.Pieces[0].Piece, s.Pieces[1].Piece = p0, p1
	for i, w := range []string{"▁a", "▁red", "▁"} {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: w, Score: -1 - float32(i)})
	}
	for _, c := range "adre" {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: string(c), Score: -20})
	}
	for i := 0; len(s.Pieces) < n; i++ {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: fmt.Sprintf("▁filler%d", i), Score: -100})
	}
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// WriteGemmaLikeJSON writes WriteGemmaLike's tokenizer as the tokenizer.json
// transformers 5 may save alone: a SentencePiece-style BPE with the same ids
// ("<pad>" 0, "<eos>" 1, "<unk>" 2, "▁a" 3, "▁red" 4) and merges that spell
// "a red" (a "▁" prepended, spaces as "▁", as the dummy prefix does).
func WriteGemmaLikeJSON(t testing.TB, path string) {
	t.Helper()
	special := func(id int, s string) map[string]any {
		return map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	doc := map[string]any{
		"added_tokens": []any{special(0, "<pad>"), special(1, "<eos>"), special(2, "<unk>")},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
		}},
		"model": map[string]any{
			"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
			"vocab": map[string]int{"<pad>": 0, "<eos>": 1, "<unk>": 2, "▁a": 3, "▁red": 4, "▁": 5,
				"a": 6, "d": 7, "r": 8, "e": 9, "▁r": 10, "▁re": 11},
			"merges": [][2]string{{"▁", "a"}, {"▁", "r"}, {"▁r", "e"}, {"▁re", "d"}},
		},
	}
	b, err := json.Marshal(doc)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
