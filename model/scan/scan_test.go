package scan

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/backend/backendtest"
)

// TestRun loops x ← (x·w_i + b_i)·0.5 + 0.25 over 5 stacked layers, uses the
// same scalar constants in the body, the condition and after the loop
// (GoMLX caches them per graph), and
// compares with the same arithmetic done on the host.
func TestRun(t *testing.T) {
	const n, d = 5, 3
	w := make([]float32, n*d*d)
	bias := make([]float32, n*d)
	for i := range w {
		w[i] = float32(i%7)/7 - 0.4
	}
	for i := range bias {
		bias[i] = float32(i%5) / 10
	}
	x0 := []float32{1, -2, 0.5}
	b := backendtest.ForLoops(t)
	exec, err := NewExec(b, func(x *Node) []*Node {
		g := x.Graph()
		var ws, bs []*Node
		for i := range n {
			ws = append(ws, Const(g, tensors.FromFlatDataAndDimensions(w[i*d*d:(i+1)*d*d], d, d)))
			bs = append(bs, Const(g, tensors.FromFlatDataAndDimensions(bias[i*d:(i+1)*d], d)))
		}
		st := Stacked{"w": StackLayers(ws), "b": StackLayers(bs)}
		shift := MulScalar(Cos(x), 0) // zeros computed outside the loop, captured by it
		out := Run(st, []*Node{x}, func(l *Layer, s []*Node) []*Node {
			y := Add(Einsum("i,ij->j", s[0], l.Weight("w")), l.Weight("b"))
			y = Add(y, shift)
			// min(i, 0) = 0: an int32 zero made in the body, as the loop's
			// own start value is made outside it.
			y = Add(y, ConvertDType(Min(l.Index, Const(g, int32(0))), y.DType()))
			return []*Node{AddScalar(MulScalar(y, 0.5), 0.25)}
		})
		after := AddScalar(MulScalar(out[0], 0.5), 0.25) // the body's constants, outside it
		counts := 0
		for _, nd := range g.Nodes() {
			if nd.Type() == NodeTypeWhile {
				counts++
			}
		}
		if counts != 1 {
			t.Errorf("%d While nodes, want 1", counts)
		}
		return []*Node{out[0], after}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x0, d))
	if err != nil {
		t.Fatal(err)
	}
	x := append([]float32(nil), x0...)
	for i := range n {
		y := make([]float32, d)
		for j := range d {
			y[j] = bias[i*d+j]
			for k := range d {
				y[j] += x[k] * w[i*d*d+k*d+j]
			}
			y[j] = y[j]*0.5 + 0.25
		}
		x = y
	}
	got := tensors.MustCopyFlatData[float32](res[0])
	after := tensors.MustCopyFlatData[float32](res[1])
	for j := range d {
		if diff := got[j] - x[j]; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("state[%d] = %g, want %g", j, got[j], x[j])
		}
		if want := x[j]*0.5 + 0.25; after[j]-want > 1e-6 || want-after[j] > 1e-6 {
			t.Errorf("after[%d] = %g, want %g", j, after[j], want)
		}
	}
}

// TestCheckBackend: the Go backend with parallel op scheduling is refused
// with a message that says how to configure it; the sequential and
// unlimited configurations are accepted.
func TestCheckBackend(t *testing.T) {
	for spec, ok := range map[string]bool{"go": false, "go:ops_sequential": true, "go:num_executors=1": true, "go:parallelism=-1": true} {
		b, err := backend.New(spec)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckBackend(b)
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v", spec, err)
		case !ok && (err == nil || !strings.Contains(err.Error(), "go:ops_sequential")):
			t.Errorf("%s: error %v, want one naming go:ops_sequential", spec, err)
		}
		b.Finalize()
	}
}

// TestRunRange: looping layers 1..3 of a stack of 5 adds exactly their
// values (Layer.Index counts from 1), and an empty range is the identity.
func TestRunRange(t *testing.T) {
	b := backendtest.ForLoops(t)
	exec, err := NewExec(b, func(x *Node) []*Node {
		g := x.Graph()
		var per []*Node
		for i := range 5 {
			per = append(per, Const(g, []float32{float32(10 * i), 1}))
		}
		w := Stacked{"v": StackLayers(per)}
		add := func(l *Layer, s []*Node) []*Node {
			idx := ConvertDType(l.Index, dtypes.Float32)
			return []*Node{Add(Add(s[0], l.Weight("v")), Mul(idx, Const(g, []float32{0, 100})))}
		}
		return []*Node{RunRange(w, 1, 4, []*Node{x}, add)[0], RunRange(w, 2, 2, []*Node{x}, add)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions([]float32{0.5, 0}, 2))
	if err != nil {
		t.Fatal(err)
	}
	// layers 1,2,3: +10+20+30 and +1 each; index term 100·(1+2+3).
	if got := tensors.MustCopyFlatData[float32](res[0]); got[0] != 60.5 || got[1] != 603 {
		t.Errorf("layers [1,4) gave %v, want [60.5 603]", got)
	}
	if got := tensors.MustCopyFlatData[float32](res[1]); got[0] != 0.5 || got[1] != 0 {
		t.Errorf("empty range gave %v, want the input", got)
	}
}

// reductionLoop is a loop whose body reduces (a LayerNorm-like centring)
// and combines its state with invariants elementwise, followed by the same
// reduction outside the loop — the pattern of every transformer layer loop
// — with its inputs and the state the host's arithmetic gives.
func reductionLoop() (fn func(x, s *Node) []*Node, x0, scale, want []float32) {
	const n, d = 3, 4
	x0 = []float32{1, -2, 0.5, 3}
	scale = []float32{0.5, 1, 2, -1}
	fn = func(x, s *Node) []*Node {
		g := x.Graph()
		var ws []*Node
		for i := range n {
			ws = append(ws, Const(g, []float32{float32(i), 1, 0, -1}))
		}
		out := RunWith(Stacked{"w": StackLayers(ws)}, 0, -1, []*Node{x}, []*Node{s}, func(l *Layer, st []*Node) []*Node {
			y := Mul(Add(st[0], l.Weight("w")), l.Invariants[0])
			return []*Node{Sub(y, ReduceAndKeep(y, ReduceMean, -1))}
		})
		return []*Node{out[0], ReduceSum(out[0], -1)}
	}
	want = append([]float32(nil), x0...)
	for i := range n {
		w := []float32{float32(i), 1, 0, -1}
		mean := float32(0)
		for j := range d {
			want[j] = (want[j] + w[j]) * scale[j]
			mean += want[j] / d
		}
		for j := range d {
			want[j] -= mean
		}
	}
	return fn, x0, scale, want
}

// TestRunWithReductions: reductionLoop on the Go backend gives the host's
// arithmetic (TestRunWithOnXLA builds it for XLA).
func TestRunWithReductions(t *testing.T) {
	fn, x0, scale, want := reductionLoop()
	res, err := NewExec(backendtest.ForLoops(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := res.Exec(x0, scale)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](outs[0])
	for j := range want {
		if diff := got[j] - want[j]; diff > 1e-5 || diff < -1e-5 {
			t.Errorf("state[%d] = %g, want %g", j, got[j], want[j])
		}
	}
}
