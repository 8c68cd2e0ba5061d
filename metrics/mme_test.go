package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestParityMME scores every subtask listed in mme.json from
// mme/responses/<subtask>.txt and checks acc, acc_plus, score, other and the
// question count, then each total (Perception, Cognition) as the sum, in file
// order, of the subtasks listed before it.
func TestParityMME(t *testing.T) {
	dir := fixtures.Dir(t, "scorers")
	raw, err := os.ReadFile(filepath.Join(dir, "mme.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		Tasks json.RawMessage `json:"tasks"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	keys, vals := qaOrderedObject(t, top.Tasks)
	type task struct {
		Acc       float64 `json:"acc"`
		AccPlus   float64 `json:"acc_plus"`
		Score     float64 `json:"score"`
		Other     int     `json:"other"`
		Questions int     `json:"questions"`
	}
	var pending []*MMETask
	all := map[string][]MMELine{}
	totals := map[string]float64{}
	nTasks := 0
	for i, k := range keys {
		var total float64
		if json.Unmarshal(vals[i], &total) == nil {
			if len(pending) == 0 {
				t.Fatalf("mme.json: total %q has no subtasks before it", k)
			}
			qaClose(t, k, MMETotal(pending), total)
			totals[k] = total
			pending = nil
			continue
		}
		var want task
		if err := json.Unmarshal(vals[i], &want); err != nil {
			t.Fatalf("mme.json: tasks.%s: %v", k, err)
		}
		lines, err := MMEReadTask(filepath.Join(dir, "mme", "responses", k+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		all[k] = lines
		got, err := MMEScoreTask(k, lines)
		if err != nil {
			t.Fatal(err)
		}
		nTasks++
		qaClose(t, k+".acc", got.Acc, want.Acc)
		qaClose(t, k+".acc_plus", got.AccPlus, want.AccPlus)
		qaClose(t, k+".score", got.Score, want.Score)
		if got.Other != want.Other || got.Questions != want.Questions {
			t.Errorf("%s: other %d questions %d, want %d and %d", k, got.Other, got.Questions, want.Other, want.Questions)
		}
		pending = append(pending, got)
	}
	if nTasks == 0 || len(totals) == 0 {
		t.Fatalf("mme.json: %d subtasks, %d totals", nTasks, len(totals))
	}
	if len(pending) > 0 {
		t.Errorf("mme.json: %d subtasks after the last total", len(pending))
	}
	// The full evaluator, when the file holds exactly the official 14 subtasks.
	if len(all) == len(MMEPerception)+len(MMECognition) {
		rep, err := MMEEvaluate(all)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := totals["Perception"]; ok {
			qaClose(t, "MMEEvaluate Perception", rep.Perception, w)
		}
		if w, ok := totals["Cognition"]; ok {
			qaClose(t, "MMEEvaluate Cognition", rep.Cognition, w)
		}
	}
}

// qaOrderedObject returns a JSON object's keys and raw values in file order.
func qaOrderedObject(t *testing.T, raw json.RawMessage) ([]string, []json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("want a JSON object, got %v (%v)", tok, err)
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		vals = append(vals, v)
	}
	return keys, vals
}

func TestMMEParse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"yes", "yes"},
		{"No", "no"},
		{"YES!", "yes"},
		{"yes.", "yes"},
		{"Yes, there is a dog.", "yes"},
		{"No, it is not.", "no"},
		{"Not sure.", "no"}, // "not " contains "no"
		{"nope", "no"},
		{"noo", "no"},
		{"none of them", "no"}, // "none"
		{"nothing", "no"},      // "noth"
		{"Yesterday", "yes"},   // "yest"
		{"It is yes", "other"}, // "it i"
		{"I think yes", "other"},
		{"The answer is no", "other"},
		{" yes", "yes"},    // " yes" within 4 characters
		{"  yes", "other"}, // "  ye"
		{"ye", "other"},
		{"", "other"},
		{"N/A", "other"},
		{"maybe", "other"},
		{"a no", "no"},  // "a no"
		{"éyes", "yes"}, // 4 characters, not bytes
	} {
		if got := MMEParse(c.in); got != c.want {
			t.Errorf("MMEParse(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMMEScoreTask(t *testing.T) {
	lines := []MMELine{
		{"1.jpg", "q", "Yes", "yes"}, {"1.jpg", "q", "No", "no"}, // both right
		{"2.jpg", "q", "Yes", "yes"}, {"2.jpg", "q", "No", "yes"}, // one right
		{"3.jpg", "q", "Yes", "maybe"}, {"3.jpg", "q", "No", "No, never"}, // other + right
	}
	got, err := MMEScoreTask("t", lines)
	if err != nil {
		t.Fatal(err)
	}
	if got.Correct != 4 || got.PlusCorrect != 1 || got.Other != 1 || got.Images != 3 {
		t.Fatalf("%+v", got)
	}
	qaClose(t, "acc", got.Acc, 4.0/6)
	qaClose(t, "acc+", got.AccPlus, 1.0/3)
	qaClose(t, "score", got.Score, 4.0/6*100+1.0/3*100)
	if _, err := MMEScoreTask("t", lines[:5]); err == nil || !strings.Contains(err.Error(), "even") {
		t.Errorf("odd line count: err = %v", err)
	}
	bad := append([]MMELine{}, lines[:2]...)
	bad[0].GT = "maybe"
	if _, err := MMEScoreTask("t", bad); err == nil || !strings.Contains(err.Error(), "GT") {
		t.Errorf("bad GT: err = %v", err)
	}
}

func TestMMEFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "count.txt")
	lines := []MMELine{{"a.jpg", "Is it\tso?", "Yes", "yes,\nreally"}, {"a.jpg", "q2", "No", "no"}}
	if err := MMEWriteTask(p, lines); err != nil {
		t.Fatal(err)
	}
	back, err := MMEReadTask(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Question != "Is it so?" || back[0].Response != "yes, really" {
		t.Errorf("round trip: %+v", back)
	}
	os.WriteFile(p, []byte("a.jpg\tq\tYes\n"), 0o644)
	if _, err := MMEReadTask(p); err == nil || !strings.Contains(err.Error(), p+":1") || !strings.Contains(err.Error(), "want 4") {
		t.Errorf("err = %v", err)
	}
	// Python's universal newlines: "\r" ends a line too.
	os.WriteFile(p, []byte("a\tq\tYes\tyes\r\na\tq\tNo\tno\rb\tq\tYes\tyes\nb\tq\tNo\tno\n"), 0o644)
	if back, err := MMEReadTask(p); err != nil || len(back) != 4 {
		t.Errorf("universal newlines: %d lines, %v", len(back), err)
	}
	if _, err := MMEEvaluate(map[string][]MMELine{"count": lines}); err == nil || !strings.Contains(err.Error(), "existence") {
		t.Errorf("missing subtasks: err = %v", err)
	}
}
