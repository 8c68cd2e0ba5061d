// Package tokenizertest builds tokenizer files for other packages' tests.
package tokenizertest

import (
	"testing"

	"github.com/dualtoken/evalharness/tokenizer"
)

// WriteGemmaLike writes a small SentencePiece model shaped like SigLIP2's
// Gemma tokenizer in the one way the harness checks: "<eos>" where SigLIP's
// has "</s>".
func WriteGemmaLike(t testing.TB, path string) {
	t.Helper()
	s := tokenizer.NewUnigramSpec()
	s.Pieces[1].Piece = "<eos>"
	for i, w := range []string{"▁a", "▁red", "▁"} {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: w, Score: -1 - float32(i)})
	}
	for _, c := range "adre" {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: string(c), Score: -20})
	}
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}
