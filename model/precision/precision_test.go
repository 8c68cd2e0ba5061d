package precision

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]dtypes.DType{"float32": F32, "FP32": F32, "bf16": BF16, "bfloat16": BF16} {
		if dt, err := Parse(s); err != nil || dt != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", s, dt, err, want)
		}
	}
	for s, msg := range map[string]string{"fp16": "float16 is not implemented", "int8": "not a supported dtype"} {
		if _, err := Parse(s); err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), s) {
			t.Errorf("Parse(%q): %v, want an error naming it and saying %q", s, err, msg)
		}
	}
	if Compute(dtypes.InvalidDType) != F32 || Name(0) != "float32" || Name(BF16) != "bfloat16" {
		t.Error("the zero dtype must mean float32")
	}
	if Check(dtypes.Float16) == nil || Check(BF16) != nil || Check(0) != nil {
		t.Error("Check accepts float32 and bfloat16 only")
	}
}

func TestCastTensorAndStoreAs(t *testing.T) {
	vals := []float32{1, 1.00390625, 1.005859375, -3.3, 1e-30, float32(math.Inf(1))}
	b, err := CastTensor(tensors.FromFlatDataAndDimensions(vals, 2, 3), BF16)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[bfloat16.BFloat16](b)
	// Written out by hand: bf16 keeps 8 significant bits. 1 + 2^-8 lies
	// half-way between 1 and 1 + 2^-7 and rounds to the even one (1);
	// 1 + 1.5·2^-8 rounds up to 1 + 2^-7; -3.3 = -1.65·2: the nearest 8-bit
	// significand is 1.6484375 (-3.296875).
	want := []float32{1, 1, 1.0078125, -3.296875}
	for i, w := range want {
		if got[i].Float32() != w {
			t.Errorf("value %d (%v): %v, want %v", i, vals[i], got[i].Float32(), w)
		}
	}
	if v := got[5].Float32(); !math.IsInf(float64(v), 1) {
		t.Errorf("+Inf became %v", v)
	}
	back, err := CastTensor(b, F32)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range tensors.MustCopyFlatData[float32](back) {
		if v != got[i].Float32() {
			t.Errorf("back to float32, value %d: %v", i, v)
		}
	}
	if _, err := CastTensor(tensors.FromFlatDataAndDimensions([]int32{1}, 1), BF16); err == nil {
		t.Error("int32 -> bfloat16 accepted")
	}

	store := model.NewStore()
	s := store.RootScope()
	for name, dims := range map[string][]int{"w": {4, 3}, "bias": {3}, "keep": {2, 2}} {
		n := 1
		for _, d := range dims {
			n *= d
		}
		if _, err := s.CreateVariable(name, tensors.FromFlatDataAndDimensions(make([]float32, n), dims...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateVariable("ids", tensors.FromFlatDataAndDimensions(make([]int64, 4), 2, 2)); err != nil {
		t.Fatal(err)
	}
	total := Bytes(store.IterVariables())
	before, after, err := StoreAs(store.IterVariables(), BF16, func(v *model.Variable) bool { return v.Name() == "keep" })
	if err != nil {
		t.Fatal(err)
	}
	if before != 48 || after != 24 || Bytes(store.IterVariables()) != total-24 {
		t.Errorf("converted %d -> %d bytes (store %d -> %d); want the [4,3] matrix only, 48 -> 24", before, after, total, Bytes(store.IterVariables()))
	}
	for v := range store.IterVariables() {
		want := map[string]dtypes.DType{"w": BF16, "bias": F32, "keep": F32, "ids": dtypes.Int64}[v.Name()]
		if v.Shape().DType != want {
			t.Errorf("%s is %s, want %s", v.Name(), v.Shape().DType, want)
		}
	}
	if _, _, err := StoreAs(store.IterVariables(), dtypes.Float16, nil); err == nil {
		t.Error("StoreAs float16 accepted")
	}
}

func TestAsAndDotF32(t *testing.T) {
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExec(b, func(x *Node) []*Node {
		if As(x, F32) != x {
			t.Error("As to the same dtype added a node")
		}
		xb := As(x, BF16)
		return []*Node{DotF32(xb, []int{1}, nil, xb, []int{1}, nil), DotF32(x, []int{1}, nil, x, []int{1}, nil)}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Call(tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.DType() != F32 {
			t.Errorf("DotF32 result %d is %s, want float32", i, r.DType())
		}
	}
	if got := tensors.MustCopyFlatData[float32](res[0]); got[0] != 14 || got[3] != 77 {
		t.Errorf("bfloat16 x·xᵀ = %v, want [14 32 32 77]", got)
	}
}

func TestCompareBF16(t *testing.T) {
	want := make([]float32, 100)
	for i := range want {
		want[i] = float32(math.Sin(float64(i)))
	}
	rounded := make([]float32, len(want))
	for i, v := range want {
		rounded[i] = bfloat16.FromFloat32(v).Float32()
	}
	if a := CompareBF16(rounded, want, 1); !a.OK || a.Units > 1 {
		t.Errorf("one bfloat16 rounding must pass at 1 stage within 1 unit: %s", a)
	}
	off := append([]float32(nil), want...)
	off[7] += 0.1 // 10% of the scale: 25 units
	if a := CompareBF16(off, want, 3); a.OK || !strings.Contains(a.Mismatched, "element 7") {
		t.Errorf("a 25-unit error passed 3 stages (bound 12 units): %s", a)
	}
	// Every element off by 0.05 (12.8 units): within the 8-stage max bound
	// (32 units) but not within the RMS bound (4·2⁻⁸·√8·rms(want) ≈ 0.031).
	shifted := make([]float32, len(want))
	for i, v := range want {
		shifted[i] = v + 0.05
	}
	if a := CompareBF16(shifted, want, 8); a.OK || a.MaxAbs > a.Bound {
		t.Errorf("a systematic error passed the RMS bound: %s", a)
	}
	nan := append([]float32(nil), rounded...)
	nan[3] = float32(math.NaN())
	if a := CompareBF16(nan, want, 10); a.OK || a.NonFinite != 1 {
		t.Errorf("NaN passed: %s", a)
	}
	if a := CompareBF16(want[:5], want, 1); a.OK {
		t.Error("length mismatch passed")
	}
}
