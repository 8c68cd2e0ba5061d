package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dualtoken/evalharness/bench"
)

// Metrics a results file may hold (ReadResult accepts any float64, and
// NaN/Inf as strings) must not hang or crash the plots, nor lose the JSON
// report. 1.7e308 made a bar chart's axis overflow to Inf and the
// rasteriser loop for minutes; 1e300, or checkpoint steps beyond 2^53, made
// gonum's ticker panic ("illegal range").
func TestReportExtremeValues(t *testing.T) {
	for _, v := range []float64{1.7e308, -1.7e308, 1e300, math.NaN(), math.Inf(1)} {
		rs := sample()
		for _, r := range rs {
			for k := range r.Metrics {
				r.Metrics[k] = v
			}
		}
		// Checkpoints float64 cannot tell apart.
		rs = append(rs, mkResult("big-9000000000000000000", "recon", map[string]float64{"psnr": 1}),
			mkResult("big-9000000000000000001", "recon", map[string]float64{"psnr": 2}))
		done := make(chan error, 1)
		dir := t.TempDir()
		var rep *Report
		go func() {
			var err error
			rep, err = Make(rs, Options{OutDir: dir})
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: %v", v, err)
				continue
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%v: Make still running after 30 s", v)
		}
		var buf bytes.Buffer
		if err := rep.Write(&buf, "json"); err != nil || !json.Valid(buf.Bytes()) {
			t.Errorf("%v: json report: %v", v, err)
		}
		if math.IsNaN(v) && !strings.Contains(buf.String(), `"value": "NaN"`) {
			t.Errorf("NaN cell not written as \"NaN\"")
		}
		if b, err := os.ReadFile(filepath.Join(dir, "report.json")); err != nil || !json.Valid(b) {
			t.Errorf("%v: report.json: %v", v, err)
		}
	}
}

func mkResult(model, task string, m map[string]float64) *bench.Result {
	h := map[string]bool{}
	for k := range m {
		h[k] = true
	}
	r := &bench.Result{Schema: 1, Task: task, TaskVersion: 1, Metrics: m, HigherIsBetter: h, NSamples: bench.NSamples{Total: 1, Scored: 1}}
	r.Model.Name = model
	return r
}

// Two results of one model on one task: which number a cell shows would
// depend on the order the folders were read.
func TestReportRefusesTwoResultsOfOneRun(t *testing.T) {
	a := mkResult("m", "recon", map[string]float64{"psnr": 20})
	b := mkResult("m", "recon", map[string]float64{"psnr": 30})
	a.Run.DType, b.Run.DType = "float32", "bfloat16"
	_, err := Make([]*bench.Result{a, mkResult("m", "pope", map[string]float64{"f1": 1}), b}, Options{})
	if err == nil || !strings.Contains(err.Error(), `model "m" has two results for task "recon" (dtype "float32" and "bfloat16"`) {
		t.Errorf("got %v", err)
	}
}

// check --json: null means only "missing in candidate"; a present NaN
// (candidate or delta) and other non-finite numbers are strings, so the
// encoder never fails and a reader can tell "not measured" from "undefined".
func TestCheckJSONNonFinite(t *testing.T) {
	base := []*bench.Result{res("recon", map[string]float64{"psnr": math.Inf(1), "ent": math.NaN(), "gone": 1, "fid": 2, "lpips": 0.1}, map[string]bool{"psnr": true, "ent": true, "gone": true})}
	cand := []*bench.Result{res("recon", map[string]float64{"psnr": 30, "ent": 1, "fid": math.Inf(1), "lpips": math.NaN()}, nil)}
	rep, err := Check(base, cand, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"metric":"ent","baseline":"NaN","candidate":1,"delta":"NaN"`,
		`"metric":"fid","baseline":2,"candidate":"Infinity","delta":"Infinity"`,
		`"metric":"gone","baseline":1,"candidate":null,"delta":null,"higher_is_better":true,"tolerance":0,"regressed":true,"note":"missing in candidate"`,
		`"metric":"lpips","baseline":0.1,"candidate":"NaN","delta":"NaN","higher_is_better":false,"tolerance":0,"regressed":true,"note":"NaN in candidate"`,
		`"metric":"psnr","baseline":"Infinity","candidate":30,"delta":"-Infinity"`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("check JSON lacks %s:\n%s", want, b)
		}
	}
	if n := bytes.Count(b, []byte("null")); n != 2 {
		t.Errorf("want null only for the missing metric's candidate and delta, found %d:\n%s", n, b)
	}
}

// The report's duplicate error names both files where paths are given.
func TestReportDuplicateNamesFiles(t *testing.T) {
	a := mkResult("m", "recon", map[string]float64{"psnr": 20})
	b := mkResult("m", "recon", map[string]float64{"psnr": 30})
	_, err := Make([]*bench.Result{a, mkResult("m", "pope", map[string]float64{"f1": 1}), b}, Options{Paths: []string{"x/recon/m/results.json", "x/pope/m/results.json", "y/recon/m/results.json"}})
	if want := `model "m" has two results for task "recon": x/recon/m/results.json and y/recon/m/results.json; report one`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

// With no paper table at least half filled, JSON says "tables": [] (not
// null) and still has all_results.
func TestReportJSONNoTables(t *testing.T) {
	rep, err := Make([]*bench.Result{mkResult("m", "no-such-paper-task", map[string]float64{"x": 1})}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Report{rep, {All: rep.All}} { // from Make, and a zero Report
		var buf bytes.Buffer
		if err := r.Write(&buf, "json"); err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if string(doc["tables"]) != "[]" || doc["all_results"] == nil {
			t.Errorf("tables %s, all_results %.40s", doc["tables"], doc["all_results"])
		}
	}
}
