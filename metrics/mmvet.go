package metrics

// MM-Vet, as yuweihao/MM-Vet@acde843 mm-vet_evaluator.py grades and
// aggregates it. See shared/design/benchmarks.md §6.
//
// Grading: one user message = the few-shot instruction (a markdown table of 7
// graded examples) + "\n" + "Q | GT | Pred | " (GT with " <AND> "/" <OR> "
// spaced out); max_tokens 3, temperature 0. The reply's first space-separated
// token, stripped, must read as a Python float in [0, 1]. If not, the request is
// repeated with "\nPredict the correctness of the answer (digit): " appended:
// the first retry at the same temperature, each later one 0.5 warmer (calls at
// 0, 0, 0.5, 1.0, 1.5). After 5 unreadable replies the score is 0. (The
// reference makes one more call, at 2.0, whose reply it never parses; we skip
// it: no score depends on it.) We also refuse "nan", which Python's float()
// would accept and let through the range test.
//
// Aggregation per run: capability c scores 100·(sum over items with c)/count,
// total 100·sum/N (the expression (sum/count)·100 as numpy evaluates it); over
// runs: mean rounded to 1 decimal and population std of the totals, both with
// numpy's rounding (rint(x·10)/10), as the reference prints them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// MMVetRetrySuffix is appended to the grader prompt on retries.
const MMVetRetrySuffix = "\nPredict the correctness of the answer (digit): "

// MMVetMaxTries is how many grader replies are read before scoring 0.
const MMVetMaxTries = 5

// The reference grader's model and max_tokens (its first temperature is 0).
const (
	MMVetGraderModel     = "gpt-4-0613"
	MMVetGraderMaxTokens = 3
)

// mmvetExample is one graded row of the instruction's table.
type mmvetExample struct {
	question, truth, prediction string
	score                       float64
}

const (
	mmvetEqQ    = "What is x in the equation?"
	mmvetEqGT   = "-1 <AND> -5"
	mmvetMemeQ  = "Can you explain this meme?"
	mmvetMemeGT = "This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. " +
		"Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. " +
		"The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes."
)

// mmvetExamples are the facts of the reference's 7 worked examples.
var mmvetExamples = []mmvetExample{
	{mmvetEqQ, mmvetEqGT, "x = 3", 0.0},
	{mmvetEqQ, mmvetEqGT, "x = -1", 0.5},
	{mmvetEqQ, mmvetEqGT, "x = -5", 0.5},
	{mmvetEqQ, mmvetEqGT, "x = -5 or 5", 0.5},
	{mmvetEqQ, mmvetEqGT, "x = -1 or x = -5", 1.0},
	{mmvetMemeQ, mmvetMemeGT, "The meme talks about Iceland and Greenland. It's pointing out that despite their names, " +
		"Iceland is not very icy and Greenland isn't very green.", 0.4},
	{mmvetMemeQ, mmvetMemeGT, "The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. " +
		"Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. " +
		"The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. " +
		"The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics.", 1.0},
}

// MMVetGraderInstruction is the few-shot instruction: the task, the <AND>/<OR>
// convention, the score scale, then the table of examples (each row ending in
// "\n").
var MMVetGraderInstruction = func() string {
	var b strings.Builder
	b.WriteString("Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. ")
	b.WriteString("<AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, ")
	b.WriteString("and <OR> means it is totally right when any one element in the ground truth is present in the prediction. ")
	b.WriteString("The correctness score is ")
	for i := 0; i <= 10; i++ {
		switch i {
		case 0:
			b.WriteString("0.0 (totally wrong), ")
		case 10:
			b.WriteString("or 1.0 (totally right). ")
		default:
			fmt.Fprintf(&b, "%.1f, ", float64(i)/10)
		}
	}
	b.WriteString("Just complete the last space of the correctness score.\n\n")
	b.WriteString(mmvetRow("Question", "Ground truth", "Prediction", "Correctness"))
	b.WriteString(mmvetRow("---", "---", "---", "---"))
	for _, e := range mmvetExamples {
		b.WriteString(mmvetRow(e.question, e.truth, e.prediction, strconv.FormatFloat(e.score, 'f', 1, 64)))
	}
	return b.String()
}()

func mmvetRow(cells ...string) string { return strings.Join(cells, " | ") + "\n" }

// MMVetGraderPrompt is the user message for one item; retry adds the suffix.
func MMVetGraderPrompt(question, answer, prediction string, retry bool) string {
	gt := strings.ReplaceAll(answer, "<AND>", " <AND> ")
	gt = strings.ReplaceAll(gt, "<OR>", " <OR> ")
	p := MMVetGraderInstruction + "\n" + strings.Join([]string{question, gt, prediction, ""}, " | ")
	if retry {
		p += MMVetRetrySuffix
	}
	return p
}

// MMVetParseScore reads a grader reply: the first token (split on " "),
// stripped, as a Python float in [0, 1].
func MMVetParseScore(content string) (float64, bool) {
	tok, _, _ := strings.Cut(content, " ")
	v, ok := qaPyFloat(qaPyStrip(tok))
	if !ok || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, false
	}
	return v, true
}

// qaPyFloat parses s as Python's float(s) does for a stripped string:
// [sign] digits with single underscores between digits, optional fraction and
// exponent, or inf/infinity/nan in any case; any Unicode decimal digit counts.
func qaPyFloat(s string) (float64, bool) {
	var b strings.Builder
	for _, r := range s {
		if r > 127 && unicode.IsDigit(r) {
			r = '0' + qaDigitValue(r)
		}
		b.WriteRune(r)
	}
	s = b.String()
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case "nan":
		return math.NaN(), true
	}
	mant, exp := body, ""
	if i := strings.IndexAny(body, "eE"); i >= 0 {
		mant, exp = body[:i], body[i+1:]
		e := strings.TrimLeft(exp, "+-")
		if len(exp)-len(e) > 1 || !qaDigitPart(e) {
			return 0, false
		}
	}
	ip, fp, dot := strings.Cut(mant, ".")
	switch {
	case dot && ip == "" && fp == "":
		return 0, false
	case ip != "" && !qaDigitPart(ip), fp != "" && !qaDigitPart(fp), !dot && ip == "":
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return v, true // overflow → ±inf, as Python
		}
		return 0, false
	}
	return v, true
}

// qaDigitPart: digit (["_"] digit)*.
func qaDigitPart(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i+1] == '_' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// qaDigitValue is the decimal value of a Unicode Nd digit: Nd characters come
// in contiguous sets of ten starting at a zero (adjacent sets form longer runs).
func qaDigitValue(r rune) rune {
	z := r
	for z > 0 && unicode.IsDigit(z-1) {
		z--
	}
	return (r - z) % 10
}

// MMVetItem is one entry of mm-vet.json.
type MMVetItem struct {
	ID           string // "v1_0" ...
	ImageName    string
	Capabilities []string
	Question     string
	Answer       string
}

// MMVetGrade is one grading of one item.
type MMVetGrade struct {
	Score   float64
	Content string // the parsed token, or the last raw reply when all failed
	Model   string // the model the server says answered
	Tries   int    // replies read (1..5)
	Failed  bool   // no readable reply: Score is 0
}

// MMVetGrader is what grades: *Judge implements it.
type MMVetGrader interface {
	Complete(ctx context.Context, req JudgeRequest) (JudgeResponse, error)
}

// MMVetGradeOne grades one prediction (run selects the cache slot of a
// repeated grading run).
func MMVetGradeOne(ctx context.Context, g MMVetGrader, item MMVetItem, prediction string, run int) (MMVetGrade, error) {
	temp := 0.0
	prompt := MMVetGraderPrompt(item.Question, item.Answer, prediction, false)
	var last JudgeResponse
	for try := 1; try <= MMVetMaxTries; try++ {
		resp, err := g.Complete(ctx, JudgeRequest{Messages: []JudgeMessage{{Role: "user", Content: prompt}},
			Temperature: temp, MaxTokens: MMVetGraderMaxTokens, Run: run})
		if err != nil {
			return MMVetGrade{}, fmt.Errorf("mm-vet %s: %v", item.ID, err)
		}
		last = resp
		if s, ok := MMVetParseScore(resp.Content); ok && !resp.Null {
			tok, _, _ := strings.Cut(resp.Content, " ")
			return MMVetGrade{Score: s, Content: qaPyStrip(tok), Model: resp.Model, Tries: try}, nil
		}
		if try > 1 {
			temp += 0.5
		}
		prompt = MMVetGraderPrompt(item.Question, item.Answer, prediction, true)
	}
	return MMVetGrade{Score: 0, Content: last.Content, Model: last.Model, Tries: MMVetMaxTries, Failed: true}, nil
}

// MMVetGradeAll grades every item once per run with `workers` concurrent
// requests; results maps item id → prediction and must cover every item.
// It returns grades[run][item].
func MMVetGradeAll(ctx context.Context, g MMVetGrader, items []MMVetItem, results map[string]string, runs, workers int) ([][]MMVetGrade, error) {
	for _, it := range items {
		if _, ok := results[it.ID]; !ok {
			return nil, fmt.Errorf("mm-vet: no prediction for %s", it.ID)
		}
	}
	if runs < 1 {
		runs = 1
	}
	workers = max(workers, 1)
	grades := make([][]MMVetGrade, runs)
	for r := range grades {
		grades[r] = make([]MMVetGrade, len(items))
	}
	type job struct{ run, i int }
	jobs := make(chan job)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				gr, err := MMVetGradeOne(ctx, g, items[jb.i], results[items[jb.i].ID], jb.run)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				grades[jb.run][jb.i] = gr
				mu.Unlock()
			}
		}()
	}
feed:
	for r := 0; r < runs; r++ {
		for i := range items {
			select {
			case jobs <- job{r, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return grades, nil
}

// MMVetGroupScore is one capability's (or capability set's) result.
type MMVetGroupScore struct {
	Name   string
	Count  int
	PerRun []float64 // (sum/count)·100 per run
	Mean   float64   // mean over runs, rounded to 1 decimal (numpy)
}

// MMVetReport is the aggregated result.
type MMVetReport struct {
	Runs         int
	N            int
	Capabilities []MMVetGroupScore // by count, descending (ties: first seen)
	Integrations []MMVetGroupScore // capability sets, by count, descending (ties: first seen)
	TotalPerRun  []float64         // (sum/N)·100 per run, unrounded
	Total        float64           // mean over runs, 1 decimal
	Std          float64           // population std over runs, 1 decimal
	RunsRounded  []float64         // each run's total, 1 decimal
}

// MMVetAggregate aggregates scores[run][item] (items in file order).
// Capability sets are named by their capabilities joined with "_" in the order
// the set's first item lists them (the reference joins a Python set, whose
// order varies between processes).
func MMVetAggregate(items []MMVetItem, scores [][]float64) (*MMVetReport, error) {
	if len(items) == 0 || len(scores) == 0 {
		return nil, fmt.Errorf("mm-vet: nothing to aggregate (%d items, %d runs)", len(items), len(scores))
	}
	for r, s := range scores {
		if len(s) != len(items) {
			return nil, fmt.Errorf("mm-vet: run %d has %d scores for %d items", r, len(s), len(items))
		}
	}
	runs := len(scores)
	type acc struct {
		name  string
		count int
		sums  []float64
	}
	var capOrder, setOrder []*acc
	caps, sets := map[string]*acc{}, map[string]*acc{}
	get := func(m map[string]*acc, order *[]*acc, key, name string) *acc {
		a := m[key]
		if a == nil {
			a = &acc{name: name, sums: make([]float64, runs)}
			m[key] = a
			*order = append(*order, a)
		}
		return a
	}
	itemCaps := make([][]*acc, len(items))
	itemSet := make([]*acc, len(items))
	for i, it := range items {
		uniq := mmvetUnique(it.Capabilities)
		for _, c := range uniq {
			a := get(caps, &capOrder, c, c)
			a.count++
			itemCaps[i] = append(itemCaps[i], a)
		}
		sorted := append([]string(nil), uniq...)
		sort.Strings(sorted)
		s := get(sets, &setOrder, strings.Join(sorted, "\x00"), strings.Join(uniq, "_"))
		s.count++
		itemSet[i] = s
	}
	rep := &MMVetReport{Runs: runs, N: len(items), TotalPerRun: make([]float64, runs)}
	for r := 0; r < runs; r++ {
		total := 0.0
		for i := range items {
			sc := scores[r][i]
			for _, a := range itemCaps[i] {
				a.sums[r] += sc
			}
			total += sc
			itemSet[i].sums[r] += sc
		}
		rep.TotalPerRun[r] = total / float64(len(items)) * 100
	}
	group := func(order []*acc) []MMVetGroupScore {
		out := make([]MMVetGroupScore, len(order))
		for k, a := range order {
			per := make([]float64, runs)
			for r := range per {
				per[r] = a.sums[r] / float64(a.count) * 100
			}
			out[k] = MMVetGroupScore{Name: a.name, Count: a.count, PerRun: per, Mean: qaNumpyRound(qaNumpyMean(per), 1)}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
		return out
	}
	rep.Capabilities = group(capOrder)
	rep.Integrations = group(setOrder)
	rep.Total = qaNumpyRound(qaNumpyMean(rep.TotalPerRun), 1)
	rep.Std = qaNumpyRound(qaNumpyStd(rep.TotalPerRun), 1)
	rep.RunsRounded = make([]float64, runs)
	for r, t := range rep.TotalPerRun {
		rep.RunsRounded[r] = qaNumpyRound(t, 1)
	}
	return rep, nil
}

func mmvetUnique(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// MMVetScores extracts scores[run][item] from grades.
func MMVetScores(grades [][]MMVetGrade) [][]float64 {
	out := make([][]float64, len(grades))
	for r, g := range grades {
		out[r] = make([]float64, len(g))
		for i, x := range g {
			out[r][i] = x.Score
		}
	}
	return out
}

// MMVetReadItems reads mm-vet.json, keeping the file's order of items.
func MMVetReadItems(path string) ([]MMVetItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s: want a JSON object of items", path)
	}
	var out []MMVetItem
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		id, _ := t.(string)
		var v struct {
			ImageName  string   `json:"imagename"`
			Capability []string `json:"capability"`
			Question   *string  `json:"question"`
			Answer     *string  `json:"answer"`
		}
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: item %s: %v", path, id, err)
		}
		if v.Question == nil || v.Answer == nil || len(v.Capability) == 0 {
			return nil, fmt.Errorf("%s: item %s: want fields \"question\", \"answer\" and a non-empty \"capability\"", path, id)
		}
		out = append(out, MMVetItem{ID: id, ImageName: v.ImageName, Capabilities: v.Capability, Question: *v.Question, Answer: *v.Answer})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no items", path)
	}
	return out, nil
}

// MMVetReadResults reads a results file: a JSON object item id → response.
func MMVetReadResults(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of id → response: %v", path, err)
	}
	return m, nil
}

// ---- numpy semantics (prefix qaNumpy) ----

// qaNumpySum is np.add.reduce over float64: numpy's pairwise summation
// (8 partial sums per block of ≤128, halves above).
func qaNumpySum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		s := 0.0
		for _, x := range a {
			s += x
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := 0; j < 8; j++ {
				r[j] += a[i+j]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return qaNumpySum(a[:n2]) + qaNumpySum(a[n2:])
}

func qaNumpyMean(a []float64) float64 { return qaNumpySum(a) / float64(len(a)) }

// qaNumpyStd is np.std (ddof 0).
func qaNumpyStd(a []float64) float64 {
	m := qaNumpyMean(a)
	d := make([]float64, len(a))
	for i, x := range a {
		d[i] = (x - m) * (x - m)
	}
	return math.Sqrt(qaNumpySum(d) / float64(len(a)))
}

// qaNumpyRound is np.round(x, nd) (and round() on a numpy float):
// rint(x·10^nd)/10^nd.
func qaNumpyRound(x float64, nd int) float64 {
	f := math.Pow(10, float64(nd))
	return math.RoundToEven(x*f) / f
}
