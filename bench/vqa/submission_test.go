package vqa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

// subRow is one entry of the EvalAI file, fields as pointers so that a
// missing one shows.
type subRow struct {
	QuestionID *int64  `json:"question_id"`
	Answer     *string `json:"answer"`
}

// readSubmission parses path strictly (unknown keys are errors) into
// question ids and answers.
func readSubmission(t *testing.T, path string) ([]int64, []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var rows []subRow
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, raw)
	}
	ids, answers := make([]int64, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		if r.QuestionID == nil || r.Answer == nil {
			t.Fatalf("%s: row %d lacks question_id or answer: %s", path, i, raw)
		}
		ids[i], answers[i] = *r.QuestionID, *r.Answer
	}
	return ids, answers
}

// runInto runs task on m with the predictions under out and returns the
// predictions file; a scoring error (test splits) is returned, not fatal.
func runInto(t *testing.T, task bench.Task, m bench.Model, out string) (string, error) {
	t.Helper()
	cfg := bench.RunConfig{OutDir: out, BatchSize: 4}
	_, err := bench.Run(context.Background(), task, m, cfg)
	return bench.PredictionsPath(cfg, task, m.Info()), err
}

func itemIDs(items []bench.Item) []int64 {
	ids := make([]int64, len(items))
	for i, it := range items {
		fmt.Sscan(it.ID, &ids[i])
	}
	return ids
}

// On val2014 (for checking) the file holds the run's items in order, each
// raw answer through EvalAI's processor (lowercase; "," "?" deleted; "'s" →
// " 's"; punctuation; number words → digits; articles dropped) and the
// failed items (unreadable image) answered "".
func TestSubmissionVal(t *testing.T) {
	dir := demo(t, 3)
	task := newTask(t, dir, nil)
	items, _ := task.Items()
	// The last three would be answered "yes" but their image fails.
	raw := []string{"Two.", "The answer is 2.", "Yes!", "1,000", "a dog's toy", "No.", "Yes", "Yes", "Yes"}
	want := []string{"2", "answer is 2", "yes", "1000", "dog 's toy", "no", "", "", ""}
	at := map[string]string{}
	for i, it := range items {
		at[it.ID] = raw[i]
	}
	o := qatest.OracleFor(t, task, task.query, func(it bench.Item) string { return at[it.ID] })
	// Image 502 (items 6-8) unreadable: those records are errors.
	os.WriteFile(filepath.Join(dir, "val2014", "COCO_val2014_000000000502.jpg"), []byte{0xff, 0xd8, 0xff, 0}, 0o644)
	pred, err := runInto(t, task, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !task.Scorable() || bench.SubmissionOnly(task) {
		t.Error("val2014 has annotations: want scorable")
	}
	path := filepath.Join(t.TempDir(), "sub.json")
	var log bytes.Buffer
	if err := bench.ExportSubmission(task, pred, bench.Selection{}, path, &log); err != nil {
		t.Fatal(err)
	}
	ids, answers := readSubmission(t, path)
	if !reflect.DeepEqual(ids, itemIDs(items)) || !reflect.DeepEqual(answers, want) {
		t.Errorf("ids %v answers %q\nwant %v %q", ids, answers, itemIDs(items), want)
	}
	if log.Len() != 0 {
		t.Errorf("notice on val2014: %q", log.String())
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("file mode: %v %v", st.Mode(), err)
	}
	// The selection: the first 2 items only.
	if err := bench.ExportSubmission(task, pred, bench.Selection{Limit: 2}, path, &log); err != nil {
		t.Fatal(err)
	}
	if ids, answers := readSubmission(t, path); !reflect.DeepEqual(ids, itemIDs(items[:2])) || !reflect.DeepEqual(answers, want[:2]) {
		t.Errorf("limit 2: %v %q", ids, answers)
	}
	// A selected item without a saved prediction is refused, the file kept.
	os.WriteFile(pred, nil, 0o644)
	err = bench.ExportSubmission(task, pred, bench.Selection{}, path, &log)
	if err == nil || !strings.Contains(err.Error(), "no prediction for item") {
		t.Errorf("empty predictions: %v", err)
	}
	if ids, _ := readSubmission(t, path); len(ids) != 2 {
		t.Errorf("a failed export replaced the file: %v", ids)
	}
}

// testDev turns a demo folder into the test-dev2015 layout (questions only,
// images in test2015/) and returns the test-dev question ids.
func testDev(t *testing.T, dir string) []int64 {
	t.Helper()
	items, _ := newTask(t, dir, nil).Items()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Rename(filepath.Join(dir, QuestionsFile("val2014")), filepath.Join(dir, QuestionsFile("test-dev2015"))))
	must(os.Remove(filepath.Join(dir, AnnotationsFile("val2014"))))
	must(os.Rename(filepath.Join(dir, "val2014"), filepath.Join(dir, "test2015")))
	imgs, _ := filepath.Glob(filepath.Join(dir, "test2015", "COCO_val2014_*.jpg"))
	for _, p := range imgs {
		must(os.Rename(p, filepath.Join(dir, "test2015", strings.Replace(filepath.Base(p), "val2014", "test2015", 1))))
	}
	return itemIDs(items)
}

// writeTest2015 writes a test2015 question file with ids, in that order.
func writeTest2015(t *testing.T, dir string, ids []int64) {
	t.Helper()
	qs := make([]map[string]any, len(ids))
	for i, id := range ids {
		qs[i] = map[string]any{"image_id": id / 10, "question": "q?", "question_id": id}
	}
	b, _ := json.Marshal(map[string]any{"questions": qs})
	if err := os.WriteFile(filepath.Join(dir, QuestionsFile("test2015")), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// test-dev2015: the file covers every question of the test2015 file, in its
// order; those without a prediction (not in test-dev, or outside the run's
// selection) are answered "", as LLaVA's script does.
func TestSubmissionTestDevFill(t *testing.T) {
	dir := demo(t, 2)
	dev := testDev(t, dir) // 5000..5002, 5010..5012
	task := newTask(t, dir, map[string]string{"split": "test-dev2015"})
	if task.Scorable() || !bench.SubmissionOnly(task) {
		t.Error("test-dev2015: want submission only")
	}
	pred, err := runInto(t, task, qatest.Const{Text: "Two."}, t.TempDir())
	if err != nil {
		t.Fatalf("run on test-dev: %v", err)
	}
	// test2015 = test-dev interleaved with questions test-dev lacks.
	full := []int64{7, dev[3], 9, dev[0], dev[1], dev[2], 8, dev[5], dev[4]}
	writeTest2015(t, dir, full)
	path := filepath.Join(t.TempDir(), "sub.json")
	var log bytes.Buffer
	if err := bench.ExportSubmission(task, pred, bench.Selection{}, path, &log); err != nil {
		t.Fatal(err)
	}
	ids, answers := readSubmission(t, path)
	want := []string{"", "2", "", "2", "2", "2", "", "2", "2"}
	if !reflect.DeepEqual(ids, full) || !reflect.DeepEqual(answers, want) {
		t.Errorf("ids %v answers %q, want %v %q", ids, answers, full, want)
	}
	if log.Len() != 0 {
		t.Errorf("notice with test2015 present: %q", log.String())
	}
	// A run limited to 4 items: the other test-dev questions get "" too.
	if err := bench.ExportSubmission(task, pred, bench.Selection{Limit: 4}, path, &log); err != nil {
		t.Fatal(err)
	}
	if ids, answers := readSubmission(t, path); !reflect.DeepEqual(ids, full) ||
		!reflect.DeepEqual(answers, []string{"", "2", "", "2", "2", "2", "", "", ""}) {
		t.Errorf("limit 4: %v %q", ids, answers)
	}
	// A test2015 file lacking a test-dev question is the wrong file.
	writeTest2015(t, dir, full[1:8])
	err = bench.ExportSubmission(task, pred, bench.Selection{}, path, &log)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(dev[4])) || !strings.Contains(err.Error(), QuestionsFile("test2015")) {
		t.Errorf("test2015 without %d: %v", dev[4], err)
	}
	// Without the test2015 file: the test-dev questions, and one notice line.
	os.Remove(filepath.Join(dir, QuestionsFile("test2015")))
	if err := bench.ExportSubmission(task, pred, bench.Selection{}, path, &log); err != nil {
		t.Fatal(err)
	}
	if ids, answers := readSubmission(t, path); !reflect.DeepEqual(ids, dev) || !reflect.DeepEqual(answers, []string{"2", "2", "2", "2", "2", "2"}) {
		t.Errorf("no test2015: %v %q", ids, answers)
	}
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), QuestionsFile("test2015")) {
		t.Errorf("notice: %q", log.String())
	}
}

// test2015 itself: the whole question file, unselected questions "".
func TestSubmissionTest2015(t *testing.T) {
	dir := demo(t, 2)
	dev := testDev(t, dir)
	os.Rename(filepath.Join(dir, QuestionsFile("test-dev2015")), filepath.Join(dir, QuestionsFile("test2015")))
	task := newTask(t, dir, map[string]string{"split": "test2015"})
	pred, _ := runInto(t, task, qatest.Const{Text: "Ten"}, t.TempDir())
	path := filepath.Join(t.TempDir(), "sub.json")
	var log bytes.Buffer
	if err := bench.ExportSubmission(task, pred, bench.Selection{Limit: 3}, path, &log); err != nil {
		t.Fatal(err)
	}
	if ids, answers := readSubmission(t, path); !reflect.DeepEqual(ids, dev) || !reflect.DeepEqual(answers, []string{"10", "10", "10", "", "", ""}) {
		t.Errorf("test2015 limit 3: %v %q", ids, answers)
	}
	if log.Len() != 0 {
		t.Errorf("notice: %q", log.String())
	}
}
