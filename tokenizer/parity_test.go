package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// goldenCase is one row of the tokenizer fixtures (fixtures/README.md):
// the input text and what the reference produced for it.
type goldenCase struct {
	Text    string   `json:"text"`
	IDs     []int    `json:"ids"`
	Pieces  []string `json:"pieces"`
	Decoded *string  `json:"decoded"`
}

type goldenFile struct {
	MaxLength int          `json:"max_length"`
	Cases     []goldenCase `json:"cases"`
}

func readGolden(t *testing.T, path string) goldenFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return g
}

func loadSP(t *testing.T, path string) *SentencePiece {
	t.Helper()
	sp, err := LoadSentencePiece(path)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func checkPieces(t *testing.T, sp *SentencePiece, c goldenCase) {
	t.Helper()
	ps := sp.EncodePieces(c.Text)
	ids := make([]int, len(ps))
	texts := make([]string, len(ps))
	for i, p := range ps {
		ids[i], texts[i] = p.ID, p.Text
	}
	if !slices.Equal(ids, c.IDs) {
		t.Errorf("%q: ids\n got %v\nwant %v", c.Text, ids, c.IDs)
	}
	if c.Pieces != nil && !slices.Equal(texts, c.Pieces) {
		t.Errorf("%q: pieces\n got %q\nwant %q", c.Text, texts, c.Pieces)
	}
	enc, err := sp.Encode(c.Text)
	if err != nil || !slices.Equal(enc, c.IDs) {
		t.Errorf("%q: Encode = %v, %v; want %v", c.Text, enc, err, c.IDs)
	}
}

// TestParitySentencePieceUnigram: fixtures/spm, sentencepiece's raw encode of
// a unigram model (ids and pieces exactly).
func TestParitySentencePieceUnigram(t *testing.T) {
	dir := fixtures.Dir(t, "spm")
	sp := loadSP(t, filepath.Join(dir, "spiece.model"))
	if sp.IsBPE() {
		t.Fatalf("spm/spiece.model loaded as BPE; the fixture is a unigram model")
	}
	g := readGolden(t, filepath.Join(dir, "golden.json"))
	for _, c := range g.Cases {
		checkPieces(t, sp, c)
		if c.Decoded != nil {
			if got := sp.Decode(c.IDs); got != *c.Decoded {
				t.Errorf("%q: Decode = %q, want %q", c.Text, got, *c.Decoded)
			}
		}
	}
}

// TestParitySiglipTokenizer: fixtures/spm, transformers' SiglipTokenizer with
// padding="max_length", truncation=True and the file's max_length.
func TestParitySiglipTokenizer(t *testing.T) {
	dir := fixtures.Dir(t, "spm")
	sp := loadSP(t, filepath.Join(dir, "spiece.model"))
	g := readGolden(t, filepath.Join(dir, "golden_siglip_tokenizer.json"))
	if g.MaxLength <= 0 {
		t.Fatalf("golden_siglip_tokenizer.json: max_length %d", g.MaxLength)
	}
	tok := NewSiglip(sp, g.MaxLength)
	for _, c := range g.Cases {
		got, err := tok.Encode(c.Text)
		if err != nil {
			t.Errorf("%q: %v", c.Text, err)
			continue
		}
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%q:\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}

// TestParitySentencePieceBPE: fixtures/spm_bpe, a BPE model with byte
// fallback; raw encode ids and pieces, and decode of those ids.
func TestParitySentencePieceBPE(t *testing.T) {
	dir := fixtures.Dir(t, "spm_bpe")
	sp := loadSP(t, filepath.Join(dir, "tokenizer.model"))
	if !sp.IsBPE() {
		t.Fatalf("spm_bpe/tokenizer.model loaded as unigram; the fixture is a BPE model")
	}
	g := readGolden(t, filepath.Join(dir, "golden.json"))
	for _, c := range g.Cases {
		checkPieces(t, sp, c)
		if c.Decoded == nil {
			t.Errorf("%q: golden row has no decoded text", c.Text)
			continue
		}
		if got := sp.Decode(c.IDs); got != *c.Decoded {
			t.Errorf("%q: Decode = %q, want %q", c.Text, got, *c.Decoded)
		}
	}
}

// TestParityHFBPE: fixtures/bpe, HF tokenizers' encode (special
// tokens as single ids) and decode skipping special tokens.
func TestParityHFBPE(t *testing.T) {
	dir := fixtures.Dir(t, "bpe")
	tok, err := LoadHFBPE(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := readGolden(t, filepath.Join(dir, "golden.json"))
	for _, c := range g.Cases {
		got, err := tok.Encode(c.Text)
		if err != nil {
			t.Errorf("%q: %v", c.Text, err)
			continue
		}
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%q: ids\n got %v\nwant %v", c.Text, got, c.IDs)
		}
		if c.Decoded == nil {
			t.Errorf("%q: golden row has no decoded text", c.Text)
			continue
		}
		if dec := tok.Decode(c.IDs); dec != *c.Decoded {
			t.Errorf("%q: Decode = %q, want %q", c.Text, dec, *c.Decoded)
		}
	}
}

// TestParityLoadDispatch: Load picks the right implementation for each
// fixture file and for a directory holding tokenizer.json.
func TestParityLoadDispatch(t *testing.T) {
	spm := filepath.Join(fixtures.Dir(t, "spm"), "spiece.model")
	bpeDir := fixtures.Dir(t, "bpe")
	for _, c := range []struct {
		path string
		want string
	}{{spm, "*tokenizer.SentencePiece"}, {bpeDir, "*tokenizer.HFBPE"}, {filepath.Join(bpeDir, "tokenizer.json"), "*tokenizer.HFBPE"}} {
		tok, err := Load(c.path)
		if err != nil {
			t.Fatal(err)
		}
		switch tok.(type) {
		case *SentencePiece:
			if c.want != "*tokenizer.SentencePiece" {
				t.Errorf("Load(%s) = SentencePiece, want %s", c.path, c.want)
			}
		case *HFBPE:
			if c.want != "*tokenizer.HFBPE" {
				t.Errorf("Load(%s) = HFBPE, want %s", c.path, c.want)
			}
		}
	}
}
