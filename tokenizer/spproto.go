package tokenizer

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file decodes the parts of sentencepiece's ModelProto
// (sentencepiece_model.proto) that encoding and decoding need. It is parsed
// with protowire rather than generated code: go-sentencepiece keeps its
// generated proto internal, and we need only a dozen fields. proto2 defaults
// apply to absent fields, exactly as the C++ library sees them.

// Piece types (ModelProto.SentencePiece.Type).
const (
	pieceNormal      = 1
	pieceUnknown     = 2
	pieceControl     = 3
	pieceUserDefined = 4
	pieceUnused      = 5
	pieceByte        = 6
)

// Model types (TrainerSpec.ModelType).
const (
	modelUnigram = 1
	modelBPE     = 2
	modelWord    = 3
	modelChar    = 4
)

type spPiece struct {
	piece string
	score float32
	typ   int
}

type spTrainerSpec struct {
	modelType               int
	byteFallback            bool
	treatWhitespaceAsSuffix bool
	unkID, bosID, eosID     int
	padID                   int
	unkPiece, bosPiece      string
	eosPiece, padPiece      string
	unkSurface              string
}

type spNormalizerSpec struct {
	present                bool
	name                   string
	charsmap               []byte
	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool
}

type spModelProto struct {
	pieces       []spPiece
	trainer      spTrainerSpec
	normalizer   spNormalizerSpec
	denormalizer spNormalizerSpec
}

func defaultTrainerSpec() spTrainerSpec {
	return spTrainerSpec{
		modelType: modelUnigram, unkID: 0, bosID: 1, eosID: 2, padID: -1,
		unkPiece: "<unk>", bosPiece: "<s>", eosPiece: "</s>", padPiece: "<pad>",
		unkSurface: " \u2047 ",
	}
}

func defaultNormalizerSpec() spNormalizerSpec {
	return spNormalizerSpec{addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true}
}

// parseModelProto decodes a serialized ModelProto.
func parseModelProto(b []byte) (*spModelProto, error) {
	m := &spModelProto{trainer: defaultTrainerSpec(), normalizer: defaultNormalizerSpec(), denormalizer: defaultNormalizerSpec()}
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p, err := parsePiece(raw)
			if err != nil {
				return fmt.Errorf("pieces[%d]: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case num == 2 && typ == protowire.BytesType:
			if err := parseTrainerSpec(raw, &m.trainer); err != nil {
				return fmt.Errorf("trainer_spec: %w", err)
			}
		case num == 3 && typ == protowire.BytesType:
			if err := parseNormalizerSpec(raw, &m.normalizer); err != nil {
				return fmt.Errorf("normalizer_spec: %w", err)
			}
		case num == 5 && typ == protowire.BytesType:
			if err := parseNormalizerSpec(raw, &m.denormalizer); err != nil {
				return fmt.Errorf("denormalizer_spec: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parsePiece(b []byte) (spPiece, error) {
	p := spPiece{typ: pieceNormal}
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p.piece = string(raw)
		case num == 2 && typ == protowire.Fixed32Type:
			p.score = math.Float32frombits(uint32(v))
		case num == 3 && typ == protowire.VarintType:
			p.typ = int(int32(v))
		}
		return nil
	})
	return p, err
}

func parseTrainerSpec(b []byte, t *spTrainerSpec) error {
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		if typ == protowire.VarintType {
			switch num {
			case 3:
				t.modelType = int(int32(v))
			case 24:
				t.treatWhitespaceAsSuffix = v != 0
			case 35:
				t.byteFallback = v != 0
			case 40:
				t.unkID = int(int32(v))
			case 41:
				t.bosID = int(int32(v))
			case 42:
				t.eosID = int(int32(v))
			case 43:
				t.padID = int(int32(v))
			}
		}
		if typ == protowire.BytesType {
			switch num {
			case 44:
				t.unkSurface = string(raw)
			case 45:
				t.unkPiece = string(raw)
			case 46:
				t.bosPiece = string(raw)
			case 47:
				t.eosPiece = string(raw)
			case 48:
				t.padPiece = string(raw)
			}
		}
		return nil
	})
}

func parseNormalizerSpec(b []byte, n *spNormalizerSpec) error {
	n.present = true
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			n.name = string(raw)
		case num == 2 && typ == protowire.BytesType:
			n.charsmap = append([]byte(nil), raw...)
		case num == 3 && typ == protowire.VarintType:
			n.addDummyPrefix = v != 0
		case num == 4 && typ == protowire.VarintType:
			n.removeExtraWhitespaces = v != 0
		case num == 5 && typ == protowire.VarintType:
			n.escapeWhitespaces = v != 0
		}
		return nil
	})
}

// walkFields calls fn for every field of one message level. For varint and
// fixed fields v holds the value; for length-delimited ones raw holds the bytes.
// Groups are rejected (sentencepiece never writes them).
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("field %d: unsupported protobuf wire type %d", num, typ)
		}
		if n < 0 {
			return fmt.Errorf("field %d: malformed protobuf value: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, raw); err != nil {
			return err
		}
	}
	return nil
}
