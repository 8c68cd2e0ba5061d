package mmbench

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/world"
)

const seed = 3

// demo writes 6 questions: shape, colour, texture, shape, colour, texture
// with 4, 4, 3, 4, 4, 3 options and answers A, B, C, D, A, C.
func demo(t *testing.T, withPasses bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 200, 6, 16, withPasses); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

// oracle answers each pass with its answer letter (or, textual, with the
// answer option's text).
func oracle(t *testing.T, task *Task, textual bool) *qatest.Oracle {
	items, _ := task.Items()
	qs := make([]qa.Query, len(items))
	answers := make([]string, len(items))
	for i, it := range items {
		r := it.Payload.(pass).Row
		qs[i] = task.query(it)
		answers[i] = r.Answer
		if textual {
			answers[i] = r.Choices[r.Answer[0]-'A'].Text
		}
	}
	return qatest.NewOracle(t, qs, answers)
}

func TestDemoLayoutLoads(t *testing.T) {
	task := newTask(t, demo(t, true), nil)
	items, _ := task.Items()
	if len(items) != 22 || !task.inFile {
		t.Fatalf("%d items (want 4+4+3+4+4+3 passes), passes in file %v", len(items), task.inFile)
	}
	s := world.Generate(seed, 200)
	main := items[0].Payload.(pass).Row
	want := "The image shows simple geometric shapes.\nWhat shape are the objects in the image?\nA. " + s.Shape +
		"\nB. " + main.Choices[1].Text + "\nC. " + main.Choices[2].Text + "\nD. " + main.Choices[3].Text +
		"\nAnswer with the option's letter from the given choices directly."
	if got := task.query(items[0]).Prompt; got != want || main.Answer != "A" {
		t.Errorf("prompt\n%q\nwant\n%q (answer %s)", got, want, main.Answer)
	}
	// Pass 1 of question 0 (index 1e6) shows original option (j+1) mod 4 at
	// letter j, so the answer (originally A) moves to D; it shows row 0's image.
	var p1 pass
	for _, it := range items {
		if it.ID == "1000000" {
			p1 = it.Payload.(pass)
		}
	}
	if p1.ImageRow != 0 || p1.Row.Answer != "D" || p1.Row.Choices[0].Text != main.Choices[1].Text || p1.Row.Choices[3].Text != s.Shape {
		t.Errorf("pass 1: %+v", p1)
	}
	// A 3-option question has no "D." line.
	if p := task.query(items[8]).Prompt; strings.Contains(p, "\nD. ") || !strings.Contains(p, "\nC. ") || items[8].ID != "2" {
		t.Errorf("item %s prompt %q", items[8].ID, p)
	}
	img, err := task.query(items[1]).Image()
	if err != nil || img.W != 16 {
		t.Errorf("image of a pass row: %v", err)
	}
}

// A single-pass TSV is circularised into exactly the passes VLMEvalKit's
// files hold; circular=false asks the main rows only.
func TestCircularisedEqualsPassesInFile(t *testing.T) {
	// VLMEvalKit's files list the main rows first, then the passes.
	dir := demo(t, true)
	b, _ := os.ReadFile(filepath.Join(dir, DemoFile))
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var mains, passes []string
	for _, l := range lines[1:] {
		if len(strings.Split(l, "\t")[0]) < 7 {
			mains = append(mains, l)
		} else {
			passes = append(passes, l)
		}
	}
	os.WriteFile(filepath.Join(dir, DemoFile), []byte(strings.Join(append(append(lines[:1], mains...), passes...), "\n")+"\n"), 0o644)
	inFile, _ := newTask(t, dir, nil).Items()
	gen := newTask(t, demo(t, false), nil)
	generated, _ := gen.Items()
	if gen.inFile || len(generated) != len(inFile) {
		t.Fatalf("%d generated passes, %d in file", len(generated), len(inFile))
	}
	for i := range inFile {
		a, b := inFile[i].Payload.(pass).Row, generated[i].Payload.(pass).Row
		a.HasGIndex, a.GIndex, b.HasGIndex, b.GIndex = false, 0, false, 0
		if inFile[i].ID != generated[i].ID || !reflect.DeepEqual(a, b) {
			t.Errorf("pass %d: %+v vs %+v", i, a, b)
		}
	}
	for _, withPasses := range []bool{true, false} {
		items, _ := newTask(t, demo(t, withPasses), map[string]string{"circular": "false"}).Items()
		if len(items) != 6 {
			t.Errorf("circular=false, passes in file %v: %d items", withPasses, len(items))
		}
	}
}

func TestOracleIsPerfectAndResumes(t *testing.T) {
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, false), map[string]string{"circular": "off", "rule": "last4", "file": DemoFile}), New)
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, true), nil), New)
	task := newTask(t, demo(t, true), nil)
	res := qatest.CheckResume(t, task, oracle(t, task, false))
	for _, k := range []string{"overall", "l2/CP", "l2/FP-S", "category/image_topic", "category/attribute_recognition", "category/image_style"} {
		if res.Metrics[k] != 100 {
			t.Errorf("%s = %v", k, res.Metrics[k])
		}
	}
	// Answering with the option text is read by the option-text fallback.
	gen := newTask(t, demo(t, false), map[string]string{"rule": "last4"})
	if res := qatest.Run(t, gen, oracle(t, gen, true)); res.Metrics["overall"] != 100 {
		t.Errorf("textual answers: %v", res.Metrics)
	}
}

// "A" is right in exactly one pass of every question, so circular scores 0.
// Without circular evaluation it is right for the questions whose answer is
// A: q0 and q4 of six (l2: CP q0 of q0,q2,q3,q5; FP-S q4 of q1,q4).
func TestAlwaysA(t *testing.T) {
	for _, withPasses := range []bool{true, false} {
		dir := demo(t, withPasses)
		res := qatest.Run(t, newTask(t, dir, nil), qatest.Const{Text: "A"})
		if res.Metrics["overall"] != 0 || res.Metrics["l2/CP"] != 0 || res.Metrics["l2/FP-S"] != 0 {
			t.Errorf("circular: %v", res.Metrics)
		}
		res = qatest.Run(t, newTask(t, dir, map[string]string{"circular": "false"}), qatest.Const{Text: "A"})
		if res.Metrics["overall"] != 100*2.0/6 || res.Metrics["l2/CP"] != 25 || res.Metrics["l2/FP-S"] != 50 {
			t.Errorf("non-circular: %v", res.Metrics)
		}
	}
}

// The extraction rule is a scoring variant: the same saved predictions
// rescored under last4 lose a leading letter followed by 9 more tokens.
func TestRescoreUnderAnotherRule(t *testing.T) {
	dir := demo(t, true)
	opts := map[string]string{"circular": "false"}
	task := newTask(t, dir, opts)
	m := qatest.Const{Text: "A is the answer because it looks right to me"}
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	res, err := bench.Run(context.Background(), task, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics["overall"] != 100*2.0/6 {
		t.Errorf("legacy: %v", res.Metrics)
	}
	last4 := newTask(t, dir, map[string]string{"circular": "false", "rule": "last4"})
	re, err := bench.Rescore(last4, bench.PredictionsPath(cfg, task, m.Info()), bench.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if re.Metrics["overall"] != 0 || re.NSamples != res.NSamples {
		t.Errorf("last4: %v %+v", re.Metrics, re.NSamples)
	}
}

// --limit must not score a question on some of its passes.
func TestLimitCuttingAQuestion(t *testing.T) {
	task := newTask(t, demo(t, true), nil)
	_, err := bench.Run(context.Background(), task, qatest.Const{Text: "A"}, bench.RunConfig{OutDir: t.TempDir(), Limit: 6})
	if err == nil || !strings.Contains(err.Error(), "question 1 has 2 of its 4 circular passes") {
		t.Errorf("limit 6: %v", err)
	}
	if _, err := bench.Run(context.Background(), task, qatest.Const{Text: "A"}, bench.RunConfig{OutDir: t.TempDir(), Limit: 8}); err != nil {
		t.Errorf("limit 8 (two whole questions): %v", err)
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t, true)
	path := filepath.Join(dir, DemoFile)
	orig, _ := os.ReadFile(path)
	lines := strings.Split(string(orig), "\n")
	edit := func(row int, col string, val string) {
		l := append([]string(nil), lines...)
		f := strings.Split(l[row-1], "\t")
		for i, c := range Columns {
			if c == col {
				f[i] = val
			}
		}
		l[row-1] = strings.Join(f, "\t")
		os.WriteFile(path, []byte(strings.Join(l, "\n")), 0o644)
	}
	check := func(what, want string) {
		t.Helper()
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", what, err, want)
		}
	}
	edit(2, "image", "")
	check("empty image", path+`: row 2 (index 0): field "image" is empty`)
	edit(3, "image", "77")
	check("dangling image reference", path+": row 3 (index 1000000): image refers to index 77, which has no image")
	edit(4, "answer", "E")
	check("answer not an option", path+`: row 4 (index 2000000): answer "E" is not one of its option letters`)
	edit(5, "index", "x5")
	check("bad index", path+`: row 5: index "x5" is not an integer`)
	edit(2, "question", "")
	check("empty question", `row 2 (index 0): field "question" is empty`)
	os.WriteFile(path, []byte(strings.Replace(string(orig), "\timage\t", "\tpicture\t", 1)), 0o644)
	check("no image column", `column "image" is missing`)
	os.WriteFile(path, orig, 0o644)
	os.WriteFile(filepath.Join(dir, "other.tsv"), orig, 0o644)
	check("two TSVs", "several .tsv files")
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"file": DemoFile}}); err != nil {
		t.Errorf("--opt file: %v", err)
	}
}

// A corrupt image fails every pass of its question: counted failures, and
// the question is a miss.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t, true)
	task := newTask(t, dir, nil)
	o := oracle(t, task, false)
	task.images[1] = "bm90IGFuIGltYWdl" // "not an image"
	res := qatest.Run(t, task, o)
	if res.NSamples.Failed != 4 || res.Metrics["overall"] != 100*5.0/6 || res.Metrics["l2/FP-S"] != 50 {
		t.Errorf("%+v %v", res.NSamples, res.Metrics)
	}
	rows, _ := metrics.MMBenchReadTSV(filepath.Join(dir, DemoFile))
	if len(rows) != 22 {
		t.Errorf("%d rows", len(rows))
	}
}
