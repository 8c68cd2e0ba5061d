// Package tokenizertest builds tokenizer files for other packages' tests.
package tokenizertest

import (
	"fmt"
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
