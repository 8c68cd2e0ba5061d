package mme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

const seed = 5

var demoOpts = map[string]string{"subtasks": strings.Join(DemoSubtasks, ",")}

func demo(t *testing.T, perImage int) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 1000, perImage, 16); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

func oracle(t *testing.T, task *Task) *qatest.Oracle {
	return qatest.OracleFor(t, task, task.query, func(it bench.Item) string { return it.Payload.(question).GT })
}

func TestDemoLayoutLoads(t *testing.T) {
	dir := demo(t, 2)
	task := newTask(t, dir, demoOpts)
	items, _ := task.Items()
	if len(items) != 5*2*2 {
		t.Fatalf("%d items", len(items))
	}
	// Tool order (existence, count, position, color, ..., artwork), pairs Yes/No.
	order := []string{"existence", "count", "position", "color", "artwork"}
	for i, it := range items {
		q := it.Payload.(question)
		if q.Subtask != order[i/4] || q.GT != []string{"Yes", "No"}[i%2] {
			t.Errorf("item %d %s: subtask %s GT %s", i, it.ID, q.Subtask, q.GT)
		}
		if _, err := os.Stat(q.Path); err != nil {
			t.Error(err)
		}
	}
	art := items[16].Payload.(question)
	if !strings.HasSuffix(art.Path, filepath.Join("artwork", "images", strings.TrimSuffix(art.Image, ".jpg")+".jpg")) {
		t.Errorf("artwork image %s", art.Path)
	}
	q0 := items[0].Payload.(question).Question
	if !strings.HasSuffix(q0, "? Please answer yes or no.") {
		t.Errorf("question %q", q0)
	}
	if p := task.query(items[0]).Prompt; p != strings.TrimSuffix(q0, " Please answer yes or no.")+"\nAnswer the question using a single word or phrase." {
		t.Errorf("llava prompt %q", p)
	}
	if p := newTask(t, dir, map[string]string{"subtasks": "available", "prompt": "plain"}).query(items[0]).Prompt; p != q0 {
		t.Errorf("plain prompt %q", p)
	}
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), filepath.Join(RootName, "posters")+" is missing") {
		t.Errorf("all 14 required by default: %v", err)
	}
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"subtasks": "count,ocr"}}); err == nil || !strings.Contains(err.Error(), `"ocr"`) {
		t.Errorf("unknown subtask: %v", err)
	}
}

// The oracle scores 200 per subtask; perception sums the five present.
func TestOracleIsPerfectAndResumes(t *testing.T) {
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, 1), map[string]string{"subtasks": "color,count", "prompt": "plain"}), New)
	task := newTask(t, demo(t, 3), demoOpts)
	res := qatest.CheckResume(t, task, oracle(t, task))
	for _, s := range DemoSubtasks {
		if res.Metrics[s+"/score"] != 200 || res.Metrics[s+"/acc"] != 100 || res.Metrics[s+"/acc_plus"] != 100 {
			t.Errorf("%s: %v %v %v", s, res.Metrics[s+"/score"], res.Metrics[s+"/acc"], res.Metrics[s+"/acc_plus"])
		}
	}
	if res.Metrics["perception"] != 1000 {
		t.Errorf("perception %v", res.Metrics["perception"])
	}
	if _, ok := res.Metrics["cognition"]; ok {
		t.Errorf("cognition reported without cognition subtasks")
	}
}

// Always one answer: every image gets one of two right, so acc 50, acc+ 0 and
// 50 per subtask. A reply whose first 4 characters hold neither yes nor no is
// "other" and always wrong.
func TestConstantAnswers(t *testing.T) {
	dir := demo(t, 2)
	for text, want := range map[string]float64{"yes": 50, "Yes, there is.": 50, "No": 50, "I think yes": 0} {
		res := qatest.Run(t, newTask(t, dir, demoOpts), qatest.Const{Text: text})
		for _, s := range DemoSubtasks {
			if res.Metrics[s+"/score"] != want || res.Metrics[s+"/acc_plus"] != 0 {
				t.Errorf("%q: %s/score %v, want %v", text, s, res.Metrics[s+"/score"], want)
			}
		}
		if res.Metrics["perception"] != 5*want {
			t.Errorf("%q: perception %v, want %v", text, res.Metrics["perception"], 5*want)
		}
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t, 2)
	countDir := filepath.Join(dir, RootName, "count")
	txts, _ := filepath.Glob(filepath.Join(countDir, "*.txt"))
	txt := txts[1]
	orig, _ := os.ReadFile(txt)
	check := func(what, body, want string) {
		t.Helper()
		os.WriteFile(txt, []byte(body), 0o644)
		if _, err := New(bench.Options{Data: dir, Extra: demoOpts}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", what, err, want)
		}
	}
	check("no tab", "Is there a cross? Please answer yes or no.\tYes\nIs there a circle? No\n", txt+":2: want \"question<TAB>Yes|No\"")
	check("bad answer", "Is there a cross?\tYes\nIs there a circle?\tMaybe\n", txt+`:2: answer "Maybe", want Yes or No`)
	check("three lines", string(orig)+"Is there a cat?\tNo\n", txt+": 3 questions, want 2")
	os.WriteFile(txt, orig, 0o644)
	img := strings.TrimSuffix(txt, ".txt") + ".png"
	os.Rename(img, img+".bak")
	check("no image", string(orig), txt+": no image")
	os.Rename(img+".bak", img)
	os.RemoveAll(filepath.Join(dir, RootName, "artwork", "questions_answers_YN"))
	if _, err := New(bench.Options{Data: dir, Extra: demoOpts}); err == nil || !strings.Contains(err.Error(), "no questions_answers_YN/") {
		t.Errorf("images/ without questions: %v", err)
	}
}

// A corrupt image fails its two questions, which count as wrong: in count
// (2 images) acc 50 and acc+ 50, so 100, and perception 1000 - 100.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t, 2)
	task := newTask(t, dir, demoOpts)
	o := oracle(t, task)
	pngs, _ := filepath.Glob(filepath.Join(dir, RootName, "count", "*.png"))
	os.WriteFile(pngs[0], []byte("\x89PNG\r\n\x1a\ngarbage"), 0o644)
	res := qatest.Run(t, task, o)
	if res.NSamples.Failed != 2 || res.Metrics["count/score"] != 100 || res.Metrics["perception"] != 900 {
		t.Errorf("%+v %v", res.NSamples, res.Metrics)
	}
}

// A cognition subtask is summed into cognition, not perception.
func TestCognitionTotal(t *testing.T) {
	dir := demo(t, 1)
	src, _ := filepath.Glob(filepath.Join(dir, RootName, "color", "*"))
	cog := filepath.Join(dir, RootName, "code_reasoning")
	os.MkdirAll(cog, 0o755)
	for _, f := range src {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(cog, filepath.Base(f)), b, 0o644)
	}
	task := newTask(t, dir, map[string]string{"subtasks": "available"})
	res := qatest.Run(t, task, oracle(t, task))
	if res.Metrics["cognition"] != 200 || res.Metrics["perception"] != 1000 || task.Protocol()["subtasks"] != "existence,count,position,color,artwork,code_reasoning" {
		t.Errorf("%v %v", res.Metrics, task.Protocol()["subtasks"])
	}
}
