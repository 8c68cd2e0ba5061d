//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package xladry

import (
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// A dry run builds the program (recorded, with its operations counted),
// returns outputs of the program's shapes that read back as stand-ins, and
// checks the arguments' shapes against the program's parameters.
func TestDryRun(t *testing.T) {
	b, err := New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "xla" || !strings.Contains(b.Description(), "dry run") {
		t.Errorf("name %q, description %q", b.Name(), b.Description())
	}
	e, err := NewExec(b, func(x *Node) []*Node {
		y := Einsum("ij,kj->ik", x, x) // [n,n]
		return []*Node{ArgMax(y, -1), ReduceSum(y, -1)}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := e.Exec([][]float32{{1, 2, 3}, {4, 5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if s := outs[0].Shape(); s.DType.String() != "Int32" || s.Dimensions[0] != 2 {
		t.Errorf("argmax output %s, want (Int32)[2]", s)
	}
	sums := tensors.MustCopyFlatData[float32](outs[1])
	if len(sums) != 2 || sums[0] < 0.25 || sums[0] >= 0.75 || sums[0] == sums[1] {
		t.Errorf("sums read back as %v, want two different stand-ins in [0.25, 0.75)", sums)
	}
	if ids := tensors.MustCopyFlatData[int32](outs[0]); ids[0] != 0 || ids[1] != 0 {
		t.Errorf("argmax read back as %v, want zeros", ids)
	}
	ps := b.Programs()
	if len(ps) != 1 {
		t.Fatalf("%d programs recorded, want 1", len(ps))
	}
	p := ps[0]
	if p.Ops["stablehlo.dot_general"] != 1 || p.Ops["stablehlo.reduce"] != 2 || !strings.Contains(p.Text, "func.func @main") {
		t.Errorf("program ops %v:\n%s", p.Ops, p.Text)
	}
	// A second call with other shapes builds a second program.
	if _, err := e.Exec([][]float32{{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.Programs()); n != 2 {
		t.Errorf("%d programs after a new shape, want 2", n)
	}

	exe := &executable{backend: b, names: []string{"x"}, inputs: []shapes.Shape{shapes.Make(dtypes.Float32, 2, 3)}}
	if _, err := exe.Execute([]compute.Buffer{&buffer{backend: b, shape: shapes.Make(dtypes.Float32, 9)}}, nil, 0); err == nil || !strings.Contains(err.Error(), "the program takes") {
		t.Errorf("a wrong argument shape gave %v", err)
	}
}

func TestNewRejectsUnknownPlugin(t *testing.T) {
	if _, err := New("tpu"); err == nil || !strings.Contains(err.Error(), "expected cuda or cpu") {
		t.Errorf("New(tpu) = %v", err)
	}
}

// Half-precision stand-ins are not zero either (host code may divide by
// them), and a finalized backend says so.
func TestHalfPrecisionStandInsAndFinalize(t *testing.T) {
	b, err := New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	buf, err := b.BufferFromFlatData(0, nil, shapes.Make(dtypes.BFloat16, 3))
	if err != nil {
		t.Fatal(err)
	}
	data, err := buf.Data()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range data.([]bfloat16.BFloat16) {
		if f := v.Float32(); f < 0.25 || f >= 0.75 {
			t.Errorf("bfloat16 stand-in %d = %g, want in [0.25, 0.75)", i, f)
		}
	}
	if b.IsFinalized() {
		t.Error("a new backend reports finalized")
	}
	b.Finalize()
	if !b.IsFinalized() {
		t.Error("Finalize did not finalize")
	}
}
