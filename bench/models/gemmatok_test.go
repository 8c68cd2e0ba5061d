package models

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/tokenizer/tokenizertest"
)

// A SentencePiece model without SigLIP's "</s>" (SigLIP2's Gemma tokenizer
// has <eos>) is refused by both model kinds with a text tower: SigLIP's
// rules would append and pad with the unknown piece instead.
func TestGemmaStyleTokenizerRefused(t *testing.T) {
	gemma := filepath.Join(t.TempDir(), "tokenizer.model")
	tokenizertest.WriteGemmaLike(t, gemma)
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

// A DualToken folder whose own spiece.model is Gemma's still builds: its
// image paths (reconstruction, semantic embeddings) run, while texts are
// refused with the tokenizer's reason in one line, naming the file.
func TestDualTokenGemmaSpieceImagesOnly(t *testing.T) {
	dir := extractAsset(t, "tiny-dualtoken")
	spiece := filepath.Join(dir, "spiece.model")
	tokenizertest.WriteGemmaLike(t, spiece)
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bench.NewModel(bench.ModelSpec{Name: "d", Kind: "dualtoken", Path: dir}, b)
	if err != nil {
		t.Fatalf("dualtoken with a Gemma spiece.model did not build: %v", err)
	}
	d := m.(*DualToken)
	imgs := worldImages(2, d.InputSize())
	recs, err := d.Reconstruct(context.Background(), imgs)
	if err != nil || len(recs) != 2 || recs[0].Image.H != d.InputSize() {
		t.Fatalf("Reconstruct: %d records, %v", len(recs), err)
	}
	embs, err := d.EmbedImages(context.Background(), imgs)
	if err != nil || len(embs) != 2 {
		t.Fatalf("EmbedImages: %d embeddings, %v", len(embs), err)
	}
	_, err = d.EmbedTexts(context.Background(), []string{"a red square"})
	if err == nil || !strings.Contains(err.Error(), `has no "</s>" piece`) || !strings.Contains(err.Error(), spiece) || strings.Contains(err.Error(), "\n") {
		t.Errorf("EmbedTexts: %v, want one line naming %s and the missing \"</s>\"", err, spiece)
	}
	var refused *tokenizer.NotSiglipError
	if !errors.As(d.TextError(), &refused) || refused.Path != spiece {
		t.Errorf("TextError() = %v, want the *tokenizer.NotSiglipError of %s", d.TextError(), spiece)
	}
	if info := m.Info(); info.TokenizerSHA256 != "" || info.Options["max_length"] != "" {
		t.Errorf("identity %+v records a tokenizer the model does not use", info)
	}
	// The shipped spiece.model gives texts and no TextError.
	ok, err := bench.NewModel(bench.ModelSpec{Name: "d", Kind: "dualtoken", Path: extractAsset(t, "tiny-dualtoken")}, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.(*DualToken).TextError(); err != nil {
		t.Errorf("shipped tiny-dualtoken: TextError() = %v", err)
	}
}
