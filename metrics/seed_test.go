package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSEEDExactMatch(t *testing.T) {
	for _, c := range []struct {
		text, answer string
		want         bool
	}{
		{"A", "A", true},
		{"B", "A", false},
		{"A.", "A", false},  // no punctuation stripping
		{" A", "A", false},  // no whitespace stripping
		{"A\n", "A", false}, // idem
		{"a", "A", false},   // no case folding
		{"A. dog", "A", false},
		{"", "A", false},
	} {
		if got := SEEDExactMatch(c.text, c.answer); got != c.want {
			t.Errorf("SEEDExactMatch(%q, %q) = %v, want %v", c.text, c.answer, got, c.want)
		}
	}
}

func TestSEEDLikelihood(t *testing.T) {
	for _, c := range []struct {
		losses []float64
		want   string
	}{
		{[]float64{2.0, 1.5, 1.7, 3.0}, "B"},
		{[]float64{1.5, 1.5, 1.7, 3.0}, "A"}, // tie: the first
		{[]float64{math.NaN(), 2, 1, 3}, "C"},
		{[]float64{4, 3, 2, 1}, "D"},
		{[]float64{math.NaN()}, ""},
	} {
		if got := SEEDLikelihoodPredict(c.losses); got != c.want {
			t.Errorf("SEEDLikelihoodPredict(%v) = %q, want %q", c.losses, got, c.want)
		}
	}
	qaClose(t, "mean CE", SEEDChoiceLoss([]float64{1, 2, 4}), 7.0/3)
}

func TestSEEDEvaluate(t *testing.T) {
	qs := []SEEDQuestion{
		{QuestionID: "1", QuestionTypeID: 1, DataType: "image", Answer: "A"},
		{QuestionID: "2", QuestionTypeID: 1, DataType: "image", Answer: "B"},
		{QuestionID: "3", QuestionTypeID: 2, DataType: "image", Answer: "C"},
		{QuestionID: "4", QuestionTypeID: 2, DataType: "image", Answer: "D"},
		{QuestionID: "5", QuestionTypeID: 2, DataType: "image", Answer: "A"},
		{QuestionID: "6", QuestionTypeID: 10, DataType: "video", Answer: "A"},
	}
	preds := map[string]string{"1": "A", "2": "B.", "3": "C", "4": "D", "6": "A"} // 5 missing
	rep, err := SEEDEvaluate(SEEDGeneration, qs, "image", preds, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count != 5 || rep.Correct != 3 || len(rep.Dimensions) != 2 {
		t.Fatalf("%+v", rep)
	}
	qaClose(t, "dim 1", rep.Dimensions[0].Accuracy, 1.0/2*100)
	qaClose(t, "dim 2", rep.Dimensions[1].Accuracy, 2.0/3*100)
	qaClose(t, "overall (question-weighted)", rep.Accuracy, 3.0/5*100)
	if rep.Dimensions[1].Name != "Instance Identity" {
		t.Errorf("dimension 2 is %q", rep.Dimensions[1].Name)
	}

	losses := map[string][]float64{"1": {1, 2, 3, 4}, "2": {2, 1, 3, 4}, "3": {1, 2, 3, 4}, "4": {4, 3, 2, 1}, "5": {1, 1, 1, 1}}
	rep, err = SEEDEvaluate(SEEDLikelihood, qs, "image", nil, losses, nil)
	if err != nil || rep.Correct != 4 {
		t.Fatalf("likelihood: %+v, %v", rep, err)
	}
	losses["1"] = []float64{1, 2}
	if _, err := SEEDEvaluate(SEEDLikelihood, qs, "image", nil, losses, nil); err == nil || !strings.Contains(err.Error(), "want 4") {
		t.Errorf("short losses: err = %v", err)
	}
	if _, err := SEEDEvaluate("ranking", qs, "", nil, nil, nil); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestSEEDReadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "SEED-Bench.json")
	os.WriteFile(p, []byte(`{"questions":[{"answer":"A","choice_a":"x","choice_b":"y","choice_c":"z","choice_d":"w",
		"data_id":"1.jpg","data_type":"image","question":"Q?","question_id":"101","question_type_id":3}],
		"question_type":{"Instance Location":3}}`), 0o644)
	qs, names, err := SEEDReadQuestions(p)
	if err != nil || len(qs) != 1 || qs[0].QuestionID != "101" || qs[0].Choices[3] != "w" || names[3] != "Instance Location" {
		t.Fatalf("%+v %v %v", qs, names, err)
	}
	a := filepath.Join(dir, "answers.jsonl")
	os.WriteFile(a, []byte(`{"question_id": 101, "text": "A"}`+"\n"), 0o644)
	preds, err := SEEDReadAnswers(a)
	if err != nil || preds["101"] != "A" {
		t.Fatalf("%v %v", preds, err)
	}
	os.WriteFile(p, []byte(`{"questions":[{"answer":"A","question_id":"1"}]}`), 0o644)
	if _, _, err := SEEDReadQuestions(p); err == nil || !strings.Contains(err.Error(), "question_type_id") {
		t.Errorf("err = %v", err)
	}
}
