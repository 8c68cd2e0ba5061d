package metrics

// SEED-Bench, image part (dimensions 1-9). See shared/design/benchmarks.md §5.
//
// Two modes, named in every report:
//   - SEEDGeneration (LLaVA-1.5 scripts/convert_seed_for_submission.py): the
//     generated text must equal the answer letter exactly (`text == answer`, no
//     strip, no case folding); a question without a prediction is wrong.
//   - SEEDLikelihood (the official AILab-CVC/SEED-Bench eval.py): each choice's
//     loss is the mean token cross-entropy of its text given the question; the
//     prediction is the choice with the lowest loss (ties: the first, where
//     torch.argsort leaves the order unspecified).
// Per dimension accuracy = correct/count·100; overall = all correct / all
// questions ·100 (question-weighted).

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
)

// SEEDMode names the SEED-Bench scoring mode.
type SEEDMode string

const (
	// SEEDGeneration: generated text == answer letter (LLaVA-1.5).
	SEEDGeneration SEEDMode = "generation"
	// SEEDLikelihood: lowest mean token cross-entropy among the choices
	// (SEED-Bench's official ranking).
	SEEDLikelihood SEEDMode = "likelihood"
)

// SEEDImageDimensions are the names of dimensions 1-9 (the image part).
var SEEDImageDimensions = map[int]string{
	1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Location", 4: "Instance Attributes",
	5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
	9: "Text Understanding",
}

// SEEDQuestion is one entry of SEED-Bench.json's "questions".
type SEEDQuestion struct {
	QuestionID     string
	QuestionTypeID int
	DataType       string // image or video
	DataID         string
	Question       string
	Choices        [4]string // choice_a..choice_d
	Answer         string    // A..D
}

// SEEDExactMatch is LLaVA's generation-mode test: text == answer, exactly.
func SEEDExactMatch(text, answer string) bool { return text == answer }

// SEEDChoiceLoss is the mean token cross-entropy of a choice (its per-token
// negative log-likelihoods).
func SEEDChoiceLoss(tokenNLL []float64) float64 {
	if len(tokenNLL) == 0 {
		return math.Inf(1)
	}
	s := 0.0
	for _, x := range tokenNLL {
		s += x
	}
	return s / float64(len(tokenNLL))
}

// SEEDLikelihoodPredict returns the letter (A, B, ...) of the lowest loss; NaN
// losses never win; "" if there is no finite choice.
func SEEDLikelihoodPredict(losses []float64) string {
	best := -1
	for i, l := range losses {
		if math.IsNaN(l) {
			continue
		}
		if best < 0 || l < losses[best] {
			best = i
		}
	}
	if best < 0 || best >= 26 {
		return ""
	}
	return string(rune('A' + best))
}

// SEEDSample is the per-question output.
type SEEDSample struct {
	QuestionID     string
	QuestionTypeID int
	Prediction     string // generation: the text; likelihood: the chosen letter
	Answer         string
	Correct        bool
}

// SEEDDimension is one dimension's result.
type SEEDDimension struct {
	ID       int
	Name     string
	Count    int
	Correct  int
	Accuracy float64 // correct/count·100
}

// SEEDReport is the result over the scored questions.
type SEEDReport struct {
	Mode       SEEDMode
	DataType   string // the data_type scored ("image"), "" = all
	Count      int
	Correct    int
	Accuracy   float64 // question-weighted, ·100
	Dimensions []SEEDDimension
	Samples    []SEEDSample
}

// SEEDEvaluate scores the questions of one data type ("image"; "" for all).
// Generation: predictions maps question_id → generated text. Likelihood:
// losses maps question_id → per-choice losses (4). A question with neither
// counts as wrong. names maps dimension ids to names (nil: SEEDImageDimensions).
func SEEDEvaluate(mode SEEDMode, questions []SEEDQuestion, dataType string, predictions map[string]string, losses map[string][]float64, names map[int]string) (*SEEDReport, error) {
	if mode != SEEDGeneration && mode != SEEDLikelihood {
		return nil, fmt.Errorf("seed: unknown mode %q (want generation or likelihood)", mode)
	}
	var samples []SEEDSample
	for _, q := range questions {
		if dataType != "" && q.DataType != dataType {
			continue
		}
		s := SEEDSample{QuestionID: q.QuestionID, QuestionTypeID: q.QuestionTypeID, Answer: q.Answer}
		if mode == SEEDGeneration {
			if p, ok := predictions[q.QuestionID]; ok {
				s.Prediction = p
				s.Correct = SEEDExactMatch(p, q.Answer)
			}
		} else if l, ok := losses[q.QuestionID]; ok {
			if len(l) != 4 {
				return nil, fmt.Errorf("seed: question %s: %d choice losses, want 4", q.QuestionID, len(l))
			}
			s.Prediction = SEEDLikelihoodPredict(l)
			s.Correct = s.Prediction == q.Answer
		}
		samples = append(samples, s)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("seed: no questions of data type %q", dataType)
	}
	rep := SEEDAggregate(mode, samples, names)
	rep.DataType = dataType
	return rep, nil
}

// SEEDAggregate is the corpus half: per-dimension and question-weighted
// accuracy over scored samples (names nil: SEEDImageDimensions).
func SEEDAggregate(mode SEEDMode, samples []SEEDSample, names map[int]string) *SEEDReport {
	if names == nil {
		names = SEEDImageDimensions
	}
	rep := &SEEDReport{Mode: mode, Samples: samples}
	dims := map[int]*SEEDDimension{}
	for _, s := range samples {
		d := dims[s.QuestionTypeID]
		if d == nil {
			d = &SEEDDimension{ID: s.QuestionTypeID, Name: names[s.QuestionTypeID]}
			dims[s.QuestionTypeID] = d
		}
		d.Count++
		rep.Count++
		if s.Correct {
			d.Correct++
			rep.Correct++
		}
	}
	for _, d := range dims {
		d.Accuracy = float64(d.Correct) / float64(d.Count) * 100
		rep.Dimensions = append(rep.Dimensions, *d)
	}
	sort.Slice(rep.Dimensions, func(i, j int) bool { return rep.Dimensions[i].ID < rep.Dimensions[j].ID })
	if rep.Count > 0 {
		rep.Accuracy = float64(rep.Correct) / float64(rep.Count) * 100
	}
	return rep
}

// SEEDReadQuestions reads SEED-Bench.json: its questions and the dimension
// names (question_type: name → id).
func SEEDReadQuestions(path string) ([]SEEDQuestion, map[int]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Questions []struct {
			Answer         string          `json:"answer"`
			ChoiceA        string          `json:"choice_a"`
			ChoiceB        string          `json:"choice_b"`
			ChoiceC        string          `json:"choice_c"`
			ChoiceD        string          `json:"choice_d"`
			DataID         json.RawMessage `json:"data_id"`
			DataType       string          `json:"data_type"`
			Question       string          `json:"question"`
			QuestionID     json.RawMessage `json:"question_id"`
			QuestionTypeID *int            `json:"question_type_id"`
		} `json:"questions"`
		QuestionType map[string]int `json:"question_type"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	if doc.Questions == nil {
		return nil, nil, fmt.Errorf("%s: field \"questions\" is missing", path)
	}
	names := map[int]string{}
	for n, id := range doc.QuestionType {
		names[id] = n
	}
	out := make([]SEEDQuestion, len(doc.Questions))
	for i, q := range doc.Questions {
		id := seedIDString(q.QuestionID)
		if id == "" {
			return nil, nil, fmt.Errorf("%s: questions[%d]: field \"question_id\" is missing", path, i)
		}
		if q.QuestionTypeID == nil {
			return nil, nil, fmt.Errorf("%s: questions[%d]: field \"question_type_id\" is missing", path, i)
		}
		out[i] = SEEDQuestion{QuestionID: id, QuestionTypeID: *q.QuestionTypeID, DataType: q.DataType,
			DataID: seedIDString(q.DataID), Question: q.Question,
			Choices: [4]string{q.ChoiceA, q.ChoiceB, q.ChoiceC, q.ChoiceD}, Answer: q.Answer}
	}
	return out, names, nil
}

// seedIDString reads a JSON string or number as its text (SEED ids are
// strings; LLaVA answer files may carry them as ints).
func seedIDString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		return n.String()
	}
	return string(raw)
}

// SEEDReadAnswers reads a LLaVA answer file (JSON lines with question_id and
// text) into question_id → text.
func SEEDReadAnswers(path string) (map[string]string, error) {
	out := map[string]string{}
	err := qaReadJSONL(path, func(line int, raw []byte) error {
		var a struct {
			QuestionID json.RawMessage `json:"question_id"`
			Text       *string         `json:"text"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		id := seedIDString(a.QuestionID)
		if id == "" || a.Text == nil {
			return fmt.Errorf("want fields \"question_id\" and \"text\"")
		}
		out[id] = *a.Text
		return nil
	})
	return out, err
}
