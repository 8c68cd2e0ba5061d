// Package conv holds 2-D convolution and pooling on NHWC tensors, written
// with matrix products and static slices.
//
// The pure-Go backend runs ConvGeneral and ReduceWindow as scalar loops: on
// Inception-sized layers a 3x3 convolution written as one gathered matrix
// product (im2col) is more than 25x faster, a 1x1 convolution as a plain
// MatMul ~30x, and a pooling layer as shifted slices ~20x. Other backends (XLA) get GoMLX's own
// Convolve / MaxPool / MeanPool, which they compile well (float32
// convolutions excepted where XLA would run them in TF32, see nativeConv).
//
// All functions are differentiable: they use only Pad, Gather, MatMul (or
// GoMLX's fused Dense, which has its own gradient), Add, Max and constant
// divisions.
package conv

import (
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/backend"
)

// Padding is [top, bottom] and [left, right] padding.
type Padding [2][2]int

// Same returns the padding that keeps the size of a stride-1 convolution with
// an odd kh×kw kernel (PyTorch's padding=(kh//2, kw//2)).
func Same(kh, kw int) Padding { return Padding{{kh / 2, kh / 2}, {kw / 2, kw / 2}} }

// Sym returns symmetric padding p on both spatial axes.
func Sym(p int) Padding { return Padding{{p, p}, {p, p}} }

// native reports whether x's backend compiles convolutions and pools well
// itself (XLA); the Go backend ("Go Backend") and others get the matmul form.
func native(x *Node) bool { return x.Graph().Backend().Name() == "xla" }

// nativeConv is native, except for float32 where the backend's convolution
// would round to TF32 against the backend's float32 setting
// (backend.ConvRoundsFloat32): the matrix-product form below goes through
// DotGeneral, which keeps float32.
func nativeConv(x *Node) bool {
	return native(x) && !(x.DType() == dtypes.Float32 && backend.ConvRoundsFloat32(x.Graph().Backend()))
}

// outSize is the output length of a window k with stride s over n padded by p.
func outSize(n, k, s int, p [2]int) int { return (n+p[0]+p[1]-k)/s + 1 }

// Conv2D convolves x [B,H,W,Cin] with kernel [KH,KW,Cin,Cout] (HWIO, i.e. a
// PyTorch OIHW weight transposed 2,3,1,0) with the given strides and zero
// padding, returning [B,Ho,Wo,Cout]. No bias.
func Conv2D(x, kernel *Node, strideH, strideW int, pad Padding) *Node {
	return Conv2DBias(x, kernel, nil, strideH, strideW, pad, activation.TypeNone)
}

// Conv2DBias is act(Conv2D(x, kernel) + bias) with bias [Cout] (nil for
// none). On the Go backend the bias, and ReLU or no activation, run in the
// matrix product's epilogue (GoMLX's fused Dense), while each output tile is
// still in cache, instead of more passes over the output (Inception pool3
// ~3% faster); activations whose gradient needs their input (SiLU, GELU)
// follow as GoMLX's fused activation op. It is meant for inference: the
// fused op's gradient is slower there than the separate ops' (a tiny
// DualToken train step lost 15%), so trained models keep Conv2D and Add.
// On XLA the bias and activation are separate ops after the convolution (or
// after the matrix-product form's chunks), which XLA fuses itself.
func Conv2DBias(x, kernel, bias *Node, strideH, strideW int, pad Padding, act activation.Type) *Node {
	epilogue := !native(x) && (bias != nil || act != activation.TypeNone)
	finish := func(y *Node) *Node { // [B,Ho,Wo,Cout]
		if epilogue {
			return y
		}
		if bias != nil {
			y = Add(y, ExpandLeftToRank(bias, 4))
		}
		if act != activation.TypeNone {
			y = activation.Apply(act, y)
		}
		return y
	}
	if nativeConv(x) {
		return finish(Convolve(x, kernel).StridePerAxis(strideH, strideW).PaddingPerDim(pad[:]).Done())
	}
	d, kd := x.Shape().Dimensions, kernel.Shape().Dimensions
	b, h, w, cin := d[0], d[1], d[2], d[3]
	kh, kw, cout := kd[0], kd[1], kd[3]
	ho, wo := outSize(h, kh, strideH, pad[0]), outSize(w, kw, strideW, pad[1])
	product := func(cols, k *Node) *Node {
		if !epilogue {
			return MatMul(cols, k)
		}
		return nn.Dense(cols, k, bias, compute.DenseLayoutInputOutputs, act)
	}
	if pad != (Padding{}) {
		x = padHW(x, ScalarZero(x.Graph(), x.DType()), pad)
	}
	hp, wp := h+pad[0][0]+pad[0][1], w+pad[1][0]+pad[1][1]
	if kh == 1 && kw == 1 {
		if strideH > 1 || strideW > 1 || hp != ho || wp != wo {
			x = newWindower(x, ho, wo, strideH, strideW).at(0, 0)
		}
		y := product(Reshape(x, b*ho*wo, cin), Reshape(kernel, cin, cout))
		return finish(Reshape(y, b, ho, wo, cout))
	}
	// Output rows (image, y) in chunks whose column matrix stays within a
	// byte budget: a 3x3 convolution of 128 channels at 384x384 would
	// otherwise gather 680 MB per image.
	k := Reshape(kernel, kh*kw*cin, cout)
	rowBytes := wo * kh * kw * cin * x.DType().Size()
	budget := im2colBudget
	if !native(x) {
		budget = im2colBudgetGo
	}
	step := max(1, budget/max(1, rowBytes))
	var parts []*Node
	for r0 := 0; r0 < b*ho; r0 += step {
		parts = append(parts, product(im2col(x, kh, kw, ho, wo, strideH, strideW, r0, min(r0+step, b*ho)), k))
	}
	y := parts[0]
	if len(parts) > 1 {
		y = Concatenate(parts, 0)
	}
	return finish(Reshape(y, b, ho, wo, cout))
}

// im2colBudget bounds the bytes of one gathered column matrix (variables
// so that tests reach the chunked path). On XLA (float32 on CUDA without
// TF32) chunks are few and large: every chunk is more program to compile.
// The Go backend takes cache-sized chunks: each one's columns are still in
// cache when the product packs them, and its executors gather one chunk
// while another multiplies (Inception-v3 pool3, batch 8, 2 cores: 19% more
// images/s at 4 MiB than at 256 MiB; 1 MiB and 16 MiB both slower).
var (
	im2colBudget   = 256 << 20
	im2colBudgetGo = 4 << 20
)

// maxInt32Index is the largest flat input size indexed with int32 (a
// variable so that tests reach the int64 path).
var maxInt32Index = math.MaxInt32

// im2col gathers, for the output rows [r0, r1) (row r = image r/Ho, output
// line r%Ho) of a convolution over the padded x [B,Hp,Wp,Cin], the kh·kw·Cin
// input values under the kernel into [(r1-r0)·Wo, kh·kw·Cin] (tap-major, as
// the HWIO kernel flattens), so that the convolution is one product with a
// long contraction. It is one Gather over the flat input: with a horizontal
// stride of 1 each kernel row's kw·Cin values are one contiguous run of NHWC
// memory, otherwise each tap's Cin are. (Measured on Inception-v3: 26% less
// CPU than multiplying every padded position by all taps and adding shifted
// outputs, and a faster gradient.)
func im2col(x *Node, kh, kw, ho, wo, sh, sw, r0, r1 int) *Node {
	d := x.Shape().Dimensions
	b, hp, wp, cin := d[0], d[1], d[2], d[3]
	run, runs := kw*cin, kh // values per gathered slice, slices per position
	if sw != 1 {
		run, runs = cin, kh*kw
	}
	start := make([]int64, 0, (r1-r0)*wo*runs)
	for r := r0; r < r1; r++ {
		bi, i := r/ho, r%ho
		for j := range wo {
			for dy := range kh {
				row := (bi*hp + i*sh + dy) * wp
				if sw == 1 {
					start = append(start, int64((row+j)*cin))
					continue
				}
				for dx := range kw {
					start = append(start, int64((row+j*sw+dx)*cin))
				}
			}
		}
	}
	var ind *tensors.Tensor
	if b*hp*wp*cin <= maxInt32Index { // half the index memory
		s32 := make([]int32, len(start))
		for i, v := range start {
			s32[i] = int32(v)
		}
		ind = tensors.FromFlatDataAndDimensions(s32, len(s32), 1)
	} else {
		ind = tensors.FromFlatDataAndDimensions(start, len(start), 1)
	}
	flat := Reshape(x, b*hp*wp*cin)
	cols := GatherSlices(flat, []int{0}, ConstTensor(x.Graph(), ind), []int{run}, false) // starts fall back at each output column
	return Reshape(cols, (r1-r0)*wo, kh*kw*cin)
}

// padHW pads the spatial axes of x [B,H,W,C] with fill. Every axis gets a
// PadAxis: GoMLX's Pad gradient mis-shapes axes left out of the list.
func padHW(x, fill *Node, pad Padding) *Node {
	return Pad(x, fill, compute.PadAxis{}, compute.PadAxis{Start: pad[0][0], End: pad[0][1]},
		compute.PadAxis{Start: pad[1][0], End: pad[1][1]}, compute.PadAxis{})
}

// crop returns the static window [start, start+size) of x. On the Go
// backend Gather copies contiguous runs with memmove while Slice copies
// element by element, so unstrided windows go through GatherSlices (whose
// gradient is a scatter-add).
func crop(x *Node, start, size []int) *Node {
	var axes, sizes []int
	var starts []int32
	for a, d := range x.Shape().Dimensions {
		if start[a] != 0 || size[a] != d {
			axes = append(axes, a)
			starts = append(starts, int32(start[a]))
			sizes = append(sizes, size[a])
		}
	}
	if len(axes) == 0 {
		return x
	}
	return GatherSlices(x, axes, Const(x.Graph(), starts), sizes, true)
}

func addOrSet(acc, v *Node) *Node {
	if acc == nil {
		return v
	}
	return Add(acc, v)
}

// MaxPool2D takes the maximum over k×k windows of x [B,H,W,C] with the given
// stride and padding (padded positions never win, as in PyTorch).
func MaxPool2D(x *Node, k, stride int, pad Padding) *Node {
	if native(x) {
		return MaxPool(x).Window(k).Strides(stride).PaddingPerDim(pad[:]).Done()
	}
	if k == stride && pad == (Padding{}) {
		// Non-overlapping windows (VGG's 2×2/2): drop the odd tail as PyTorch
		// does, then reshape so each window is two axes and reduce them.
		d := x.Shape().Dimensions
		ho, wo := d[1]/k, d[2]/k
		if ho*k != d[1] || wo*k != d[2] {
			x = crop(x, []int{0, 0, 0, 0}, []int{d[0], ho * k, wo * k, d[3]})
		}
		return ReduceMax(Reshape(x, d[0], ho, k, wo, k, d[3]), 2, 4)
	}
	if pad != (Padding{}) {
		x = padHW(x, Infinity(x.Graph(), x.DType(), -1), pad)
	}
	return separable(x, k, stride, pad, Max)
}

// AvgPool2D averages x [B,H,W,C] over k×k windows with the given stride and
// zero padding. With countPad false the divisor counts only positions inside
// the image (PyTorch count_include_pad=False); with true it is k*k.
func AvgPool2D(x *Node, k, stride int, pad Padding, countPad bool) *Node {
	if native(x) {
		if countPad || pad == (Padding{}) {
			return DivScalar(SumPool(x).Window(k).Strides(stride).PaddingPerDim(pad[:]).Done(), float64(k*k))
		}
		return MeanPool(x).Window(k).Strides(stride).PaddingPerDim(pad[:]).Done()
	}
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	if pad != (Padding{}) {
		x = padHW(x, ScalarZero(x.Graph(), x.DType()), pad)
	}
	sum := separable(x, k, stride, pad, Add)
	if countPad || pad == (Padding{}) {
		return DivScalar(sum, float64(k*k))
	}
	// Divisor per output position: the window's overlap with the image.
	ho, wo := outSize(h, k, stride, pad[0]), outSize(w, k, stride, pad[1])
	inv := make([]float32, ho*wo)
	for i := range ho {
		ny := overlap(i*stride-pad[0][0], k, h)
		for j := range wo {
			inv[i*wo+j] = 1 / float32(ny*overlap(j*stride-pad[1][0], k, w))
		}
	}
	c := ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(inv, 1, ho, wo, 1))
	return Mul(sum, ConvertDType(c, x.DType()))
}

// overlap counts the positions of [start, start+k) inside [0, n).
func overlap(start, k, n int) int { return min(start+k, n) - max(start, 0) }

// separable reduces k×k windows of the padded x with op, rows then columns
// (2(k-1) operations per output instead of k²-1).
func separable(x *Node, k, stride int, pad Padding, op func(a, b *Node) *Node) *Node {
	d := x.Shape().Dimensions
	h, w := d[1]-pad[0][0]-pad[0][1], d[2]-pad[1][0]-pad[1][1]
	ho, wo := outSize(h, k, stride, pad[0]), outSize(w, k, stride, pad[1])
	rowsAt := newWindower(x, ho, d[2], stride, 1).at
	var rows *Node
	for dy := range k {
		rows = combine(rows, rowsAt(dy, 0), op)
	}
	colsAt := newWindower(rows, ho, wo, 1, stride).at
	var out *Node
	for dx := range k {
		out = combine(out, colsAt(0, dx), op)
	}
	return out
}

// windower cuts the [B,Ho,Wo,C] views x[:, dy+sh·i, dx+sw·j, :] (i < Ho,
// j < Wo) of an already padded x [B,H,W,C]. With a stride, x is viewed as
// [B,H/sh,sh,W/sw,sw,C] so that every view is one Gather of contiguous
// channel runs rather than an element-by-element strided Slice.
type windower struct {
	x, r         *Node
	b, ho, wo, c int
	sh, sw       int
}

func newWindower(x *Node, ho, wo, sh, sw int) *windower {
	d := x.Shape().Dimensions
	w := &windower{x: x, b: d[0], ho: ho, wo: wo, c: d[3], sh: sh, sw: sw}
	if sh > 1 || sw > 1 {
		hq, wq := (d[1]+sh-1)/sh, (d[2]+sw-1)/sw
		if hq*sh != d[1] || wq*sw != d[2] { // never read by a window; any fill
			x = padHW(x, ScalarZero(x.Graph(), x.DType()), Padding{{0, hq*sh - d[1]}, {0, wq*sw - d[2]}})
		}
		w.r = Reshape(x, d[0], hq, sh, wq, sw, d[3])
	}
	return w
}

func (w *windower) at(dy, dx int) *Node {
	if w.r == nil {
		return crop(w.x, []int{0, dy, dx, 0}, []int{w.b, w.ho, w.wo, w.c})
	}
	v := crop(w.r, []int{0, dy / w.sh, dy % w.sh, dx / w.sw, dx % w.sw, 0}, []int{w.b, w.ho, 1, w.wo, 1, w.c})
	return Reshape(v, w.b, w.ho, w.wo, w.c)
}

func combine(acc, v *Node, op func(a, b *Node) *Node) *Node {
	if acc == nil {
		return v
	}
	return op(acc, v)
}
