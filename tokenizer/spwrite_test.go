package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestUnigramSpecRoundTrip writes a small model and reads it back: pieces,
// scores, types, special ids, the normalizer flags and Viterbi preferring
// whole words over characters.
func TestUnigramSpecRoundTrip(t *testing.T) {
	s := NewUnigramSpec()
	s.ModelPrefix = "roundtrip"
	for i, w := range []string{"▁a", "▁red", "▁circle", "▁circles", "▁"} {
		s.Pieces = append(s.Pieces, PieceSpec{Piece: w, Score: -1 - float32(i)})
	}
	for _, c := range "acdeilrs" {
		s.Pieces = append(s.Pieces, PieceSpec{Piece: string(c), Score: -20})
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ParseSentencePiece(data)
	if err != nil {
		t.Fatal(err)
	}
	if sp.VocabSize() != len(s.Pieces) || sp.IsBPE() {
		t.Fatalf("VocabSize %d (want %d), BPE %v", sp.VocabSize(), len(s.Pieces), sp.IsBPE())
	}
	m, _ := parseModelProto(data)
	for i, p := range s.Pieces {
		got := m.pieces[i]
		if p.Type == 0 {
			p.Type = PieceNormal
		}
		if got.piece != p.Piece || got.score != p.Score || got.typ != int(p.Type) {
			t.Errorf("piece %d = %+v, want %+v", i, got, p)
		}
	}
	if m.trainer.unkID != 2 || m.trainer.eosID != 1 || m.trainer.padID != 0 || m.trainer.bosID != -1 || m.trainer.modelType != modelUnigram {
		t.Errorf("trainer spec %+v", m.trainer)
	}
	if m.trainer.eosPiece != "</s>" || m.trainer.unkPiece != "<unk>" || m.trainer.padPiece != "<pad>" {
		t.Errorf("special pieces %q %q %q", m.trainer.eosPiece, m.trainer.unkPiece, m.trainer.padPiece)
	}
	if n := m.normalizer; n.name != "identity" || len(n.charsmap) != 0 || !n.addDummyPrefix || !n.removeExtraWhitespaces || !n.escapeWhitespaces {
		t.Errorf("normalizer spec %+v", n)
	}
	if _, ok := sp.BOS(); ok {
		t.Errorf("model has a bos id; want none")
	}
	if eos := sp.EOS(); !slices.Equal(eos, []int{1}) {
		t.Errorf("EOS = %v, want [1]", eos)
	}
	// Whole words win; an unseen word falls back to characters, not unk.
	ids, _ := sp.Encode("a red  circles")
	if want := []int{3, 4, 6}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	ids, _ = sp.Encode("cider")
	for _, id := range ids {
		if id == sp.UnkID() {
			t.Errorf("Encode(cider) = %v has unk", ids)
		}
	}
	tok := NewSiglip(sp, 8)
	ids, _ = tok.Encode("A red circle.")
	if want := []int{3, 4, 5, 1, 1, 1, 1, 1}; !slices.Equal(ids, want) {
		t.Errorf("Siglip Encode = %v, want %v", ids, want)
	}

	path := filepath.Join(t.TempDir(), "spiece.model")
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(path)
	if err != nil || !slices.Equal(disk, data) {
		t.Fatalf("WriteFile wrote different bytes (err %v)", err)
	}
}

// TestUnigramSpecBadInput: invalid specs are refused with the field named.
func TestUnigramSpecBadInput(t *testing.T) {
	cases := []struct {
		edit func(s *UnigramSpec)
		want string
	}{
		{func(s *UnigramSpec) { s.Pieces = append(s.Pieces, PieceSpec{Piece: "</s>"}) }, `pieces[3] "</s>" duplicates pieces[1]`},
		{func(s *UnigramSpec) { s.Pieces = append(s.Pieces, PieceSpec{Piece: ""}) }, "pieces[3] is empty"},
		{func(s *UnigramSpec) { s.UnkID = -1 }, "unk_id is -1"},
		{func(s *UnigramSpec) { s.EOSID = 2 }, "trainer_spec.eos_id = 2 names \"<unk>\""},
		{func(s *UnigramSpec) { s.PadID = 9 }, "pad_id = 9 is outside the 3 pieces"},
		{func(s *UnigramSpec) { s.Pieces = append(s.Pieces, PieceSpec{Piece: "x", Type: 6}) }, "has type 6"},
	}
	for _, c := range cases {
		s := NewUnigramSpec()
		c.edit(s)
		_, err := s.Marshal()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}

// TestUnigramSpecRewritesFixture re-serializes the pieces of the reference
// unigram model (fixtures/spm, trained by sentencepiece) with this writer and
// an identity normalizer, and checks the reference library's ids for every
// golden text that nmt_nfkc leaves unchanged (printable ASCII): the written
// file means to the encoder what the original means.
func TestUnigramSpecRewritesFixture(t *testing.T) {
	dir := fixtures.Dir(t, "spm")
	orig, err := os.ReadFile(filepath.Join(dir, "spiece.model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseModelProto(orig)
	if err != nil {
		t.Fatal(err)
	}
	s := &UnigramSpec{
		UnkID: m.trainer.unkID, BOSID: m.trainer.bosID, EOSID: m.trainer.eosID, PadID: m.trainer.padID,
		NormalizerName: "identity", AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true,
	}
	for _, p := range m.pieces {
		s.Pieces = append(s.Pieces, PieceSpec{Piece: p.piece, Score: p.score, Type: PieceType(p.typ)})
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ParseSentencePiece(data)
	if err != nil {
		t.Fatal(err)
	}
	g := readGolden(t, filepath.Join(dir, "golden.json"))
	checked := 0
	for _, c := range g.Cases {
		if !printableASCII(c.Text) {
			continue
		}
		checked++
		if ids, _ := sp.Encode(c.Text); !slices.Equal(ids, c.IDs) {
			t.Errorf("%q: ids\n got %v\nwant %v", c.Text, ids, c.IDs)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d golden texts are printable ASCII; the check needs at least 5", checked)
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
