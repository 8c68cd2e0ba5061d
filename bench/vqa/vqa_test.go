package vqa

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
	"github.com/dualtoken/evalharness/world"
)

const seed = 11

func demo(t *testing.T, nImages int) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 500, nImages, 16); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

// oracle answers each question with its multiple_choice_answer.
func oracle(t *testing.T, task *Task) *qatest.Oracle {
	return qatest.OracleFor(t, task, task.query, func(it bench.Item) string { return it.Payload.(question).MC })
}

func TestDemoLayoutLoads(t *testing.T) {
	task := newTask(t, demo(t, 2), nil)
	items, _ := task.Items()
	if len(items) != 6 {
		t.Fatalf("%d items", len(items))
	}
	q := items[4].Payload.(question) // image 501, colour question
	s := world.Generate(seed, 501)
	if q.ImageID != 501 || items[4].ID != "5011" || q.MC != s.Color || len(q.Truth.Answers) != 10 ||
		q.Truth.AnswerType != "other" || !strings.HasSuffix(q.Path, filepath.Join("val2014", "COCO_val2014_000000000501.jpg")) {
		t.Errorf("item %s: %+v", items[4].ID, q)
	}
	if p := task.query(items[4]).Prompt; !strings.HasPrefix(p, "What color ") || !strings.HasSuffix(p, "?\nAnswer the question using a single word or phrase.") {
		t.Errorf("prompt %q", p)
	}
	if p := newTask(t, demo(t, 1), map[string]string{"prompt": "plain"}).query(items[0]).Prompt; p != items[0].Payload.(question).Question {
		t.Errorf("plain prompt %q", p)
	}
}

func TestOracleIsPerfectAndResumes(t *testing.T) {
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, 1), map[string]string{"rule": "lmms-eval", "prompt": "plain", "max_new_tokens": "9"}), New)
	task := newTask(t, demo(t, 4), nil)
	res := qatest.CheckResume(t, task, oracle(t, task))
	for _, k := range []string{"accuracy", "accuracy/yes/no", "accuracy/number", "accuracy/other"} {
		if res.Metrics[k] != 100 {
			t.Errorf("%s = %v", k, res.Metrics[k])
		}
	}
	if !res.HigherIsBetter["accuracy"] || res.NSamples.Failed != 0 {
		t.Errorf("%+v %+v", res.HigherIsBetter, res.NSamples)
	}
}

// "yes" is right only on the yes/no questions of even images (GT nine "yes"
// and one "Yes": normalised, all ten match): 2 of 12 questions.
func TestAlwaysYes(t *testing.T) {
	for _, rule := range []string{"official", "evalai", "lmms-eval"} {
		res := qatest.Run(t, newTask(t, demo(t, 4), map[string]string{"rule": rule}), qatest.Const{Text: "yes"})
		want := map[string]float64{"accuracy": 16.67, "accuracy/yes/no": 50, "accuracy/number": 0, "accuracy/other": 0}
		if rule == "lmms-eval" {
			want["accuracy"] = 100.0 / 6 // unrounded
		}
		for k, v := range want {
			if math.Abs(res.Metrics[k]-v) > 1e-12 {
				t.Errorf("%s: %s = %v, want %v", rule, k, res.Metrics[k], v)
			}
		}
	}
}

// wordy answers count questions with the capitalised number word ("Two"):
// right where the ten answers differ (normalisation maps "Two" to "2"), wrong
// where all ten are identical (compared after strip only) — odd and even
// images respectively, so 10 of 12 questions.
type wordy struct{ *qatest.Oracle }

func (w wordy) Answer(ctx context.Context, qs []bench.Question) ([]string, error) {
	out, err := w.Oracle.Answer(ctx, qs)
	for i, a := range out {
		if d, err := strconv.Atoi(a); err == nil {
			out[i] = strings.ToUpper(world.Numbers[d][:1]) + world.Numbers[d][1:]
		}
	}
	return out, err
}

func TestIdenticalAnswersShortcut(t *testing.T) {
	task := newTask(t, demo(t, 4), nil)
	res := qatest.Run(t, task, wordy{oracle(t, task)})
	if res.Metrics["accuracy"] != 83.33 || res.Metrics["accuracy/number"] != 50 || res.Metrics["accuracy/other"] != 100 {
		t.Errorf("metrics %v", res.Metrics)
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t, 2)
	qpath := filepath.Join(dir, QuestionsFile("val2014"))
	apath := filepath.Join(dir, AnnotationsFile("val2014"))
	qorig, _ := os.ReadFile(qpath)
	aorig, _ := os.ReadFile(apath)
	edit := func(path string, orig []byte, f func(doc map[string]any)) {
		var doc map[string]any
		json.Unmarshal(orig, &doc)
		f(doc)
		b, _ := json.Marshal(doc)
		os.WriteFile(path, b, 0o644)
	}
	check := func(what, want string) {
		t.Helper()
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", what, err, want)
		}
	}
	edit(qpath, qorig, func(d map[string]any) { delete(d["questions"].([]any)[3].(map[string]any), "image_id") })
	check("missing image_id", qpath+`: questions[3]: field "image_id" is missing`)
	edit(qpath, qorig, func(d map[string]any) { d["questions"].([]any)[2].(map[string]any)["question_id"] = 42 })
	check("unannotated question", `questions[2]: question_id 42 has no annotation`)
	os.WriteFile(qpath, qorig, 0o644)
	edit(apath, aorig, func(d map[string]any) { delete(d["annotations"].([]any)[1].(map[string]any), "question_id") })
	check("annotation without id", apath+`: annotations[1]: field "question_id" is missing`)
	edit(apath, aorig, func(d map[string]any) { d["annotations"] = d["annotations"].([]any)[1:] })
	check("fewer annotations", "has 5 annotations but")
	os.Remove(apath)
	check("no annotations for val2014", AnnotationsFile("val2014"))
	os.WriteFile(qpath, []byte(`{"questions": [`), 0o644)
	check("truncated JSON", qpath)
}

// A missing or corrupt image fails its three questions, counted and scored 0.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t, 4)
	task := newTask(t, dir, nil)
	o := oracle(t, task)
	os.WriteFile(filepath.Join(dir, "val2014", "COCO_val2014_000000000502.jpg"), []byte{0xff, 0xd8, 0xff, 0}, 0o644)
	os.Remove(filepath.Join(dir, "val2014", "COCO_val2014_000000000503.jpg"))
	res := qatest.Run(t, task, o)
	if res.NSamples.Failed != 6 || res.NSamples.Total != 12 || res.Metrics["accuracy"] != 50 {
		t.Errorf("%+v %v", res.NSamples, res.Metrics)
	}
}

// test-dev has no public annotations: items run, and results.json records
// only the share answered (informational), for the submission export.
func TestUnannotatedSplit(t *testing.T) {
	dir := demo(t, 1)
	os.Rename(filepath.Join(dir, QuestionsFile("val2014")), filepath.Join(dir, QuestionsFile("test-dev2015")))
	os.Rename(filepath.Join(dir, "val2014"), filepath.Join(dir, "test2015"))
	os.Rename(filepath.Join(dir, "test2015", "COCO_val2014_000000000500.jpg"), filepath.Join(dir, "test2015", "COCO_test2015_000000000500.jpg"))
	task := newTask(t, dir, map[string]string{"split": "test-dev2015"})
	res, err := bench.Run(context.Background(), task, qatest.Const{Text: "yes"}, bench.RunConfig{OutDir: t.TempDir()})
	if err != nil || len(res.Metrics) != 1 || res.Metrics["answered"] != 100 || res.Informational[0] != "answered" {
		t.Errorf("run on test-dev: %v %v", res, err)
	}
	// Score itself still explains where the number comes from.
	items, _ := task.Items()
	if _, err := task.Score(items, make([]bench.Record, len(items))); err == nil || !strings.Contains(err.Error(), "EvalAI") {
		t.Errorf("scoring test-dev: %v", err)
	}
}
