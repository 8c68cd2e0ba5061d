package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
)

func randTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func maxDiff(t *testing.T, got, want *tensors.Tensor) float64 {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Fatalf("shape %s, want %s", got.Shape(), want.Shape())
	}
	g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
	m := 0.0
	for i := range g {
		m = max(m, math.Abs(float64(g[i]-w[i]))/(1+math.Abs(float64(w[i]))))
	}
	return m
}

func goBackend(t testing.TB) compute.Backend {
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConv2DMatchesConvolve compares every strategy of Conv2D (1x1 products;
// im2col with whole kernel rows or, with a horizontal stride, single taps,
// with 32- and 64-bit gather indices, whole or in chunks of output rows;
// asymmetric kernels and padding)
// and its gradients with GoMLX's direct ConvGeneral.
func TestConv2DMatchesConvolve(t *testing.T) {
	b := goBackend(t)
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		h, w, cin, cout, kh, kw, sh, sw int
		pad                             Padding
	}{
		{9, 7, 5, 4, 1, 1, 1, 1, Padding{}},
		{9, 7, 5, 4, 1, 1, 2, 2, Padding{}},
		{11, 10, 3, 6, 3, 3, 2, 2, Padding{}},  // strided, valid
		{8, 8, 3, 6, 3, 3, 1, 1, Sym(1)},       // RGB stem, same
		{9, 8, 12, 7, 3, 3, 1, 1, Sym(1)},      // same
		{9, 8, 12, 7, 1, 7, 1, 1, Same(1, 7)},  // 1x7
		{9, 8, 12, 7, 7, 1, 1, 1, Same(7, 1)},  // 7x1
		{9, 8, 12, 7, 5, 5, 1, 1, Sym(2)},      // 5x5
		{12, 11, 12, 7, 3, 3, 2, 2, Padding{}}, // strided
		{12, 11, 12, 7, 3, 3, 2, 1, Padding{}}, // strided rows only
		{9, 9, 12, 7, 3, 3, 1, 1, Padding{}},   // valid, stride 1
		{9, 9, 12, 7, 3, 2, 2, 1, Padding{{1, 0}, {0, 2}}},
	}
	for n, c := range cases {
		name := fmt.Sprintf("%dx%d_s%d%d_pad%v", c.kh, c.kw, c.sh, c.sw, c.pad)
		if n%2 == 1 {
			name += "_int64"
		}
		t.Run(name, func(t *testing.T) {
			if n%2 == 1 { // 64-bit gather indices, as for inputs of 2³¹ values or more
				defer func(v int) { maxInt32Index = v }(maxInt32Index)
				maxInt32Index = 0
			}
			if n%3 == 2 { // column matrices in chunks of a few output rows
				defer func(v, g int) { im2colBudget, im2colBudgetGo = v, g }(im2colBudget, im2colBudgetGo)
				im2colBudget = 3 * c.w * c.kh * c.kw * c.cin * 4
				im2colBudgetGo = im2colBudget
			}
			x := randTensor(r, 2, c.h, c.w, c.cin)
			k := randTensor(r, c.kh, c.kw, c.cin, c.cout)
			mine := func(x, k *Node) *Node { return Conv2D(x, k, c.sh, c.sw, c.pad) }
			got := MustExecOnce(b, mine, x, k)
			want := MustExecOnce(b, func(x, k *Node) *Node {
				return Convolve(x, k).StridePerAxis(c.sh, c.sw).PaddingPerDim(c.pad[:]).Done()
			}, x, k)
			if d := maxDiff(t, got, want); d > 1e-5 {
				t.Errorf("output differs by %g", d)
			}
			checkGradients(t, b, mine, x, k)
		})
	}
}

// TestConv2DBiasMatchesUnfused: Conv2DBias (bias and activation in the
// product's epilogue on the Go backend) gives act(Convolve + bias), and its
// gradients for x, kernel and bias equal those of act(Conv2D + bias) written
// as separate ops, for the 1x1, whole-im2col, chunked and strided paths.
func TestConv2DBiasMatchesUnfused(t *testing.T) {
	b := goBackend(t)
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name           string
		kh, kw, sh, sw int
		pad            Padding
		chunked        bool
		act            activation.Type
	}{
		{"1x1_relu", 1, 1, 1, 1, Padding{}, false, activation.TypeRelu},
		{"1x1_s2_none", 1, 1, 2, 2, Padding{}, false, activation.TypeNone},
		{"3x3_relu", 3, 3, 1, 1, Sym(1), false, activation.TypeRelu},
		{"3x3_chunked_relu", 3, 3, 1, 1, Sym(1), true, activation.TypeRelu},
		{"3x3_s2_none", 3, 3, 2, 2, Padding{}, false, activation.TypeNone},
		{"1x7_chunked_silu", 1, 7, 1, 1, Same(1, 7), true, activation.TypeSilu},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const cin, cout = 5, 6
			if c.chunked {
				defer func(v, g int) { im2colBudget, im2colBudgetGo = v, g }(im2colBudget, im2colBudgetGo)
				im2colBudgetGo = 2 * 9 * c.kh * c.kw * cin * 4 // two output rows of a 9-wide image
				im2colBudget = im2colBudgetGo
			}
			x, k, bias := randTensor(r, 2, 9, 9, cin), randTensor(r, c.kh, c.kw, cin, cout), randTensor(r, cout)
			run := func(f func(x, k, bias *Node) *Node) []*tensors.Tensor {
				return MustExecOnceN(b, func(x, k, bias *Node) []*Node {
					y := f(x, k, bias)
					loss := ReduceAllSum(Mul(y, Sin(IotaFull(y.Graph(), y.Shape()))))
					return append([]*Node{y}, Gradient(loss, x, k, bias)...)
				}, x, k, bias)
			}
			fused := 0
			got := run(func(x, k, bias *Node) *Node {
				y := Conv2DBias(x, k, bias, c.sh, c.sw, c.pad, c.act)
				for _, nd := range y.Graph().Nodes() {
					if nd.Type() == NodeTypeFusedDense {
						fused++
					}
				}
				return y
			})
			if fused == 0 || (c.chunked && fused < 2) {
				t.Errorf("%d fused Dense ops in the graph, want the bias in the product's epilogue (one per chunk)", fused)
			}
			unfused := run(func(x, k, bias *Node) *Node {
				y := Add(Conv2D(x, k, c.sh, c.sw, c.pad), ExpandLeftToRank(bias, 4))
				if c.act != activation.TypeNone {
					y = activation.Apply(c.act, y)
				}
				return y
			})
			ref := MustExecOnce(b, func(x, k, bias *Node) *Node {
				y := Add(Convolve(x, k).StridePerAxis(c.sh, c.sw).PaddingPerDim(c.pad[:]).Done(), ExpandLeftToRank(bias, 4))
				if c.act != activation.TypeNone {
					y = activation.Apply(c.act, y)
				}
				return y
			}, x, k, bias)
			if d := maxDiff(t, got[0], ref); d > 1e-5 {
				t.Errorf("output differs from Convolve by %g", d)
			}
			for i, name := range []string{"output", "dx", "dkernel", "dbias"} {
				if d := maxDiff(t, got[i], unfused[i]); d > 1e-5 {
					t.Errorf("%s differs from the unfused ops by %g", name, d)
				}
			}
		})
	}
}

// checkGradients compares the gradients of a fixed, non-uniform linear loss
// of f(x, k) with central differences at sampled elements. (GoMLX's own
// Convolve gradient is wrong for strided convolutions with asymmetric
// padding, so it cannot serve as the reference.) The loss is linear in x and
// in k, so the differences are exact up to rounding.
func checkGradients(t *testing.T, b compute.Backend, f func(x, k *Node) *Node, x, k *tensors.Tensor) {
	t.Helper()
	loss := func(x, k *Node) *Node {
		y := f(x, k)
		return ReduceAllSum(Mul(y, Sin(IotaFull(y.Graph(), y.Shape()))))
	}
	grads := MustExecOnceN(b, func(x, k *Node) (*Node, *Node) {
		g := Gradient(loss(x, k), x, k)
		return g[0], g[1]
	}, x, k)
	e := MustNewExec(b, loss)
	for wrt, in := range []*tensors.Tensor{x, k} {
		v := tensors.MustCopyFlatData[float32](in)
		g := tensors.MustCopyFlatData[float32](grads[wrt])
		dims := in.Shape().Dimensions
		for i := 0; i < len(v); i += 1 + len(v)/23 {
			at := func(delta float32) float64 {
				w := append([]float32(nil), v...)
				w[i] += delta
				args := []any{x, k}
				args[wrt] = tensors.FromFlatDataAndDimensions(w, dims...)
				return float64(tensors.MustCopyFlatData[float32](e.MustExec(args...)[0])[0])
			}
			num := (at(0.5) - at(-0.5)) / 1.0
			if math.Abs(num-float64(g[i])) > 2e-3*(1+math.Abs(num)) {
				t.Errorf("d loss / d %s[%d]: autodiff %g, central difference %g", []string{"x", "kernel"}[wrt], i, g[i], num)
			}
		}
	}
}

// TestPoolsMatchReference compares MaxPool2D and AvgPool2D (both divisor
// rules) and their input gradients with GoMLX's ReduceWindow pools.
func TestPoolsMatchReference(t *testing.T) {
	b := goBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := randTensor(r, 2, 9, 8, 3) // odd height: the 2×2/2 pool drops the last row
	sym1 := [][2]int{{1, 1}, {1, 1}}
	type pool struct {
		name      string
		got, want func(x *Node) *Node
	}
	pools := []pool{
		{"max3s2", func(x *Node) *Node { return MaxPool2D(x, 3, 2, Padding{}) },
			func(x *Node) *Node { return MaxPool(x).Window(3).Strides(2).Done() }},
		{"max2s2", func(x *Node) *Node { return MaxPool2D(x, 2, 2, Padding{}) },
			func(x *Node) *Node { return MaxPool(x).Window(2).Strides(2).Done() }},
		{"max3s1p1", func(x *Node) *Node { return MaxPool2D(x, 3, 1, Sym(1)) },
			func(x *Node) *Node { return MaxPool(x).Window(3).Strides(1).PaddingPerDim(sym1).Done() }},
		{"avg3s1p1_exclude", func(x *Node) *Node { return AvgPool2D(x, 3, 1, Sym(1), false) },
			func(x *Node) *Node { return MeanPool(x).Window(3).Strides(1).PaddingPerDim(sym1).Done() }},
		{"avg3s1p1_include", func(x *Node) *Node { return AvgPool2D(x, 3, 1, Sym(1), true) },
			func(x *Node) *Node {
				return DivScalar(SumPool(x).Window(3).Strides(1).PaddingPerDim(sym1).Done(), 9.0)
			}},
		{"avg3s2", func(x *Node) *Node { return AvgPool2D(x, 3, 2, Padding{}, false) },
			func(x *Node) *Node { return MeanPool(x).Window(3).Strides(2).Done() }},
	}
	for _, p := range pools {
		run := func(f func(x *Node) *Node) []*tensors.Tensor {
			return MustExecOnceN(b, func(x *Node) (*Node, *Node) {
				y := f(x)
				loss := ReduceAllSum(Mul(y, Sin(IotaFull(y.Graph(), y.Shape()))))
				return y, Gradient(loss, x)[0]
			}, x)
		}
		got, want := run(p.got), run(p.want)
		for i, name := range []string{"output", "dx"} {
			if d := maxDiff(t, got[i], want[i]); d > 1e-5 {
				t.Errorf("%s %s differs by %g", p.name, name, d)
			}
		}
	}
}

// BenchmarkConv3x3 times a 35x35, 288->64 3x3 convolution at batch 8, the
// matrix-product form against GoMLX's direct Convolve.
func BenchmarkConv3x3(b *testing.B) {
	be := goBackend(b)
	r := rand.New(rand.NewPCG(5, 6))
	x, k := randTensor(r, 8, 35, 35, 288), randTensor(r, 3, 3, 288, 64)
	for _, v := range []struct {
		name string
		f    func(x, k *Node) *Node
	}{
		{"matmul", func(x, k *Node) *Node { return Conv2D(x, k, 1, 1, Sym(1)) }},
		{"convolve", func(x, k *Node) *Node { return Convolve(x, k).PadSame().Done() }},
	} {
		b.Run(v.name, func(b *testing.B) {
			e := MustNewExec(be, v.f)
			e.MustExec(x, k)[0].FinalizeAll()
			b.ResetTimer()
			for range b.N {
				e.MustExec(x, k)[0].FinalizeAll()
			}
		})
	}
}
