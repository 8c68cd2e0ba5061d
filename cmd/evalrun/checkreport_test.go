package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// writeResult writes OUT/<task>/<model>/results.json as run does.
func writeResult(t *testing.T, out, model, task string, protocol map[string]any, metrics map[string]float64) {
	t.Helper()
	r := &bench.Result{Schema: bench.ResultsSchema, Task: task, TaskVersion: 1, Protocol: protocol, Metrics: metrics, HigherIsBetter: map[string]bool{}}
	for m := range metrics {
		r.HigherIsBetter[m] = m != "rfid_clean"
	}
	r.Model.Name = model
	r.NSamples = bench.NSamples{Total: 4, Scored: 4}
	if err := r.Write(filepath.Join(out, task, model, "results.json")); err != nil {
		t.Fatal(err)
	}
}

// oneLine checks that a failing command said why in one line on stderr.
func oneLine(t *testing.T, what, stderr string, want ...string) {
	t.Helper()
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("%s: stderr is not one line: %q", what, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q lacks %q", what, stderr, w)
		}
	}
}

// check on the multi-model layout a demo writes (OUT/<task>/<model>/):
// results pair by (task, model), --model narrows both sides, and a model
// the candidate lacks is a missing "task (model)".
func TestCheckMultiModelResults(t *testing.T) {
	dir := t.TempDir()
	base, cand, partial := filepath.Join(dir, "base"), filepath.Join(dir, "cand"), filepath.Join(dir, "partial")
	for _, out := range []string{base, cand, partial} {
		writeResult(t, out, "tiny-dualtoken", "flickr8k", nil, map[string]float64{"t2i_r1": 20, "i2t_r1": 21})
		writeResult(t, out, "tiny-dualtoken", "recon", nil, map[string]float64{"psnr": 25})
	}
	writeResult(t, base, "tiny-siglip", "flickr8k", nil, map[string]float64{"t2i_r1": 30, "i2t_r1": 31})
	writeResult(t, cand, "tiny-siglip", "flickr8k", nil, map[string]float64{"t2i_r1": 28, "i2t_r1": 31})

	same := filepath.Join(dir, "same")
	if err := os.CopyFS(same, os.DirFS(base)); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", same); code != 0 {
		t.Errorf("multi-model baseline against a copy of itself: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand)
	if code != 1 {
		t.Errorf("siglip t2i down 2: exit %d, %q", code, stderr)
	}
	oneLine(t, "regression", stderr, "1 metric(s) regressed")
	lines := strings.Split(stdout, "\n")
	if !strings.HasPrefix(lines[0], "task") || !strings.Contains(lines[0], "model") {
		t.Errorf("text header %q", lines[0])
	}
	var regressedLine string
	for _, l := range lines {
		if strings.Contains(l, "REGRESSED") {
			regressedLine = l
		}
	}
	if f := strings.Fields(regressedLine); len(f) < 3 || f[0] != "flickr8k" || f[1] != "tiny-siglip" || f[2] != "t2i_r1" {
		t.Errorf("regressed line %q in\n%s", regressedLine, stdout)
	}

	// --model keeps one model on both sides.
	if code, _, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand, "--model", "tiny-dualtoken"); code != 0 {
		t.Errorf("--model tiny-dualtoken: exit %d, %q", code, stderr)
	}
	code, stdout, _ = runCaptured(t, "check", "--json", "--baseline", base, "--candidate", cand, "--model", "tiny-siglip", "--model", "tiny-dualtoken")
	var doc struct {
		Rows []struct {
			Task, Model, Metric string
			CandidateModel      *string `json:"candidate_model"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 1 || len(doc.Rows) != 5 {
		t.Fatalf("--json with two --model: exit %d, %v, %s", code, err, stdout)
	}
	for _, r := range doc.Rows {
		if r.Model == "" || r.CandidateModel != nil {
			t.Errorf("row %+v: want its model, no candidate_model", r)
		}
	}
	code, _, stderr = runCaptured(t, "check", "--baseline", base, "--candidate", cand, "--model", "nosuch")
	if code != 2 {
		t.Errorf("--model nosuch: exit %d", code)
	}
	oneLine(t, "--model nosuch", stderr, `"nosuch"`, "tiny-dualtoken, tiny-siglip")

	// The candidate lacks tiny-siglip's flickr8k.
	code, _, stderr = runCaptured(t, "check", "--baseline", base, "--candidate", partial)
	if code != 2 {
		t.Errorf("missing model: exit %d", code)
	}
	oneLine(t, "missing model", stderr, "flickr8k (tiny-siglip)", "--model NAME")
	// One result per task on each side pairs by task, whatever the names.
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	writeResult(t, v1, "ckpt-v1", "recon", nil, map[string]float64{"psnr": 25})
	writeResult(t, v2, "ckpt-v2", "recon", nil, map[string]float64{"psnr": 26})
	code, stdout, stderr = runCaptured(t, "check", "--baseline", v1, "--candidate", v2)
	if code != 0 || !strings.Contains(stdout, "ckpt-v1 -> ckpt-v2") {
		t.Errorf("v1 vs v2: exit %d, %q\n%s", code, stderr, stdout)
	}
}

// check --json: null means only "missing in candidate"; a present NaN is
// "NaN", its delta too.
func TestCheckJSONNaNAndMissing(t *testing.T) {
	dir := t.TempDir()
	base, cand := filepath.Join(dir, "base"), filepath.Join(dir, "cand")
	writeResult(t, base, "m", "recon", nil, map[string]float64{"psnr": 25, "ssim": 0.7, "rfid_clean": 1})
	writeResult(t, cand, "m", "recon", nil, map[string]float64{"psnr": math.NaN(), "rfid_clean": 1})
	code, stdout, stderr := runCaptured(t, "check", "--json", "--baseline", base, "--candidate", cand)
	if code != 1 {
		t.Errorf("exit %d, %q", code, stderr)
	}
	var doc struct {
		Rows []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range doc.Rows {
		var m string
		json.Unmarshal(r["metric"], &m)
		got[m] = string(r["model"]) + " " + string(r["candidate"]) + " " + string(r["delta"]) + " " + string(r["note"])
	}
	for m, want := range map[string]string{
		"psnr":       `"m" "NaN" "NaN" "NaN in candidate"`,
		"ssim":       `"m" null null "missing in candidate"`,
		"rfid_clean": `"m" 1 0 ""`, // "note" is always present

	} {
		if got[m] != want {
			t.Errorf("%s row: model candidate delta note = %s, want %s", m, got[m], want)
		}
	}
	// The text table shows "-" for the missing metric and NaN for the NaN one.
	_, stdout, _ = runCaptured(t, "check", "--baseline", base, "--candidate", cand)
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[2] == "ssim" && (f[4] != "-" || f[5] != "-") || len(f) > 5 && f[2] == "psnr" && (f[4] != "NaN" || f[5] != "NaN") {
			t.Errorf("text line %q", l)
		}
	}
}

// A tolerance key that matches nothing (a typo) is a usage error naming it.
func TestCheckToleranceTypo(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	writeResult(t, base, "m", "vqav2", nil, map[string]float64{"accuracy": 70})
	cand := filepath.Join(dir, "cand")
	writeResult(t, cand, "m", "vqav2", nil, map[string]float64{"accuracy": 70})
	code, _, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand, "--tolerance", "vqav2/acuracy=5")
	if code != 2 {
		t.Errorf("typo: exit %d", code)
	}
	oneLine(t, "tolerance typo", stderr, `"vqav2/acuracy"`, "accuracy")
	for _, key := range []string{"vqav2/accuracy", "vqav2/*", "*/accuracy", "accuracy"} {
		if code, _, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand, "--tolerance", key+"=5"); code != 0 {
			t.Errorf("%s: exit %d, %q", key, code, stderr)
		}
	}
}

// report: an unknown --match model or paper row is a usage error listing
// the known ones; two protocols of one task show under the table per model.
func TestReportMatchAndProtocols(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	recon := map[string]float64{"rfid_clean": 1.5, "psnr": 25, "ssim": 0.7}
	writeResult(t, out, "tiny-dualtoken", "recon", map[string]any{"jpeg": "q95"}, recon)
	writeResult(t, out, "tiny-other", "recon", map[string]any{"jpeg": "none"}, recon)
	writeResult(t, out, "tiny-dualtoken", "imagenet-zeroshot", nil, map[string]float64{"top1": 50})

	for _, c := range []struct {
		match string
		want  []string
	}{
		{"tiny-dualtoken=NoSuchPaperRow", []string{`"NoSuchPaperRow"`, `"DualToken (SigLIP-So/14-384)"`}},
		{"nomodel=DualToken (SigLIP-So/14-384)", []string{`"nomodel"`, `"tiny-dualtoken", "tiny-other"`}},
	} {
		code, _, stderr := runCaptured(t, "report", out, "--match", c.match)
		if code != 2 {
			t.Errorf("--match %q: exit %d", c.match, code)
		}
		oneLine(t, "--match "+c.match, stderr, c.want...)
	}
	code, stdout, stderr := runCaptured(t, "report", out, "--format", "markdown", "--match", "tiny-dualtoken=DualToken (SigLIP-So/14-384)")
	if code != 0 || stderr != "" {
		t.Fatalf("report: exit %d, %q", code, stderr)
	}
	table1 := stdout[:strings.Index(stdout, "### All measured results")]
	if !regexp.MustCompile(`\| tiny-dualtoken +\| delta +\| -32.00 `).MatchString(table1) {
		t.Errorf("table 1 lacks tiny-dualtoken's delta row:\n%s", table1)
	}
	for _, want := range []string{"recon (differs by model; tiny-dualtoken): v1, jpeg=q95", "recon (differs by model; tiny-other): v1, jpeg=none"} {
		if !strings.Contains(table1, want) {
			t.Errorf("table 1 lacks %q:\n%s", want, table1)
		}
	}
	// A valid match that gives no delta row is warned about.
	code, _, stderr = runCaptured(t, "report", out, "--match", "tiny-dualtoken=LLaVA-1.5 7B")
	if code != 0 || !strings.Contains(stderr, "no delta row") {
		t.Errorf("match into an absent table: exit %d, %q", code, stderr)
	}
}

// writeItems writes a result as writeResult does, run on n items whose IDs
// hash to digest.
func writeItems(t *testing.T, out, model, task string, n int, digest string, metrics map[string]float64) {
	t.Helper()
	writeResult(t, out, model, task, nil, metrics)
	path := filepath.Join(out, task, model, "results.json")
	r, err := bench.ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	r.NSamples = bench.NSamples{Total: n, Scored: n, IDsSHA256: digest}
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
}

// check refuses runs on different items (exit 2) without judging their
// rows: none is REGRESSED and "regressions" does not count them, while a
// task on the same items still is judged; --allow-different-items judges
// them. The same count on other item IDs says so.
func TestCheckDifferentItemsNotJudged(t *testing.T) {
	dir := t.TempDir()
	base, cand := filepath.Join(dir, "base"), filepath.Join(dir, "cand")
	writeItems(t, base, "tiny-llava", "pope", 120, "aaaa", map[string]float64{"f1": 85, "accuracy": 86})
	writeItems(t, cand, "tiny-llava", "pope", 120, "bbbb", map[string]float64{"f1": 60, "accuracy": 61})
	writeItems(t, base, "tiny-llava", "vqav2", 10, "cccc", map[string]float64{"accuracy": 70})
	writeItems(t, cand, "tiny-llava", "vqav2", 10, "cccc", map[string]float64{"accuracy": 70})

	code, stdout, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand)
	if code != 2 {
		t.Errorf("different items: exit %d, %q", code, stderr)
	}
	oneLine(t, "different items", stderr, "pope: baseline 120 items (all), candidate 120 items (all): same count, other item IDs", "--allow-different-items")
	if strings.Contains(stdout, "REGRESSED") || strings.Count(stdout, "(different items: not compared)") != 2 {
		t.Errorf("rows of a task on different items were judged:\n%s", stdout)
	}
	var doc struct {
		Regressions int
		Rows        []map[string]any
	}
	code, stdout, _ = runCaptured(t, "check", "--json", "--baseline", base, "--candidate", cand)
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 2 || doc.Regressions != 0 || len(doc.Rows) != 3 {
		t.Fatalf("--json: exit %d, %v, %s", code, err, stdout)
	}
	for _, r := range doc.Rows {
		note, has := r["note"]
		want := ""
		if r["task"] == "pope" {
			want = "different items: not compared"
		}
		if !has || note != want || r["regressed"] != false {
			t.Errorf("row %v: want note %q, not regressed", r, want)
		}
	}

	code, stdout, stderr = runCaptured(t, "check", "--json", "--allow-different-items", "--baseline", base, "--candidate", cand)
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 1 || doc.Regressions != 2 {
		t.Fatalf("--allow-different-items: exit %d, %v, %q, %s", code, err, stderr, stdout)
	}
	for _, r := range doc.Rows {
		if r["task"] == "pope" && (r["note"] != "different items" || r["regressed"] != true) {
			t.Errorf("allowed row %v", r)
		}
	}
}

// A tolerance for a task whose model --model leaves out is still valid
// (checked against the whole baseline), so one CI list serves every
// --model; a typo is still refused.
func TestCheckToleranceWithModel(t *testing.T) {
	dir := t.TempDir()
	base, cand := filepath.Join(dir, "base"), filepath.Join(dir, "cand")
	writeResult(t, base, "tiny-dualtoken", "recon", nil, map[string]float64{"psnr": 25})
	writeResult(t, cand, "tiny-dualtoken", "recon", nil, map[string]float64{"psnr": 24.95})
	writeResult(t, base, "tiny-llava", "pope", nil, map[string]float64{"f1": 85})
	writeResult(t, cand, "tiny-llava", "pope", nil, map[string]float64{"f1": 85})
	args := []string{"check", "--baseline", base, "--candidate", cand, "--model", "tiny-dualtoken", "--tolerance", "pope/f1=1", "--tolerance", "recon/psnr=0.1"}
	if code, stdout, stderr := runCaptured(t, args...); code != 0 || strings.Contains(stdout, "pope") {
		t.Errorf("tolerance of a filtered-out task: exit %d, %q\n%s", code, stderr, stdout)
	}
	code, _, stderr := runCaptured(t, append(args, "--tolerance", "pope/f2=1")...)
	if code != 2 {
		t.Errorf("typo with --model: exit %d", code)
	}
	oneLine(t, "typo with --model", stderr, `"pope/f2"`, "(it has f1)")
}

// Two results of one model on one task: check and report name both files.
func TestCheckReportDuplicateNamesFiles(t *testing.T) {
	dir := t.TempDir()
	base, cand := filepath.Join(dir, "base"), filepath.Join(dir, "cand")
	writeResult(t, base, "tiny-llava", "pope", nil, map[string]float64{"f1": 85})
	a, b := filepath.Join(cand, "a"), filepath.Join(cand, "b")
	writeResult(t, a, "tiny-llava", "pope", nil, map[string]float64{"f1": 85})
	writeResult(t, b, "tiny-llava", "pope", nil, map[string]float64{"f1": 84})
	fa, fb := filepath.Join(a, "pope", "tiny-llava", "results.json"), filepath.Join(b, "pope", "tiny-llava", "results.json")

	code, _, stderr := runCaptured(t, "check", "--baseline", base, "--candidate", cand)
	if code != 2 {
		t.Errorf("check: exit %d", code)
	}
	oneLine(t, "check duplicate", stderr, `candidate has two results for task "pope" of model "tiny-llava"`, fa+" and "+fb)
	code, _, stderr = runCaptured(t, "report", a, b)
	if code == 0 {
		t.Errorf("report: exit 0")
	}
	oneLine(t, "report duplicate", stderr, `model "tiny-llava" has two results for task "pope"`, fa+" and "+fb)
}

// report shows a paper table only when our results fill at least half its
// columns, and says so in --help; with none, JSON has "tables": [].
func TestReportNoPaperTable(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	writeResult(t, out, "m", "no-paper-task", nil, map[string]float64{"x": 1})
	code, stdout, stderr := runCaptured(t, "report", out, "--format", "json")
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 0 {
		t.Fatalf("report --format json: exit %d, %v, %q", code, err, stderr)
	}
	if string(doc["tables"]) != "[]" || len(doc["all_results"]) == 0 {
		t.Errorf("tables %s, all_results %s", doc["tables"], doc["all_results"])
	}
	code, help := runStdout(t, "report", "--help")
	help = strings.Join(strings.Fields(help), " ") // kong rewraps the text
	if code != 0 || !strings.Contains(help, "shown only when our results fill at least half of its columns") || !strings.Contains(help, `"tables": []`) {
		t.Errorf("report --help: exit %d, lacks the half-the-columns rule:\n%s", code, help)
	}
}

// check of a folder against itself is a usage error (a CI job pointing both
// flags at one folder would always pass); report given a folder twice, or a
// folder and a run inside it, reads each result once.
func TestCheckSameFolderReportOverlap(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	writeResult(t, runs, "tiny-llava", "pope", nil, map[string]float64{"f1": 85})
	code, _, stderr := runCaptured(t, "check", "--baseline", runs, "--candidate", runs+"/")
	if code != 2 {
		t.Errorf("check of a folder against itself: exit %d", code)
	}
	oneLine(t, "check same folder", stderr, "--baseline "+runs+" and --candidate "+runs+"/ are the same")
	if code, _, stderr := runCaptured(t, "report", runs, runs, filepath.Join(runs, "pope"), "--out", filepath.Join(dir, "rep")); code != 0 {
		t.Errorf("report of overlapping paths: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCaptured(t, "report", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "rep"))
	if code != 2 {
		t.Errorf("report of a missing folder: exit %d", code)
	}
	oneLine(t, "report missing", stderr, filepath.Join(dir, "nope")+" does not exist")
}

// report --out under a file names the flag.
func TestReportOutUnderFile(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	writeResult(t, runs, "m", "pope", nil, map[string]float64{"f1": 85})
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	code, _, stderr := runCaptured(t, "report", runs, "--out", filepath.Join(file, "rep"))
	if code != 2 {
		t.Errorf("exit %d", code)
	}
	oneLine(t, "report --out under a file", stderr, "--out "+filepath.Join(file, "rep")+":")
}
