package metrics

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestParityPOPE scores every split listed in pope.json (its question and
// answer files) and checks the counts and metrics of POPE's evaluate.py.
func TestParityPOPE(t *testing.T) {
	dir := fixtures.Dir(t, "scorers")
	type split struct {
		Questions, Answers string
		TP, FP, TN, FN     int
		Accuracy           float64 `json:"accuracy"`
		Precision          float64 `json:"precision"`
		Recall             float64 `json:"recall"`
		F1                 float64 `json:"f1"`
		YesRatio           float64 `json:"yes_ratio"`
	}
	var fx struct {
		Splits map[string]split `json:"splits"`
	}
	qaReadJSON(t, filepath.Join(dir, "pope.json"), &fx)
	if len(fx.Splits) == 0 {
		t.Fatal("pope.json lists no splits")
	}
	names := make([]string, 0, len(fx.Splits))
	for n := range fx.Splits {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want := fx.Splits[name]
		t.Run(name, func(t *testing.T) {
			qs, err := POPEReadQuestions(filepath.Join(dir, want.Questions))
			if err != nil {
				t.Fatal(err)
			}
			ans, err := POPEReadAnswers(filepath.Join(dir, want.Answers))
			if err != nil {
				t.Fatal(err)
			}
			m, err := POPEEvaluate(POPEOfficial, qs, ans)
			if err != nil {
				t.Fatal(err)
			}
			if m.TP != want.TP || m.FP != want.FP || m.TN != want.TN || m.FN != want.FN {
				t.Errorf("TP/FP/TN/FN = %d/%d/%d/%d, want %d/%d/%d/%d", m.TP, m.FP, m.TN, m.FN, want.TP, want.FP, want.TN, want.FN)
			}
			qaClose(t, "accuracy", m.Accuracy, want.Accuracy)
			qaClose(t, "precision", m.Precision, want.Precision)
			qaClose(t, "recall", m.Recall, want.Recall)
			qaClose(t, "f1", m.F1, want.F1)
			qaClose(t, "yes_ratio", m.YesRatio, want.YesRatio)
			if m.N != len(qs) {
				t.Errorf("N = %d, want %d", m.N, len(qs))
			}
		})
	}
}

func TestPOPEExtract(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Yes", "yes"},
		{"No", "no"},
		{"No.", "no"},
		{"no", "no"},
		{"NO", "yes"}, // only No/not/no count
		{"Nope", "yes"},
		{"No, there is no dog.", "no"},
		{"No,there is", "yes"}, // commas are deleted, not split on: "Nothere"
		{"No, there is", "no"},
		{"There is not a dog.", "no"},
		{"I do not think so", "no"},
		{"Yes. No.", "yes"},                   // only the first sentence
		{"It is 2.5 meters away. No.", "yes"}, // the first "." ends it
		{"There is a dog\nno", "yes"},         // split on single spaces only
		{"There is a dog  no", "no"},          // empty tokens are harmless
		{"", "yes"},
		{"not.", "no"},
		{"Not at all", "yes"},
	} {
		if got := POPEExtract(c.in); got != c.want {
			t.Errorf("POPEExtract(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPOPEExtractVLMEvalKit(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Yes", "Yes"},
		{"YES!", "Yes"},
		{"No.", "No"},
		{"No, there is no dog.", "No"},
		{"Yes, no doubt.", "Unknown"},
		{"Nope", "Unknown"},
		{"There is not a dog.", "Unknown"},
		{"yes-", "Yes"},
		{"", "Unknown"},
	} {
		if got := POPEExtractVLMEvalKit(c.in); got != c.want {
			t.Errorf("POPEExtractVLMEvalKit(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPOPEScore(t *testing.T) {
	labels := []string{"yes", "yes", "no", "no", "yes"}
	answers := []string{"Yes.", "No", "yes", "No.", "Sure"}
	m, err := POPEScore(POPEOfficial, labels, answers)
	if err != nil {
		t.Fatal(err)
	}
	// preds: yes no yes no yes → TP 2, FN 1, FP 1, TN 1.
	if m.TP != 2 || m.FN != 1 || m.FP != 1 || m.TN != 1 {
		t.Fatalf("counts %+v", m)
	}
	qaClose(t, "accuracy", m.Accuracy, 3.0/5)
	qaClose(t, "precision", m.Precision, 2.0/3)
	qaClose(t, "recall", m.Recall, 2.0/3)
	qaClose(t, "f1", m.F1, 2*(2.0/3)*(2.0/3)/(4.0/3))
	qaClose(t, "yes_ratio", m.YesRatio, 3.0/5)

	// VLMEvalKit: "Sure" is Unknown: wrong, and counted as no.
	v, err := POPEScore(POPEVLMEvalKit, labels, answers)
	if err != nil {
		t.Fatal(err)
	}
	if v.Unknown != 1 || v.TP != 1 || v.FN != 2 || v.FP != 1 || v.TN != 1 {
		t.Fatalf("vlmevalkit counts %+v", v)
	}
	qaClose(t, "vlmevalkit accuracy", v.Accuracy, 2.0/5)

	// No yes predictions: the reference divides by zero; we report 0.
	z, err := POPEScore(POPEOfficial, []string{"yes", "no"}, []string{"no", "no"})
	if err != nil || z.Precision != 0 || z.Recall != 0 || z.F1 != 0 {
		t.Errorf("degenerate split: %+v, %v", z, err)
	}
	if _, err := POPEScore(POPEOfficial, labels, answers[:2]); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestPOPEFilesErrors(t *testing.T) {
	dir := t.TempDir()
	q := filepath.Join(dir, "q.json")
	os.WriteFile(q, []byte(`{"question_id": 1, "label": "yes"}`+"\n"+`{"question_id": 2}`+"\n"), 0o644)
	if _, err := POPEReadQuestions(q); err == nil || !strings.Contains(err.Error(), q+":2") || !strings.Contains(err.Error(), "label") {
		t.Errorf("err = %v, want file:line and the field", err)
	}
	a := filepath.Join(dir, "a.jsonl")
	os.WriteFile(a, []byte(`{"question_id": 1, "text": "Yes"}`+"\n"), 0o644)
	ans, err := POPEReadAnswers(a)
	if err != nil || ans[1] != "Yes" {
		t.Errorf("LLaVA-style answers: %v, %v", ans, err)
	}
	if _, err := POPEEvaluate(POPEOfficial, []POPEQuestion{{QuestionID: 7, Label: "no"}}, ans); err == nil || !strings.Contains(err.Error(), "7") {
		t.Errorf("missing answer: err = %v", err)
	}
}
