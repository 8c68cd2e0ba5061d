package tokenizer

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// spSpec describes a tiny hand-made ModelProto for unit tests.
type spSpec struct {
	modelType      int
	byteFallback   bool
	addDummyPrefix bool
	removeExtraWS  bool
	pieces         []spPiece // after the fixed <unk>, <s>, </s> (ids 0, 1, 2)
	charsmap       []byte    // normalizer_spec.precompiled_charsmap (nil: identity)
}

// buildModel serializes spec as a ModelProto, with identity normalisation
// unless spec gives a charsmap, so expectations follow from the pieces and
// scores alone.
func buildModel(t testing.TB, s spSpec) []byte {
	t.Helper()
	var b []byte
	all := append([]spPiece{{"<unk>", 0, pieceUnknown}, {"<s>", 0, pieceControl}, {"</s>", 0, pieceControl}}, s.pieces...)
	if s.byteFallback {
		for i := 0; i < 256; i++ {
			all = append(all, spPiece{piece: "<0x" + strings.ToUpper(hex2(i)) + ">", typ: pieceByte})
		}
	}
	for _, p := range all {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.piece)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.score))
		m = protowire.AppendTag(m, 3, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(p.typ))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var tr []byte
	tr = protowire.AppendTag(tr, 3, protowire.VarintType)
	tr = protowire.AppendVarint(tr, uint64(s.modelType))
	tr = protowire.AppendTag(tr, 35, protowire.VarintType)
	tr = protowire.AppendVarint(tr, protowire.EncodeBool(s.byteFallback))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, tr)
	var n []byte
	n = protowire.AppendTag(n, 1, protowire.BytesType)
	n = protowire.AppendString(n, "identity")
	n = protowire.AppendTag(n, 3, protowire.VarintType)
	n = protowire.AppendVarint(n, protowire.EncodeBool(s.addDummyPrefix))
	n = protowire.AppendTag(n, 4, protowire.VarintType)
	n = protowire.AppendVarint(n, protowire.EncodeBool(s.removeExtraWS))
	if len(s.charsmap) > 0 {
		n = protowire.AppendTag(n, 2, protowire.BytesType)
		n = protowire.AppendBytes(n, s.charsmap)
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, n)
	return b
}

func hex2(i int) string {
	const d = "0123456789abcdef"
	return string([]byte{d[i>>4], d[i&15]})
}

func mustParse(t testing.TB, s spSpec) *SentencePiece {
	t.Helper()
	sp, err := ParseSentencePiece(buildModel(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func pieceTexts(ps []Piece) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Text
	}
	return out
}

func TestSentencePieceNormalizeWhitespace(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true,
		pieces: []spPiece{{"a", -1, pieceNormal}}})
	for in, want := range map[string]string{
		"  a  b  ": "▁a▁b",
		"a":        "▁a",
		"   ":      "",
		"":         "",
		"a\xffb":   "▁a\uFFFDb", // a malformed byte becomes U+FFFD
	} {
		if got := sp.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	keep := mustParse(t, spSpec{modelType: modelUnigram, pieces: []spPiece{{"a", -1, pieceNormal}}})
	if got := keep.Normalize("  a  "); got != "▁▁a▁▁" {
		t.Errorf("no dummy prefix, keep spaces: got %q", got)
	}
}

func TestSentencePieceUnigramViterbi(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true, pieces: []spPiece{
		{"▁a", -1, pieceNormal},    // 3
		{"b", -2, pieceNormal},     // 4
		{"▁ab", -2.5, pieceNormal}, // 5: beats ▁a+b (-3)
		{"▁", -3, pieceNormal},     // 6
		{"a", -3, pieceNormal},     // 7
		{"<img>", 0, pieceUserDefined},
		{"▁b", -0.5, pieceUnused}, // unused: never chosen
	}})
	cases := []struct {
		text   string
		pieces []string
		ids    []int
	}{
		{"ab", []string{"▁ab"}, []int{5}},
		{"a b", []string{"▁a", "▁", "b"}, []int{3, 6, 4}},
		// c, d are unknown: one unknown piece per character, merged into one run.
		{"acd", []string{"▁a", "cd"}, []int{3, 0}},
		{"a<img>b", []string{"▁a", "<img>", "b"}, []int{3, 8, 4}},
	}
	for _, c := range cases {
		ps := sp.EncodePieces(c.text)
		if !slices.Equal(pieceTexts(ps), c.pieces) {
			t.Errorf("%q: pieces %q, want %q", c.text, pieceTexts(ps), c.pieces)
		}
		if ids, _ := sp.Encode(c.text); !slices.Equal(ids, c.ids) {
			t.Errorf("%q: ids %v, want %v", c.text, ids, c.ids)
		}
	}
	if got := sp.Decode([]int{1, 3, 0, 4, 2}); got != "a ⁇ b" {
		t.Errorf("Decode: %q, want %q (control pieces vanish, unknown is \" ⁇ \")", got, "a ⁇ b")
	}
}

func TestSentencePieceBPEMerges(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelBPE, byteFallback: true, addDummyPrefix: true, removeExtraWS: true, pieces: []spPiece{
		{"▁", -5, pieceNormal},    // 3
		{"a", -5, pieceNormal},    // 4
		{"b", -5, pieceNormal},    // 5
		{"c", -5, pieceNormal},    // 6
		{"ab", -1, pieceNormal},   // 7
		{"bc", -0.5, pieceNormal}, // 8: merges before ab
		{"▁a", -2, pieceNormal},   // 9
	}})
	// "▁abc": bc (-0.5) first, then ▁a (-2); "abc" and "▁abc" are not pieces.
	ps := sp.EncodePieces("abc")
	if want := []string{"▁a", "bc"}; !slices.Equal(pieceTexts(ps), want) {
		t.Errorf("abc: %q, want %q", pieceTexts(ps), want)
	}
	// é is not a piece: byte fallback gives its two UTF-8 bytes.
	ids, _ := sp.Encode("é")
	byteID := func(b int) int { return 10 + b }
	if want := []int{3, byteID(0xC3), byteID(0xA9)}; !slices.Equal(ids, want) {
		t.Errorf("é: %v, want %v", ids, want)
	}
	if got := sp.Decode(ids); got != "é" {
		t.Errorf("Decode(%v) = %q, want é", ids, got)
	}
	// A lone continuation byte and a truncated sequence: U+FFFD per byte.
	if got := sp.Decode([]int{byteID(0xA9), 4, byteID(0xC3)}); got != "\uFFFDa\uFFFD" {
		t.Errorf("invalid bytes: %q", got)
	}
	if got := sp.Decode([]int{-1, 4, 1 << 30}); got != "a" {
		t.Errorf("out-of-range ids must be skipped: %q", got)
	}
}

func TestSentencePieceSpecialIDs(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelBPE, pieces: []spPiece{{"a", -1, pieceNormal}}})
	if got := sp.EOS(); !slices.Equal(got, []int{2}) {
		t.Errorf("EOS = %v, want [2] (trainer_spec default eos_id)", got)
	}
	if id, ok := sp.BOS(); !ok || id != 1 {
		t.Errorf("BOS = %d %v, want 1", id, ok)
	}
	if id, ok := sp.TokenID("</s>"); !ok || id != 2 {
		t.Errorf("TokenID(</s>) = %d %v", id, ok)
	}
	if _, err := SpecialID(sp, "<|im_end|>"); err == nil || !strings.Contains(err.Error(), "<|im_end|>") {
		t.Errorf("unknown special token: err = %v", err)
	}
}

func TestSentencePieceBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := buildModel(t, spSpec{modelType: modelUnigram, pieces: []spPiece{{"a", -1, pieceNormal}}})
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated.model": {good[:len(good)-3], "malformed"},
		"text.model":      {[]byte("this is not a protobuf\n"), "not a SentencePiece"},
		"empty.model":     {nil, "no pieces"},
		"word.model": {buildModel(t, spSpec{modelType: modelWord, pieces: []spPiece{{"a", -1, pieceNormal}}}),
			"model_type 3"},
	}
	for name, c := range cases {
		path := write(name, c.data)
		_, err := LoadSentencePiece(path)
		if err == nil {
			t.Errorf("%s: loaded without error", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q should name the file and mention %q", name, err, c.want)
		}
	}
	if _, err := LoadSentencePiece(filepath.Join(dir, "missing.model")); err == nil {
		t.Error("missing file loaded")
	}
}

// TestSentencePieceFixtureDecode: decoding the fixture model's own encoding
// gives back the text up to whitespace normalisation (ASCII inputs).
func TestSentencePieceFixtureRoundTrip(t *testing.T) {
	sp := loadSP(t, filepath.Join(fixtures.Dir(t, "spm_bpe"), "tokenizer.model"))
	for _, text := range []string{"How many dogs are there?", "a  b\tc", "zebra: 98765!"} {
		ids, _ := sp.Encode(text)
		want := strings.Join(strings.Fields(text), " ")
		if got := sp.Decode(ids); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", text, got, want)
		}
	}
}

func TestSentencePieceEncodeWithBOS(t *testing.T) {
	sp := mustParse(t, spSpec{modelType: modelBPE, addDummyPrefix: true, removeExtraWS: true,
		pieces: []spPiece{{"▁", -1, pieceNormal}, {"a", -1, pieceNormal}}})
	ids, err := sp.EncodeWithBOS("a")
	if err != nil || !slices.Equal(ids, []int{1, 3, 4}) {
		t.Errorf("EncodeWithBOS(a) = %v, %v; want [1 3 4]", ids, err)
	}
}
