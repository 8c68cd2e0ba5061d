package tokenizer

import (
	"errors"
	"strings"
	"testing"
)

// NewSiglipChecked builds SiglipTokenizer over a model with SigLIP's
// "</s>" and refuses, with a *NotSiglipError naming the file, one without
// it (SigLIP2's Gemma tokenizer has "<eos>"), whose texts SigLIP's rules
// would append and pad with the unknown piece.
func TestNewSiglipChecked(t *testing.T) {
	build := func(eos string) *SentencePiece {
		t.Helper()
		s := NewUnigramSpec()
		s.Pieces[1].Piece = eos
		for i, w := range []string{"▁a", "▁red", "▁"} {
			s.Pieces = append(s.Pieces, PieceSpec{Piece: w, Score: -1 - float32(i)})
		}
		for _, c := range "adre" {
			s.Pieces = append(s.Pieces, PieceSpec{Piece: string(c), Score: -20})
		}
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
	tok, err := NewSiglipChecked(build("</s>"), "ok/spiece.model", 6)
	if err != nil {
		t.Fatalf("SigLIP-style model refused: %v", err)
	}
	ids, err := tok.Encode("a red")
	if err != nil || len(ids) != 6 || ids[len(ids)-1] != tok.EOSID() {
		t.Errorf("Encode: %v, %v; want 6 ids ending in </s>", ids, err)
	}

	_, err = NewSiglipChecked(build("<eos>"), "gemma/tokenizer.model", 6)
	var refused *NotSiglipError
	if !errors.As(err, &refused) || refused.Path != "gemma/tokenizer.model" {
		t.Fatalf("Gemma-style model: %v, want a *NotSiglipError for gemma/tokenizer.model", err)
	}
	msg := err.Error()
	for _, want := range []string{"tokenizer gemma/tokenizer.model", `has no "</s>" piece`, "SigLIP2", "texts cannot be encoded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one line: %q", msg)
	}
}
