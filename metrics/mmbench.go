package metrics

// MMBench scoring as VLMEvalKit does it (vlmeval/utils/matching_util.py
// can_infer, vlmeval/dataset/utils/multiple_choice.py circular evaluation and
// report_acc, vlmeval/tools.py CIRCULAR). See shared/design/benchmarks.md §4.
//
// Letter extraction (can_infer = can_infer_option, then can_infer_text):
//   - "Failed to obtain answer via API" in the text → no option letter (the
//     option-text fallback still runs);
//   - one of the refusal sentences in the text → "Z";
//   - replace each of .()[],:;!*#{} by a space, split on whitespace; exactly one
//     choice letter among the tokens → that letter (MMBenchRuleLast4: only if
//     its first occurrence is among the last 4 tokens); no choice letter but a
//     "Z" token → "Z";
//   - fallback: exactly one option text (lowercased) contained in the lowercased
//     answer → that letter (MMBenchRuleLast4: not when the answer is longer than
//     twice the total option length).
//
// Circular evaluation: passes share g_index = index mod 1e6; a question scores
// only if every pass is answered correctly. Without a judge, a pass whose
// letter cannot be extracted is a miss (VLMEvalKit's exact_matching policy).

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// MMBenchRule names the letter-extraction rule version.
type MMBenchRule string

const (
	// MMBenchRuleLegacy is can_infer as of VLMEvalKit before c3371551 (Aug 2025).
	MMBenchRuleLegacy MMBenchRule = "legacy"
	// MMBenchRuleLast4 is c3371551 (2025-08-04) and later: the single letter
	// must be among the last 4 tokens, and the option-text fallback skips
	// answers longer than twice the options' total length.
	MMBenchRuleLast4 MMBenchRule = "last4"
)

// ParseMMBenchRule accepts "legacy" or "last4" ("" = legacy).
func ParseMMBenchRule(s string) (MMBenchRule, error) {
	switch r := MMBenchRule(strings.ToLower(strings.TrimSpace(s))); r {
	case "", MMBenchRuleLegacy:
		return MMBenchRuleLegacy, nil
	case MMBenchRuleLast4:
		return r, nil
	}
	return "", fmt.Errorf("mmbench: unknown extraction rule %q (want legacy or last4)", s)
}

// MMBenchChoice is one option: its letter and text.
type MMBenchChoice struct {
	Letter string
	Text   string
}

var mmbRefusals = []string{
	"Sorry, I can't help with images of people yet.",
	"I can't process this file.",
	"I'm sorry, but without the image provided",
	"Cannot determine the answer",
}

const mmbAPIFailure = "Failed to obtain answer via API"

// MMBenchExtract returns the letter a prediction picks ("Z" for a refusal or
// an explicit Z), or "" when nothing can be inferred. choices are in letter
// order (A, B, ...).
func MMBenchExtract(prediction string, choices []MMBenchChoice, rule MMBenchRule) string {
	if l := mmbInferOption(prediction, choices, rule); l != "" {
		return l
	}
	return mmbInferText(prediction, choices, rule)
}

func mmbInferOption(answer string, choices []MMBenchChoice, rule MMBenchRule) string {
	if strings.Contains(answer, mmbAPIFailure) {
		return ""
	}
	for _, r := range mmbRefusals {
		if strings.Contains(answer, r) {
			return "Z"
		}
	}
	mod := answer
	for _, c := range ".()[],:;!*#{}" {
		mod = strings.ReplaceAll(mod, string(c), " ")
	}
	splits := qaPySplit(mod)
	first := map[string]int{}
	for i, s := range splits {
		if _, ok := first[s]; !ok {
			first[s] = i
		}
	}
	count := 0
	for _, c := range choices {
		if _, ok := first[c.Letter]; ok {
			count++
		}
	}
	switch {
	case count == 1:
		for _, c := range choices {
			i, ok := first[c.Letter]
			if !ok {
				continue
			}
			if rule == MMBenchRuleLast4 && i <= len(splits)-5 {
				continue
			}
			return c.Letter
		}
	case count == 0:
		if _, ok := first["Z"]; ok {
			return "Z"
		}
	}
	return ""
}

func mmbInferText(answer string, choices []MMBenchChoice, rule MMBenchRule) string {
	answer = qaPyLower(answer)
	if rule == MMBenchRuleLast4 {
		total := 0
		for _, c := range choices {
			total += len([]rune(c.Text))
		}
		if len([]rune(answer)) > 2*total {
			return ""
		}
	}
	found := ""
	n := 0
	for _, c := range choices {
		if strings.Contains(answer, qaPyLower(c.Text)) {
			found = c.Letter
			n++
		}
	}
	if n == 1 {
		return found
	}
	return ""
}

// MMBenchRow is one row of an MMBench TSV (one circular pass in legacy TSVs)
// with the model's prediction.
type MMBenchRow struct {
	Index      int64
	GIndex     int64 // group index; 0 with HasGIndex false means Index mod 1e6
	HasGIndex  bool
	Question   string
	Hint       string
	Choices    []MMBenchChoice // the row's non-NaN option columns, in letter order
	Answer     string          // GT letter ("" on the hidden test split)
	Category   string
	L2Category string
	Split      string
	Prediction string
}

// Group returns the row's circular group: g_index if given, else index mod 1e6.
func (r MMBenchRow) Group() int64 {
	if r.HasGIndex {
		return r.GIndex
	}
	return int64(math.Mod(float64(r.Index), 1e6))
}

// MMBenchJudge resolves a prediction no rule could read (VLMEvalKit asks an LLM
// with its matching prompt); it returns a letter or "Z", and ok=false to give up.
type MMBenchJudge func(row MMBenchRow) (letter string, ok bool, err error)

// MMBenchQuestion is the per-question (per-group) output.
type MMBenchQuestion struct {
	Index      int64 // the main row's index (== group)
	Category   string
	L2Category string
	Split      string
	Hit        bool
	Passes     int
	Extracted  []string // per pass, "" when unresolved
	Answers    []string // per pass GT letters
}

// MMBenchReport is the corpus result. Accuracies are fractions per split
// ("none" when the rows carry no split), as report_acc builds them.
type MMBenchReport struct {
	Rule       MMBenchRule
	Circular   bool
	Questions  []MMBenchQuestion
	Overall    map[string]float64
	L2Category map[string]map[string]float64 // abbreviated name (CP, FP-S, ...) → split → acc
	Category   map[string]map[string]float64
}

// MMBenchL2Abbr maps MMBench l2-category names to the abbreviations reports use.
var MMBenchL2Abbr = map[string]string{
	"coarse_perception":                       "CP",
	"finegrained_perception (instance-level)": "FP-S",
	"finegrained_perception (cross-instance)": "FP-C",
	"logic_reasoning":                         "LR",
	"relation_reasoning":                      "RR",
	"attribute_reasoning":                     "AR",
}

// MMBenchEvaluate scores rows. circular: group by Group() and require every
// pass; otherwise each row is its own question. Rows without a GT letter are
// skipped (the test split). judge may be nil (exact matching).
func MMBenchEvaluate(rows []MMBenchRow, rule MMBenchRule, circular bool, judge MMBenchJudge) (*MMBenchReport, error) {
	rep := &MMBenchReport{Rule: rule, Circular: circular}
	type group struct {
		main *MMBenchRow
		rows []*MMBenchRow
	}
	groups := map[int64]*group{}
	var order []int64
	seen := map[int64]bool{}
	for i := range rows {
		r := &rows[i]
		if seen[r.Index] {
			return nil, fmt.Errorf("mmbench: index %d appears twice", r.Index)
		}
		seen[r.Index] = true
		if r.Answer == "" {
			continue
		}
		key := r.Index
		if circular {
			key = r.Group()
		}
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		g.rows = append(g.rows, r)
		if r.Index == key {
			g.main = r
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, key := range order {
		g := groups[key]
		if g.main == nil {
			return nil, fmt.Errorf("mmbench: circular group %d has no main row (index %d)", key, key)
		}
		q := MMBenchQuestion{Index: key, Category: g.main.Category, L2Category: g.main.L2Category, Split: g.main.Split, Passes: len(g.rows)}
		hit := true
		for _, r := range g.rows {
			ext := MMBenchExtract(r.Prediction, r.Choices, rule)
			if ext == "" && judge != nil {
				l, ok, err := judge(*r)
				if err != nil {
					return nil, fmt.Errorf("mmbench: judge on index %d: %v", r.Index, err)
				}
				if ok {
					ext = l
				}
			}
			q.Extracted = append(q.Extracted, ext)
			q.Answers = append(q.Answers, r.Answer)
			if ext != r.Answer {
				hit = false
			}
		}
		q.Hit = hit
		rep.Questions = append(rep.Questions, q)
	}
	if len(rep.Questions) == 0 {
		return nil, fmt.Errorf("mmbench: no rows with a GT answer")
	}
	rep.Overall, rep.L2Category, rep.Category = mmbReport(rep.Questions)
	return rep, nil
}

func mmbReport(qs []MMBenchQuestion) (map[string]float64, map[string]map[string]float64, map[string]map[string]float64) {
	type acc struct{ hit, n int }
	overall := map[string]*acc{}
	l2 := map[string]map[string]*acc{}
	cat := map[string]map[string]*acc{}
	add := func(m map[string]map[string]*acc, k, sp string, hit bool) {
		if k == "" {
			return
		}
		if m[k] == nil {
			m[k] = map[string]*acc{}
		}
		if m[k][sp] == nil {
			m[k][sp] = &acc{}
		}
		m[k][sp].n++
		if hit {
			m[k][sp].hit++
		}
	}
	for _, q := range qs {
		sp := q.Split
		if sp == "" {
			sp = "none"
		}
		if overall[sp] == nil {
			overall[sp] = &acc{}
		}
		overall[sp].n++
		if q.Hit {
			overall[sp].hit++
		}
		name := q.L2Category
		if a, ok := MMBenchL2Abbr[name]; ok {
			name = a
		}
		add(l2, name, sp, q.Hit)
		add(cat, q.Category, sp, q.Hit)
	}
	frac := func(a *acc) float64 { return float64(a.hit) / float64(a.n) }
	o := map[string]float64{}
	for sp, a := range overall {
		o[sp] = frac(a)
	}
	conv := func(m map[string]map[string]*acc) map[string]map[string]float64 {
		out := map[string]map[string]float64{}
		for k, bySplit := range m {
			out[k] = map[string]float64{}
			for sp, a := range bySplit {
				out[k][sp] = frac(a)
			}
		}
		return out
	}
	return o, conv(l2), conv(cat)
}

// MMBenchCircularize expands single-pass rows into circular passes as
// VLMEvalKit's `vlmutil circular` does: pass i (i = 1..k-1) of a k-option
// question gets index + i·offset (offset 1e6, ×10 until above every index),
// shows original option (j+i) mod k at letter j, and the answer is remapped.
// Rows whose options contain choice labels, that have no options, or whose
// answer is not one of their letters stay single-pass (so do rows whose
// options are not contiguous from A). All returned rows carry GIndex.
//
// Rows read from a file go through MMBenchCircularizeChecked, which refuses
// what int64 cannot number. Here a row whose passes would overflow int64
// stays single-pass, and passes may meet other rows' indices when an index
// is negative or 10^18 and above (callers check the indices are unique).
func MMBenchCircularize(rows []MMBenchRow) []MMBenchRow {
	out, _ := mmbCircularize(rows, false)
	return out
}

// MMBenchCircularizeChecked is MMBenchCircularize for indices from a data
// file: a negative index (its passes, index + i·offset, could be other
// rows' indices), an index given twice, or indices too large for the passes'
// numbering in int64 (VLMEvalKit's Python integers have no bound) are an
// error naming the index.
func MMBenchCircularizeChecked(rows []MMBenchRow) ([]MMBenchRow, error) {
	return mmbCircularize(rows, true)
}

func mmbCircularize(rows []MMBenchRow, strict bool) ([]MMBenchRow, error) {
	seen := make(map[int64]bool, len(rows))
	offset := int64(1e6)
	for _, r := range rows {
		if strict {
			if r.Index < 0 {
				return nil, fmt.Errorf("mmbench: index %d is negative: circular passes are numbered index + i·10^k, which could be another row's index (want index >= 0)", r.Index)
			}
			if seen[r.Index] {
				return nil, fmt.Errorf("mmbench: index %d appears twice", r.Index)
			}
			seen[r.Index] = true
		}
		for r.Index >= offset && offset <= math.MaxInt64/10 {
			offset *= 10
		}
		if r.Index >= offset && strict {
			return nil, fmt.Errorf("mmbench: index %d is too large: circular passes are numbered index + i·10^k with 10^k above every index, beyond int64 (want index < 10^18)", r.Index)
		}
	}
	var out []MMBenchRow
	for _, r := range rows {
		base := r
		base.GIndex, base.HasGIndex = r.Index, true
		out = append(out, base)
		k := len(r.Choices)
		if k < 2 || k > len(mmbLetters) || mmbAbnormal(r) {
			continue
		}
		contiguous := true
		for j, c := range r.Choices {
			contiguous = contiguous && c.Letter == mmbLetters[j:j+1]
		}
		ai := strings.Index(mmbLetters[:k], r.Answer)
		if !contiguous {
			continue
		}
		if len(r.Answer) != 1 || ai < 0 {
			continue
		}
		if r.Index >= offset || int64(k-1) > (math.MaxInt64-max(r.Index, 0))/offset {
			if strict {
				return nil, fmt.Errorf("mmbench: index %d is too large: its %d circular passes, index + i·%d, go beyond int64", r.Index, k-1, offset)
			}
			continue
		}
		for i := 1; i < k; i++ {
			p := r
			p.Index = r.Index + int64(i)*offset
			p.GIndex, p.HasGIndex = r.Index, true
			p.Choices = make([]MMBenchChoice, k)
			for j := 0; j < k; j++ {
				p.Choices[j] = MMBenchChoice{Letter: r.Choices[j].Letter, Text: r.Choices[(j+i)%k].Text}
			}
			p.Answer = r.Choices[((ai-i)%k+k)%k].Letter
			out = append(out, p)
		}
	}
	return out, nil
}

// mmbAbnormal: an option whose text (non-letters blanked) names two or more
// choice letters, or an option that is itself a run of capital letters.
func mmbAbnormal(r MMBenchRow) bool {
	letters := map[string]bool{}
	for _, c := range r.Choices {
		letters[c.Letter] = true
	}
	for _, c := range r.Choices {
		blank := strings.Map(func(x rune) rune {
			if (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || x == ' ' {
				return x
			}
			return ' '
		}, c.Text)
		hits := map[string]bool{}
		for _, w := range strings.Fields(blank) {
			if letters[w] {
				hits[w] = true
			}
		}
		if len(hits) > 1 {
			return true
		}
	}
	// `choices[k] in string.ascii_uppercase` is a substring test: "AB" counts too.
	for _, c := range r.Choices {
		if strings.Contains(mmbLetters, c.Text) {
			return true
		}
	}
	return false
}

const mmbLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// mmbPandasNA are the strings pandas.read_csv reads as NaN by default.
var mmbPandasNA = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true, "-NaN": true,
	"-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true, "NA": true, "NULL": true,
	"NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

// MMBenchReadTSV reads an MMBench TSV (header row; columns index, question,
// hint, A.., answer, category, l2-category, split, and optionally g_index and
// prediction). The image column is skipped. Option cells that pandas would
// read as NaN ("", "nan", "None", "N/A", ...) are absent options, as in
// VLMEvalKit's build_choices.
func MMBenchReadTSV(path string) ([]MMBenchRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = '\t'
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	if _, ok := col["index"]; !ok {
		return nil, fmt.Errorf("%s: column \"index\" is missing", path)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var rows []MMBenchRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		idx, err := strconv.ParseInt(get(rec, "index"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: index %q is not an integer", path, line, get(rec, "index"))
		}
		r := MMBenchRow{Index: idx, Question: get(rec, "question"), Answer: get(rec, "answer"),
			Category: get(rec, "category"), L2Category: get(rec, "l2-category"), Split: get(rec, "split"),
			Prediction: get(rec, "prediction")}
		if h := get(rec, "hint"); !mmbPandasNA[h] {
			r.Hint = h
		}
		if mmbPandasNA[r.Answer] {
			r.Answer = ""
		}
		if g := get(rec, "g_index"); g != "" {
			gi, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: g_index %q is not an integer", path, line, g)
			}
			r.GIndex, r.HasGIndex = gi, true
		}
		for c := 'A'; c <= 'Z'; c++ {
			v := get(rec, string(c))
			if _, ok := col[string(c)]; ok && !mmbPandasNA[v] {
				r.Choices = append(r.Choices, MMBenchChoice{Letter: string(c), Text: v})
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}
