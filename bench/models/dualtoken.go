package models

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
)

// dualtokenOptions are the dualtoken kind's options (ModelSpec.Extra);
// NewDualToken reads them through this declaration, which `evalrun run`
// checks first.
var dualtokenOptions = []bench.OptionDoc{
	{Key: "batch", Help: "images per graph call (not part of the identity: images are independent through the tokenizer in eval mode)", Default: "16", Int: true, Min: 1},
	maxLengthOption,
	{Key: "preprocess", Help: "crop: shorter side to the input size, bicubic, then centre crop (the authors' evaluation); resize: squash the whole image to the input size (the SigLIP processor's way)", Default: "crop", Values: []string{"crop", "resize"}},
}

func init() {
	bench.RegisterModelOptions("dualtoken", dualtokenOptions...)
	bench.RegisterModelType("dualtoken", (*DualToken)(nil))
	bench.RegisterModel("dualtoken", func(spec bench.ModelSpec, b compute.Backend) (bench.Model, error) {
		return NewDualToken(spec, b)
	})
}

// DualToken is a DualToken tokenizer as a bench.Reconstructor (pixel branch:
// encode, quantise, decode) and a bench.Embedder on the quantised semantic
// path (the MAP head's output after the semantic codes replaced the
// layer_sem state; for a model without the semantic branch, the tower's own
// output). Texts go through the tower's text model.
type DualToken struct {
	Model *dualtoken.Model
	tok   tokenizer.TextTokenizer
	text  *siglip.Encoder
	size  int
	crop  bool
	batch int
	info  bench.ModelInfo
	mu    sync.Mutex
	// noText says why EmbedTexts cannot run (tok is nil): no text tower,
	// no tokenizer file, or a tokenizer that is neither SigLIP's nor SigLIP2's.
	noText error
}

// NewDualTokenFrom wraps a model already in memory (benchmarks with
// generated weights) as the dualtoken kind with the crop preprocessing and
// batch images per graph call; it embeds no texts.
func NewDualTokenFrom(m *dualtoken.Model, batch int, info bench.ModelInfo) *DualToken {
	return &DualToken{Model: m, size: m.Config.Tower.Vision.ImageSize, crop: true, batch: max(1, batch), info: info,
		noText: errors.New("dualtoken: a model given in memory embeds no texts")}
}

// NewDualToken loads spec.Path (a tokenizer directory, see dualtoken.Load).
// Options: tokenizer (spec.Tokenizer, else spiece.model, tokenizer.model or
// tokenizer.json beside the weights or, when that is missing, refused or not the text
// tower's size, in the tower's folder (TowerDir), SigLIP's or SigLIP2's,
// whose eos piece chooses the text rules; needed only to embed texts: a
// default file that is neither leaves the model without texts, and
// EmbedTexts says why, while an explicit spec.Tokenizer is refused here),
// max_length (as the siglip kind),
// preprocess=crop|resize (default crop, the authors' evaluation: shorter
// side to the input size, bicubic, then centre crop; resize squashes the
// whole image to the input size, the SigLIP processor's way), and batch
// (images per graph call, default 16; not part of the identity, as images
// are independent through the tokenizer in eval mode). An unknown option or
// a bad value is an error (bench.CheckModelOptions on dualtokenOptions).
// Info holds the checkpoint's, the config's and the tokenizer file's
// digests and the options that decide predictions, defaults filled in.
func NewDualToken(spec bench.ModelSpec, b compute.Backend) (*DualToken, error) {
	if err := bench.CheckModelOptions(spec); err != nil {
		return nil, err
	}
	dt, err := specDType(spec)
	if err != nil {
		return nil, err
	}
	preprocess := spec.Option("preprocess")  // checked: crop or resize
	batch, _, err := spec.IntOption("batch") // checked: >= 1, default 16
	if err != nil {
		return nil, err
	}
	m, err := dualtoken.Load(b, spec.Path)
	if err != nil {
		return nil, err
	}
	if err := m.SetDType(dt); err != nil {
		return nil, fmt.Errorf("model %s: %w", spec.Path, err)
	}
	info, err := Identity(spec)
	if err != nil {
		return nil, err
	}
	info.DType = precision.Name(dt)
	info.Options = map[string]string{"preprocess": preprocess}
	if m.Config.TowerDir != "" {
		if info.TowerConfigSHA256, err = bench.FileSHA256(filepath.Join(m.Config.TowerDir, "config.json")); err != nil {
			return nil, fmt.Errorf("model %s: tower config: %w", spec.Path, err)
		}
	}
	d := &DualToken{Model: m, size: m.Config.Tower.Vision.ImageSize, crop: preprocess == "crop", batch: batch, info: info}
	tc := m.Config.Tower.Text
	if tc == nil {
		d.noText = fmt.Errorf("model %s: dualtoken has no text tower: it cannot embed texts", spec.Path)
		return d, nil
	}
	maxLen, err := textMaxLength(spec, tc.MaxPositions)
	if err != nil {
		return nil, err
	}
	// The named tokenizer, else the one beside the weights, else the tower
	// folder's (the authors' layout: an HF SigLIP/SigLIP2 checkpoint named
	// by pretrained_model). Of the two found, the first whose piece count
	// is the text tower's vocabulary wins (an LLM's tokenizer.model beside
	// SigLIP2 weights loses to the tower's Gemma one), else the first that
	// loads.
	named, err := namedTokenizerFile(spec)
	if err != nil {
		return nil, err
	}
	cands := []string{named}
	if named == "" {
		cands = nil
		for _, dir := range []string{spec.Path, m.Config.TowerDir} {
			if dir == "" {
				continue
			}
			if p := tokenizer.SiglipTokenizerIn(dir); p != "" {
				cands = append(cands, p)
			}
		}
	}
	var tok tokenizer.TextTokenizer
	var tokPath string
	var refusals []error
	for _, p := range cands {
		t, err := loadSiglipTokenizer(spec, p, maxLen, tc.VocabSize)
		var refused *tokenizer.NotSiglipError
		if errors.As(err, &refused) && spec.Tokenizer == "" {
			refusals = append(refusals, err) // try the next file
			continue
		}
		if err != nil {
			return nil, err
		}
		if tok == nil {
			tok, tokPath = t, p
		}
		if t.Model().VocabSize() == tc.VocabSize {
			tok, tokPath = t, p
			break
		}
	}
	if tok == nil {
		// The image paths (reconstruction, semantic codes) do not need
		// texts: build without them, and say why (one line) when a task
		// asks for them.
		switch {
		case len(refusals) == 0:
			where := "beside its weights"
			if m.Config.TowerDir != "" {
				where += " or in its tower's folder " + m.Config.TowerDir
			}
			d.noText = fmt.Errorf("model %s: dualtoken cannot embed texts: %s", spec.Path, noTokenizerFile(where))
		case len(refusals) == 1:
			d.noText = refusals[0]
		default:
			d.noText = fmt.Errorf("%w; %v", refusals[0], refusals[1])
		}
		return d, nil
	}
	if d.info.TokenizerSHA256, err = tokenizerSHA256(spec, tokPath); err != nil {
		return nil, err
	}
	d.info.Options["max_length"] = strconv.Itoa(maxLen)
	d.tok = tok
	if d.text, err = siglip.NewEncoder(b, m.Siglip(), 32); err != nil {
		return nil, err
	}
	return d, nil
}

// TextError says why the model cannot embed texts (no text tower, no
// tokenizer file, a tokenizer that is neither SigLIP's nor SigLIP2's); nil
// when it can.
func (d *DualToken) TextError() error { return d.noText }

func (d *DualToken) Info() bench.ModelInfo { return d.info }

// Backend is the backend the model runs on (bench.BackendUser).
func (d *DualToken) Backend() compute.Backend { return d.Model.Backend }

// InputSize is the tower's image size.
func (d *DualToken) InputSize() int { return d.size }

// CodebookSize is the pixel codebook's size K.
func (d *DualToken) CodebookSize() int {
	_, v := d.Model.Config.PixelQuantizer()
	return v.NEmbed
}

// chunks runs f on chunks of at most d.batch of n images, each as the
// tensor build makes for it with padded rows: padded is the chunk's size
// rounded up to a power of two or d.batch, so only a few shapes compile
// (images are independent through the tokenizer in eval mode; padding rows
// stay zero). Calls hold d.mu; the tensor is freed after f.
func (d *DualToken) chunks(n int, build func(from, count, padded int) (*tensors.Tensor, error), f func(x *tensors.Tensor, count, from int) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for from := 0; from < n; from += d.batch {
		count := min(d.batch, n-from)
		padded := 1
		for padded < count {
			padded *= 2
		}
		padded = min(padded, d.batch)
		x, err := build(from, count, padded)
		if err == nil {
			err = f(x, count, from)
		}
		if x != nil {
			x.FinalizeAll()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// batches runs f on chunks of imgs as pixel tensors [padded,3,S,S] in
// [-1,1] (see chunks), preprocessed straight into the tensor's own buffer: at
// 384 px a batch of 32 is 57 MB, which the former pixels slice, padded copy
// and tensor copy moved three times.
func (d *DualToken) batches(imgs []*imageio.Image, f func(x *tensors.Tensor, count, from int) error) error {
	per := 3 * d.size * d.size
	return d.chunks(len(imgs), func(from, count, padded int) (*tensors.Tensor, error) {
		x := tensors.FromShape(shapes.Make(dtypes.Float32, padded, 3, d.size, d.size)) // zeros
		return x, tensors.MutableFlatData(x, func(flat []float32) {
			bench.ParallelFor(count, func(i int) {
				img := imgs[from+i]
				if d.crop {
					img = imageio.ShortSideCenterCrop(img, d.size)
				}
				imageio.SiglipPixelsInto(flat[i*per:(i+1)*per], img, d.size)
			})
		})
	}, f)
}

// Reconstruct encodes and decodes images already at InputSize (the recon
// suite crops them); outputs are uint8 as the authors' eval writes them.
// The bytes go to the device and come back as bytes
// (dualtoken.Model.ReconstructUint8: a quarter of float32's transfers; its
// conversions are imageio's to the bit, so on the Go backend the bytes are
// Reconstruct's images through imageio.FromFloatCHW). At the input
// size the crop and resize of the float path are the identity, so an
// image's bytes are its pixels.
func (d *DualToken) Reconstruct(_ context.Context, imgs []*imageio.Image) ([]bench.Reconstruction, error) {
	for i, img := range imgs {
		if img.H != d.size || img.W != d.size {
			return nil, fmt.Errorf("dualtoken: image %d is %dx%d, the tokenizer takes %dx%d", i, img.H, img.W, d.size, d.size)
		}
	}
	out := make([]bench.Reconstruction, len(imgs))
	_, v := d.Model.Config.PixelQuantizer()
	depth := v.Depth()
	per := 3 * d.size * d.size
	build := func(from, count, padded int) (*tensors.Tensor, error) {
		x := tensors.FromShape(shapes.Make(dtypes.Uint8, padded, d.size, d.size, 3)) // zeros
		return x, tensors.MutableFlatData(x, func(flat []uint8) {
			bench.ParallelFor(count, func(i int) { copy(flat[i*per:(i+1)*per], imgs[from+i].Pix) })
		})
	}
	err := d.chunks(len(imgs), build, func(x *tensors.Tensor, count, from int) error {
		rec, codes, err := d.Model.ReconstructUint8(x)
		if err != nil {
			return err
		}
		defer rec.FinalizeAll()
		defer codes.FinalizeAll()
		dims := rec.Shape().Dimensions // [B,H,W,3]
		h, w := dims[1], dims[2]
		// Read in place (no copy of the batch's images).
		var codesErr error
		err = tensors.ConstFlatData(rec, func(pix []uint8) {
			codesErr = tensors.ConstFlatData(codes, func(cs []int64) {
				perImg, perCodes := 3*h*w, len(cs)/dims[0]
				bench.ParallelFor(count, func(i int) {
					c := make([]int32, perCodes)
					for j := range c {
						c[j] = int32(cs[i*perCodes+j])
					}
					img := imageio.New(h, w)
					copy(img.Pix, pix[i*perImg:(i+1)*perImg])
					out[from+i] = bench.Reconstruction{Image: img, Codes: c, Depth: depth}
				})
			})
		})
		return errors.Join(err, codesErr)
	})
	return out, err
}

// EmbedImages returns L2-normalised pooled embeddings of the quantised path.
func (d *DualToken) EmbedImages(_ context.Context, imgs []*imageio.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	err := d.batches(imgs, func(x *tensors.Tensor, count, from int) error {
		enc, err := d.Model.Encode(x)
		if err != nil {
			return err
		}
		defer enc.PixelCodes.FinalizeAll()
		defer enc.Pooled.FinalizeAll()
		if enc.SemanticCodes != nil {
			defer enc.SemanticCodes.FinalizeAll()
		}
		dim := enc.Pooled.Shape().Dimensions[1]
		vals := tensors.MustCopyFlatData[float32](enc.Pooled)[:count*dim]
		if err := metrics.L2Normalize(vals, count, dim); err != nil {
			return err
		}
		for i := range count {
			out[from+i] = vals[i*dim : (i+1)*dim]
		}
		return nil
	})
	return out, err
}

// EmbedTexts embeds texts with the tower's text model (SigLIP's or
// SigLIP2's text rules, by the tokenizer).
func (d *DualToken) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	if d.tok == nil {
		return nil, d.noText
	}
	ids := make([][]int, len(texts))
	for i, t := range texts {
		var err error
		if ids[i], err = d.tok.Encode(t); err != nil {
			return nil, fmt.Errorf("tokenizing %q: %w", t, err)
		}
	}
	return d.text.EmbedTexts(ids)
}

var (
	_ bench.Embedder      = (*DualToken)(nil)
	_ bench.Reconstructor = (*DualToken)(nil)
)
