// Package models adapts the repo's models to the harness's capabilities
// (bench.Embedder, bench.Reconstructor, bench.Answerer) and registers them as
// model kinds for `evalrun run`.
package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
)

// maxLengthOption is the text length option of the kinds with a SigLIP
// text tower. Its upper bound, the tower's max_position_embeddings, is in
// the checkpoint, so only "a positive integer" is checked before loading.
var maxLengthOption = bench.OptionDoc{
	Key:  "max_length",
	Help: "tokens per text (truncated; SigLIP pads with </s>, SigLIP2 appends <eos> and pads with <pad>); at most the text tower's max_position_embeddings, its default (SigLIP So/14-384 evaluations use 64)",
	Int:  true, Min: 1,
}

// siglipOptions are the siglip kind's options (ModelSpec.Extra); NewSiglip
// reads them through this declaration, which `evalrun run` checks first.
var siglipOptions = []bench.OptionDoc{
	maxLengthOption,
	{Key: "preprocess", Help: "resize: the HF SigLIP processor's bicubic squash to the input size; crop: shorter side to the input size, then centre crop (DualToken's eval)", Default: "resize", Values: []string{"resize", "crop"}},
}

func init() {
	bench.RegisterModelOptions("siglip", siglipOptions...)
	bench.RegisterModelType("siglip", (*Siglip)(nil))
	bench.RegisterModel("siglip", func(spec bench.ModelSpec, b compute.Backend) (bench.Model, error) {
		return NewSiglip(spec, b)
	})
}

// Siglip is a SigLIP checkpoint as an Embedder.
type Siglip struct {
	enc  *siglip.Encoder
	tok  tokenizer.TextTokenizer
	size int
	crop bool
	info bench.ModelInfo
}

// NewSiglip loads spec.Path (HF SigLIP or fixed-resolution SigLIP2
// directory). The tokenizer is spec.Tokenizer or the tokenizer file beside
// the weights (tokenizer.SiglipTokenizerIn), its end-of-sequence piece
// choosing SigLIP's or SigLIP2's text rules (tokenizer.LoadSiglipText);
// options (spec.Extra):
// max_length (default the text tower's max_position_embeddings; SigLIP
// So/14-384 evaluations use 64), preprocess=resize|crop (default resize: the
// HF SigLIP processor, a bicubic squash to the input size, no crop; crop:
// shorter side to the input size then centre crop, as DualToken's eval).
// An unknown option or a bad value is an error (bench.CheckModelOptions
// on siglipOptions). The model's identity (Info) holds the
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
	preprocess := spec.Option("preprocess") // checked: resize or crop
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
	tokPath, err := namedTokenizerFile(spec)
	if err != nil {
		return nil, err
	}
	if tokPath == "" {
		if tokPath = tokenizer.SiglipTokenizerIn(spec.Path); tokPath == "" {
			return nil, fmt.Errorf("model %s: %s", spec.Path, noTokenizerFile("in the folder"))
		}
	}
	maxLen, err := textMaxLength(spec, m.Config.Text.MaxPositions)
	if err != nil {
		return nil, err
	}
	tok, err := loadSiglipTokenizer(spec, tokPath, maxLen, m.Config.Text.VocabSize)
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

// textMaxLength is the max_length option for a text tower of maxPositions
// positions: the option (a positive integer, checked by its declaration) up
// to maxPositions, or maxPositions when unset.
func textMaxLength(spec bench.ModelSpec, maxPositions int) (int, error) {
	n, ok, err := spec.IntOption(maxLengthOption.Key)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return maxPositions, nil
	case n > maxPositions:
		return 0, fmt.Errorf("model %s: max_length %d must be 1..%d (the text tower's max_position_embeddings)", spec.Path, n, maxPositions)
	}
	return n, nil
}

// namedTokenizerFile is the file of spec.Tokenizer: itself, or for a folder
// the one tokenizer.SiglipTokenizerIn finds there ("" when none is named).
func namedTokenizerFile(spec bench.ModelSpec) (string, error) {
	st, err := os.Stat(spec.Tokenizer)
	if spec.Tokenizer == "" || err != nil || !st.IsDir() {
		return spec.Tokenizer, nil // a missing file is reported where it is read
	}
	if p := tokenizer.SiglipTokenizerIn(spec.Tokenizer); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("model %s: tokenizer %s: folder has no spiece.model, tokenizer.model or tokenizer.json", spec.Path, spec.Tokenizer)
}

// noTokenizerFile says what a SigLIP-family checkpoint lacks for texts,
// looked for where.
func noTokenizerFile(where string) string {
	return "no spiece.model (SigLIP), tokenizer.model or tokenizer.json (SigLIP2's Gemma tokenizer) " + where + ": name one (tokenizer: in run.yaml, --tokenizer)"
}

// loadSiglipTokenizer loads a SigLIP-family text tower's SentencePiece
// tokenizer, padding to maxLen, with the text rules its eos piece calls for:
// SiglipTokenizer's for SigLIP's "</s>", open_clip's SigLIP2 rules for
// Gemma's "<eos>" and "<pad>" (tokenizer.NewSiglipText). Any other model is
// refused (the error wraps a *tokenizer.NotSiglipError) rather than
// tokenized by rules that do not fit it.
func loadSiglipTokenizer(spec bench.ModelSpec, tokPath string, maxLen, vocab int) (tokenizer.TextTokenizer, error) {
	// A foreign tokenizer is refused before the size check, which would
	// report it as a mere size mismatch; the loader's own errors say
	// "tokenizer: PATH: ...".
	tok, err := tokenizer.LoadSiglipText(tokPath, maxLen)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", spec.Path, err)
	}
	if n := tok.Model().VocabSize(); n > vocab {
		return nil, fmt.Errorf("model %s: tokenizer %s has %d pieces but the text tower only %d embeddings", spec.Path, tokPath, n, vocab)
	}
	return tok, nil
}
