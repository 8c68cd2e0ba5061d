// Package tinysiglip trains a tiny SigLIP from scratch on the procedural
// world (package world) with the sigmoid contrastive loss, using the generic
// loop of package train, and exports it as an HF SigLIP directory
// (config.json, model.safetensors, spiece.model) that model/siglip and the
// bench adapter load. It also measures zero-shot accuracy on held-out world
// scenes with the harness's own ImageNet templates and class-embedding code.
//
// The shipped assets/models/tiny-siglip was written by
// `evalrun train-tiny siglip --out assets/models/tiny-siglip` (see
// cmd/evalrun/train.go and that folder's training.json).
package tinysiglip

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/world"
)

// Preset returns the tiny SigLIP's sizes for a vocabulary of vocab pieces:
// 48 px images in 16 px patches — a 3×3 token grid that coincides with the
// world's 3×3 layout cells, which is what lets a tower this small learn the
// shapes in minutes (32 px / patch 8, whose patches straddle the cells,
// learned only colour; 48 px / patch 8 learns them, more slowly) — a 64-wide
// 4-layer vision tower with the MAP head, a 64-wide 2-layer text tower over
// 16 positions (the longest world caption or template prompt is 10 ids),
// gelu-tanh, LayerNorm eps 1e-6: SigLIP's architecture at toy scale
// (~0.4 M parameters).
func Preset(vocab int) *siglip.Config {
	return &siglip.Config{
		Path:      "(tiny-siglip preset)",
		ModelType: siglip.ModelTypeSiglip,
		Vision: siglip.VisionConfig{
			HiddenSize: 64, IntermediateSize: 256, NumLayers: 4, NumHeads: 4,
			NumChannels: 3, ImageSize: 48, PatchSize: 16,
			LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh", UseHead: true,
		},
		Text: &siglip.TextConfig{
			VocabSize: vocab, HiddenSize: 64, IntermediateSize: 256, NumLayers: 2, NumHeads: 4,
			MaxPositions: 16, ProjectionSize: 64,
			LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh",
			PadTokenID: 1, EOSTokenID: 1, // SiglipTokenizer pads with </s>
		},
	}
}

// Task is the world's image–caption contrastive task for train.Trainer: the
// batch of step s holds world scenes s·B … s·B+B−1 of world seed Seed, each
// with one of its five captions drawn by a PCG seeded by (Seed, s).
type Task struct {
	Config    *siglip.Config
	Tok       *tokenizer.Siglip // pads to Config.Text.MaxPositions
	Seed      uint64
	BatchSize int // images (and captions) per step
}

// NewTask builds the task; tok must pad to the text tower's positions.
func NewTask(cfg *siglip.Config, sp *tokenizer.SentencePiece, seed uint64, batch int) (*Task, error) {
	if cfg.Text == nil {
		return nil, fmt.Errorf("tinysiglip: %s has no text tower", cfg.Path)
	}
	if sp.VocabSize() > cfg.Text.VocabSize {
		return nil, fmt.Errorf("tinysiglip: tokenizer has %d pieces, the text tower %d embeddings", sp.VocabSize(), cfg.Text.VocabSize)
	}
	if batch < 2 {
		return nil, fmt.Errorf("tinysiglip: batch %d: the contrastive loss needs at least 2 pairs", batch)
	}
	return &Task{Config: cfg, Tok: tokenizer.NewSiglip(sp, cfg.Text.MaxPositions), Seed: seed, BatchSize: batch}, nil
}

// captionSalt separates the caption stream from the world's own streams.
const captionSalt = 0x5eedca9710

// Batch returns step's pixels [B,3,S,S] float32 in [-1,1] (rendered at S
// with the world's 4×4 supersampling, normalised as SiglipImageProcessor)
// and input_ids [B,L] int32.
func (t *Task) Batch(step int) ([]*tensors.Tensor, error) {
	b, s, l := t.BatchSize, t.Config.Vision.ImageSize, t.Config.Text.MaxPositions
	rng := rand.New(rand.NewPCG(t.Seed^captionSalt, uint64(step)))
	pick := make([]int, b)
	for i := range pick {
		pick[i] = rng.IntN(5)
	}
	per := 3 * s * s
	pixels := make([]float32, b*per)
	ids := make([]int32, b*l)
	errs := make([]error, b)
	parallel(b, func(i int) {
		scene := world.Generate(t.Seed, step*b+i)
		imageio.NormalizeInto(pixels[i*per:(i+1)*per], scene.Image(s), 0.5, 0.5)
		row, err := t.Tok.Encode(scene.Captions()[pick[i]])
		if err == nil && len(row) != l {
			err = fmt.Errorf("caption %q gives %d ids, want %d", scene.Captions()[pick[i]], len(row), l)
		}
		if err != nil {
			errs[i] = err
			return
		}
		for j, id := range row {
			ids[i*l+j] = int32(id)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(pixels, b, 3, s, s),
		tensors.FromFlatDataAndDimensions(ids, b, l),
	}, nil
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	w := min(n, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += w {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Loss is SigLIP's sigmoid loss on the batch: logits = t·cos(img, txt) + b
// for all B×B pairs (t = exp(logit_scale), b = logit_bias), labels +1 on the
// diagonal and −1 elsewhere, loss = −Σ log σ(label·logit) / B. Metrics: t, b.
func (t *Task) Loss(root *model.Scope, inputs []*Node) (*Node, []*Node) {
	return SigmoidLoss(root, t.Config, inputs[0], inputs[1])
}

// SigmoidLoss builds the loss for pixels [B,3,S,S] and ids [B,L]; it returns
// the scalar loss and the metrics [t, b].
func SigmoidLoss(root *model.Scope, cfg *siglip.Config, pixels, ids *Node) (*Node, []*Node) {
	img := siglip.Normalize(siglip.Vision(siglip.VisionScope(root), &cfg.Vision, pixels).Pooled) // [B,D]
	txt := siglip.Normalize(siglip.Text(siglip.TextScope(root), cfg.Text, ids).Pooled)           // [B,D]
	logits := siglip.Logits(root, img, txt)                                                      // [B,B]
	b := logits.Shape().Dimensions[0]
	g := logits.Graph()
	labels := AddScalar(MulScalar(ConvertDType(Diagonal(g, b), logits.DType()), 2), -1) // +1 / −1
	loss := DivScalar(ReduceAllSum(Softplus(Neg(Mul(labels, logits)))), float64(b))     // −log σ(x) = softplus(−x)
	scale := Exp(Reshape(root.GetVariable("logit_scale").NodeValue(g)))
	bias := Reshape(root.GetVariable("logit_bias").NodeValue(g))
	return loss, []*Node{scale, bias}
}

// MetricNames names Loss's metrics.
func (t *Task) MetricNames() []string { return []string{"t", "b"} }

// Fingerprint covers the model sizes, tokenizer, seed and batch size.
func (t *Task) Fingerprint() string {
	cj, _ := ConfigJSON(t.Config)
	h := sha256.New()
	h.Write(cj)
	fmt.Fprintf(h, "|seed=%d|batch=%d|vocab=%d", t.Seed, t.BatchSize, t.Tok.Model().VocabSize())
	return "tinysiglip:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// NewModel creates the model's variables with InitVariables in a fresh store.
func NewModel(cfg *siglip.Config, seed uint64) (*model.Store, error) {
	store := model.NewStore()
	if err := InitVariables(store.RootScope(), cfg, seed); err != nil {
		return nil, err
	}
	return store, nil
}
