package seed

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

const seed = 9

// demo writes 8 questions: dimensions 2, 4, 5, 3, 2, 4, 5, 3 with answers
// A, B, C, D, B, C, D, A, and one video question.
func demo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 300, 8, 16); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

// oracle answers the letter (generation) or gives the lowest loss to the
// right choice's text (likelihood).
func oracle(t *testing.T, task *Task) *qatest.Oracle {
	items, _ := task.Items()
	qs := make([]qa.Query, len(items))
	answers := make([]string, len(items))
	for i, it := range items {
		q := it.Payload.(question)
		qs[i] = task.query(it)
		answers[i] = q.Answer
		if task.mode == "likelihood" {
			answers[i] = q.Choices[q.Answer[0]-'A']
		}
	}
	return qatest.NewOracle(t, qs, answers)
}

func TestDemoLayoutLoads(t *testing.T) {
	dir := demo(t)
	task := newTask(t, dir, nil)
	items, _ := task.Items()
	if len(items) != 8 {
		t.Fatalf("%d items (the video question must be skipped)", len(items))
	}
	var answers, dims string
	for _, it := range items {
		q := it.Payload.(question)
		answers += q.Answer
		dims += string(rune('0' + q.QuestionTypeID))
		if _, err := os.Stat(q.Path); err != nil {
			t.Error(err)
		}
	}
	if answers != "ABCDBCDA" || dims != "24532453" {
		t.Errorf("answers %s dimensions %s", answers, dims)
	}
	q := items[0].Payload.(question)
	want := "What kind of object is shown in the image?\nA. " + q.Choices[0] + "\nB. " + q.Choices[1] + "\nC. " + q.Choices[2] +
		"\nD. " + q.Choices[3] + "\nAnswer with the option's letter from the given choices directly."
	if got := task.query(items[0]).Prompt; got != want {
		t.Errorf("generation prompt %q", got)
	}
	if got := newTask(t, dir, map[string]string{"mode": "likelihood"}).query(items[0]).Prompt; got != "Question: What kind of object is shown in the image?\nAnswer:" {
		t.Errorf("likelihood prompt %q", got)
	}
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"mode": "likelihood", "prompt": "llava"}}); err == nil {
		t.Errorf("likelihood mode accepted the llava prompt")
	}
}

func TestOracleIsPerfectAndResumes(t *testing.T) {
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t), map[string]string{"mode": "likelihood", "prompt": "plain"}), New)
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t), nil), New)
	for _, mode := range []string{"generation", "likelihood"} {
		task := newTask(t, demo(t), map[string]string{"mode": mode})
		res := qatest.CheckResume(t, task, oracle(t, task))
		for _, k := range []string{"image_accuracy", "dim/instance_identity", "dim/instance_attributes", "dim/instances_counting", "dim/instance_location"} {
			if res.Metrics[k] != 100 {
				t.Errorf("%s: %s = %v", mode, k, res.Metrics[k])
			}
		}
		if res.NSamples.Total != 8 || task.Protocol()["mode"] != mode {
			t.Errorf("%s: %+v", mode, res.NSamples)
		}
	}
}

// Always A (answering "A", or the first choice the likeliest): right on
// questions 1 (dimension 2) and 8 (dimension 3) of 8. Generation needs the
// exact letter: "A." scores nothing.
func TestAlwaysA(t *testing.T) {
	dir := demo(t)
	want := map[string]float64{"image_accuracy": 25, "dim/instance_identity": 50, "dim/instance_attributes": 0,
		"dim/instances_counting": 0, "dim/instance_location": 50}
	for _, mode := range []string{"generation", "likelihood"} {
		res := qatest.Run(t, newTask(t, dir, map[string]string{"mode": mode}), qatest.Const{Text: "A"})
		for k, v := range want {
			if res.Metrics[k] != v {
				t.Errorf("%s: %s = %v, want %v", mode, k, res.Metrics[k], v)
			}
		}
	}
	if res := qatest.Run(t, newTask(t, dir, nil), qatest.Const{Text: "A."}); res.Metrics["image_accuracy"] != 0 {
		t.Errorf("\"A.\" matched exactly: %v", res.Metrics)
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t)
	path := filepath.Join(dir, FileName)
	orig, _ := os.ReadFile(path)
	edit := func(i int, f func(q map[string]any)) {
		var doc map[string]any
		json.Unmarshal(orig, &doc)
		f(doc["questions"].([]any)[i].(map[string]any))
		b, _ := json.Marshal(doc)
		os.WriteFile(path, b, 0o644)
	}
	check := func(what, want string) {
		t.Helper()
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", what, err, want)
		}
	}
	edit(2, func(q map[string]any) { q["answer"] = "E" })
	check("bad answer", path+`: questions[2] (question_id 3): answer "E", want A, B, C or D`)
	edit(3, func(q map[string]any) { delete(q, "choice_c") })
	check("missing choice", path+`: questions[3] (question_id 4): field "choice_c" is missing`)
	edit(4, func(q map[string]any) { delete(q, "question_type_id") })
	check("missing dimension", path+`: questions[4]: field "question_type_id" is missing`)
	edit(1, func(q map[string]any) { q["question_id"] = "1" })
	check("duplicate id", `questions[1] (question_id 1): question_id appears twice`)
	os.WriteFile(path, orig, 0o644)
	os.Remove(path)
	check("no question file", FileName)
}

// A missing image is a counted failure, scored wrong.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t)
	for _, mode := range []string{"generation", "likelihood"} {
		task := newTask(t, dir, map[string]string{"mode": mode})
		o := oracle(t, task)
		items, _ := task.Items()
		p := items[1].Payload.(question).Path
		b, _ := os.ReadFile(p)
		os.Remove(p)
		res := qatest.Run(t, task, o)
		os.WriteFile(p, b, 0o644)
		if res.NSamples.Failed != 1 || res.Metrics["image_accuracy"] != 87.5 || res.Metrics["dim/instance_attributes"] != 50 {
			t.Errorf("%s: %+v %v", mode, res.NSamples, res.Metrics)
		}
	}
}
