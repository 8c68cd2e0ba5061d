package verify

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/weights"
)

func TestCompareToleranceAndStatuses(t *testing.T) {
	golden := weights.NewMemSet("golden",
		weights.FromFloat32("x", []int{2}, []float32{1, 2}),
		weights.FromFloat32("y", []int{2}, []float32{100, -1}),
		weights.FromInt64("ids", []int{2}, []int64{3, 4}),
		weights.FromFloat32("other", []int{1}, []float32{0}),
	)
	outs := map[string]*weights.Tensor{
		// |d| = 0.0101 <= 1e-4 + 1e-4*100 = 0.0101 passes; -1 exact.
		"y":   weights.FromFloat32("y", []int{2}, []float32{100.0100, -1}),
		"ids": weights.FromInt64("ids", []int{2}, []int64{3, 5}),
	}
	rep := Compare(outs, []string{"x"}, golden, 1e-4, 1e-4)
	status := map[string]Row{}
	for _, r := range rep.Rows {
		status[r.Name] = r
	}
	if status["x"].Status != "input" || status["other"].Status != "skipped" {
		t.Errorf("statuses: %+v", rep.Rows)
	}
	if !status["y"].OK {
		t.Errorf("y within tolerance failed: %+v", status["y"])
	}
	if status["ids"].OK || rep.OK || rep.Failed != 1 || rep.Compared != 2 {
		t.Errorf("ids must fail exactly: %+v", rep)
	}
	outs["y"] = weights.FromFloat32("y", []int{2}, []float32{100.0102, -1})
	if rep := Compare(outs, nil, golden, 1e-4, 1e-4); rep.Rows[3].OK || rep.Rows[3].Name != "y" {
		t.Errorf("y beyond tolerance passed: %+v", rep.Rows)
	}
	outs["y"] = weights.FromFloat32("y", []int{1, 2}, []float32{100, -1})
	if rep := Compare(outs, nil, golden, 1e-4, 1e-4); rep.OK || !math.IsInf(rep.Rows[3].MaxAbsErr, 1) {
		t.Errorf("shape mismatch passed")
	}
}

// TestVerifyCompareBF16: in bfloat16 mode a float output passes within
// precision.CompareBF16's bounds at its stage count (and fails beyond
// them), an affine output is compared after undoing the map, a float32
// island keeps atol/rtol, integers are reported by agreement without
// failing, and a float output without a stage count fails.
func TestVerifyCompareBF16(t *testing.T) {
	want := make([]float32, 64)
	for i := range want {
		want[i] = float32(i%8) - 3.5 // max|want| 3.5
	}
	shifted := func(d float32) []float32 {
		out := append([]float32(nil), want...)
		for i := range out {
			out[i] += d
		}
		return out
	}
	// Stages 2: max bound 4·2⁻⁸·2·3.5 = 0.109375; rms bound
	// 4·2⁻⁸·√2·rms(want) = 0.0505 (rms(want) = 2.29).
	golden := weights.NewMemSet("golden",
		weights.FromFloat32("near", []int{64}, want),
		weights.FromFloat32("far", []int{64}, want),
		weights.FromFloat32("island", []int{64}, want),
		weights.FromFloat32("unstaged", []int{64}, want),
		weights.FromInt64("codes", []int{4}, []int64{1, 2, 3, 4}),
	)
	res := &Result{
		Outputs: map[string]*weights.Tensor{
			"near":     weights.FromFloat32("near", []int{64}, shifted(0.04)),
			"far":      weights.FromFloat32("far", []int{64}, shifted(0.06)), // within max, beyond rms bound
			"island":   weights.FromFloat32("island", []int{64}, shifted(0.0002)),
			"unstaged": weights.FromFloat32("unstaged", []int{64}, want),
			"codes":    weights.FromInt64("codes", []int{4}, []int64{1, 2, 9, 4}),
		},
		BF16: map[string]BF16{"near": {Stages: 2}, "far": {Stages: 2}, "island": {}, "logits": {Stages: 2, Offset: 100, Scale: 1}},
	}
	// logits = x + 100 of a quantity 0.06 off: the raw values' scale (~100)
	// would pass that at 2 stages, compared as x it fails the rms bound.
	raw, wantRaw := shifted(100.06), shifted(100)
	golden.Add(weights.FromFloat32("logits", []int{64}, wantRaw))
	res.Outputs["logits"] = weights.FromFloat32("logits", []int{64}, raw)
	if a := precision.CompareBF16(raw, wantRaw, 2); !a.OK {
		t.Fatalf("raw logits fail already (%s): the affine case tests nothing", a)
	}

	rep := CompareResult(res, golden, Check{DType: precision.BF16, Atol: 1e-4, Rtol: 1e-4})
	rows := map[string]Row{}
	for _, r := range rep.Rows {
		rows[r.Name] = r
	}
	if r := rows["near"]; !r.OK || r.Stages != 2 || math.Abs(r.Bound-0.109375) > 1e-9 || r.WorstRatio > 1 {
		t.Errorf("near: %+v, want ok at 2 stages, bound 0.109375", r)
	}
	if r := rows["far"]; r.OK || r.WorstRatio <= 1 || r.MaxAbsErr > r.Bound {
		t.Errorf("far (max within, rms beyond the bound): %+v, want a failure", r)
	}
	if r := rows["island"]; r.Status != StatusCompared || r.Stages != 0 || r.OK {
		t.Errorf("island 2e-4 off with atol 1e-4 + rtol·|want|: %+v, want a float32 failure", r)
	}
	if r := rows["unstaged"]; r.OK || r.Note == "" {
		t.Errorf("unstaged: %+v, want a failure naming the missing stage count", r)
	}
	if r := rows["logits"]; r.OK || math.Abs(r.MaxAbsErr-0.06) > 1e-4 {
		t.Errorf("logits compared as x-100: %+v, want max|Δ| 0.06 and a failure", r)
	}
	if r := rows["codes"]; r.Status != StatusAgreement || !r.OK || r.Equal == nil || *r.Equal != 0.75 {
		t.Errorf("codes: %+v, want agreement 0.75, ok", r)
	}
	if rep.DType != "bfloat16" || rep.Agreement != 1 || rep.Compared != 5 || rep.Failed != 4 || rep.OK {
		t.Errorf("report: dtype %s, %d compared, %d failed, %d by agreement, ok %v; want bfloat16, 5, 4, 1, false",
			rep.DType, rep.Compared, rep.Failed, rep.Agreement, rep.OK)
	}

	// The same outputs in float32 mode: ints exact, atol/rtol everywhere.
	rep = CompareResult(res, golden, Check{Atol: 1e-4, Rtol: 1e-4})
	if rep.DType != "float32" || rep.Agreement != 0 || rep.Compared != 6 || rep.Failed != 5 {
		t.Errorf("float32 report: %+v", rep)
	}
	for _, r := range rep.Rows {
		if r.Stages != 0 || r.Bound != 0 || r.Equal != nil {
			t.Errorf("float32 row %s carries bfloat16 fields: %+v", r.Name, r)
		}
	}
}

// A shape mismatch is an infinite error, which JSON cannot hold: the row
// encodes it as null (and still fails).
func TestRowJSONOfShapeMismatch(t *testing.T) {
	got := weights.FromFloat32("x", []int{2}, []float32{1, 2})
	want := weights.FromFloat32("x", []int{3}, []float32{1, 2, 3})
	rep := Compare(map[string]*weights.Tensor{"x": got}, nil, weights.NewMemSet("golden", want), 1e-4, 1e-4)
	if rep.OK || rep.Failed != 1 {
		t.Fatalf("shape mismatch passed: %+v", rep)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("report with a shape mismatch does not encode: %v", err)
	}
	var back struct {
		Tensors []map[string]any `json:"tensors"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	r := back.Tensors[0]
	if v, ok := r["max_abs_err"]; !ok || v != nil || r["worst_ratio"] != nil || r["ok"] != false || r["name"] != "x" {
		t.Errorf("row encoded as %v", r)
	}
}

// Non-finite golden values in bfloat16 mode: matched exactly they pass (as
// in float32 mode) and the report still encodes as JSON; unmatched they fail.
func TestVerifyBF16NonFiniteGolden(t *testing.T) {
	inf, nan := float32(math.Inf(-1)), float32(math.NaN())
	want := []float32{1, inf, 2, nan}
	golden := weights.NewMemSet("golden", weights.FromFloat32("same", []int{4}, want), weights.FromFloat32("other", []int{4}, want))
	res := &Result{
		Outputs: map[string]*weights.Tensor{
			"same":  weights.FromFloat32("same", []int{4}, []float32{1, inf, 2, nan}),
			"other": weights.FromFloat32("other", []int{4}, []float32{1, float32(math.Inf(1)), 2, nan}),
		},
		BF16: map[string]BF16{"same": {Stages: 3}, "other": {Stages: 3}},
	}
	rep := CompareResult(res, golden, Check{DType: precision.BF16, Atol: 1e-4, Rtol: 1e-4})
	ok := map[string]bool{}
	for _, r := range rep.Rows {
		ok[r.Name] = r.OK
	}
	if !ok["same"] || ok["other"] {
		t.Errorf("rows ok: %v; want same passing, other failing", ok)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not encode: %v", err)
	}
}
