package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/tokenizer/tokenizertest"
)

// A SentencePiece model that is neither SigLIP's ("</s>") nor SigLIP2's
// Gemma tokenizer ("<eos>" and "<pad>") is refused by both model kinds with
// a text tower: either rule set would append and pad with pieces it lacks.
func TestForeignTokenizerRefused(t *testing.T) {
	foreign := filepath.Join(t.TempDir(), "tokenizer.model")
	tokenizertest.WriteForeign(t, foreign)
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, asset string }{{"siglip", "tiny-siglip"}, {"dualtoken", "tiny-dualtoken"}} {
		spec := bench.ModelSpec{Name: c.asset, Kind: c.kind, Path: extractAsset(t, c.asset), Tokenizer: foreign}
		_, err := bench.NewModel(spec, b)
		if err == nil || !strings.Contains(err.Error(), `neither SigLIP's "</s>" nor SigLIP2's`) || !strings.Contains(err.Error(), foreign) {
			t.Errorf("%s with a foreign tokenizer: %v", c.kind, err)
		}
	}
}

// A Gemma-shaped tokenizer gets SigLIP2's text rules in both kinds, named
// (tokenizer:) or found beside the weights as tokenizer.model, or as
// tokenizer.json alone, when there is no spiece.model: texts end in <eos>
// and are padded with <pad>.
func TestSiglip2TokenizerEmbedsTexts(t *testing.T) {
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, asset string }{{"siglip", "tiny-siglip"}, {"dualtoken", "tiny-dualtoken"}} {
		named := filepath.Join(t.TempDir(), "gemma.model")
		tokenizertest.WriteGemmaLike(t, named)
		beside := extractAsset(t, c.asset)
		if err := os.Remove(filepath.Join(beside, "spiece.model")); err != nil {
			t.Fatal(err)
		}
		tokenizertest.WriteGemmaLike(t, filepath.Join(beside, "tokenizer.model"))
		onlyJSON := extractAsset(t, c.asset)
		if err := os.Remove(filepath.Join(onlyJSON, "spiece.model")); err != nil {
			t.Fatal(err)
		}
		tokenizertest.WriteGemmaLikeJSON(t, filepath.Join(onlyJSON, "tokenizer.json"))
		namedDir := t.TempDir() // tokenizer: may name a folder
		tokenizertest.WriteGemmaLikeJSON(t, filepath.Join(namedDir, "tokenizer.json"))
		if _, err := bench.NewModel(bench.ModelSpec{Name: c.asset, Kind: c.kind, Path: extractAsset(t, c.asset), Tokenizer: t.TempDir()}, b); err == nil || !strings.Contains(err.Error(), "folder has no spiece.model, tokenizer.model or tokenizer.json") {
			t.Errorf("%s with an empty tokenizer folder: %v", c.kind, err)
		}
		for _, spec := range []bench.ModelSpec{
			{Name: c.asset, Kind: c.kind, Path: extractAsset(t, c.asset), Tokenizer: named},
			{Name: c.asset, Kind: c.kind, Path: beside},
			{Name: c.asset, Kind: c.kind, Path: onlyJSON},
			{Name: c.asset, Kind: c.kind, Path: extractAsset(t, c.asset), Tokenizer: namedDir},
		} {
			m, err := bench.NewModel(spec, b)
			if err != nil {
				t.Fatalf("%s with a Gemma-shaped tokenizer (%q): %v", c.kind, spec.Tokenizer, err)
			}
			var tok tokenizer.TextTokenizer
			switch m := m.(type) {
			case *Siglip:
				tok = m.tok
			case *DualToken:
				tok = m.tok
			}
			if tok == nil || tok.Rules() != "siglip2" {
				t.Fatalf("%s (%q): text rules %v, want siglip2", c.kind, spec.Tokenizer, tok)
			}
			ids, err := tok.Encode("A red!")
			if n := tok.MaxLength(); err != nil || len(ids) != n || n < 4 || ids[0] != 3 || ids[1] != 4 || ids[2] != 1 || ids[n-1] != 0 {
				t.Errorf("%s: Encode(\"A red!\") = %v, %v; want ▁a ▁red <eos> then <pad> to max_length", c.kind, ids, err)
			}
			embs, err := m.(bench.Embedder).EmbedTexts(context.Background(), []string{"a red square", "A red square."})
			if err != nil || len(embs) != 2 {
				t.Fatalf("%s: EmbedTexts: %d embeddings, %v", c.kind, len(embs), err)
			}
			for i := range embs[0] { // the same ids after cleaning
				if embs[0][i] != embs[1][i] {
					t.Errorf("%s: texts equal after SigLIP2's cleaning embed differently", c.kind)
					break
				}
			}
		}
	}
}

// A DualToken folder whose own spiece.model is foreign still builds: its
// image paths (reconstruction, semantic embeddings) run, while texts are
// refused with the tokenizer's reason in one line, naming the file.
func TestDualTokenForeignSpieceImagesOnly(t *testing.T) {
	dir := extractAsset(t, "tiny-dualtoken")
	spiece := filepath.Join(dir, "spiece.model")
	tokenizertest.WriteForeign(t, spiece)
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bench.NewModel(bench.ModelSpec{Name: "d", Kind: "dualtoken", Path: dir}, b)
	if err != nil {
		t.Fatalf("dualtoken with a foreign spiece.model did not build: %v", err)
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
	if err == nil || !strings.Contains(err.Error(), `neither SigLIP's "</s>" nor SigLIP2's`) || !strings.Contains(err.Error(), spiece) || strings.Contains(err.Error(), "\n") {
		t.Errorf("EmbedTexts: %v, want one line naming %s and the missing pieces", err, spiece)
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

// A checkpoint folder with neither spiece.model nor tokenizer.model: the
// siglip kind is refused, the dualtoken kind builds without texts; both
// errors are one line naming the folder and both file names.
func TestNoTokenizerFileNamed(t *testing.T) {
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, asset string }{{"siglip", "tiny-siglip"}, {"dualtoken", "tiny-dualtoken"}} {
		dir := extractAsset(t, c.asset)
		if err := os.Remove(filepath.Join(dir, "spiece.model")); err != nil {
			t.Fatal(err)
		}
		m, err := bench.NewModel(bench.ModelSpec{Name: c.asset, Kind: c.kind, Path: dir}, b)
		if c.kind == "dualtoken" {
			if err != nil {
				t.Fatalf("dualtoken without a tokenizer did not build: %v", err)
			}
			err = m.(*DualToken).TextError()
		}
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s without a tokenizer file: %v, want one line", c.kind, err)
		}
		for _, want := range []string{dir, "no spiece.model (SigLIP), tokenizer.model or tokenizer.json (SigLIP2"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", c.kind, err, want)
			}
		}
	}
}
