package dualtoken

import (
	"fmt"
	"math"
	"os"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph building reads best unqualified
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/conv"
	"github.com/dualtoken/evalharness/model/precision"
)

// Parts reads the tokenizer's variables (named as in Params) while building
// graph g. Sub-modules are addressed by the authors' dotted names.
//
// DType is the compute dtype of the parts (float32 when unset): the
// projections, post-quant block and decoder take their inputs in it and run
// their matmuls, convolutions and activations in it, with LayerNorm and
// GroupNorm statistics and attention softmax in float32. The quantisers
// always run in float32 (see Quantize).
type Parts struct {
	Scope *model.Scope
	G     *Graph
	DType dtypes.DType
	name  string
}

// NewParts reads the parts' variables under scope into graph g.
func NewParts(scope *model.Scope, g *Graph) Parts { return Parts{Scope: scope, G: g} }

// At returns the sub-module sub ("attn", "mlp.w0", "up.1").
func (p Parts) At(sub string) Parts {
	if p.name != "" {
		sub = p.name + "." + sub
	}
	return Parts{Scope: p.Scope, G: p.G, DType: p.DType, name: sub}
}

// dt is the compute dtype.
func (p Parts) dt() dtypes.DType { return precision.Compute(p.DType) }

// Name is the dotted module name.
func (p Parts) Name() string { return p.name }

// Var returns the variable of tensor leaf of this module, panicking with the
// checkpoint name when it was not loaded.
func (p Parts) Var(leaf string) *model.Variable {
	n := p.At(leaf).name
	v := Variable(p.Scope, n)
	if v == nil {
		exceptions.Panicf("dualtoken: no variable %q under scope %s (load the checkpoint or init the parameters first)", n, p.Scope.Scope())
	}
	return v
}

// W returns the graph value of tensor leaf of this module, as stored.
func (p Parts) W(leaf string) *Node { return p.Var(leaf).NodeValue(p.G) }

// WAs returns tensor leaf converted to dt (no node when stored in it).
func (p Parts) WAs(leaf string, dt dtypes.DType) *Node { return precision.As(p.W(leaf), dt) }

// linear is torch's nn.Linear: x [..., in] -> [..., out] with weight [out, in], in x's dtype.
func linear(p Parts, x *Node) *Node {
	w := p.WAs("weight", x.DType())
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	return Add(y, trailing(p.WAs("bias", x.DType()), y.Rank()))
}

// trailing reshapes a vector to broadcast along the last axis of a rank-r tensor.
func trailing(v *Node, r int) *Node {
	dims := make([]int, r)
	for i := range dims {
		dims[i] = 1
	}
	dims[r-1] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// layerNorm normalises the last axis with the biased variance, as torch. It
// runs in float32 and returns x's dtype.
func layerNorm(p Parts, x *Node, eps float64) *Node {
	dt := x.DType()
	x = precision.ToF32(x)
	axis := x.Rank() - 1
	mean := ReduceAndKeep(x, ReduceMean, axis)
	xc := Sub(x, mean)
	variance := ReduceAndKeep(Square(xc), ReduceMean, axis)
	y := Div(xc, Sqrt(AddScalar(variance, eps))) // Rsqrt has no gradient in GoMLX
	y = Add(Mul(y, trailing(p.WAs("weight", precision.F32), y.Rank())), trailing(p.WAs("bias", precision.F32), y.Rank()))
	return precision.As(y, dt)
}

// Feature maps inside this package are channels-last, [B, H, W, C]: the
// token grids already are, and convolutions run as plain matrix products.
// The exported entry points that take or give torch-layout maps say so.

// groupNorm is torch's GroupNorm(groups, C, eps) on x [B, H, W, C]. It runs
// in float32 (a group's statistics sum H·W·C/groups values) and returns x's dtype.
func groupNorm(p Parts, x *Node, groups int, eps float64) *Node {
	dt := x.DType()
	x = precision.ToF32(x)
	dims := x.Shape().Dimensions
	b, c := dims[0], dims[3]
	if c%groups != 0 {
		exceptions.Panicf("dualtoken: GroupNorm(%d) on %d channels at %s", groups, c, p.name)
	}
	g := Reshape(x, b, dims[1]*dims[2], groups, c/groups)
	mean := ReduceAndKeep(g, ReduceMean, 1, 3)
	gc := Sub(g, mean)
	variance := ReduceAndKeep(Square(gc), ReduceMean, 1, 3)
	y := Reshape(Div(gc, Sqrt(AddScalar(variance, eps))), dims...) // Rsqrt has no gradient in GoMLX
	y = Add(Mul(y, trailing(p.WAs("weight", precision.F32), 4)), trailing(p.WAs("bias", precision.F32), 4))
	return precision.As(y, dt)
}

// normalize is the VQGAN norm: GroupNorm(32, eps 1e-6).
func normalize(p Parts, x *Node) *Node { return groupNorm(p, x, 32, 1e-6) }

// convImpl "native" forces GoMLX's Convolve (to test that path on the Go
// backend); empty uses model/conv, which picks the backend's convolution on
// XLA and a matrix-product form on the Go backend, there several times faster.
var convImpl = ""

// conv2d is torch's Conv2d(stride 1, padding k/2) with weight
// [Cout, Cin, k, k] on x [B, H, W, Cin] -> [B, H, W, Cout], in x's dtype.
func conv2d(p Parts, x *Node) *Node {
	w := p.WAs("weight", x.DType())
	k := w.Shape().Dimensions[2]
	kernel := TransposeAllAxes(w, 2, 3, 1, 0) // HWIO
	var y *Node
	if convImpl == "native" {
		y = Convolve(x, kernel).PaddingPerDim([][2]int{{k / 2, k / 2}, {k / 2, k / 2}}).Done()
	} else {
		y = conv.Conv2D(x, kernel, 1, 1, conv.Same(k, k))
	}
	return Add(y, trailing(p.WAs("bias", x.DType()), 4))
}

// silu is x * sigmoid(x).
func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// geluTanh is GELU with the tanh approximation (torch approximate="tanh").
func geluTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(Square(x), x), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
}

// bilinearMatrix is the [out, in] interpolation matrix of torch's
// F.interpolate(mode="bilinear", align_corners=False, antialias=False) along
// one axis, in float32 as torch's CPU kernel computes it: source =
// (i + 0.5) * in/out - 0.5, clamped below at 0.
func bilinearMatrix(in, out int) [][]float32 {
	m := make([][]float32, out)
	scale := float32(in) / float32(out)
	for i := range out {
		m[i] = make([]float32, in)
		src := float32(scale*(float32(i)+0.5)) - 0.5
		src = max(src, 0)
		i0 := min(int(src), in-1)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := min(max(src-float32(i0), 0), 1)
		m[i][i0] += 1 - l1
		m[i][i1] += l1
	}
	return m
}

// resizeBilinear resizes x [B, H, W, C] to [B, oh, ow, C] as torch's
// bilinear F.interpolate with align_corners=False and no antialias: two
// constant interpolation matmuls, exact and differentiable at any size.
func resizeBilinear(x *Node, oh, ow int) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	if h == oh && w == ow {
		return x
	}
	g := x.Graph()
	mh := ConstAsDType(g, x.DType(), bilinearMatrix(h, oh)) // [oh, h]
	mw := ConstAsDType(g, x.DType(), bilinearMatrix(w, ow)) // [ow, w]
	y := DotGeneral(mh, []int{1}, nil, x, []int{1}, nil)    // [oh, B, W, C]
	y = DotGeneral(mw, []int{1}, nil, y, []int{2}, nil)     // [ow, oh, B, C]
	return TransposeAllAxes(y, 2, 1, 0, 3)
}

// upsampleNearest2x is F.interpolate(scale_factor=2, mode="nearest") on [B, H, W, C].
func upsampleNearest2x(x *Node) *Node {
	d := x.Shape().Dimensions
	y := Reshape(x, d[0], d[1], 1, d[2], 1, d[3])
	y = BroadcastToDims(y, d[0], d[1], 2, d[2], 2, d[3])
	return Reshape(y, d[0], 2*d[1], 2*d[2], d[3])
}

// EnvUpsampleConv picks how the decoder computes its nearest-x2 upsample
// and 3x3 convolution: UpsamplePlain (the default: the upsampled map, then
// the convolution, as the authors' code) or UpsamplePhases
// (upsampleConv2d), for inference only: graphs in training mode keep the
// plain form (GoMLX v0.28.16 fails to build the gradient of XLA's
// low-padded 2x2 convolutions). The two agree to float rounding; the
// variable exists so that a GPU session can measure which is faster
// (scripts/gpu/bench.sh step decode_phases). On the Go backend phases ran
// the so400m-256 decoder at the same speed with 13% less peak memory. The
// value is read as graphs are built: set it before the process starts.
const EnvUpsampleConv = "DUALTOKEN_UPSAMPLE_CONV"

// The values of EnvUpsampleConv.
const (
	UpsamplePlain  = "plain"
	UpsamplePhases = "phases"
)

// UpsampleConvForm returns EnvUpsampleConv's value, UpsamplePlain when it
// is unset, and an error naming the variable for anything else.
func UpsampleConvForm() (string, error) {
	switch v := os.Getenv(EnvUpsampleConv); v {
	case "", UpsamplePlain:
		return UpsamplePlain, nil
	case UpsamplePhases:
		return v, nil
	default:
		return "", fmt.Errorf("%s=%q: expected %s (default) or %s", EnvUpsampleConv, v, UpsamplePlain, UpsamplePhases)
	}
}

// upsampleConvForm is UpsampleConvForm inside a graph function (a bad value
// fails the graph's build with that error).
func upsampleConvForm() string {
	f, err := UpsampleConvForm()
	if err != nil {
		panic(err)
	}
	return f
}

// upsampleConv2d is conv2d(p, upsampleNearest2x(x)) for a 3x3 conv2d,
// computed on x [B, H, W, Cin] without the upsampled map: output pixel
// (2i+a, 2j+b) reads input rows i-1, i (a = 0) or i, i+1 (a = 1) with the
// 3x3 kernel's rows 0 | 1+2 or 0+1 | 2 summed onto them, and the same for
// columns. Four 2x2 convolutions, one per phase (a, b), interleaved: 16
// instead of 36 multiply-adds per input pixel and channel pair, and no
// 4x-sized intermediate. The phase kernels are summed in float32.
// Returns [B, 2H, 2W, Cout].
func upsampleConv2d(p Parts, x *Node) *Node {
	w := p.WAs("weight", precision.F32) // [Cout, Cin, 3, 3]
	if k := w.Shape().Dimensions; k[2] != 3 || k[3] != 3 {
		return conv2d(p, upsampleNearest2x(x))
	}
	g := x.Graph()
	kernel := TransposeAllAxes(w, 2, 3, 1, 0) // HWIO [3, 3, Cin, Cout]
	// fold[a] maps the 3 kernel rows onto the 2 input rows phase a reads.
	fold := [2]*Node{
		Const(g, [][]float32{{1, 0, 0}, {0, 1, 1}}),
		Const(g, [][]float32{{1, 1, 0}, {0, 0, 1}}),
	}
	d := x.Shape().Dimensions
	rows := make([]*Node, 2)
	for a := range 2 {
		ka := Einsum("ry,yxio->rxio", fold[a], kernel) // [2, 3, Cin, Cout]
		cols := make([]*Node, 2)
		for b := range 2 {
			k := precision.As(Einsum("cx,rxio->rcio", fold[b], ka), x.DType()) // [2, 2, Cin, Cout]
			pad := conv.Padding{{1 - a, a}, {1 - b, b}}
			if convImpl == "native" {
				cols[b] = Convolve(x, k).PaddingPerDim(pad[:]).Done()
			} else {
				cols[b] = conv.Conv2D(x, k, 1, 1, pad)
			}
		}
		rows[a] = Stack(cols, 3) // [B, H, W, 2 (b), Cout]
	}
	y := Reshape(Stack(rows, 2), d[0], 2*d[1], 2*d[2], -1) // [B, H, 2 (a), W, 2 (b), Cout]
	return Add(y, trailing(p.WAs("bias", x.DType()), 4))
}

// nchw and nhwc convert between torch's channels-first maps and ours.
func nchw(x *Node) *Node { return TransposeAllAxes(x, 0, 3, 1, 2) }
func nhwc(x *Node) *Node { return TransposeAllAxes(x, 0, 2, 3, 1) }
