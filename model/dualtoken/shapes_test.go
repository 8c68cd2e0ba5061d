package dualtoken

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// TestShapesSO400M384 builds (without compiling or running: a forward costs
// ~1.8 TFLOP) the graph of every part of the so400m-384 preset, eval and
// train mode, at batch 1, and checks the shapes: 729 positions x 8 depths per
// branch, 32-d codes, the decoder up to 384x384.
func TestShapesSO400M384(t *testing.T) {
	cfg := PresetSO400M384()
	store := model.NewStore()
	for _, p := range Params(cfg) {
		store.VariableWithShape(varPath(store.RootScope(), p.Name), shapes.Make(dtypes.Float32, p.Shape...), nil)
	}
	scope := store.RootScope()
	g := NewGraph(testBackend(t), "so400m-384 shapes")
	const B = 1
	L, C := 27*27, 1152
	h := func(name string) *Node { return Parameter(g, name, shapes.Make(dtypes.Float32, B, L, C)) }
	h4, h6, h26 := h("h4"), h("h6"), h("h26")
	expect := func(name string, n *Node, dims ...int) {
		t.Helper()
		if fmt.Sprint(n.Shape().Dimensions) != fmt.Sprint(dims) {
			t.Errorf("%s: shape %v, want %v", name, n.Shape().Dimensions, dims)
		}
	}
	for _, train := range []bool{false, true} {
		scope.SetTraining(g, train)
		p := NewParts(scope, g)
		zp := PixelLatent(p, cfg, h6, h4)
		expect("pixel latent", zp, B, 27, 27, 32)
		qp := QuantizePixels(p, cfg, zp, train)
		expect("codes_pix", qp.Codes, B, 27, 27, 8)
		expect("zq_pix", qp.ZQ, B, 27, 27, 32)
		expect("commit_pix", qp.Commit)
		expect("cumulative_pix", qp.Cumulative[7], B, 27, 27, 32)
		zs := SemanticLatent(p, cfg, h26)
		qs := QuantizeSemantic(p, cfg, zs, train)
		expect("codes_sem", qs.Codes, B, 27, 27, 8)
		expect("postquant_sem", SemanticPostquant(p, cfg, qs.ZQ), B, L, C)
		if qp.Codes.DType() != dtypes.Int64 {
			t.Errorf("codes dtype %s, want int64", qp.Codes.DType())
		}
		if train {
			for _, v := range []string{"quantizer_pix", "quantizer_sem"} {
				w := p.At(v).At("codebooks.0").Var("weight")
				if !w.ChangedInGraph(g) {
					t.Errorf("%s codebook not updated in the train graph", v)
				}
			}
			continue
		}
		expect("code embeddings", CodeEmbeddings(p.At("quantizer_pix"), cfg.Pix, qp.Codes), B, 27, 27, 8, 32)
		expect("token embeddings", EmbedCodes(p.At("quantizer_sem"), cfg.Sem, qs.Codes), B, 27, 27, 32)
		dec := DecodePixels(p, cfg, qp.ZQ)
		expect("postquant_pix", dec.Postquant, B, L, C)
		expect("latent_resized", dec.LatentResized, B, C, 24, 24)
		expect("post_quant_conv", dec.PostQuantConv, B, 1024, 24, 24)
		expect("images", dec.Images, B, 3, 384, 384)
	}
}
