//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package scan

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/backend/xladry"
)

// TestRunWithOnXLA: a loop whose body reduces (a LayerNorm-like centring)
// and combines its state with invariants elementwise, followed by the same
// reduction outside the loop — the pattern of every transformer layer loop.
// On the Go backend the result must be the host's arithmetic; on go-xla's
// builder (a dry XLA CUDA backend) the program must build with one while
// loop. Without resetXLACaches the builder refuses the second reduction
// ("reductionFn is not a StableHLO closure of main"), and a captured value
// in an elementwise op would be refused too (hence RunWith).
func TestRunWithOnXLA(t *testing.T) {
	const n, d = 3, 4
	x0 := []float32{1, -2, 0.5, 3}
	scale := []float32{0.5, 1, 2, -1}
	fn := func(x, s *Node) []*Node {
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
	x := append([]float32(nil), x0...)
	for i := range n {
		w := []float32{float32(i), 1, 0, -1}
		mean := float32(0)
		for j := range d {
			x[j] = (x[j] + w[j]) * scale[j]
			mean += x[j] / d
		}
		for j := range d {
			x[j] -= mean
		}
	}
	res, err := NewExec(backendtest.ForLoops(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := res.Exec(x0, scale)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](outs[0])
	for j := range d {
		if diff := got[j] - x[j]; diff > 1e-5 || diff < -1e-5 {
			t.Errorf("state[%d] = %g, want %g", j, got[j], x[j])
		}
	}

	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExec(dry, fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exec(x0, scale); err != nil {
		t.Fatalf("go-xla's builder refused the loop: %v", err)
	}
	ps := dry.Programs()
	if len(ps) != 1 || ps[0].Ops["stablehlo.while"] != 1 {
		t.Errorf("programs: %s", xladry.Summary(ps))
	}
}
