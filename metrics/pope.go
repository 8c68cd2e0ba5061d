package metrics

// POPE (AoiDragon/POPE evaluate.py, identical to LLaVA's llava/eval/eval_pope.py)
// and VLMEvalKit's POPE rating. See shared/design/benchmarks.md §2.
//
// POPE's extraction: keep the text before the first "."; delete ","; split on
// single spaces; any token exactly "No", "not" or "no" → no, else yes. A label
// other than "no" counts as yes. Yes is the positive class.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// POPEVariant names a POPE scoring convention.
type POPEVariant string

const (
	// POPEOfficial is POPE's evaluate.py / LLaVA's eval_pope.py.
	POPEOfficial POPEVariant = "official"
	// POPEVLMEvalKit is VLMEvalKit's YOrN_Extraction + POPE_rating (exact
	// matching, no judge): lowercase, its process_punctuation, whitespace split;
	// "yes" without "no" → Yes, "no" without "yes" → No, else Unknown. Unknown
	// is wrong for accuracy and counts as "no" for precision/recall/F1.
	POPEVLMEvalKit POPEVariant = "vlmevalkit"
)

// ParsePOPEVariant accepts "official" or "vlmevalkit" ("" = official).
func ParsePOPEVariant(s string) (POPEVariant, error) {
	switch v := POPEVariant(strings.ToLower(strings.TrimSpace(s))); v {
	case "", POPEOfficial:
		return POPEOfficial, nil
	case POPEVLMEvalKit:
		return v, nil
	}
	return "", fmt.Errorf("pope: unknown variant %q (want official or vlmevalkit)", s)
}

// POPEExtract is POPE's answer extraction: "yes" or "no".
func POPEExtract(text string) string {
	if i := strings.IndexByte(text, '.'); i >= 0 {
		text = text[:i]
	}
	text = strings.ReplaceAll(text, ",", "")
	for _, w := range strings.Split(text, " ") {
		if w == "No" || w == "not" || w == "no" {
			return "no"
		}
	}
	return "yes"
}

// POPEExtractVLMEvalKit is VLMEvalKit's YOrN_Extraction: "Yes", "No" or
// "Unknown".
func POPEExtractVLMEvalKit(text string) string {
	words := qaPySplit(popeVLMPunctuation(qaPyLower(text)))
	yes, no := false, false
	for _, w := range words {
		yes = yes || w == "yes"
		no = no || w == "no"
	}
	switch {
	case yes && !no:
		return "Yes"
	case no && !yes:
		return "No"
	}
	return "Unknown"
}

// popeVLMPunctuation is VLMEvalKit's smp.process_punctuation: the VQA
// punctuation pass, but its period regex has a working lookbehind
// (`(?<!\d)\.(?!\d)`), still limited to 32 deletions.
func popeVLMPunctuation(in string) string {
	commaHit := vqaHasDigitCommaDigit(in)
	out := in
	for _, p := range vqaPunct {
		if commaHit || strings.Contains(in, p+" ") || strings.Contains(in, " "+p) {
			out = strings.ReplaceAll(out, p, "")
		} else {
			out = strings.ReplaceAll(out, p, " ")
		}
	}
	rs := []rune(out)
	var b strings.Builder
	removed := 0
	for i, r := range rs {
		if r == '.' && removed < vqaPeriodLimit &&
			(i == 0 || !unicode.IsDigit(rs[i-1])) && (i+1 == len(rs) || !unicode.IsDigit(rs[i+1])) {
			removed++
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// POPEQuestion is one line of coco_pope_<split>.json.
type POPEQuestion struct {
	QuestionID int64  `json:"question_id"`
	Image      string `json:"image"`
	Text       string `json:"text"`
	Label      string `json:"label"`
}

// POPESample is the per-question output.
type POPESample struct {
	QuestionID int64
	Label      string // "yes" or "no" (anything but "no" reads as yes)
	Answer     string // the model's text
	Extracted  string // official: yes/no; vlmevalkit: Yes/No/Unknown
	Correct    bool
}

// POPEMetrics are one split's numbers (fractions, yes = positive).
type POPEMetrics struct {
	Variant               POPEVariant
	N                     int
	TP, FP, TN, FN        int
	Unknown               int // vlmevalkit: answers extracted as Unknown
	Accuracy              float64
	Precision, Recall, F1 float64 // 0 where the reference would divide by zero
	YesRatio              float64 // predicted yes / N
	Samples               []POPESample
}

// POPEScoreSample extracts and judges one answer: the per-sample half.
func POPEScoreSample(variant POPEVariant, label, answer string) POPESample {
	gtYes := label != "no"
	s := POPESample{Label: "yes", Answer: answer}
	if !gtYes {
		s.Label = "no"
	}
	if variant == POPEVLMEvalKit {
		s.Extracted = POPEExtractVLMEvalKit(answer)
		s.Correct = (gtYes && s.Extracted == "Yes") || (!gtYes && s.Extracted == "No")
	} else {
		s.Extracted = POPEExtract(answer)
		s.Correct = (s.Extracted == "yes") == gtYes
	}
	return s
}

// POPEScore scores one split. labels[i] and answers[i] belong to the same
// question (POPEEvaluate joins them by question_id).
func POPEScore(variant POPEVariant, labels, answers []string) (*POPEMetrics, error) {
	if len(labels) != len(answers) {
		return nil, fmt.Errorf("pope: %d labels but %d answers", len(labels), len(answers))
	}
	samples := make([]POPESample, len(labels))
	for i := range labels {
		samples[i] = POPEScoreSample(variant, labels[i], answers[i])
	}
	return POPEAggregate(variant, samples)
}

// POPEAggregate is the corpus half: counts and metrics over one split's
// samples (yes = positive; a VLMEvalKit Unknown counts as a "no" prediction).
func POPEAggregate(variant POPEVariant, samples []POPESample) (*POPEMetrics, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("pope: no questions")
	}
	m := &POPEMetrics{Variant: variant, N: len(samples), Samples: samples}
	yes, correct := 0, 0
	for _, s := range samples {
		predYes := s.Extracted == "yes" || s.Extracted == "Yes"
		gtYes := s.Label != "no"
		if s.Extracted == "Unknown" {
			m.Unknown++
		}
		if s.Correct {
			correct++
		}
		if predYes {
			yes++
		}
		switch {
		case predYes && gtYes:
			m.TP++
		case predYes && !gtYes:
			m.FP++
		case !predYes && !gtYes:
			m.TN++
		default:
			m.FN++
		}
	}
	n := float64(m.N)
	if variant == POPEVLMEvalKit {
		m.Accuracy = float64(correct) / n
	} else {
		m.Accuracy = float64(m.TP+m.TN) / n
	}
	if m.TP+m.FP > 0 {
		m.Precision = float64(m.TP) / float64(m.TP+m.FP)
	}
	if m.TP+m.FN > 0 {
		m.Recall = float64(m.TP) / float64(m.TP+m.FN)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	m.YesRatio = float64(yes) / n
	return m, nil
}

// POPEEvaluate joins answers (question_id → text) to the split's questions by
// question_id and scores them; every question needs an answer.
func POPEEvaluate(variant POPEVariant, questions []POPEQuestion, answers map[int64]string) (*POPEMetrics, error) {
	labels := make([]string, len(questions))
	texts := make([]string, len(questions))
	for i, q := range questions {
		a, ok := answers[q.QuestionID]
		if !ok {
			return nil, fmt.Errorf("pope: question_id %d has no answer", q.QuestionID)
		}
		labels[i], texts[i] = q.Label, a
	}
	if len(answers) != len(questions) {
		return nil, fmt.Errorf("pope: %d answers for %d questions", len(answers), len(questions))
	}
	m, err := POPEScore(variant, labels, texts)
	if err != nil {
		return nil, err
	}
	for i, q := range questions {
		m.Samples[i].QuestionID = q.QuestionID
	}
	return m, nil
}

// POPEReadQuestions reads a coco_pope_<split>.json question file (JSON lines).
func POPEReadQuestions(path string) ([]POPEQuestion, error) {
	var out []POPEQuestion
	seen := map[int64]bool{}
	err := qaReadJSONL(path, func(line int, raw []byte) error {
		var q struct {
			QuestionID *int64  `json:"question_id"`
			Image      string  `json:"image"`
			Text       string  `json:"text"`
			Label      *string `json:"label"`
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			return err
		}
		if q.QuestionID == nil || q.Label == nil {
			return fmt.Errorf("want fields \"question_id\" and \"label\"")
		}
		if seen[*q.QuestionID] {
			return fmt.Errorf("question_id %d appears twice", *q.QuestionID)
		}
		seen[*q.QuestionID] = true
		out = append(out, POPEQuestion{QuestionID: *q.QuestionID, Image: q.Image, Text: q.Text, Label: *q.Label})
		return nil
	})
	return out, err
}

// POPEReadAnswers reads an answer file (JSON lines) keyed by question_id; the
// text is field "answer" (POPE) or, failing that, "text" (LLaVA answer files).
func POPEReadAnswers(path string) (map[int64]string, error) {
	out := map[int64]string{}
	err := qaReadJSONL(path, func(line int, raw []byte) error {
		var a struct {
			QuestionID *int64  `json:"question_id"`
			Answer     *string `json:"answer"`
			Text       *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		if a.QuestionID == nil {
			return fmt.Errorf("field \"question_id\" is missing")
		}
		t := a.Answer
		if t == nil {
			t = a.Text
		}
		if t == nil {
			return fmt.Errorf("want field \"answer\" or \"text\"")
		}
		if _, dup := out[*a.QuestionID]; dup {
			return fmt.Errorf("question_id %d appears twice", *a.QuestionID)
		}
		out[*a.QuestionID] = *t
		return nil
	})
	return out, err
}

// qaReadJSONL calls fn for each non-blank line; errors name file and line.
func qaReadJSONL(path string, fn func(line int, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
