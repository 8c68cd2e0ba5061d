package pope

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
	"github.com/dualtoken/evalharness/world"
)

const seed = 7

func demo(t *testing.T, nImages int) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 100, nImages, 16); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

func oracle(t *testing.T, task *Task) *qatest.Oracle {
	return qatest.OracleFor(t, task, task.query, func(it bench.Item) string {
		return map[string]string{"yes": "Yes", "no": "No"}[it.Payload.(question).Label]
	})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestDemoLayoutLoads(t *testing.T) {
	task := newTask(t, demo(t, 4), nil)
	items, _ := task.Items()
	if len(items) != 3*4*2 {
		t.Fatalf("%d items, want 24", len(items))
	}
	for i, it := range items {
		q := it.Payload.(question)
		if q.Split != Splits[i/8] || it.ID != q.Split+"/"+itoa(i%8+1) {
			t.Errorf("item %d: id %s split %s", i, it.ID, q.Split)
		}
		s := world.Generate(seed, 100+(i%8)/2)
		if q.Image != ImageName(100+(i%8)/2) {
			t.Errorf("item %s: image %s", it.ID, q.Image)
		}
		present := q.Text == world.ObjectQuestion(s.Color, s.Shape)
		if present != (q.Label == "yes") {
			t.Errorf("item %s: %q labelled %s for a scene of %s %s", it.ID, q.Text, q.Label, s.Color, s.Shape)
		}
		if q.Split == "adversarial" && q.Label == "no" && !strings.HasSuffix(q.Text, " "+s.Shape+" in the image?") {
			t.Errorf("adversarial negative %q should keep the shape %s", q.Text, s.Shape)
		}
		if _, err := os.Stat(q.Path); err != nil {
			t.Error(err)
		}
	}
	if got := task.query(items[0]).Prompt; !strings.HasSuffix(got, "?\nAnswer the question using a single word or phrase.") {
		t.Errorf("llava prompt %q", got)
	}
	plain := newTask(t, demo(t, 1), map[string]string{"prompt": "plain", "splits": "popular"})
	pi, _ := plain.Items()
	if len(pi) != 2 || plain.query(pi[0]).Prompt != pi[0].Payload.(question).Text {
		t.Errorf("plain prompt / split selection: %d items", len(pi))
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestProtocolRoundTrip(t *testing.T) {
	dir := demo(t, 1)
	qatest.CheckProtocolRoundTrip(t, newTask(t, dir, nil), New)
	qatest.CheckProtocolRoundTrip(t, newTask(t, dir, map[string]string{"rule": "vlmevalkit", "splits": "adversarial,random",
		"prompt": "plain", "max_new_tokens": "16", "images": filepath.Join(dir, "val2014")}), New)
}

// A relative images folder is recorded as the absolute folder it named, so
// that the record means the same from wherever score runs.
func TestImagesRecordedAbsolute(t *testing.T) {
	dir := demo(t, 1)
	t.Chdir(dir)
	task := newTask(t, dir, map[string]string{"images": "val2014"})
	if got := task.Protocol()["images"]; got != filepath.Join(dir, "val2014") {
		t.Errorf("protocol images = %v, want %s", got, filepath.Join(dir, "val2014"))
	}
}

func TestOracleIsPerfectAndResumes(t *testing.T) {
	task := newTask(t, demo(t, 4), nil)
	res := qatest.CheckResume(t, task, oracle(t, task))
	for _, s := range append(Splits, "all") {
		for _, k := range []string{"accuracy", "precision", "recall", "f1"} {
			if res.Metrics[s+"/"+k] != 100 {
				t.Errorf("%s/%s = %v", s, k, res.Metrics[s+"/"+k])
			}
		}
		if res.Metrics[s+"/yes_ratio"] != 50 {
			t.Errorf("%s/yes_ratio = %v", s, res.Metrics[s+"/yes_ratio"])
		}
		if !slices.Contains(res.Informational, s+"/yes_ratio") || slices.Contains(res.Informational, s+"/f1") {
			t.Errorf("informational metrics %v: want the yes-ratios only", res.Informational)
		}
	}
	if res.Metrics["f1_avg"] != 100 || res.NSamples.Failed != 0 || !res.HigherIsBetter["f1_avg"] {
		t.Errorf("f1_avg %v, %+v", res.Metrics["f1_avg"], res.NSamples)
	}
}

// Half the labels are yes: answering "Yes" always gives TP = FP = N/2,
// precision 1/2, recall 1, F1 2/3, accuracy 1/2, yes-ratio 1.
func TestAlwaysYesAndAlwaysNo(t *testing.T) {
	dir := demo(t, 3)
	for _, rule := range []string{"official", "vlmevalkit"} {
		res := qatest.Run(t, newTask(t, dir, map[string]string{"rule": rule}), qatest.Const{Text: "Yes"})
		for _, s := range Splits {
			want := map[string]float64{"accuracy": 50, "precision": 50, "recall": 100, "f1": 200.0 / 3, "yes_ratio": 100}
			for k, v := range want {
				if !near(res.Metrics[s+"/"+k], v) {
					t.Errorf("%s: %s/%s = %v, want %v", rule, s, k, res.Metrics[s+"/"+k], v)
				}
			}
		}
		if !near(res.Metrics["f1_avg"], 200.0/3) {
			t.Errorf("%s: f1_avg %v", rule, res.Metrics["f1_avg"])
		}
	}
	// "No, there is not." → no everywhere: no true positives, so precision,
	// recall and F1 are 0 (the reference's zero-division value), accuracy 1/2.
	res := qatest.Run(t, newTask(t, dir, nil), qatest.Const{Text: "No, there is not."})
	if res.Metrics["f1_avg"] != 0 || res.Metrics["random/accuracy"] != 50 || res.Metrics["random/yes_ratio"] != 0 {
		t.Errorf("always no: %v", res.Metrics)
	}
	// POPE's official extraction reads only the text before the first period:
	// "Yes. No" is a yes.
	res = qatest.Run(t, newTask(t, dir, map[string]string{"splits": "random"}), qatest.Const{Text: "Yes. No"})
	if res.Metrics["random/yes_ratio"] != 100 {
		t.Errorf("extraction before the first period: %v", res.Metrics)
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t, 2)
	path := filepath.Join(dir, "coco_pope_popular.json")
	orig, _ := os.ReadFile(path)
	lines := strings.Split(string(orig), "\n")
	write := func(lineNo int, text string) {
		l := append([]string(nil), lines...)
		l[lineNo-1] = text
		os.WriteFile(path, []byte(strings.Join(l, "\n")), 0o644)
	}
	for _, c := range []struct{ line, want string }{
		{`{"question_id": 3, "image": "x.jpg", "text": "Is there a cat in the image?"}`, path + ":3: want fields \"question_id\" and \"label\""},
		{`{"question_id": 3, "image": "x.jpg", "text": "q", "label": "maybe"}`, `question_id 3: label "maybe", want yes or no`},
		{`{"question_id": 3, "text": "q", "label": "no"}`, `question_id 3: field "image" is missing`},
		{`{"question_id": 3, "image": `, path + ":3:"},
	} {
		write(3, c.line)
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.line, err, c.want)
		}
	}
	os.WriteFile(path, orig, 0o644)
	os.Remove(filepath.Join(dir, "coco_pope_random.json"))
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), "coco_pope_random.json") {
		t.Errorf("missing split file: %v", err)
	}
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"splits": "popular,hard"}}); err == nil || !strings.Contains(err.Error(), `"hard"`) {
		t.Errorf("unknown split: %v", err)
	}
}

// An unreadable image fails its questions (two per split), which count as
// answered wrongly: per split TP 3, FN 1, FP 1, TN 3 for the oracle.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t, 4)
	task := newTask(t, dir, nil)
	o := oracle(t, task)
	if err := os.WriteFile(filepath.Join(dir, "val2014", ImageName(101)), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := qatest.Run(t, task, o)
	if res.NSamples.Failed != 6 || res.NSamples.Total != 24 {
		t.Fatalf("counts %+v", res.NSamples)
	}
	for _, s := range Splits {
		for _, k := range []string{"accuracy", "precision", "recall", "f1"} {
			if !near(res.Metrics[s+"/"+k], 75) {
				t.Errorf("%s/%s = %v, want 75", s, k, res.Metrics[s+"/"+k])
			}
		}
		if res.Metrics[s+"/yes_ratio"] != 50 {
			t.Errorf("%s/yes_ratio = %v", s, res.Metrics[s+"/yes_ratio"])
		}
		if !slices.Contains(res.Informational, s+"/yes_ratio") || slices.Contains(res.Informational, s+"/f1") {
			t.Errorf("informational metrics %v: want the yes-ratios only", res.Informational)
		}
	}
}
