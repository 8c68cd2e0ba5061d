package reports

import (
	"math"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

func res(task string, m map[string]float64, hib map[string]bool) *bench.Result {
	return &bench.Result{Schema: 1, Task: task, Metrics: m, HigherIsBetter: hib}
}

func TestCheckDirectionsAndTolerances(t *testing.T) {
	base := []*bench.Result{
		res("pope", map[string]float64{"f1": 85.0, "yes_ratio": 50}, map[string]bool{"f1": true, "yes_ratio": true}),
		res("recon", map[string]float64{"rfid": 1.0, "psnr": 25}, map[string]bool{"rfid": false, "psnr": true}),
	}
	same := []*bench.Result{base[0], base[1]}
	rep, err := Check(base, same, nil)
	if err != nil || rep.Regressions != 0 || len(rep.Rows) != 4 {
		t.Fatalf("identical: %+v %v", rep, err)
	}
	// Injected regressions: F1 down 0.5, rFID up 0.2 (lower is better).
	cand := []*bench.Result{
		res("pope", map[string]float64{"f1": 84.5, "yes_ratio": 50}, nil),
		res("recon", map[string]float64{"rfid": 1.2, "psnr": 26}, nil),
	}
	rep, _ = Check(base, cand, nil)
	if rep.Regressions != 2 {
		t.Errorf("want 2 regressions, got %+v", rep.Rows)
	}
	tol, err := ParseTolerances([]string{"pope/f1=0.5", "*/rfid=0.25"})
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = Check(base, cand, tol)
	if rep.Regressions != 0 {
		t.Errorf("within tolerance: %+v", rep.Rows)
	}
	tol["pope/f1"] = 0.4999
	if rep, _ = Check(base, cand, tol); rep.Regressions != 1 {
		t.Errorf("just outside tolerance: %+v", rep.Rows)
	}
	// Improvement is never a regression; NaN and missing metrics are.
	cand[1].Metrics["rfid"] = 0.1
	cand[0].Metrics["f1"] = math.NaN()
	delete(cand[0].Metrics, "yes_ratio")
	rep, _ = Check(base, cand, nil)
	if rep.Regressions != 2 {
		t.Errorf("NaN+missing: %+v", rep.Rows)
	}
}

func TestCheckMissingTaskAndBadTolerance(t *testing.T) {
	base := []*bench.Result{res("a", map[string]float64{"x": 1}, map[string]bool{"x": true}), res("b", map[string]float64{"x": 1}, map[string]bool{"x": true})}
	rep, _ := Check(base, base[:1], nil)
	if len(rep.MissingTasks) != 1 || rep.MissingTasks[0] != "b" {
		t.Errorf("missing: %+v", rep)
	}
	for _, s := range []string{"a/x", "a/x=-1", "a/x=abc", "=1"} {
		if _, err := ParseTolerances([]string{s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := Check(append(base, base[0]), base, nil); err == nil {
		t.Errorf("ambiguous baseline accepted")
	}
}
