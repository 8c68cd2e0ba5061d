package dualtoken

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// tinyStates returns three random tower states [B, L, C] for cfg.
func tinyStates(cfg *Config, b int, seed uint64) []*tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	l := cfg.Grid() * cfg.Grid()
	out := make([]*tensors.Tensor, 3)
	for i := range out {
		v := make([]float32, b*l*cfg.HiddenSize)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = tensors.FromFlatDataAndDimensions(v, b, l, cfg.HiddenSize)
	}
	return out
}

// trainStep builds one train-mode pass of the parts (pixel and semantic
// quantisers with EMA updates, decoder) and returns the loss
// mean(images^2) + commit_pix + commit_sem + mean(postquant_sem^2), the
// gradient norm of every trainable variable, and images.
func trainStep(cfg *Config) func(scope *model.Scope, xs []*Node) []*Node {
	return func(scope *model.Scope, xs []*Node) []*Node {
		g := xs[0].Graph()
		scope.SetTraining(g, true)
		p := NewParts(scope, g)
		qp := QuantizePixels(p, cfg, PixelLatent(p, cfg, xs[1], xs[0]), true)
		qs := QuantizeSemantic(p, cfg, SemanticLatent(p, cfg, xs[2]), true)
		dec := DecodePixels(p, cfg, qp.ZQ)
		loss := addN(ReduceAllMean(Square(dec.Images)), qp.Commit, qs.Commit, ReduceAllMean(Square(SemanticPostquant(p, cfg, qs.ZQ))))
		var vars []*Node
		for _, prm := range Params(cfg) {
			if prm.Kind == KindParam {
				vars = append(vars, Variable(scope, prm.Name).NodeValue(g))
			}
		}
		out := []*Node{loss, dec.Images}
		for _, gr := range Gradient(loss, vars...) {
			out = append(out, Sqrt(ReduceAllSum(Square(gr))))
		}
		return out
	}
}

func runTinyTrain(t *testing.T, b compute.Backend, cfg *Config) {
	t.Helper()
	store := model.NewStore()
	if err := InitParams(store.RootScope(), cfg, 7); err != nil {
		t.Fatal(err)
	}
	store.SetRNGStateFromSeed(3)
	exec, err := model.NewExec(b, store, trainStep(cfg))
	if err != nil {
		t.Fatal(err)
	}
	before := readVar(t, store, "quantizer_pix.codebooks.0.weight")
	in := tinyStates(cfg, 2, 11)
	out, err := exec.Exec(in[0], in[1], in[2])
	if err != nil {
		t.Fatal(err)
	}
	h, w := cfg.OutputSide()
	if d := out[1].Shape().Dimensions; d[2] != h || d[3] != w {
		t.Errorf("images %v, want %dx%d", d, h, w)
	}
	var trainable []Param
	for _, p := range Params(cfg) {
		if p.Kind == KindParam {
			trainable = append(trainable, p)
		}
	}
	zero := 0
	for i, p := range trainable {
		n := tensors.MustCopyFlatData[float32](out[2+i])[0]
		if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
			t.Fatalf("gradient of %s is %v", p.Name, n)
		}
		if n == 0 {
			zero++
			t.Errorf("no gradient reaches %s", p.Name)
		}
	}
	if near(before, readVar(t, store, "quantizer_pix.codebooks.0.weight"), 0) {
		t.Error("the train step left the pixel codebook unchanged")
	}
}

// TestTinyPartsTrainStep: on the tiny preset, one train-mode pass updates the
// codebooks in the graph and every trainable tensor gets a finite, non-zero
// gradient (the straight-through estimator carries the decoder's gradient
// back into the prequant projections).
func TestTinyPartsTrainStep(t *testing.T) {
	runTinyTrain(t, testBackend(t), PresetTiny())
}

// TestVariantsTrainStep: the 2025 conv projections, per-depth codebooks
// (shared_codebook false) and a latent folded 2x2 into each code position.
func TestVariantsTrainStep(t *testing.T) {
	if testing.Short() {
		t.Skip("variants: -short")
	}
	b := testBackend(t)
	conv := PresetTiny()
	conv.Projection = ProjectionConv
	for _, v := range []*VQConfig{&conv.Pix, &conv.Sem} {
		v.EmbedDim, v.LatentShape[2] = 32, 32
	}
	t.Run("conv-2025", func(t *testing.T) { runTinyTrain(t, b, conv) })
	sep := PresetTiny()
	sep.Pix.SharedCodebook, sep.Sem.SharedCodebook = false, false
	t.Run("per-depth-codebooks", func(t *testing.T) { runTinyTrain(t, b, sep) })
	fold := PresetTiny()
	fold.Pix.CodeShape = [3]int{4, 4, 4}
	t.Run("fold-2x2", func(t *testing.T) { runTinyTrain(t, b, fold) })
}

// TestEmbedCodesIsQuantisedLatent: the token embedding of the codes (sum
// over depths, back in latent shape) is the quantised latent's forward value,
// also when a code position folds 2x2 latent cells.
func TestEmbedCodesIsQuantisedLatent(t *testing.T) {
	b := testBackend(t)
	for _, codeSide := range []int{8, 4} {
		cfg := PresetTiny()
		cfg.Pix.CodeShape[0], cfg.Pix.CodeShape[1] = codeSide, codeSide
		store := model.NewStore()
		if err := InitParams(store.RootScope(), cfg, 5); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(b, store, func(scope *model.Scope, xs []*Node) []*Node {
			p := NewParts(scope, xs[0].Graph())
			q := QuantizePixels(p, cfg, PixelLatent(p, cfg, xs[1], xs[0]), false)
			return []*Node{q.ZQ, EmbedCodes(p.At("quantizer_pix"), cfg.Pix, q.Codes), q.Codes}
		})
		if err != nil {
			t.Fatal(err)
		}
		in := tinyStates(cfg, 2, 4)
		out, err := exec.Exec(in[0], in[1], in[2])
		if err != nil {
			t.Fatal(err)
		}
		if d := out[2].Shape().Dimensions; d[1] != codeSide || d[3] != cfg.Pix.Depth() {
			t.Errorf("codes %v for code shape %v", d, cfg.Pix.CodeShape)
		}
		zq, emb := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		if !near(zq, emb, 1e-5) {
			t.Errorf("code side %d: embedded codes differ from zq", codeSide)
		}
	}
}
