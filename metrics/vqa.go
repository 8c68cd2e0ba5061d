package metrics

// VQAv2 accuracy, as GT-Vision-Lab/VQA@a013f00
// PythonEvaluationTools/vqaEvaluation/vqaEval.py computes it (run under Python 3),
// plus the two variants papers also report: LLaVA's EvalAI submission path and
// lmms-eval's vqav2 task. See shared/design/benchmarks.md §1.
//
// Per question (official):
//  1. every GT answer and the prediction: "\n" and "\t" → " ", then Python strip();
//  2. only if the 10 GT strings are not all identical, GT and prediction go
//     through VQAProcessPunctuation then VQAProcessDigitArticle;
//  3. for each GT answer i, m_i = matches among the other answers,
//     acc_i = min(1, m_i/3); the question's accuracy is the mean over i.
//
// Corpus: round(100·mean, 2) overall, per answer_type and per question_type
// (the tool's numbers); VQAReport also keeps the unrounded mean.
//
// "Other answers" in the tool are the answer dicts that differ from the current
// one; VQA annotations carry distinct answer_ids, so that is every other index.
// Python semantics reproduced on purpose: str.lower() (full Unicode mapping,
// final sigma), str.split()/strip() whitespace, Unicode \d, sequential float
// sums (CPython ≤ 3.11 and Python 2, which the tool targeted) and round()'s
// correctly rounded half-even.

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// VQAVariant names a VQAv2 scoring convention.
type VQAVariant string

const (
	// VQAOfficial is vqaEval.py as released (a013f00).
	VQAOfficial VQAVariant = "official"
	// VQAEvalAI first passes the prediction through LLaVA's EvalAIAnswerProcessor
	// (scripts/convert_vqav2_for_submission.py, what LLaVA-1.5 uploads for
	// test-dev), then scores it like VQAOfficial (the EvalAI server's scorer).
	VQAEvalAI VQAVariant = "evalai"
	// VQALmmsEval is lmms-eval's vqav2_process_results: the prediction always
	// goes through EvalAIAnswerProcessor; the GT side keeps the all-identical
	// shortcut and is otherwise normalised with the processor's punctuation
	// (comma rule `(?<=\d)(,)+(?=\d)`) and digit/article steps, as is the
	// prediction once more; the per-question mean is exact (statistics.mean).
	// lmms-eval reports the unrounded mean fraction (VQAReport.Mean).
	VQALmmsEval VQAVariant = "lmms-eval"
)

// ParseVQAVariant accepts "official", "evalai" or "lmms-eval" ("" = official).
func ParseVQAVariant(s string) (VQAVariant, error) {
	switch v := VQAVariant(strings.ToLower(strings.TrimSpace(s))); v {
	case "", VQAOfficial:
		return VQAOfficial, nil
	case VQAEvalAI, VQALmmsEval:
		return v, nil
	}
	return "", fmt.Errorf("vqa: unknown variant %q (want official, evalai or lmms-eval)", s)
}

// VQAQuestion is one annotated question: its types and the (10) GT answers.
type VQAQuestion struct {
	QuestionID   int64
	QuestionType string
	AnswerType   string
	Answers      []string
}

// VQASample is the per-question output.
type VQASample struct {
	QuestionID   int64
	QuestionType string
	AnswerType   string
	Prediction   string  // as given
	Compared     string  // the prediction string actually matched against the GT
	Accuracy     float64 // mean over the leave-one-out subsets, in [0, 1]
	Percent      float64 // round(100·Accuracy, 2): the tool's evalQA entry
}

// VQAReport is the corpus result.
type VQAReport struct {
	Variant VQAVariant
	N       int
	// Overall is round(100·mean, 2), the number vqaEval.py prints.
	Overall float64
	// Mean is the unrounded mean accuracy in [0, 1] (lmms-eval's number).
	Mean            float64
	PerAnswerType   map[string]float64 // round(100·mean, 2) per answer_type
	PerQuestionType map[string]float64 // round(100·mean, 2) per question_type
	Samples         []VQASample
}

// VQAScore scores one prediction against its GT answers under a variant and
// returns the accuracy in [0, 1] and the prediction string that was compared.
func VQAScore(variant VQAVariant, prediction string, answers []string) (float64, string) {
	gts := make([]string, len(answers))
	for i, a := range answers {
		gts[i] = vqaClean(a)
	}
	pred := prediction
	if variant == VQAEvalAI || variant == VQALmmsEval {
		pred = VQAEvalAIProcess(pred)
	}
	pred = vqaClean(pred)
	if !vqaAllIdentical(gts) {
		norm := VQANormalize
		if variant == VQALmmsEval {
			norm = func(s string) string { return VQAProcessDigitArticle(VQAEvalAIProcessPunctuation(s)) }
		}
		for i := range gts {
			gts[i] = norm(gts[i])
		}
		pred = norm(pred)
	}
	if len(gts) == 0 {
		return 0, pred
	}
	accs := vqaLeaveOneOut(pred, gts)
	if variant == VQALmmsEval {
		return qaExactMean(accs), pred
	}
	return qaPySum(accs) / float64(len(accs)), pred
}

// VQAAccuracy is the official per-question accuracy in [0, 1].
func VQAAccuracy(prediction string, answers []string) float64 {
	acc, _ := VQAScore(VQAOfficial, prediction, answers)
	return acc
}

// VQAEvaluate scores predictions (question_id → answer) against the
// annotations. Like the tool (loadRes asserts it) the prediction ids must be
// exactly the annotation ids.
func VQAEvaluate(variant VQAVariant, questions []VQAQuestion, predictions map[int64]string) (*VQAReport, error) {
	if len(questions) == 0 {
		return nil, fmt.Errorf("vqa: no questions")
	}
	seen := make(map[int64]bool, len(questions))
	var missing []int64
	for _, q := range questions {
		if seen[q.QuestionID] {
			return nil, fmt.Errorf("vqa: question_id %d appears twice in the annotations", q.QuestionID)
		}
		seen[q.QuestionID] = true
		if len(q.Answers) == 0 {
			return nil, fmt.Errorf("vqa: question_id %d: answers is empty, want 10", q.QuestionID)
		}
		if _, ok := predictions[q.QuestionID]; !ok {
			missing = append(missing, q.QuestionID)
		}
	}
	var extra []int64
	for id := range predictions {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
		sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
		return nil, fmt.Errorf("vqa: results do not correspond to the annotation set: %d question ids without a prediction %v, %d predictions for unknown ids %v",
			len(missing), qaFirstIDs(missing), len(extra), qaFirstIDs(extra))
	}
	samples := make([]VQASample, len(questions))
	for i, q := range questions {
		samples[i] = VQAScoreSample(variant, q, predictions[q.QuestionID])
	}
	return VQAAggregate(variant, samples)
}

// VQAScoreSample scores one question: the per-sample half of VQAEvaluate.
func VQAScoreSample(variant VQAVariant, q VQAQuestion, prediction string) VQASample {
	acc, cmp := VQAScore(variant, prediction, q.Answers)
	return VQASample{QuestionID: q.QuestionID, QuestionType: q.QuestionType, AnswerType: q.AnswerType,
		Prediction: prediction, Compared: cmp, Accuracy: acc, Percent: qaPyRound(100*acc, 2)}
}

// VQAAggregate is the corpus half: overall and per-type means over samples,
// in their order, as the tool sums them.
func VQAAggregate(variant VQAVariant, samples []VQASample) (*VQAReport, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("vqa: no samples")
	}
	rep := &VQAReport{Variant: variant, N: len(samples), Samples: samples}
	all := make([]float64, len(samples))
	byAns, byQues := map[string][]float64{}, map[string][]float64{}
	for i, s := range samples {
		all[i] = s.Accuracy
		byAns[s.AnswerType] = append(byAns[s.AnswerType], s.Accuracy)
		byQues[s.QuestionType] = append(byQues[s.QuestionType], s.Accuracy)
	}
	s := qaPySum(all)
	rep.Overall = qaPyRound(100*s/float64(len(all)), 2)
	rep.Mean = s / float64(len(all))
	rep.PerAnswerType = vqaRoundedMeans(byAns)
	rep.PerQuestionType = vqaRoundedMeans(byQues)
	return rep, nil
}

func vqaRoundedMeans(groups map[string][]float64) map[string]float64 {
	out := make(map[string]float64, len(groups))
	for k, v := range groups {
		out[k] = qaPyRound(100*qaPySum(v)/float64(len(v)), 2)
	}
	return out
}

// vqaLeaveOneOut returns acc_i = min(1, m_i/3) for each GT answer i, m_i the
// matches of pred among the other answers.
func vqaLeaveOneOut(pred string, gts []string) []float64 {
	total := 0
	for _, g := range gts {
		if g == pred {
			total++
		}
	}
	accs := make([]float64, len(gts))
	for i, g := range gts {
		m := total
		if g == pred {
			m--
		}
		accs[i] = min(1, float64(m)/3)
	}
	return accs
}

func vqaClean(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "\t", " ")
	return qaPyStrip(s)
}

func vqaAllIdentical(gts []string) bool {
	for _, g := range gts[min(1, len(gts)):] {
		if g != gts[0] {
			return false
		}
	}
	return true
}

// vqaPunct is the tool's punctuation list, in its order.
var vqaPunct = []string{";", "/", "[", "]", `"`, "{", "}", "(", ")", "=", "+", `\`, "_", "-", ">", "<", "@", "`", ",", "?", "!"}

// vqaPeriodLimit is how many periods the tool can delete: it passes re.UNICODE
// (32) positionally into re.sub's count slot.
const vqaPeriodLimit = 32

// VQAProcessPunctuation is vqaEval.py's processPunctuation: for each mark of
// the list, in order, delete every occurrence if the ORIGINAL input has the mark
// followed or preceded by a space, or has digit,digit anywhere; else replace it
// by a space. Then delete each "." not followed by a digit (the tool's
// lookbehind is malformed and never applies), at most 32 of them, leftmost
// first. Apostrophes, ":", "*", "#", "$", "%", "&" are left alone.
func VQAProcessPunctuation(in string) string {
	return vqaPunctuation(in, vqaHasDigitCommaDigit(in))
}

// VQAEvalAIProcessPunctuation is EvalAIAnswerProcessor.process_punctuation:
// the same as VQAProcessPunctuation except that its comma test is
// `(?<=\d)(,)+(?=\d)` (one or more commas between digits).
func VQAEvalAIProcessPunctuation(in string) string {
	return vqaPunctuation(in, vqaHasDigitCommasDigit(in))
}

func vqaPunctuation(in string, commaHit bool) string {
	out := in
	for _, p := range vqaPunct {
		if commaHit || strings.Contains(in, p+" ") || strings.Contains(in, " "+p) {
			out = strings.ReplaceAll(out, p, "")
		} else {
			out = strings.ReplaceAll(out, p, " ")
		}
	}
	return vqaStripPeriods(out, vqaPeriodLimit)
}

// vqaStripPeriods deletes the first `limit` periods not followed by a Unicode
// decimal digit; the lookahead sees the string before any deletion, as re.sub.
func vqaStripPeriods(s string, limit int) string {
	if !strings.Contains(s, ".") {
		return s
	}
	var b strings.Builder
	removed := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '.' && removed < limit {
			next, _ := utf8.DecodeRuneInString(s[i+n:])
			if i+n >= len(s) || !unicode.IsDigit(next) {
				removed++
				i += n
				continue
			}
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// vqaHasDigitCommaDigit is re.search(r"(\d)(\,)(\d)", s) != None.
func vqaHasDigitCommaDigit(s string) bool {
	rs := []rune(s)
	for i := 0; i+2 < len(rs); i++ {
		if rs[i+1] == ',' && unicode.IsDigit(rs[i]) && unicode.IsDigit(rs[i+2]) {
			return true
		}
	}
	return false
}

// vqaHasDigitCommasDigit is re.search(r"(?<=\d)(\,)+(?=\d)", s) != None.
func vqaHasDigitCommasDigit(s string) bool {
	rs := []rune(s)
	for i := 0; i+2 < len(rs); i++ {
		if !unicode.IsDigit(rs[i]) || rs[i+1] != ',' {
			continue
		}
		j := i + 1
		for j < len(rs) && rs[j] == ',' {
			j++
		}
		if j < len(rs) && unicode.IsDigit(rs[j]) {
			return true
		}
	}
	return false
}

// VQAProcessDigitArticle is vqaEval.py's processDigitArticle: lowercase, split
// on whitespace, number words none/zero..ten → digits, drop a/an/the, replace
// whole tokens found in the contraction table, join with single spaces.
func VQAProcessDigitArticle(in string) string {
	words := qaPySplit(qaPyLower(in))
	out := words[:0]
	for _, w := range words {
		if d, ok := vqaNumberWords[w]; ok {
			w = d
		}
		if w == "a" || w == "an" || w == "the" {
			continue
		}
		out = append(out, w)
	}
	for i, w := range out {
		if c, ok := vqaContractions[w]; ok {
			out[i] = c
		}
	}
	return strings.Join(out, " ")
}

// VQANormalize is VQAProcessDigitArticle(VQAProcessPunctuation(s)).
func VQANormalize(s string) string {
	return VQAProcessDigitArticle(VQAProcessPunctuation(s))
}

// VQAEvalAIProcess is EvalAIAnswerProcessor.__call__ (LLaVA m4c_evaluator.py,
// lmms-eval vqa_eval_metric.py): lowercase; delete "," and "?"; "'s" → " 's";
// strip; "\n"/"\t" → " "; strip; punctuation (EvalAI comma rule); digits and
// articles.
func VQAEvalAIProcess(s string) string {
	s = qaPyLower(s)
	s = strings.ReplaceAll(s, ",", "")
	s = strings.ReplaceAll(s, "?", "")
	s = strings.ReplaceAll(s, "'s", " 's")
	s = qaPyStrip(s)
	s = vqaClean(s)
	return VQAProcessDigitArticle(VQAEvalAIProcessPunctuation(s))
}

var vqaNumberWords = map[string]string{
	"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}

// vqaContractionGroups holds the facts of the tool's contraction table, one
// line per target: "target: key key ...". Keys are matched after lowercasing,
// so the capitalised ones (Im, Ive, Id've, I'dve) can never fire; two entries
// map a word to itself (let's, she's) and one removes an apostrophe
// (somebody'd → somebodyd). 120 keys in all.
var vqaContractionGroups = []string{
	"'ow's'at: 'ow'sat 'ows'at ow's'at", "'twas: twas", "I'd've: I'dve Id've", "I'm: Im", "I've: Ive",
	"ain't: aint", "aren't: arent", "can't: cant", "could've: couldve", "couldn't: couldnt",
	"couldn't've: couldn'tve couldnt've", "didn't: didnt", "doesn't: doesnt", "don't: dont", "hadn't: hadnt",
	"hadn't've: hadn'tve hadnt've", "hasn't: hasnt", "haven't: havent", "he'd: hed", "he'd've: he'dve hed've",
	"he's: hes", "how'd: howd", "how'll: howll", "how's: hows", "isn't: isnt", "it'd: itd",
	"it'd've: it'dve itd've", "it'll: itll", "let's: let's", "ma'am: maam", "might've: mightve",
	"mightn't: mightnt", "mightn't've: mightn'tve mightnt've", "must've: mustve", "mustn't: mustnt",
	"needn't: neednt", "not've: notve", "o'clock: oclock", "oughtn't: oughtnt", "shan't: shant",
	"she'd've: she'dve shed've", "she's: she's", "should've: shouldve", "shouldn't: shouldnt",
	"shouldn't've: shouldn'tve shouldnt've", "somebody'd've: somebody'dve somebodyd've",
	"somebody'll: somebodyll", "somebody's: somebodys", "somebodyd: somebody'd", "someone'd: someoned",
	"someone'd've: someone'dve someoned've", "someone'll: someonell", "someone's: someones",
	"something'd: somethingd", "something'd've: something'dve somethingd've", "something'll: somethingll",
	"that's: thats", "there'd: thered", "there'd've: there'dve thered've", "there're: therere",
	"there's: theres", "they'd: theyd", "they'd've: they'dve theyd've", "they'll: theyll",
	"they're: theyre", "they've: theyve", "wasn't: wasnt", "we'd've: we'dve wed've", "we've: weve",
	"weren't: werent", "what'll: whatll", "what're: whatre", "what's: whats", "what've: whatve",
	"when's: whens", "where'd: whered", "where's: wheres", "where've: whereve", "who'd: whod",
	"who'd've: who'dve whod've", "who'll: wholl", "who's: whos", "who've: whove", "why'll: whyll",
	"why're: whyre", "why's: whys", "won't: wont", "would've: wouldve", "wouldn't: wouldnt",
	"wouldn't've: wouldn'tve wouldnt've", "y'all: yall", "y'all'd've: y'all'dve y'alld've yall'd've",
	"y'all'll: y'allll yall'll", "you'd: youd", "you'd've: you'dve youd've", "you'll: youll",
	"you're: youre", "you've: youve",
}

var vqaContractions = func() map[string]string {
	m := make(map[string]string, 120)
	for _, g := range vqaContractionGroups {
		target, keys, _ := strings.Cut(g, ": ")
		for _, k := range strings.Fields(keys) {
			m[k] = target
		}
	}
	return m
}()

// VQAReadAnnotations reads a v2_mscoco_*_annotations.json file.
func VQAReadAnnotations(path string) ([]VQAQuestion, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Annotations []struct {
			QuestionID   *int64 `json:"question_id"`
			QuestionType string `json:"question_type"`
			AnswerType   string `json:"answer_type"`
			Answers      []struct {
				Answer string `json:"answer"`
			} `json:"answers"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if doc.Annotations == nil {
		return nil, fmt.Errorf("%s: field \"annotations\" is missing", path)
	}
	out := make([]VQAQuestion, len(doc.Annotations))
	for i, a := range doc.Annotations {
		if a.QuestionID == nil {
			return nil, fmt.Errorf("%s: annotations[%d]: field \"question_id\" is missing", path, i)
		}
		q := VQAQuestion{QuestionID: *a.QuestionID, QuestionType: a.QuestionType, AnswerType: a.AnswerType}
		for _, ans := range a.Answers {
			q.Answers = append(q.Answers, ans.Answer)
		}
		if len(q.Answers) == 0 {
			return nil, fmt.Errorf("%s: annotations[%d] (question_id %d): answers is empty, want 10", path, i, q.QuestionID)
		}
		out[i] = q
	}
	return out, nil
}

// VQAReadResults reads a results file `[{"question_id": .., "answer": ..}]`.
func VQAReadResults(path string) (map[int64]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		QuestionID *int64  `json:"question_id"`
		Answer     *string `json:"answer"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := make(map[int64]string, len(rows))
	for i, r := range rows {
		if r.QuestionID == nil || r.Answer == nil {
			return nil, fmt.Errorf("%s: [%d]: want fields \"question_id\" and \"answer\"", path, i)
		}
		if _, dup := out[*r.QuestionID]; dup {
			return nil, fmt.Errorf("%s: [%d]: question_id %d appears twice", path, i, *r.QuestionID)
		}
		out[*r.QuestionID] = *r.Answer
	}
	return out, nil
}

// ---- Python semantics shared by the QA scorers (prefix qa) ----

// qaPyIsSpace is CPython's Py_UNICODE_ISSPACE: Unicode White_Space plus the
// ASCII separators U+001C..U+001F.
func qaPyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// qaPyStrip is str.strip() with no argument.
func qaPyStrip(s string) string { return strings.TrimFunc(s, qaPyIsSpace) }

// qaPySplit is str.split() with no argument.
func qaPySplit(s string) []string { return strings.FieldsFunc(s, qaPyIsSpace) }

// qaPyLower is str.lower(): the full lowercase mapping (U+0130 → "i̇") and the
// Final_Sigma rule; everything else maps as unicode.ToLower.
func qaPyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3a3:
			if qaFinalSigma(rs, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// qaFinalSigma: \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}).
func qaFinalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && qaCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !qaCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && qaCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !qaCased(rs[j])
}

func qaCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

func qaCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027, 0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// qaPySum is sum() over floats as CPython ≤ 3.11 (and Python 2) computes it:
// left to right in float64.
func qaPySum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// qaExactMean is statistics.mean over floats: the exact rational mean rounded
// once to the nearest float64.
func qaExactMean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := new(big.Rat)
	for _, x := range xs {
		sum.Add(sum, new(big.Rat).SetFloat64(x))
	}
	sum.Quo(sum, new(big.Rat).SetInt64(int64(len(xs))))
	f, _ := sum.Float64()
	return f
}

// qaPyRound is Python 3's round(x, nd) on a float: the exact binary value
// rounded half-even to nd decimals, read back.
func qaPyRound(x float64, nd int) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', nd, 64), 64)
	if err != nil {
		return x
	}
	return v
}

func qaFirstIDs(ids []int64) []int64 {
	if len(ids) > 5 {
		return ids[:5]
	}
	return ids
}
