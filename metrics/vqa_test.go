package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// qaClose is the scorers' fixture tolerance: floats within 1e-12.
func qaClose(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12 || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.17g, want %.17g", what, got, want)
	}
}

func qaReadJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestParityVQA checks every per-question accuracy, the overall and per-type
// numbers and every normalisation step against vqaEval.py's outputs.
func TestParityVQA(t *testing.T) {
	dir := fixtures.Dir(t, "scorers")
	var fx struct {
		Questions []struct {
			QuestionID   int64    `json:"question_id"`
			QuestionType string   `json:"question_type"`
			AnswerType   string   `json:"answer_type"`
			Answers      []string `json:"answers"`
			Prediction   string   `json:"prediction"`
			Accuracy     float64  `json:"accuracy"`
		} `json:"questions"`
		Overall         float64            `json:"overall"`
		PerAnswerType   map[string]float64 `json:"per_answer_type"`
		PerQuestionType map[string]float64 `json:"per_question_type"`
		Normalisation   []struct {
			Input        string `json:"input"`
			Punctuation  string `json:"punctuation"`
			DigitArticle string `json:"punctuation_then_digit_article"`
		} `json:"normalisation"`
	}
	qaReadJSON(t, filepath.Join(dir, "vqa.json"), &fx)
	if len(fx.Questions) == 0 || len(fx.Normalisation) == 0 {
		t.Fatalf("vqa.json: %d questions, %d normalisation rows: want both non-empty", len(fx.Questions), len(fx.Normalisation))
	}

	qs := make([]VQAQuestion, len(fx.Questions))
	preds := map[int64]string{}
	for i, q := range fx.Questions {
		qs[i] = VQAQuestion{QuestionID: q.QuestionID, QuestionType: q.QuestionType, AnswerType: q.AnswerType, Answers: q.Answers}
		preds[q.QuestionID] = q.Prediction
	}
	rep, err := VQAEvaluate(VQAOfficial, qs, preds)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range fx.Questions {
		s := rep.Samples[i]
		if s.QuestionID != q.QuestionID {
			t.Fatalf("sample %d is question %d, want %d", i, s.QuestionID, q.QuestionID)
		}
		if math.Abs(s.Percent-q.Accuracy) > 1e-12 {
			t.Errorf("question %d: accuracy %v, want %v (prediction %q, answers %q, compared %q)",
				q.QuestionID, s.Percent, q.Accuracy, q.Prediction, q.Answers, s.Compared)
		}
	}
	qaClose(t, "overall", rep.Overall, fx.Overall)
	qaCompareMap(t, "per_answer_type", rep.PerAnswerType, fx.PerAnswerType)
	qaCompareMap(t, "per_question_type", rep.PerQuestionType, fx.PerQuestionType)

	for _, n := range fx.Normalisation {
		if got := VQAProcessPunctuation(n.Input); got != n.Punctuation {
			t.Errorf("processPunctuation(%q) = %q, want %q", n.Input, got, n.Punctuation)
		}
		if got := VQAProcessDigitArticle(n.Punctuation); got != n.DigitArticle {
			t.Errorf("processDigitArticle(%q) = %q, want %q", n.Punctuation, got, n.DigitArticle)
		}
		if got := VQANormalize(n.Input); got != n.DigitArticle {
			t.Errorf("VQANormalize(%q) = %q, want %q", n.Input, got, n.DigitArticle)
		}
	}
	t.Logf("%d questions, %d normalisation rows; overall %.2f", len(fx.Questions), len(fx.Normalisation), rep.Overall)
}

func qaCompareMap(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: keys %v, want %v", what, qaKeys(got), qaKeys(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s[%q] missing", what, k)
			continue
		}
		qaClose(t, what+"["+k+"]", g, w)
	}
}

func qaKeys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestVQAProcessPunctuation(t *testing.T) {
	long := strings.Repeat("a.", 40) // 40 periods, none before a digit: only 32 go
	for _, c := range []struct{ in, want string }{
		{"t-shirt", "t shirt"},             // no space next to '-': replaced by a space
		{"on / off", "on  off"},            // ' /' present: deleted
		{"on/off", "on off"},               // replaced by a space
		{"1,000", "1000"},                  // digit,digit: every mark deleted
		{"1,000 (approx)", "1000 approx"},  // digit,digit deletes the parentheses too
		{"yes!", "yes "},                   // '!' replaced by a space
		{"yes !", "yes "},                  // ' !' present: deleted
		{"3.5", "3.5"},                     // period before a digit stays
		{"blue.", "blue"},                  // trailing period goes
		{"e.g. tennis", "eg tennis"},       // periods not before a digit go
		{"5.a.6", "5a.6"},                  // only the second period is before a digit
		{"..5", ".5"},                      // lookahead sees the original string
		{"man's hat", "man's hat"},         // apostrophe untouched
		{"12:30 pm", "12:30 pm"},           // colon untouched
		{"$5 & 10% #1 *", "$5 & 10% #1 *"}, // $ & % # * untouched
		{`a\b`, "a b"},                     // backslash
		{"a_b", "a b"},                     // underscore
		{"[x]", " x "},                     // brackets
		{"{x}", " x "},                     // braces are in a013f00's list
		{"\"x\"", " x "},                   // quotes
		{"x=y+z", "x y z"},                 // = and +
		{"<a>@`b`", " a   b "},             // < > @ `
		{"a ,b", "a b"},                    // ' ,' present: deleted
		{"\t$5", "\t$5"},                   // tabs are not touched here
		{long, strings.Repeat("a", 32) + strings.Repeat("a.", 8)},
		{"1٫2,٣", "1٫2٣"}, // Unicode digits count for the comma rule
	} {
		if got := VQAProcessPunctuation(c.in); got != c.want {
			t.Errorf("VQAProcessPunctuation(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestVQAProcessDigitArticle(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Two", "2"},
		{"none", "0"},
		{"zero", "0"},
		{"one two three four five six seven eight nine ten", "1 2 3 4 5 6 7 8 9 10"},
		{"eleven", "eleven"},
		{"A dog", "dog"},
		{"the  dog", "dog"},
		{"an apple", "apple"},
		{"a", ""},
		{"dont know", "don't know"},
		{"Dont", "don't"},           // lowercased first
		{"Im here", "im here"},      // capitalised keys never match
		{"Ive", "ive"},              // idem
		{"somebody'd", "somebodyd"}, // the table's odd entry
		{"let's go", "let's go"},    // identity entry
		{"yall'll", "y'all'll"},
		{"whats up", "what's up"},
		{"twas", "'twas"},
		{"  many \t spaces\n", "many spaces"},
		{"\x1cx\x1fy", "x y"},                // Python's str.split() splits on U+001C..U+001F
		{"ΟΔΟΣ", "\u03bf\u03b4\u03bf\u03c2"}, // final sigma, as Python's lower()
		{"AΣ'B", "a\u03c3'b"},                // not final: a cased letter follows the apostrophe
		{"Σ", "σ"},                           // a lone capital sigma is not final
		{"İ", "i\u0307"},                     // full lowercase mapping
	} {
		if got := VQAProcessDigitArticle(c.in); got != c.want {
			t.Errorf("VQAProcessDigitArticle(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if len(vqaContractions) != 120 {
		t.Errorf("contraction table has %d keys, want 120", len(vqaContractions))
	}
}

func TestVQAScoreRules(t *testing.T) {
	ten := func(a string, k int, b string) []string {
		out := make([]string, 10)
		for i := range out {
			if i < k {
				out[i] = a
			} else {
				out[i] = b
			}
		}
		return out
	}
	for _, c := range []struct {
		name    string
		pred    string
		answers []string
		want    float64
	}{
		// All ten identical: only strip, no normalisation ("Two" ≠ "2").
		{"identical shortcut", "Two", ten("2", 10, ""), 0},
		{"identical exact", " 2\n", ten("2", 10, ""), 1},
		{"identical keeps punctuation", "yes.", ten("yes", 10, ""), 0},
		// Not identical: both sides normalised.
		{"normalised", "Two", ten("2", 9, "two"), 1},
		{"k=0", "red", ten("blue", 10, "x"), 0},
		{"k=1", "red", ten("red", 1, "blue"), 0.3},
		{"k=2", "red", ten("red", 2, "blue"), 0.6},
		{"k=3", "red", ten("red", 3, "blue"), 0.9},
		{"k=4", "red", ten("red", 4, "blue"), 1},
		{"comma number", "1,000", ten("1000", 5, "1,000"), 1},
		{"tabs become spaces", "red\tcar", ten("red car", 3, "car"), 0.9},
	} {
		got := VQAAccuracy(c.pred, c.answers)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: VQAAccuracy(%q) = %v, want %v", c.name, c.pred, got, c.want)
		}
	}
}

func TestVQAVariants(t *testing.T) {
	answers := []string{"dog's bed", "dog's bed", "dog's bed", "dogs bed", "bed", "bed", "bed", "bed", "bed", "bed"}
	// EvalAI inserts a space before 's, so the official match is lost.
	if acc, cmp := VQAScore(VQAOfficial, "Dog's bed", answers); math.Abs(acc-0.9) > 1e-12 {
		t.Errorf("official: %v (%q), want 0.9", acc, cmp)
	}
	if acc, cmp := VQAScore(VQAEvalAI, "Dog's bed", answers); acc != 0 || cmp != "dog 's bed" {
		t.Errorf("evalai: %v (%q), want 0 and \"dog 's bed\"", acc, cmp)
	}
	// The processor lowercases and deletes '?' and ',' even on the shortcut
	// path, where the official scorer compares the raw string.
	same := []string{"yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"}
	if acc, _ := VQAScore(VQAOfficial, "Yes?", same); acc != 0 {
		t.Errorf("official shortcut: %v, want 0", acc)
	}
	for _, v := range []VQAVariant{VQAEvalAI, VQALmmsEval} {
		if acc, _ := VQAScore(v, "Yes?", same); acc != 1 {
			t.Errorf("%s shortcut: %v, want 1", v, acc)
		}
	}
	// EvalAI's comma rule allows several commas between digits.
	if got := VQAEvalAIProcessPunctuation("1,,2 (x)"); got != "12 x" {
		t.Errorf("EvalAI punctuation = %q, want \"12 x\"", got)
	}
	if got := VQAProcessPunctuation("1,,2 (x)"); got != "1  2 x " {
		t.Errorf("official punctuation = %q, want \"1  2 x \"", got)
	}
	if got := VQAEvalAIProcess("  What's THE Answer, 2?\n"); got != "what 's answer 2" {
		t.Errorf("VQAEvalAIProcess = %q", got)
	}
	for _, s := range []string{"", "official", "EvalAI", "lmms-eval"} {
		if _, err := ParseVQAVariant(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseVQAVariant("vqa"); err == nil {
		t.Error("ParseVQAVariant(\"vqa\") accepted")
	}
}

func TestVQAEvaluateChecksIDs(t *testing.T) {
	yes := strings.Fields(strings.Repeat("yes ", 10))
	qs := []VQAQuestion{{QuestionID: 1, AnswerType: "yes/no", QuestionType: "is the", Answers: yes}}
	if _, err := VQAEvaluate(VQAOfficial, qs, map[int64]string{2: "yes"}); err == nil ||
		!strings.Contains(err.Error(), "1 question ids without a prediction") || !strings.Contains(err.Error(), "1 predictions for unknown ids") {
		t.Errorf("mismatched ids: err = %v", err)
	}
	rep, err := VQAEvaluate(VQAOfficial, qs, map[int64]string{1: "yes"})
	if err != nil || rep.Overall != 100 || rep.Mean != 1 || rep.PerAnswerType["yes/no"] != 100 {
		t.Errorf("rep = %+v, err = %v", rep, err)
	}
}

func TestQAPyRound(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{2.675, 2.67}, // binary value below the tie
		{0.125, 0.12}, // exact tie: half-even
		{0.375, 0.38}, // exact tie: half-even
		{66.666666666666671, 66.67},
		{33.333333333333336, 33.33},
	} {
		if got := qaPyRound(c.x, 2); got != c.want {
			t.Errorf("qaPyRound(%v, 2) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestVQAReadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ann.json")
	os.WriteFile(p, []byte(`{"annotations":[{"question_type":"x","answers":[{"answer":"a"}]}]}`), 0o644)
	if _, err := VQAReadAnnotations(p); err == nil || !strings.Contains(err.Error(), "question_id") || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v, want one naming the file and question_id", err)
	}
	r := filepath.Join(dir, "res.json")
	os.WriteFile(r, []byte(`[{"question_id":1,"answer":"a"},{"question_id":1,"answer":"b"}]`), 0o644)
	if _, err := VQAReadResults(r); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("err = %v, want a duplicate-id error", err)
	}
}

// BenchmarkVQAEvaluate scores 1,000 questions of 10 answers (official).
func BenchmarkVQAEvaluate(b *testing.B) {
	base := []string{"2", "two", "red and white", "a dog", "1,000", "t-shirt", "dont know", "on / off", "12:30 pm", "blue."}
	qs := make([]VQAQuestion, 1000)
	preds := map[int64]string{}
	for i := range qs {
		ans := make([]string, 10)
		for j := range ans {
			ans[j] = base[(i+j*j)%len(base)]
		}
		qs[i] = VQAQuestion{QuestionID: int64(i), QuestionType: "what", AnswerType: "other", Answers: ans}
		preds[int64(i)] = base[i%len(base)] + "."
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := VQAEvaluate(VQAOfficial, qs, preds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(qs))*float64(b.N)/b.Elapsed().Seconds(), "questions/s")
}
