package models

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/tokenizer"
)

// A SentencePiece model without SigLIP's "</s>" (SigLIP2's Gemma tokenizer
// has <eos>) is refused by both model kinds with a text tower: SigLIP's
// rules would append and pad with the unknown piece instead.
func TestGemmaStyleTokenizerRefused(t *testing.T) {
	s := tokenizer.NewUnigramSpec()
	s.Pieces[1].Piece = "<eos>"
	for i, w := range []string{"▁a", "▁red", "▁"} {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: w, Score: -1 - float32(i)})
	}
	for _, c := range "adre" {
		s.Pieces = append(s.Pieces, tokenizer.PieceSpec{Piece: string(c), Score: -20})
	}
	gemma := filepath.Join(t.TempDir(), "tokenizer.model")
	if err := s.WriteFile(gemma); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, asset string }{{"siglip", "tiny-siglip"}, {"dualtoken", "tiny-dualtoken"}} {
		spec := bench.ModelSpec{Name: c.asset, Kind: c.kind, Path: extractAsset(t, c.asset), Tokenizer: gemma}
		_, err := bench.NewModel(spec, b)
		if err == nil || !strings.Contains(err.Error(), `has no "</s>" piece`) || !strings.Contains(err.Error(), gemma) {
			t.Errorf("%s with a Gemma-style tokenizer: %v", c.kind, err)
		}
	}
}
