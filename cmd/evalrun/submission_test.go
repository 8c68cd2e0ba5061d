package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
	"github.com/dualtoken/evalharness/bench/vqa"
)

// submissionRows reads an EvalAI VQA file strictly: ids and answers.
func submissionRows(t *testing.T, path string) ([]int64, []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var rows []struct {
		QuestionID *int64  `json:"question_id"`
		Answer     *string `json:"answer"`
	}
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ids, answers := make([]int64, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		if r.QuestionID == nil || r.Answer == nil {
			t.Fatalf("%s: row %d lacks question_id or answer", path, i)
		}
		ids[i], answers[i] = *r.QuestionID, *r.Answer
	}
	return ids, answers
}

// vqaDemo writes two demo images' questions (six) and returns the options
// and their question ids.
func vqaDemo(t *testing.T, dir string) (bench.Options, []int64) {
	t.Helper()
	writer, ok := bench.Demo(vqa.Name)
	if !ok {
		t.Fatal("no vqav2 demo writer")
	}
	opts, err := writer(dir, 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	task, err := bench.New(vqa.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	ids := make([]int64, len(items))
	for i, it := range items {
		if err := json.Unmarshal([]byte(it.ID), &ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	return opts, ids
}

// On val2014 the export writes the file and score still re-scores.
func TestScoreExportSubmissionVal(t *testing.T) {
	dir := t.TempDir()
	opts, ids := vqaDemo(t, filepath.Join(dir, "data"))
	task, err := bench.New(vqa.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	res, err := bench.Run(context.Background(), task, qatest.Const{Text: "Two"}, bench.RunConfig{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	resPath := filepath.Join(out, vqa.Name, "const-Two", "results.json")
	// A stale number in results.json, which the re-scoring must replace.
	stale := *res
	stale.Metrics = map[string]float64{"accuracy": -1}
	if err := stale.Write(resPath); err != nil {
		t.Fatal(err)
	}
	// A folder that does not exist is named as the user gave it.
	missing := filepath.Join(dir, "nodir", "sub.json")
	if code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", missing); code != 2 || !strings.Contains(stderr, "submission file "+missing+": its folder") {
		t.Errorf("missing folder: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", filepath.Join(dir, "sub.txt")); code != 2 || !strings.Contains(stderr, "vqav2 takes a name ending in .json") {
		t.Errorf("sub.txt: exit %d, %q", code, stderr)
	}
	// The results file itself (rewritten by the scoring: the submission
	// would be lost), or a path under a file, is refused.
	before, _ := os.ReadFile(resPath)
	if code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", resPath); code != 2 || !strings.Contains(stderr, "which score reads or rewrites") {
		t.Errorf("results.json as the submission: exit %d, %q", code, stderr)
	}
	if after, _ := os.ReadFile(resPath); string(after) != string(before) {
		t.Error("results.json changed")
	}
	if code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", filepath.Join(resPath, "sub.json")); code != 2 || !strings.Contains(stderr, resPath+" is a file, not a folder") {
		t.Errorf("under a file: exit %d, %q", code, stderr)
	}
	sub := filepath.Join(dir, "sub.json")
	code, stdout, stderr := runCaptured(t, "score", resPath, "--export-submission", sub)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, answers := submissionRows(t, sub)
	if !reflect.DeepEqual(got, ids) || !reflect.DeepEqual(answers, []string{"2", "2", "2", "2", "2", "2"}) {
		t.Errorf("submission %v %q, want ids %v answered \"2\"", got, answers, ids)
	}
	again, err := bench.ReadResult(resPath)
	if err != nil {
		t.Fatal(err)
	}
	if again.Metrics["accuracy"] != res.Metrics["accuracy"] || !strings.Contains(stdout, "accuracy=") || !strings.Contains(stdout, sub) {
		t.Errorf("not re-scored: %v, stdout %q", again.Metrics, stdout)
	}
}

// test-dev2015: no annotations, so no scoring; the file covers every
// question of test2015 (those test-dev lacks answered ""), or without that
// file the test-dev questions with a one-line notice; exit 0 either way.
func TestScoreExportSubmissionTestDev(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	opts, ids := vqaDemo(t, data)
	// The demo's val2014 layout moved to test-dev2015's: questions only,
	// images in test2015/.
	for _, mv := range [][2]string{
		{vqa.QuestionsFile("val2014"), vqa.QuestionsFile("test-dev2015")},
		{"val2014", "test2015"},
	} {
		if err := os.Rename(filepath.Join(data, mv[0]), filepath.Join(data, mv[1])); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(data, vqa.AnnotationsFile("val2014")))
	imgs, _ := filepath.Glob(filepath.Join(data, "test2015", "COCO_val2014_*.jpg"))
	for _, p := range imgs {
		os.Rename(p, filepath.Join(data, "test2015", strings.Replace(filepath.Base(p), "val2014", "test2015", 1)))
	}
	opts.Extra = map[string]string{"split": "test-dev2015"}
	task, err := bench.New(vqa.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.RunConfig{OutDir: filepath.Join(dir, "results")}
	m := qatest.Const{Text: "Two"}
	// The run records what it can: the share answered, informational.
	res, err := bench.Run(context.Background(), task, m, cfg)
	if err != nil {
		t.Fatalf("run on test-dev: %v", err)
	}
	if res.Metrics["answered"] != 100 || len(res.Informational) != 1 || res.NSamples.Total != len(ids) {
		t.Errorf("test-dev results: %v %v %+v", res.Metrics, res.Informational, res.NSamples)
	}
	resPath := filepath.Join(bench.RunDir(cfg, task, m.Info()), "results.json")
	before, _ := os.ReadFile(resPath)
	// score without the flag re-records the share answered and says how
	// to get the number.
	if code, _, stderr := runCaptured(t, "score", resPath); code != 0 || !strings.Contains(stderr, "--export-submission FILE") {
		t.Errorf("score without --export-submission: exit %d, %q", code, stderr)
	}
	before, _ = os.ReadFile(resPath)

	// test2015: test-dev's questions among others, in another order.
	full := []int64{1, ids[5], ids[0], 2, ids[1], ids[2], ids[3], 3, ids[4]}
	qs := make([]map[string]any, len(full))
	for i, id := range full {
		qs[i] = map[string]any{"image_id": 1, "question": "q?", "question_id": id}
	}
	b, _ := json.Marshal(map[string]any{"questions": qs})
	test2015 := filepath.Join(data, vqa.QuestionsFile("test2015"))
	if err := os.WriteFile(test2015, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.json")
	code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", sub)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, answers := submissionRows(t, sub)
	if want := []string{"", "2", "2", "", "2", "2", "2", "", "2"}; !reflect.DeepEqual(got, full) || !reflect.DeepEqual(answers, want) {
		t.Errorf("submission %v %q, want %v %q", got, answers, full, want)
	}
	if stderr != "" {
		t.Errorf("stderr with test2015 present: %q", stderr)
	}
	if after, _ := os.ReadFile(resPath); !bytes.Equal(after, before) {
		t.Error("results.json rewritten for a split that cannot be scored")
	}

	os.Remove(test2015)
	code, _, stderr = runCaptured(t, "score", resPath, "--export-submission", sub)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := submissionRows(t, sub); !reflect.DeepEqual(got, ids) {
		t.Errorf("without test2015: ids %v, want %v", got, ids)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, vqa.QuestionsFile("test2015")) {
		t.Errorf("notice: %q", stderr)
	}
}

// A task without a submission format: exit 2, one line, no file.
func TestScoreExportSubmissionUnsupported(t *testing.T) {
	dir := t.TempDir()
	writer, _ := bench.Demo("pope")
	opts, err := writer(filepath.Join(dir, "data"), 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	task, err := bench.New("pope", opts)
	if err != nil {
		t.Fatal(err)
	}
	resPath := filepath.Join(dir, "results.json")
	rec := bench.Result{Schema: bench.ResultsSchema, Task: "pope", TaskVersion: task.Version(), Protocol: task.Protocol(),
		Metrics: map[string]float64{"f1": 50}, HigherIsBetter: map[string]bool{"f1": true}, Predictions: "predictions-x.jsonl"}
	rec.Model.Name = "m"
	if err := rec.Write(resPath); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.json")
	code, _, stderr := runCaptured(t, "score", resPath, "--export-submission", sub)
	if code != 2 || strings.TrimSpace(stderr) != "evalrun: task pope has no submission format" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(sub); !os.IsNotExist(err) {
		t.Errorf("%s written: %v", sub, err)
	}
}
