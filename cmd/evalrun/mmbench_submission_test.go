package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/mmbench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

// mmbenchRun writes the MMBench demo (3 questions, 11 circular pass rows),
// without its answer column when test, runs a model answering "B" and
// returns results.json and the TSV's indices in file order.
func mmbenchRun(t *testing.T, dir string, test bool) (string, []string) {
	t.Helper()
	writer, ok := bench.Demo(mmbench.Name)
	if !ok {
		t.Fatal("no mmbench demo writer")
	}
	opts, err := writer(filepath.Join(dir, "data"), 7, 12)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(opts.Data, mmbench.DemoFile)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var order []string
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if i > 0 {
			order = append(order, f[0])
		}
		if test { // the answer column, 8th, removed
			lines[i] = strings.Join(append(f[:7:7], f[8:]...), "\t")
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := bench.New(mmbench.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.RunConfig{OutDir: filepath.Join(dir, "results")}
	m := qatest.Const{Text: " B\n"}
	if _, err := bench.Run(t.Context(), task, m, cfg); err != nil {
		t.Fatalf("run (test split %v): %v", test, err)
	}
	return filepath.Join(bench.RunDir(cfg, task, m.Info()), "results.json"), order
}

// checkMMBenchUpload reads the .xlsx back: LLaVA's header, the TSV's rows
// in its order, every prediction "B".
func checkMMBenchUpload(t *testing.T, path string, header, order []string) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	rows, err := f.GetRows("Sheet1")
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: Sheet1: %v", path, err)
	}
	if !reflect.DeepEqual(rows[0], header) {
		t.Errorf("header %q, want %q", rows[0], header)
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
		if len(r) < 7 || r[6] != "B" {
			t.Errorf("row %q: prediction not \"B\"", r)
		}
	}
	if !reflect.DeepEqual(got, order) {
		t.Errorf("indices %v, want the TSV's %v", got, order)
	}
}

// Dev: score --export-submission writes the .xlsx and re-scores.
func TestScoreExportSubmissionMMBenchDev(t *testing.T) {
	dir := t.TempDir()
	res, order := mmbenchRun(t, dir, false)
	out := filepath.Join(dir, "out.xlsx")
	code, stdout, stderr := runCaptured(t, "score", res, "--export-submission", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "submission written to "+out) || !strings.Contains(stdout, "overall=") || stderr != "" {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	checkMMBenchUpload(t, out, []string{"index", "question", "A", "B", "C", "D", "prediction", "answer", "split"}, order)

	// Another extension, or a folder, is refused before anything is written.
	for _, bad := range []string{filepath.Join(dir, "out.csv"), dir} {
		code, _, stderr := runCaptured(t, "score", res, "--export-submission", bad)
		if code != 2 || !strings.Contains(stderr, "submission file "+bad) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, %q", bad, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
		t.Error("out.csv was written")
	}

	// A .tsv name gets VLMEvalKit's TSV: the same header, tab-separated.
	tsv := filepath.Join(dir, "out.tsv")
	if code, _, stderr := runCaptured(t, "score", res, "--export-submission", tsv); code != 0 {
		t.Fatalf("tsv: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(tsv)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if strings.ReplaceAll(first, `"`, "") != strings.Join([]string{"index", "question", "A", "B", "C", "D", "prediction", "answer", "split"}, "\t") {
		t.Errorf("tsv header %q", first)
	}
}

// Test split (no answer column): the run records, score exports without
// scoring (exit 0, results.json untouched), no answer column in the file.
func TestScoreExportSubmissionMMBenchTest(t *testing.T) {
	dir := t.TempDir()
	res, order := mmbenchRun(t, dir, true)
	before, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := bench.ReadResult(res)
	if r.Metrics["answered"] != 100 || len(r.Metrics) != 1 {
		t.Errorf("test-split results: %v", r.Metrics)
	}
	if code, _, stderr := runCaptured(t, "score", res); code != 0 || !strings.Contains(stderr, "--export-submission FILE") {
		t.Errorf("score without --export-submission: exit %d, %q", code, stderr)
	}
	before, _ = os.ReadFile(res)
	out := filepath.Join(dir, "out.xlsx")
	code, stdout, stderr := runCaptured(t, "score", res, "--export-submission", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "submission written to "+out) || stderr != "" {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	if after, _ := os.ReadFile(res); !bytes.Equal(after, before) {
		t.Error("results.json rewritten for a split that cannot be scored")
	}
	checkMMBenchUpload(t, out, []string{"index", "question", "A", "B", "C", "D", "prediction", "split"}, order)
}
