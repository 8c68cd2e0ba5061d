// Package models adapts the repo's models to the harness's capabilities
// (bench.Embedder, bench.Reconstructor, bench.Answerer) and registers them as
// model kinds for `evalrun run`.
package models

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
)

func init() {
	bench.RegisterModelOptions("siglip", "max_length", "preprocess")
	bench.RegisterModel("siglip", func(spec bench.ModelSpec, b compute.Backend) (bench.Model, error) {
		return NewSiglip(spec, b)
	})
}

// Siglip is a SigLIP checkpoint as an Embedder.
type Siglip struct {
	enc  *siglip.Encoder
	tok  *tokenizer.Siglip
	size int
	crop bool
	info bench.ModelInfo
}

// NewSiglip loads spec.Path (HF SigLIP directory). The tokenizer is
// spec.Tokenizer or spiece.model beside the weights; options (spec.Extra):
// max_length (default the text tower's max_position_embeddings; SigLIP
// So/14-384 evaluations use 64), preprocess=resize|crop (default resize: the
// HF SigLIP processor, a bicubic squash to the input size, no crop; crop:
// shorter side to the input size then centre crop, as DualToken's eval).
// Unknown options are an error. The model's identity (Info) holds the
// checkpoint's, the config's and the tokenizer file's digests and the
// options, defaults filled in, so each setting caches apart.
func NewSiglip(spec bench.ModelSpec, b compute.Backend) (*Siglip, error) {
	if err := bench.CheckModelOptions(spec); err != nil {
		return nil, err
	}
	dt, err := specDType(spec)
	if err != nil {
		return nil, err
	}
	preprocess := spec.Extra["preprocess"]
	switch preprocess {
	case "", "resize":
		preprocess = "resize"
	case "crop":
	default:
		return nil, fmt.Errorf("model %s: preprocess %q (resize or crop)", spec.Path, preprocess)
	}
	m, err := siglip.Load(spec.Path)
	if err != nil {
		return nil, err
	}
	if err := m.SetDType(dt); err != nil {
		return nil, fmt.Errorf("model %s: %w", spec.Path, err)
	}
	if m.Config.Text == nil {
		return nil, fmt.Errorf("%s: vision-only SigLIP has no text tower: it cannot embed texts", spec.Path)
	}
	tokPath := spec.Tokenizer
	if tokPath == "" {
		tokPath = filepath.Join(spec.Path, "spiece.model")
	}
	tok, maxLen, err := loadSiglipTokenizer(spec, tokPath, m.Config.Text.MaxPositions, m.Config.Text.VocabSize)
	if err != nil {
		return nil, err
	}
	enc, err := siglip.NewEncoder(b, m, 32)
	if err != nil {
		return nil, err
	}
	info, err := Identity(spec)
	if err != nil {
		return nil, err
	}
	info.DType = precision.Name(dt)
	if info.TokenizerSHA256, err = tokenizerSHA256(spec, tokPath); err != nil {
		return nil, err
	}
	info.Options = map[string]string{"preprocess": preprocess, "max_length": strconv.Itoa(maxLen)}
	return &Siglip{enc: enc, tok: tok, size: m.Config.Vision.ImageSize, crop: preprocess == "crop", info: info}, nil
}

// Identity is a checkpoint directory's part of a model's identity:
// ConfigSHA256 of config.json, WeightsSHA256 of the checkpoint weights.Open
// loads (the file's sha256; for a sharded checkpoint the sha256 over the
// digests of the index and of every shard it names, so a changed shard is a
// changed model). The kinds add the tokenizer's digest and their options.
func Identity(spec bench.ModelSpec) (bench.ModelInfo, error) {
	info := bench.ModelInfo{Name: spec.Name}
	if info.Name == "" {
		info.Name = filepath.Base(filepath.Clean(spec.Path))
	}
	var err error
	if info.ConfigSHA256, err = bench.FileSHA256(filepath.Join(spec.Path, "config.json")); err != nil {
		return info, err
	}
	info.WeightsSHA256, err = weightsSHA256(spec.Path)
	return info, err
}

func (s *Siglip) Info() bench.ModelInfo { return s.info }

// Pixels preprocesses one image as the model expects: [3,S,S] in [-1,1].
func (s *Siglip) Pixels(img *imageio.Image) []float32 {
	if s.crop {
		img = imageio.ShortSideCenterCrop(img, s.size)
	}
	return imageio.SiglipPixels(img, s.size)
}

func (s *Siglip) EmbedImages(_ context.Context, imgs []*imageio.Image) ([][]float32, error) {
	per := 3 * s.size * s.size
	px := make([]float32, len(imgs)*per)
	bench.ParallelFor(len(imgs), func(i int) { copy(px[i*per:], s.Pixels(imgs[i])) })
	return s.enc.EmbedImages(px)
}

func (s *Siglip) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	ids := make([][]int, len(texts))
	for i, t := range texts {
		var err error
		if ids[i], err = s.tok.Encode(t); err != nil {
			return nil, fmt.Errorf("tokenizing %q: %w", t, err)
		}
	}
	return s.enc.EmbedTexts(ids)
}

// loadSiglipTokenizer loads SigLIP's SentencePiece tokenizer for a text
// tower of maxPositions positions and vocab embeddings, padded to the
// max_length option (default maxPositions). Only SigLIP (v1)'s rules are
// implemented ("</s>" appended and padded, punctuation canonicalised):
// SigLIP2's Gemma tokenizer has no "</s>" piece and is refused rather than
// tokenized by the wrong rules.
func loadSiglipTokenizer(spec bench.ModelSpec, tokPath string, maxPositions, vocab int) (*tokenizer.Siglip, int, error) {
	sp, err := tokenizer.LoadSentencePiece(tokPath)
	if err != nil {
		return nil, 0, fmt.Errorf("model %s: tokenizer: %w", spec.Path, err)
	}
	if sp.IDToPiece(sp.PieceToID("</s>")) != "</s>" {
		return nil, 0, fmt.Errorf("model %s: tokenizer %s has no \"</s>\" piece, so it is not SigLIP's: SigLIP2's Gemma tokenizer (its own casing, <bos>/<eos> and padding rules) is not implemented, and texts cannot be encoded", spec.Path, tokPath)
	}
	maxLen := maxPositions
	if v := spec.Extra["max_length"]; v != "" {
		if maxLen, err = strconv.Atoi(v); err != nil || maxLen < 1 || maxLen > maxPositions {
			return nil, 0, fmt.Errorf("model %s: max_length %q must be 1..%d", spec.Path, v, maxPositions)
		}
	}
	if sp.VocabSize() > vocab {
		return nil, 0, fmt.Errorf("model %s: tokenizer %s has %d pieces but the text tower only %d embeddings", spec.Path, tokPath, sp.VocabSize(), vocab)
	}
	return tokenizer.NewSiglip(sp, maxLen), maxLen, nil
}
