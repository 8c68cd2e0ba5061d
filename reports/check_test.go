package reports

import (
	"encoding/json"
	"math"
	"strings"
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
		{"same items, other annotations", withData(run(10, "aa", 0), "x.json", "11"), withData(run(10, "aa", 0), "x.json", "22"), "pope: data files differ: x.json"},
		{"same items, same annotations", withData(run(10, "aa", 0), "x.json", "11"), withData(run(10, "aa", 0), "x.json", "11"), ""},
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

func modelRes(model, task string, m map[string]float64) *bench.Result {
	return mkResult(model, task, m)
}

func rowOf(rep *CheckReport, task, model, metric string) *CheckRow {
	for i, r := range rep.Rows {
		if r.Task == task && r.Model == model && r.Metric == metric {
			return &rep.Rows[i]
		}
	}
	return nil
}

// A demo or multi-model run holds OUT/<task>/<model>/results.json: with
// several models for a task, results pair by (task, model), and a pair the
// candidate lacks is missing as "task (model)".
func TestCheckPairsByModelWhenSeveral(t *testing.T) {
	base := []*bench.Result{
		modelRes("tiny-dualtoken", "flickr8k", map[string]float64{"t2i_r1": 20}),
		modelRes("tiny-siglip", "flickr8k", map[string]float64{"t2i_r1": 30}),
		modelRes("tiny-dualtoken", "recon", map[string]float64{"psnr": 25}),
	}
	cand := []*bench.Result{
		modelRes("tiny-siglip", "flickr8k", map[string]float64{"t2i_r1": 29}), // regressed
		modelRes("tiny-dualtoken", "flickr8k", map[string]float64{"t2i_r1": 21}),
		modelRes("tiny-dualtoken", "recon", map[string]float64{"psnr": 25}),
		modelRes("tiny-other", "recon", map[string]float64{"psnr": 1}),
	}
	rep, err := Check(base, cand, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Regressions != 1 || len(rep.Rows) != 3 {
		t.Fatalf("want 3 rows, 1 regression: %+v", rep.Rows)
	}
	if r := rowOf(rep, "flickr8k", "tiny-siglip", "t2i_r1"); r == nil || !r.Regressed || r.Candidate != 29 || r.CandidateModel != "" {
		t.Errorf("siglip row %+v", r)
	}
	if r := rowOf(rep, "flickr8k", "tiny-dualtoken", "t2i_r1"); r == nil || r.Regressed || r.Candidate != 21 {
		t.Errorf("dualtoken row %+v", r)
	}
	// recon: the candidate has two models, so it pairs by model too.
	if r := rowOf(rep, "recon", "tiny-dualtoken", "psnr"); r == nil || r.Candidate != 25 {
		t.Errorf("recon row %+v", r)
	}
	if len(rep.MissingTasks) != 0 || len(rep.ExtraTasks) != 1 || rep.ExtraTasks[0] != "recon (tiny-other)" {
		t.Errorf("missing %v, extra %v", rep.MissingTasks, rep.ExtraTasks)
	}
	rep, err = Check(base, cand[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MissingTasks) != 1 || rep.MissingTasks[0] != "flickr8k (tiny-siglip)" {
		t.Errorf("missing %v", rep.MissingTasks)
	}
	// Two results of one model on one task are still ambiguous.
	if _, err := Check(append(base, modelRes("tiny-siglip", "flickr8k", nil)), cand, nil); err == nil || !strings.Contains(err.Error(), `model "tiny-siglip"`) {
		t.Errorf("ambiguous baseline: %v", err)
	}
}

// One result per task on each side pairs by task whatever the model names
// (checkpoint v1 against v2); the row names both.
func TestCheckPairsByTaskWhenOne(t *testing.T) {
	base := []*bench.Result{modelRes("ckpt-v1", "pope", map[string]float64{"f1": 85})}
	cand := []*bench.Result{modelRes("ckpt-v2", "pope", map[string]float64{"f1": 84})}
	rep, err := Check(base, cand, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Regressions != 1 || len(rep.MissingTasks) != 0 {
		t.Fatalf("%+v", rep)
	}
	r := rep.Rows[0]
	if r.Model != "ckpt-v1" || r.CandidateModel != "ckpt-v2" {
		t.Errorf("row models %q, %q", r.Model, r.CandidateModel)
	}
	js, _ := json.Marshal(r)
	if !strings.Contains(string(js), `"task":"pope","model":"ckpt-v1","candidate_model":"ckpt-v2","metric":"f1"`) {
		t.Errorf("row JSON %s", js)
	}
	// Same name: no candidate_model key.
	rep, _ = Check(base, base, nil)
	if js, _ := json.Marshal(rep.Rows[0]); strings.Contains(string(js), "candidate_model") || !strings.Contains(string(js), `"model":"ckpt-v1"`) {
		t.Errorf("row JSON %s", js)
	}
}

func TestSelectModels(t *testing.T) {
	base := []*bench.Result{modelRes("a", "pope", nil), modelRes("b", "pope", nil)}
	cand := []*bench.Result{modelRes("a", "pope", nil), modelRes("c", "pope", nil)}
	sides, err := SelectModels([]string{"a"}, base, cand)
	if err != nil || len(sides[0]) != 1 || len(sides[1]) != 1 || sides[0][0].Model.Name != "a" || sides[1][0].Model.Name != "a" {
		t.Errorf("--model a: %v %v", sides, err)
	}
	// A name on one side only is kept (the other side then lacks it).
	if sides, err := SelectModels([]string{"c"}, base, cand); err != nil || len(sides[0]) != 0 || len(sides[1]) != 1 {
		t.Errorf("--model c: %v %v", sides, err)
	}
	_, err = SelectModels([]string{"a", "nosuch"}, base, cand)
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), "a, b, c") {
		t.Errorf("--model nosuch: %v", err)
	}
}

// A tolerance key that applies to no baseline metric is an error naming it;
// each accepted form applies.
func TestCheckToleranceMustMatch(t *testing.T) {
	base := []*bench.Result{res("vqav2", map[string]float64{"accuracy": 70}, map[string]bool{"accuracy": true})}
	cand := []*bench.Result{res("vqav2", map[string]float64{"accuracy": 66}, nil)}
	for _, key := range []string{"vqav2/accuracy", "vqav2/*", "*/accuracy", "accuracy"} {
		tol, err := ParseTolerances([]string{key + "=5"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Check(base, cand, tol)
		if err != nil || rep.Regressions != 0 || rep.Rows[0].Tolerance != 5 {
			t.Errorf("%s: %v %+v", key, err, rep)
		}
	}
	for key, want := range map[string]string{
		"vqav2/acuracy": `"vqav2/acuracy" matches no metric of the baseline's task vqav2 (it has accuracy)`,
		"vqa/accuracy":  `"vqa/accuracy" matches no task/metric of the baseline (tasks: vqav2)`,
		"vqa/*":         `"vqa/*" matches no task/metric`,
		"*/acc":         `"*/acc" matches no metric of the baseline (it has accuracy)`,
		"acc":           `"acc" matches no metric`,
	} {
		tol, err := ParseTolerances([]string{"vqav2/accuracy=1", key + "=5"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(base, cand, tol); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", key, err, want)
		}
	}
	for _, s := range []string{"*/*=1", "/x=1", "x/=1"} {
		if _, err := ParseTolerances([]string{s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// A candidate metric present but NaN regresses with a note, and is told
// apart from a missing one.
func TestCheckNaNCandidateIsNotMissing(t *testing.T) {
	base := []*bench.Result{res("recon", map[string]float64{"psnr": 25, "ssim": 0.7}, map[string]bool{"psnr": true, "ssim": true})}
	cand := []*bench.Result{res("recon", map[string]float64{"psnr": math.NaN()}, nil)}
	rep, err := Check(base, cand, nil)
	if err != nil {
		t.Fatal(err)
	}
	nan, gone := rowOf(rep, "recon", "", "psnr"), rowOf(rep, "recon", "", "ssim")
	if nan == nil || nan.Missing || !nan.Regressed || nan.Note != "NaN in candidate" || !math.IsNaN(nan.Candidate) {
		t.Errorf("NaN row %+v", nan)
	}
	if gone == nil || !gone.Missing || !gone.Regressed || gone.Note != "missing in candidate" {
		t.Errorf("missing row %+v", gone)
	}
}

func withData(r *bench.Result, file, digest string) *bench.Result {
	r.DataFiles = map[string]string{file: digest}
	return r
}
