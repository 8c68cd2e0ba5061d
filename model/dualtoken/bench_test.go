package dualtoken

import (
	"os"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
)

const benchBatch = 8

func benchExec(b *testing.B, fn func(scope *model.Scope, xs []*Node) []*Node) {
	cfg := PresetTiny()
	store := model.NewStore()
	if err := InitParams(store.RootScope(), cfg, 1); err != nil {
		b.Fatal(err)
	}
	exec, err := model.NewExec(testBackend(b), store, fn)
	if err != nil {
		b.Fatal(err)
	}
	in := tinyStates(cfg, benchBatch, 2)
	args := []any{in[0], in[1], in[2]}
	if _, err := exec.Exec(args...); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := exec.Exec(args...)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTinyEncodeParts: prequant projections and both eval quantisers
// (tiny preset, batch 8, tower states given).
func BenchmarkTinyEncodeParts(b *testing.B) {
	cfg := PresetTiny()
	benchExec(b, func(scope *model.Scope, xs []*Node) []*Node {
		p := NewParts(scope, xs[0].Graph())
		qp := QuantizePixels(p, cfg, PixelLatent(p, cfg, xs[1], xs[0]), false)
		qs := QuantizeSemantic(p, cfg, SemanticLatent(p, cfg, xs[2]), false)
		return []*Node{qp.Codes, qs.Codes, SemanticPostquant(p, cfg, qs.ZQ)}
	})
}

// BenchmarkTinyDecode: postquant_pix, latent resize, post_quant_conv and the
// decoder from quantised pixel latents (tiny preset, batch 8).
func BenchmarkTinyDecode(b *testing.B) {
	cfg := PresetTiny()
	benchExec(b, func(scope *model.Scope, xs []*Node) []*Node {
		p := NewParts(scope, xs[0].Graph())
		z := Slice(Reshape(xs[1], benchBatch, cfg.Grid(), cfg.Grid(), -1), AxisRange(), AxisRange(), AxisRange(), AxisRange(0, cfg.Pix.EmbedDim))
		return []*Node{DecodePixels(p, cfg, z).Images}
	})
}

// BenchmarkTinyPartsTrainStep: forward of every part in train mode (EMA
// updates in the graph) plus gradients of all trainable tensors (tiny
// preset, batch 8; no optimizer update, no tower).
func BenchmarkTinyPartsTrainStep(b *testing.B) {
	benchExec(b, trainStep(PresetTiny()))
}

// benchModel runs f on a batch of 8 random images with the tiny preset on a
// random tower (64 wide, 6 layers, 32 px, 8x8 tokens), reporting images/s.
// DUALTOKEN_BENCH_DTYPE=bf16 stores and runs the model in bfloat16
// (Model.SetDType).
func benchModel(b *testing.B, f func(m *Model, px *tensors.Tensor) error) {
	m := tinyModel(b, nil)
	if s := os.Getenv("DUALTOKEN_BENCH_DTYPE"); s != "" {
		dt, err := precision.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SetDType(dt); err != nil {
			b.Fatal(err)
		}
	}
	px := randomPixels(benchBatch, 32, 1)
	if err := f(m, px); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := f(m, px); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTinyEncode: the whole tokenizer's Encode (tower, both branches,
// pixel and semantic codes, pooled output on the quantised path).
func BenchmarkTinyEncode(b *testing.B) {
	benchModel(b, func(m *Model, px *tensors.Tensor) error {
		enc, err := m.Encode(px)
		if err == nil {
			enc.PixelCodes.FinalizeAll()
			enc.SemanticCodes.FinalizeAll()
			enc.Pooled.FinalizeAll()
		}
		return err
	})
}

// BenchmarkTinyReconstruct: tower to layer_recon, pixel quantiser, decoder.
func BenchmarkTinyReconstruct(b *testing.B) {
	benchModel(b, func(m *Model, px *tensors.Tensor) error {
		img, codes, err := m.Reconstruct(px)
		if err == nil {
			img.FinalizeAll()
			codes.FinalizeAll()
		}
		return err
	})
}
