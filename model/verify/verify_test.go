package verify

import (
	"math"
	"testing"

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
