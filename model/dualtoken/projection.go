package dualtoken

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/precision"
)

// LayerNorm epsilons of the 2026 projections: AttnProjection's norm1/2/3 are
// torch nn.LayerNorm defaults; GeGluMlp builds its own with 1e-6.
const (
	projLNEps = 1e-5
	mlpLNEps  = 1e-6
)

// AttnProjection is the 2026 projection between the tower width and the code
// width: y = proj(LN3(x)) + attn(LN1(x)); y += GeGluMlp(LN2(y)).
// x [B, N, in] -> [B, N, out]. heads = max(in, out) / code width; the
// down-projection (in > out) averages its heads, the up-projection
// concatenates them and is causal in raster order when causal is set.
func AttnProjection(p Parts, x *Node, heads int, causal bool) *Node {
	y := Add(linear(p.At("proj"), layerNorm(p.At("norm3"), x, projLNEps)),
		attentionBlock(p.At("attn"), layerNorm(p.At("norm1"), x, projLNEps), heads, causal))
	return Add(y, geGluMlp(p.At("mlp"), layerNorm(p.At("norm2"), y, projLNEps)))
}

// attentionBlock: qkv without bias plus separate q and v biases (k bias is
// the zero_k_bias buffer), scaled dot-product attention with head_dim =
// inner/heads; down: mean over heads (adaptive-avg-pooled to the output
// width if head_dim differs), up: heads concatenated; then Linear.
func attentionBlock(p Parts, x *Node, heads int, causal bool) *Node {
	dims := x.Shape().Dimensions
	b, n, in := dims[0], dims[1], dims[2]
	out := p.At("proj").Var("weight").Shape().Dimensions[0]
	inner := max(in, out)
	if inner%heads != 0 {
		exceptions.Panicf("dualtoken: %s: width %d is not divisible by %d heads", p.Name(), inner, heads)
	}
	hd := inner / heads
	dt := x.DType()
	bias := Concatenate([]*Node{p.WAs("q_bias", dt), p.WAs("zero_k_bias", dt), p.WAs("v_bias", dt)}, 0)
	qkv := Add(DotGeneral(x, []int{2}, nil, p.WAs("qkv.weight", dt), []int{1}, nil), trailing(bias, 3)) // [B, N, 3*inner]
	qkv = Reshape(qkv, b, n, 3, heads, hd)
	qkv = TransposeAllAxes(qkv, 2, 0, 3, 1, 4) // [3, B, H, N, hd]
	part := func(i int) *Node { return Reshape(Slice(qkv, AxisElem(i)), b, heads, n, hd) }
	q, k, v := part(0), part(1), part(2)

	scores := MulScalar(precision.DotF32(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}), 1/math.Sqrt(float64(hd))) // [B, H, N, N] float32
	if causal {
		mask := LowerTriangular(x.Graph(), n) // key j visible from query i when j <= i
		mask = BroadcastToDims(Reshape(mask, 1, 1, n, n), b, heads, n, n)
		scores = Where(mask, scores, BroadcastToDims(Infinity(x.Graph(), scores.DType(), -1), scores.Shape().Dimensions...))
	}
	att := DotGeneral(precision.As(Softmax(scores, -1), dt), []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1}) // [B, H, N, hd]
	var y *Node
	if in > out {
		y = ReduceMean(att, 1) // [B, N, hd]
		if hd != out {
			y = adaptiveAvgPool1d(y, out)
		}
	} else {
		y = Reshape(TransposeAllAxes(att, 0, 2, 1, 3), b, n, heads*hd)
	}
	return linear(p.At("proj"), y)
}

// adaptiveAvgPool1d is torch's adaptive_avg_pool1d on the last axis: bin i
// averages [floor(i*L/out), ceil((i+1)*L/out)).
func adaptiveAvgPool1d(x *Node, out int) *Node {
	l := x.Shape().Dimensions[x.Rank()-1]
	m := make([][]float32, l)
	for j := range m {
		m[j] = make([]float32, out)
	}
	for i := range out {
		s, e := i*l/out, ((i+1)*l+out-1)/out
		for j := s; j < e; j++ {
			m[j][i] = 1 / float32(e-s)
		}
	}
	return DotGeneral(x, []int{x.Rank() - 1}, nil, ConstAsDType(x.Graph(), x.DType(), m), []int{0}, nil)
}

// geGluMlp: LN(eps 1e-6), then w2(gelu_tanh(w0 x) * w1 x).
func geGluMlp(p Parts, x *Node) *Node {
	x = layerNorm(p.At("norm"), x, mlpLNEps)
	return linear(p.At("w2"), Mul(geluTanh(linear(p.At("w0"), x)), linear(p.At("w1"), x)))
}

// ProjectResnetBlock is the 2025 conv projection (also the PostQuantResnetBlock)
// on a torch-layout map x [B, Cin, H, W] -> [B, Cout, H, W] in p's compute
// dtype; see resnetBlock.
func ProjectResnetBlock(p Parts, x *Node) *Node {
	return nchw(resnetBlock(p, nhwc(precision.As(x, p.dt()))))
}
