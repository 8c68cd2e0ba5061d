package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// FuzzCheckAndReport feeds `check` and `report` two results.json files of
// arbitrary bytes: whatever bench.ReadResult accepts must compare and render
// in every format without a panic, a hang or an encoding failure; a result
// compared with itself never regresses; the regression count is the rows'.
// With plot set the PNG/SVG plots are drawn too (slow: the fuzzer picks it
// for some inputs only).
//
//	go test -run '^$' -fuzz '^FuzzCheckAndReport$' -fuzztime 60s -fuzzminimizetime 200x -parallel 1 ./reports
func FuzzCheckAndReport(f *testing.F) {
	base := `{"schema":1,"task":"recon","task_version":1,"metrics":{"psnr":25.3,"rfid_clean":1.5,"ssim":0.6},` +
		`"higher_is_better":{"psnr":true,"rfid_clean":false,"ssim":true},"model":{"name":"run-step-100"}}`
	cand := `{"schema":1,"task":"recon","task_version":2,"metrics":{"psnr":"Infinity","rfid_clean":"NaN"},` +
		`"higher_is_better":{"psnr":true,"rfid_clean":false},"model":{"name":"run-step-200"}}`
	f.Add([]byte(base), []byte(cand), false)
	f.Add([]byte(base), []byte(strings.ReplaceAll(cand, "recon", "imagenet-zeroshot")), false)
	f.Add([]byte(strings.ReplaceAll(base, "25.3", "1.7e308")), []byte(cand), true)
	f.Add([]byte(`{"schema":1,"task":"pope","metrics":{"f1":-1e300},"higher_is_better":{"f1":true},"model":{"name":"a-99999999999999999"}}`),
		[]byte(`{"schema":1,"task":"pope","metrics":{"f1":1e300},"higher_is_better":{"f1":true},"model":{"name":"a-99999999999999998"}}`), true)
	dir := f.TempDir()
	out := filepath.Join(dir, "out")
	f.Fuzz(func(t *testing.T, a, b []byte, plot bool) {
		var rs []*bench.Result
		for i, data := range [][]byte{a, b} {
			p := filepath.Join(dir, []string{"a.json", "b.json"}[i])
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := bench.ReadResult(p)
			if err != nil {
				return
			}
			rs = append(rs, r)
		}
		self, err := Check(rs[:1], rs[:1], CheckOptions{})
		if err != nil || self.Regressions != 0 {
			t.Fatalf("a result against itself: %d regressions, %v", self.Regressions, err)
		}
		rep, err := Check(rs[:1], rs[1:], CheckOptions{Tolerances: Tolerances{"*/psnr": 0.5}})
		if _, has := rs[0].Metrics["psnr"]; err != nil && !has && strings.Contains(err.Error(), `"*/psnr"`) {
			rep, err = Check(rs[:1], rs[1:], CheckOptions{}) // a tolerance that applies to nothing is refused
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, row := range rep.Rows {
			if row.Regressed {
				n++
			}
		}
		if n != rep.Regressions {
			t.Fatalf("%d rows regressed, report says %d", n, rep.Regressions)
		}
		if js, err := json.Marshal(rep); err != nil || !json.Valid(js) {
			t.Fatalf("check JSON: %v", err)
		}
		opts := Options{Matches: map[string]string{rs[0].Model.Name: "DualToken (SigLIP-So/14-384)"}}
		if plot {
			os.RemoveAll(out)
			opts.OutDir = out
		}
		r, err := Make(rs, opts)
		if err != nil {
			if rs[0].Model.Name == rs[1].Model.Name && rs[0].Task == rs[1].Task && strings.Contains(err.Error(), "has two results") {
				return
			}
			if plot && strings.Contains(err.Error(), out) {
				return // a file the plot could not write (a name too long for the file system)
			}
			t.Fatalf("report: %v", err)
		}
		for _, format := range []string{"text", "markdown", "csv", "json", "html"} {
			var buf bytes.Buffer
			if err := r.Write(&buf, format); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if format == "json" && !json.Valid(buf.Bytes()) {
				t.Fatalf("invalid JSON report")
			}
		}
	})
}
