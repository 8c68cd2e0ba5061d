package tokenizer

import (
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes SentencePiece `.model` files (a serialized ModelProto) for
// models built in code, such as the procedural world's tiny vocabulary. It
// writes the fields spproto.go reads, with the C++ library's field numbers,
// so the result also loads in sentencepiece and transformers.

// PieceType is a piece's ModelProto.SentencePiece.Type.
type PieceType int

// Piece types, as in sentencepiece_model.proto.
const (
	PieceNormal      PieceType = pieceNormal
	PieceUnknown     PieceType = pieceUnknown
	PieceControl     PieceType = pieceControl
	PieceUserDefined PieceType = pieceUserDefined
	PieceUnused      PieceType = pieceUnused
)

// PieceSpec is one vocabulary entry to write; its id is its index.
type PieceSpec struct {
	Piece string
	Score float32   // log-probability for unigram Viterbi; 0 for special pieces
	Type  PieceType // 0 means PieceNormal
}

// UnigramSpec describes a unigram SentencePiece model to serialize.
type UnigramSpec struct {
	Pieces []PieceSpec
	// Special ids (trainer_spec unk_id, bos_id, eos_id, pad_id); -1 = none.
	// The unknown id is required and must name a PieceUnknown piece; the
	// others must name PieceControl pieces.
	UnkID, BOSID, EOSID, PadID int
	ModelPrefix                string // trainer_spec.model_prefix (informational)
	// NormalizerName is normalizer_spec.name; with no precompiled charsmap
	// the normalizer is the identity ("identity").
	NormalizerName string
	// Normalizer flags; the C++ defaults (all true) are what SigLIP uses.
	AddDummyPrefix, RemoveExtraWhitespaces, EscapeWhitespaces bool
}

// NewUnigramSpec returns a spec with SigLIP's special-token layout (pad 0
// "<pad>", eos 1 "</s>", unk 2 "<unk>", no bos) and the default normalizer
// flags; append the normal pieces after the three special ones.
func NewUnigramSpec() *UnigramSpec {
	return &UnigramSpec{
		Pieces: []PieceSpec{
			{Piece: "<pad>", Type: PieceControl},
			{Piece: "</s>", Type: PieceControl},
			{Piece: "<unk>", Type: PieceUnknown},
		},
		UnkID: 2, BOSID: -1, EOSID: 1, PadID: 0,
		NormalizerName: "identity",
		AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true,
	}
}

// Marshal validates the spec and returns the serialized ModelProto.
func (s *UnigramSpec) Marshal() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	var b []byte
	for _, p := range s.Pieces { // ModelProto.pieces = 1
		if p.Type == 0 {
			p.Type = PieceNormal
		}
		var pb []byte
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, p.Piece)
		pb = protowire.AppendTag(pb, 2, protowire.Fixed32Type)
		pb = protowire.AppendFixed32(pb, math.Float32bits(p.Score))
		pb = protowire.AppendTag(pb, 3, protowire.VarintType)
		pb = protowire.AppendVarint(pb, uint64(p.Type))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, pb)
	}

	var ts []byte // TrainerSpec = 2
	if s.ModelPrefix != "" {
		ts = appendString(ts, 2, s.ModelPrefix)
	}
	ts = appendInt32(ts, 3, modelUnigram)
	ts = appendInt32(ts, 4, int32(len(s.Pieces)))
	ts = protowire.AppendTag(ts, 10, protowire.Fixed32Type) // character_coverage
	ts = protowire.AppendFixed32(ts, math.Float32bits(1))
	ts = appendBool(ts, 35, false) // byte_fallback
	ts = appendInt32(ts, 40, int32(s.UnkID))
	ts = appendInt32(ts, 41, int32(s.BOSID))
	ts = appendInt32(ts, 42, int32(s.EOSID))
	ts = appendInt32(ts, 43, int32(s.PadID))
	// The special pieces' strings (unk_piece 45, bos_piece 46, eos_piece 47,
	// pad_piece 48), where the ids name pieces.
	for _, f := range []struct {
		num protowire.Number
		id  int
	}{{45, s.UnkID}, {46, s.BOSID}, {47, s.EOSID}, {48, s.PadID}} {
		if f.id >= 0 {
			ts = appendString(ts, f.num, s.Pieces[f.id].Piece)
		}
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)

	var ns []byte // NormalizerSpec = 3
	ns = appendString(ns, 1, s.NormalizerName)
	ns = appendBool(ns, 3, s.AddDummyPrefix)
	ns = appendBool(ns, 4, s.RemoveExtraWhitespaces)
	ns = appendBool(ns, 5, s.EscapeWhitespaces)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, ns)
	return b, nil
}

// WriteFile serializes the spec to path (conventionally spiece.model).
func (s *UnigramSpec) WriteFile(path string) error {
	b, err := s.Marshal()
	if err != nil {
		return fmt.Errorf("tokenizer: writing %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

func (s *UnigramSpec) validate() error {
	if len(s.Pieces) == 0 {
		return fmt.Errorf("sentencepiece spec has no pieces")
	}
	seen := make(map[string]int, len(s.Pieces))
	for i, p := range s.Pieces {
		if p.Piece == "" {
			return fmt.Errorf("pieces[%d] is empty", i)
		}
		if j, dup := seen[p.Piece]; dup {
			return fmt.Errorf("pieces[%d] %q duplicates pieces[%d]", i, p.Piece, j)
		}
		seen[p.Piece] = i
		switch p.Type {
		case 0, PieceNormal, PieceUnknown, PieceControl, PieceUserDefined, PieceUnused:
		default:
			return fmt.Errorf("pieces[%d] %q has type %d; want NORMAL, UNKNOWN, CONTROL, USER_DEFINED or UNUSED (byte pieces are not written)", i, p.Piece, p.Type)
		}
		if p.Type == PieceUnknown && i != s.UnkID {
			return fmt.Errorf("pieces[%d] %q is UNKNOWN but unk_id is %d", i, p.Piece, s.UnkID)
		}
		if math.IsNaN(float64(p.Score)) || math.IsInf(float64(p.Score), 0) {
			return fmt.Errorf("pieces[%d] %q has score %v", i, p.Piece, p.Score)
		}
	}
	check := func(field string, id int, want PieceType, required bool) error {
		if id < 0 {
			if required {
				return fmt.Errorf("trainer_spec.%s is %d: a unigram model needs one", field, id)
			}
			return nil
		}
		if id >= len(s.Pieces) {
			return fmt.Errorf("trainer_spec.%s = %d is outside the %d pieces", field, id, len(s.Pieces))
		}
		if s.Pieces[id].Type != want {
			return fmt.Errorf("trainer_spec.%s = %d names %q of type %d, expected type %d", field, id, s.Pieces[id].Piece, s.Pieces[id].Type, want)
		}
		return nil
	}
	if err := check("unk_id", s.UnkID, PieceUnknown, true); err != nil {
		return err
	}
	ids := map[string]int{"bos_id": s.BOSID, "eos_id": s.EOSID, "pad_id": s.PadID}
	for _, f := range []string{"bos_id", "eos_id", "pad_id"} {
		if err := check(f, ids[f], PieceControl, false); err != nil {
			return err
		}
	}
	return nil
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// appendInt32 writes a proto int32: negative values sign-extend to 10 bytes.
func appendInt32(b []byte, num protowire.Number, v int32) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(int64(v)))
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}
