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
	rep, err := Check(base, same, CheckOptions{})
	if err != nil || rep.Regressions != 0 || len(rep.Rows) != 4 {
		t.Fatalf("identical: %+v %v", rep, err)
	}
	// Injected regressions: F1 down 0.5, rFID up 0.2 (lower is better).
	cand := []*bench.Result{
		res("pope", map[string]float64{"f1": 84.5, "yes_ratio": 50}, nil),
		res("recon", map[string]float64{"rfid": 1.2, "psnr": 26}, nil),
	}
	rep, _ = Check(base, cand, CheckOptions{})
	if rep.Regressions != 2 {
		t.Errorf("want 2 regressions, got %+v", rep.Rows)
	}
	tol, err := ParseTolerances([]string{"pope/f1=0.5", "*/rfid=0.25"})
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = Check(base, cand, CheckOptions{Tolerances: tol})
	if rep.Regressions != 0 {
		t.Errorf("within tolerance: %+v", rep.Rows)
	}
	tol["pope/f1"] = 0.4999
	if rep, _ = Check(base, cand, CheckOptions{Tolerances: tol}); rep.Regressions != 1 {
		t.Errorf("just outside tolerance: %+v", rep.Rows)
	}
	// Improvement is never a regression; NaN and missing metrics are.
	cand[1].Metrics["rfid"] = 0.1
	cand[0].Metrics["f1"] = math.NaN()
	delete(cand[0].Metrics, "yes_ratio")
	rep, _ = Check(base, cand, CheckOptions{})
	if rep.Regressions != 2 {
		t.Errorf("NaN+missing: %+v", rep.Rows)
	}
}

func TestCheckMissingTaskAndBadTolerance(t *testing.T) {
	base := []*bench.Result{res("a", map[string]float64{"x": 1}, map[string]bool{"x": true}), res("b", map[string]float64{"x": 1}, map[string]bool{"x": true})}
	rep, _ := Check(base, base[:1], CheckOptions{})
	if len(rep.MissingTasks) != 1 || rep.MissingTasks[0] != "b" {
		t.Errorf("missing: %+v", rep)
	}
	for _, s := range []string{"a/x", "a/x=-1", "a/x=abc", "=1"} {
		if _, err := ParseTolerances([]string{s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := Check(append(base, base[0]), base, CheckOptions{}); err == nil {
		t.Errorf("ambiguous baseline accepted")
	}
}

// Runs on different items are told apart by the IDs' digest where both
// results carry one, and by the item count for results written before it.
// Without AllowDifferentItems such a task's rows are not judged; with it
// they are, noted.
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
		{"same count, other items", run(10, "aa", 0), run(10, "bb", 10), "pope: baseline 10 items (all), candidate 10 items (limit 10): same count, other item IDs"},
		{"same count and selection, other items", run(120, "aa", 0), run(120, "bb", 0), "pope: baseline 120 items (all), candidate 120 items (all): same count, other item IDs"},
		{"other count and digest", run(10, "aa", 0), run(4, "bb", 4), "pope: baseline 10 items (all), candidate 4 items (limit 4)"},
		{"old results, same count", run(10, "", 0), run(10, "bb", 0), ""},
		{"old results, other count", run(10, "", 0), run(4, "", 4), "pope: baseline 10 items (all), candidate 4 items (limit 4)"},
		{"same items, other annotations", withData(run(10, "aa", 0), "x.json", "11"), withData(run(10, "aa", 0), "x.json", "22"), "pope: data files differ: x.json"},
		{"same items, same annotations", withData(run(10, "aa", 0), "x.json", "11"), withData(run(10, "aa", 0), "x.json", "11"), ""},
	} {
		for _, allow := range []bool{false, true} {
			rep, err := Check([]*bench.Result{c.base}, []*bench.Result{c.cand}, CheckOptions{AllowDifferentItems: allow})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(rep.DifferentItems) > 0 {
				got = rep.DifferentItems[0]
			}
			wantNote := ""
			if c.want != "" && allow {
				wantNote = "different items"
			} else if c.want != "" {
				wantNote = "different items: not compared"
			}
			if got != c.want || rep.Rows[0].Note != wantNote {
				t.Errorf("%s (allow %v): different_items %q, note %q; want %q, %q", c.name, allow, got, rep.Rows[0].Note, c.want, wantNote)
			}
		}
	}
}

// A task whose runs covered different items is not judged unless allowed:
// its rows, however much worse, neither regress nor count, while a task
// on the same items still does.
func TestCheckDifferentItemsNotJudged(t *testing.T) {
	pope := func(n int, digest string, f1, yes float64) *bench.Result {
		r := res("pope", map[string]float64{"f1": f1, "acc": f1, "yes_ratio": yes}, map[string]bool{"f1": true, "acc": true, "yes_ratio": true})
		r.Informational = []string{"yes_ratio"}
		r.NSamples = bench.NSamples{Total: n, Scored: n, IDsSHA256: digest}
		return r
	}
	recon := func(psnr float64) *bench.Result {
		return res("recon", map[string]float64{"psnr": psnr}, map[string]bool{"psnr": true})
	}
	base := []*bench.Result{pope(120, "aa", 85, 50), recon(25)}
	worse := pope(120, "bb", 60, 40)
	delete(worse.Metrics, "acc")
	cand := []*bench.Result{worse, recon(24)}

	rep, err := Check(base, cand, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Regressions != 1 || len(rep.DifferentItems) != 1 {
		t.Errorf("want only recon/psnr counted and pope listed: %d regressions, different %v, rows %+v", rep.Regressions, rep.DifferentItems, rep.Rows)
	}
	for metric, note := range map[string]string{
		"f1":        "different items: not compared",
		"acc":       "missing in candidate; different items: not compared",
		"yes_ratio": "informational, not judged; different items: not compared",
	} {
		r := rowOf(rep, "pope", "", metric)
		if r == nil || r.Regressed || !r.NotCompared || r.Note != note {
			t.Errorf("pope/%s row %+v, want not regressed, note %q", metric, r, note)
		}
	}
	if r := rowOf(rep, "recon", "", "psnr"); r == nil || !r.Regressed || r.NotCompared || r.Note != "" {
		t.Errorf("recon/psnr row %+v", r)
	}

	rep, err = Check(base, cand, CheckOptions{AllowDifferentItems: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Regressions != 3 || len(rep.DifferentItems) != 1 {
		t.Errorf("allowed: want f1, acc and psnr regressed: %d, rows %+v", rep.Regressions, rep.Rows)
	}
	if r := rowOf(rep, "pope", "", "f1"); r == nil || !r.Regressed || r.NotCompared || r.Note != "different items" {
		t.Errorf("allowed pope/f1 row %+v", r)
	}
}

// An informational metric (POPE's yes-ratio) is reported with a note but
// never regresses; the other metrics of the task still do.
func TestCheckInformational(t *testing.T) {
	base := res("pope", map[string]float64{"f1": 85, "yes_ratio": 50}, map[string]bool{"f1": true, "yes_ratio": true})
	base.Informational = []string{"yes_ratio"}
	cand := res("pope", map[string]float64{"f1": 84, "yes_ratio": 40}, nil)
	rep, err := Check([]*bench.Result{base}, []*bench.Result{cand}, CheckOptions{})
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
	rep, err := Check(base, cand, CheckOptions{})
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
	rep, err = Check(base, cand[1:], CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MissingTasks) != 1 || rep.MissingTasks[0] != "flickr8k (tiny-siglip)" {
		t.Errorf("missing %v", rep.MissingTasks)
	}
	// Two results of one model on one task are still ambiguous.
	if _, err := Check(append(base, modelRes("tiny-siglip", "flickr8k", nil)), cand, CheckOptions{}); err == nil || !strings.Contains(err.Error(), `model "tiny-siglip"`) {
		t.Errorf("ambiguous baseline: %v", err)
	}
}

// One result per task on each side pairs by task whatever the model names
// (checkpoint v1 against v2); the row names both.
func TestCheckPairsByTaskWhenOne(t *testing.T) {
	base := []*bench.Result{modelRes("ckpt-v1", "pope", map[string]float64{"f1": 85})}
	cand := []*bench.Result{modelRes("ckpt-v2", "pope", map[string]float64{"f1": 84})}
	rep, err := Check(base, cand, CheckOptions{})
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
	rep, _ = Check(base, base, CheckOptions{})
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
		rep, err := Check(base, cand, CheckOptions{Tolerances: tol})
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
		if _, err := Check(base, cand, CheckOptions{Tolerances: tol}); err == nil || !strings.Contains(err.Error(), want) {
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
	rep, err := Check(base, cand, CheckOptions{})
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

// --model narrows the comparison but not the tolerance check: a shared CI
// tolerance list naming a task of a model left out still applies, while a
// key that fits no baseline metric at all is still refused.
func TestCheckToleranceBeforeModelFilter(t *testing.T) {
	base := []*bench.Result{
		modelRes("tiny-dualtoken", "recon", map[string]float64{"psnr": 25}),
		modelRes("tiny-llava", "pope", map[string]float64{"f1": 85}),
	}
	cand := []*bench.Result{
		modelRes("tiny-dualtoken", "recon", map[string]float64{"psnr": 24.95}),
		modelRes("tiny-llava", "pope", map[string]float64{"f1": 80}),
	}
	tol := Tolerances{"pope/f1": 1, "recon/psnr": 0.1}
	rep, err := Check(base, cand, CheckOptions{Tolerances: tol, Models: []string{"tiny-dualtoken"}})
	if err != nil {
		t.Fatalf("tolerance for a filtered-out model's task: %v", err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Task != "recon" || rep.Regressions != 0 || rep.Rows[0].Tolerance != 0.1 {
		t.Errorf("--model tiny-dualtoken: %+v", rep)
	}
	tol["pope/f2"] = 1
	if _, err := Check(base, cand, CheckOptions{Tolerances: tol, Models: []string{"tiny-dualtoken"}}); err == nil || !strings.Contains(err.Error(), `"pope/f2"`) {
		t.Errorf("typo under --model: %v", err)
	}
	if _, err := Check(base, cand, CheckOptions{Models: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("--model nosuch: %v", err)
	}
	only := append(cand, modelRes("cand-only", "pope", map[string]float64{"f1": 1}))
	if _, err := Check(base, only, CheckOptions{Models: []string{"cand-only"}}); err == nil || !strings.Contains(err.Error(), "baseline has no results of model(s) cand-only") {
		t.Errorf("--model of the candidate only: %v", err)
	}
}

// Two results of one model on one task name both files (paths follow
// their results through --model), and say a dtype or backend once where
// they agree.
func TestCheckDuplicateNamesFiles(t *testing.T) {
	a := modelRes("tiny-llava", "pope", map[string]float64{"f1": 85})
	b := modelRes("tiny-llava", "pope", map[string]float64{"f1": 84})
	other := modelRes("tiny-siglip", "pope", map[string]float64{"f1": 1})
	for _, r := range []*bench.Result{a, b} {
		r.Run.DType, r.Run.Backend = "float32", "go"
	}
	paths := []string{"out/siglip/results.json", "runA/pope/tiny-llava/results.json", "runB/pope/tiny-llava/results.json"}
	want := `candidate has two results for task "pope" of model "tiny-llava" (both dtype "float32", both backend "go"): runA/pope/tiny-llava/results.json and runB/pope/tiny-llava/results.json`
	for _, models := range [][]string{nil, {"tiny-llava"}} {
		_, err := Check([]*bench.Result{a}, []*bench.Result{other, a, b}, CheckOptions{Models: models, BaselinePaths: []string{"base/results.json"}, CandidatePaths: paths})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("models %v: got %v, want %q", models, err, want)
		}
	}
	b.Run.DType = "bfloat16"
	_, err := Check([]*bench.Result{a, b}, []*bench.Result{a}, CheckOptions{BaselinePaths: paths[1:]})
	if want := `baseline has two results for task "pope" of model "tiny-llava" (dtype "float32" and "bfloat16", both backend "go"): runA/pope/tiny-llava/results.json and runB/pope/tiny-llava/results.json; point it`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if _, err := Check([]*bench.Result{a}, []*bench.Result{a}, CheckOptions{BaselinePaths: paths}); err == nil {
		t.Errorf("three paths for one result accepted")
	}
}

// Every check JSON row has "note", "" when there is none.
func TestCheckJSONNoteAlwaysPresent(t *testing.T) {
	base := []*bench.Result{res("recon", map[string]float64{"psnr": 25}, map[string]bool{"psnr": true})}
	rep, err := Check(base, base, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(rep.Rows[0])
	if err != nil || !strings.Contains(string(js), `"regressed":false,"note":""}`) {
		t.Errorf("row JSON %s, %v", js, err)
	}
}

// The data root's path is no protocol difference; a scorer rule is.
func TestCheckProtocolIgnoresDataPath(t *testing.T) {
	mk := func(data, rule string) *bench.Result {
		r := res("pope", map[string]float64{"f1": 85}, map[string]bool{"f1": true})
		r.Protocol = map[string]any{"data": data, "rule": rule}
		return r
	}
	for _, c := range []struct {
		cand *bench.Result
		note string
	}{
		{mk("/elsewhere/pope", "official"), ""},
		{mk("/data/pope", "vlmevalkit"), "protocol or task version differs"},
	} {
		rep, err := Check([]*bench.Result{mk("/data/pope", "official")}, []*bench.Result{c.cand}, CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows[0].Note != c.note {
			t.Errorf("candidate %v: note %q, want %q", c.cand.Protocol, rep.Rows[0].Note, c.note)
		}
	}
}

// A change of float-rounding size (1e-7 of the value, as another build's
// summation order gives) is no regression, and says so; a change above
// RoundingTolerance is, with no --tolerance.
func TestCheckFloatRounding(t *testing.T) {
	mk := func(psnr, fid float64) []*bench.Result {
		return []*bench.Result{{Schema: bench.ResultsSchema, Task: "recon", TaskVersion: 2,
			Metrics:        map[string]float64{"psnr": psnr, "rfid": fid},
			HigherIsBetter: map[string]bool{"psnr": true, "rfid": false}}}
	}
	for _, c := range []struct {
		psnr, fid   float64
		regressions int
		note        string
	}{
		{18.5 - 2e-7, 1.5 + 1e-7, 0, "worse only by float rounding"},
		{18.5 - 1e-3, 1.5, 1, ""},
		{18.5, 1.5 + 1e-4, 1, ""},
		{18.5 + 1, 1.5 - 1, 0, ""},
	} {
		rep, err := Check(mk(18.5, 1.5), mk(c.psnr, c.fid), CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Regressions != c.regressions {
			t.Errorf("psnr %v rfid %v: %d regressions, want %d: %+v", c.psnr, c.fid, rep.Regressions, c.regressions, rep.Rows)
		}
		for _, r := range rep.Rows {
			if !r.Regressed && r.Note != c.note && c.note != "" {
				t.Errorf("%s: note %q, want %q", r.Metric, r.Note, c.note)
			}
		}
	}
}
