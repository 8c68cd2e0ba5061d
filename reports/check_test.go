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

// Runs on different items are told apart by the IDs' digest where both
// results carry one, and by the item count for results written before it.
func TestCheckDifferentItems(t *testing.T) {
	run := func(n int, digest string, limit int) *bench.Result {
		r := res("pope", map[string]float64{"f1": 85}, map[string]bool{"f1": true})
		r.NSamples = bench.NSamples{Total: n, Scored: n, IDsSHA256: digest}
		r.Run.Limit = limit
		return r
	}
	for _, c := range []struct {
		name       string
		base, cand *bench.Result
		want       string // "" = comparable
	}{
		{"same digest", run(10, "aa", 0), run(10, "aa", 0), ""},
		{"same count, other items", run(10, "aa", 0), run(10, "bb", 10), "pope: baseline 10 items (all), candidate 10 items (limit 10)"},
		{"old results, same count", run(10, "", 0), run(10, "bb", 0), ""},
		{"old results, other count", run(10, "", 0), run(4, "", 4), "pope: baseline 10 items (all), candidate 4 items (limit 4)"},
	} {
		rep, err := Check([]*bench.Result{c.base}, []*bench.Result{c.cand}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if len(rep.DifferentItems) > 0 {
			got = rep.DifferentItems[0]
		}
		if got != c.want || (c.want != "") != (rep.Rows[0].Note == "different items") {
			t.Errorf("%s: different_items %q, note %q; want %q", c.name, got, rep.Rows[0].Note, c.want)
		}
	}
}

// An informational metric (POPE's yes-ratio) is reported with a note but
// never regresses; the other metrics of the task still do.
func TestCheckInformational(t *testing.T) {
	base := res("pope", map[string]float64{"f1": 85, "yes_ratio": 50}, map[string]bool{"f1": true, "yes_ratio": true})
	base.Informational = []string{"yes_ratio"}
	cand := res("pope", map[string]float64{"f1": 84, "yes_ratio": 40}, nil)
	rep, err := Check([]*bench.Result{base}, []*bench.Result{cand}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Regressions != 1 {
		t.Errorf("want only f1 regressed, got %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Metric == "yes_ratio" && (r.Regressed || r.Note != "informational, not judged") {
			t.Errorf("yes_ratio row %+v", r)
		}
	}
}
