// Package mmbench is the MMBench suite (benchmarks.md §4): multiple-choice
// questions with base64 images in one TSV, scored by circular evaluation (a
// question counts only if every rotation of its options is answered right)
// with VLMEvalKit's letter extraction; overall, per l2 category (CP, FP-S,
// FP-C, LR, RR, AR) and per category.
//
// Layout: a TSV with columns index, question, hint, A, B, C, D, answer,
// category, image (base64), source, l2-category, comment, split — the legacy
// OpenCompass files (e.g. mmbench_dev_20230712.tsv, one row per circular pass
// with its image) and VLMEvalKit's (e.g. MMBench_DEV_EN.tsv, pass rows whose
// image cell is the index of the row holding the image) alike. The data root
// is the TSV itself or a folder with one .tsv (or --opt file=NAME).
//
// Circular passes are rows whose index is ≥ 1e6 (group = index mod 1e6). A
// file without them is circularised here as VLMEvalKit does (pass i shows
// original option (j+i) mod k at letter j); with circular=false only the main
// rows are asked and each scores on its own.
//
// Options: circular (true), rule (legacy = VLMEvalKit's can_infer before
// Aug 2025, last4 = the letter must be among the last 4 tokens), prompt
// (llava = hint, question, option lines and the multiple-choice suffix, as
// LLaVA's model_vqa_mmbench; plain = no suffix), max_new_tokens (1024).
// Predictions no rule can read are misses (no LLM judge).
package mmbench

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name.
const Name = "mmbench"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "MMBench multiple choice, circular evaluation, overall and per category",
		Data: "one MMBench .tsv (the data root itself, or the only .tsv in it; legacy OpenCompass or VLMEvalKit columns, base64 images)",
		Options: []bench.OptionDoc{
			{Key: "file", Help: "NAME.tsv to read when the data folder holds several"},
			{Key: "circular", Help: "circular evaluation: a question counts only if every rotation of its options is right; false asks the main rows alone", Default: "true", Values: []string{"true", "false"}, Scoring: true},
			{Key: "rule", Help: "answer-letter extraction: legacy = VLMEvalKit's can_infer before Aug 2025, last4 = the letter must be among the last 4 tokens", Default: string(metrics.MMBenchRuleLegacy), Values: []string{string(metrics.MMBenchRuleLegacy), string(metrics.MMBenchRuleLast4)}, Scoring: true},
			qa.PromptOption(),
			qa.MaxNewTokensOption(qa.MaxNewTokensLong),
		},
		New: New})
}

// Task is one configured MMBench run; items are circular passes (rows).
type Task struct {
	data, path, fileOpt string
	prompt              string
	rule                metrics.MMBenchRule
	circular            bool
	inFile              bool // the TSV already holds the circular passes
	maxNew              int
	images              map[int64]string // index → base64 image
	passes              map[int64]int    // group → rows asked
	items               []bench.Item
}

// pass is an item's payload: one row as asked (its options in this pass's
// order) and the index of the row whose image it shows.
type pass struct {
	Row      metrics.MMBenchRow
	ImageRow int64
}

// New configures the task and reads the TSV.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, fileOpt: opts.Get("file", ""), passes: map[int64]int{}}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (an MMBench .tsv or its folder) is required", Name)
	}
	var err error
	if t.rule, err = metrics.ParseMMBenchRule(opts.Get("rule", "legacy")); err != nil {
		return nil, err
	}
	if t.circular, err = qa.Bool(Name, opts, "circular", true); err != nil {
		return nil, err
	}
	if t.prompt, err = qa.Choice(Name, opts, "prompt", qa.PromptLLaVA, qa.PromptLLaVA, qa.PromptPlain); err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensLong); err != nil {
		return nil, err
	}
	if t.path, err = findTSV(t.data, t.fileOpt); err != nil {
		return nil, err
	}
	var shown map[int64]int64
	t.images, shown, err = readImages(t.path)
	if err != nil {
		return nil, err
	}
	rows, err := metrics.MMBenchReadTSV(t.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: %s: no question rows after the header", Name, t.path)
	}
	for i, r := range rows {
		if err := checkRow(r); err != nil {
			return nil, fmt.Errorf("%s: %s: row %d (index %d): %v", Name, t.path, i+2, r.Index, err)
		}
		t.inFile = t.inFile || r.Group() != r.Index
	}
	switch {
	case t.circular && t.inFile:
		// VLMEvalKit's files list every main row, then every pass; asking a
		// question's passes together keeps --limit to whole questions.
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Group() < rows[j].Group() })
	case t.circular && !t.inFile:
		var err error
		if rows, err = metrics.MMBenchCircularizeChecked(rows); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", Name, t.path, err)
		}
	case !t.circular && t.inFile:
		main := rows[:0:0]
		for _, r := range rows {
			if r.Group() == r.Index {
				main = append(main, r)
			}
		}
		rows = main
		if len(rows) == 0 {
			return nil, fmt.Errorf("%s: %s: no main rows (index < 1e6 or g_index = index), only circular passes: circular=false asks the main rows alone", Name, t.path)
		}
	}
	seen := map[int64]int64{} // item index -> its question (group)
	for _, r := range rows {
		if g, dup := seen[r.Index]; dup {
			return nil, fmt.Errorf("%s: %s: index %d would name a pass of question %d and one of question %d (indices too large for the circular passes' numbering, index + i·10^k)", Name, t.path, r.Index, g, r.Group())
		}
		seen[r.Index] = r.Group()
		img, ok := shown[r.Index]
		if !ok {
			img, ok = shown[r.Group()] // a generated pass shows its question's image
		}
		if !ok {
			return nil, fmt.Errorf("%s: %s: index %d: no image (neither its row nor its group's main row %d has one)", Name, t.path, r.Index, r.Group())
		}
		t.items = append(t.items, bench.Item{ID: strconv.FormatInt(r.Index, 10), Payload: pass{Row: r, ImageRow: img}})
		t.passes[r.Group()]++
	}
	return t, nil
}

// checkRow validates what asking and scoring a row need.
func checkRow(r metrics.MMBenchRow) error {
	if strings.TrimSpace(r.Question) == "" {
		return fmt.Errorf("field \"question\" is empty")
	}
	if len(r.Choices) < 2 || r.Choices[0].Letter != "A" || r.Choices[1].Letter != "B" {
		return fmt.Errorf("want options in columns A and B at least, found %d options", len(r.Choices))
	}
	if r.Answer != "" {
		for _, c := range r.Choices {
			if c.Letter == r.Answer {
				return nil
			}
		}
		return fmt.Errorf("answer %q is not one of its option letters", r.Answer)
	}
	return nil
}

func findTSV(data, file string) (string, error) {
	if file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(data, file)
		}
		return file, nil
	}
	if qa.File(data) != "" {
		return data, nil
	}
	tsvs, err := filepath.Glob(filepath.Join(data, "*.tsv"))
	if err != nil {
		return "", err
	}
	switch len(tsvs) {
	case 0:
		return "", fmt.Errorf("%s: no .tsv file in %s", Name, data)
	case 1:
		return tsvs[0], nil
	}
	names := make([]string, len(tsvs))
	for i, p := range tsvs {
		names[i] = filepath.Base(p)
	}
	return "", fmt.Errorf("%s: several .tsv files in %s (%s): choose one with --opt file=NAME", Name, data, strings.Join(names, ", "))
}

// readImages reads the index and image columns: the base64 images by the
// index of the row holding them, and for every row with an image cell the
// index of the row whose image it shows (as VLMEvalKit reads them, a cell of
// at most 64 characters names another row's index).
func readImages(path string) (images map[int64]string, shown map[int64]int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", Name, err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = '\t', true, -1
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: header: %v", Name, path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, c := range []string{"index", "question", "A", "B", "image"} {
		if _, ok := col[c]; !ok {
			return nil, nil, fmt.Errorf("%s: %s: column %q is missing (header: %s)", Name, path, c, strings.Join(head, ", "))
		}
	}
	images, shown = map[int64]string{}, map[int64]int64{}
	refs := map[int64]string{}
	rowOf := map[int64]int{}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %v", Name, path, err)
		}
		cell := func(name string) string {
			if i := col[name]; i < len(rec) {
				return rec[i]
			}
			return ""
		}
		idx, err := strconv.ParseInt(cell("index"), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: row %d: index %q is not an integer", Name, path, row, cell("index"))
		}
		// Indices name items and number the circular passes (index + i·1e6):
		// a repeated or negative one would give two items one ID.
		if idx < 0 {
			return nil, nil, fmt.Errorf("%s: %s: row %d: index %d is negative, want 0 or more", Name, path, row, idx)
		}
		if prev, dup := rowOf[idx]; dup {
			return nil, nil, fmt.Errorf("%s: %s: row %d: index %d is already used by row %d", Name, path, row, idx, prev)
		}
		img := strings.TrimSpace(cell("image"))
		rowOf[idx] = row
		switch {
		case img == "" || img == "nan":
			if idx < 1e6 {
				return nil, nil, fmt.Errorf("%s: %s: row %d (index %d): field \"image\" is empty", Name, path, row, idx)
			}
			// a legacy pass row may leave its image to the main row
		case len(img) <= 64:
			refs[idx] = img
		default:
			images[idx] = img
		}
	}
	for idx, ref := range refs {
		target, err := strconv.ParseInt(ref, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: row %d (index %d): image %q is neither base64 image data nor the index of another row", Name, path, rowOf[idx], idx, ref)
		}
		if _, ok := images[target]; !ok {
			return nil, nil, fmt.Errorf("%s: %s: row %d (index %d): image refers to index %d, which has no image", Name, path, rowOf[idx], idx, target)
		}
		shown[idx] = target
	}
	for idx := range images {
		shown[idx] = idx
	}
	return images, shown, nil
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back).
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "circular": strconv.FormatBool(t.circular), "rule": string(t.rule),
		"prompt": t.prompt, "max_new_tokens": t.maxNew, "decoding": "greedy", "judge": "none (unreadable answers are misses)"}
	if t.circular {
		p["circular_passes"] = map[bool]string{true: "from the file", false: "generated (VLMEvalKit rotation)"}[t.inFile]
	}
	if t.fileOpt != "" {
		p["file"] = t.fileOpt
	}
	return p
}

// Prompt is LLaVA's model_vqa_mmbench text: hint line, question, option lines
// (up to the first missing option), then the suffix.
func (t *Task) Prompt(r metrics.MMBenchRow) string {
	var b strings.Builder
	if r.Hint != "" {
		b.WriteString(r.Hint + "\n")
	}
	b.WriteString(r.Question)
	var opts []string
	for i, c := range r.Choices {
		if c.Letter != qa.Letters[i:i+1] {
			break
		}
		opts = append(opts, c.Text)
	}
	b.WriteString(qa.OptionLines(opts))
	if t.prompt == qa.PromptLLaVA {
		b.WriteString(qa.MultipleChoiceSuffix)
	}
	return b.String()
}

func (t *Task) query(it bench.Item) qa.Query {
	p := it.Payload.(pass)
	name := fmt.Sprintf("%s index %d image", t.path, p.ImageRow)
	return qa.Query{Prompt: t.Prompt(p.Row), Image: func() (*imageio.Image, error) {
		data, err := base64.StdEncoding.DecodeString(t.images[p.ImageRow])
		if err != nil {
			return nil, fmt.Errorf("%s: not base64: %v", name, err)
		}
		return imageio.DecodeBytes(data, name)
	}}
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	qs := make([]qa.Query, len(items))
	for i, it := range items {
		qs[i] = t.query(it)
	}
	return qa.Generate(ctx, Name, m, qs, t.maxNew, func(i int, raw string) string {
		return metrics.MMBenchExtract(raw, items[i].Payload.(pass).Row.Choices, t.rule)
	})
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	rows := make([]metrics.MMBenchRow, len(items))
	m := &bench.Metrics{}
	if t.circular {
		seen := map[int64]int{}
		for _, it := range items {
			seen[it.Payload.(pass).Row.Group()]++
		}
		for g, n := range seen {
			if n != t.passes[g] {
				return nil, fmt.Errorf("%s: question %d has %d of its %d circular passes (--limit cut it): use a limit that keeps questions whole, or circular=false", Name, g, n, t.passes[g])
			}
		}
	}
	for i, it := range items {
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		rows[i] = it.Payload.(pass).Row
		rows[i].Prediction = p.Raw // "" for an unreadable image: a miss
		ext := metrics.MMBenchExtract(p.Raw, rows[i].Choices, t.rule)
		row := map[string]any{"id": it.ID, "group": rows[i].Group(), "question": rows[i].Question, "hint": rows[i].Hint,
			"choices": rows[i].Choices, "answer": rows[i].Answer, "category": rows[i].Category,
			"l2_category": rows[i].L2Category, "parsed": ext, "correct": ext != "" && ext == rows[i].Answer}
		if ok {
			row["prompt"], row["raw"] = p.Prompt, p.Raw
		} else {
			row["error"] = recs[i].Error
		}
		m.PerSample = append(m.PerSample, row)
	}
	rep, err := metrics.MMBenchEvaluate(rows, t.rule, t.circular, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (a test split hides its answers: the predictions are cached for submission)", Name, err)
	}
	hit := map[int64]bool{}
	type acc struct{ hit, n int }
	l2, cat := map[string]*acc{}, map[string]*acc{}
	add := func(g map[string]*acc, k string, h bool) {
		if k == "" {
			return
		}
		if g[k] == nil {
			g[k] = &acc{}
		}
		g[k].n++
		if h {
			g[k].hit++
		}
	}
	total := 0
	for _, q := range rep.Questions {
		hit[q.Index] = q.Hit
		if q.Hit {
			total++
		}
		name := q.L2Category
		if a, ok := metrics.MMBenchL2Abbr[name]; ok {
			name = a
		}
		add(l2, name, q.Hit)
		add(cat, q.Category, q.Hit)
	}
	for i, row := range m.PerSample {
		key := rows[i].Index
		if t.circular {
			key = rows[i].Group()
		}
		row["question_hit"] = hit[key]
	}
	// Pooled over the questions scored; report_acc's per-split numbers are
	// the same when, as in the released files, a TSV holds one split.
	m.Set("overall", qa.Pct(total, len(rep.Questions)), true)
	for _, g := range []struct {
		prefix string
		m      map[string]*acc
	}{{"l2/", l2}, {"category/", cat}} {
		keys := make([]string, 0, len(g.m))
		for k := range g.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.Set(g.prefix+k, qa.Pct(g.m[k].hit, g.m[k].n), true)
		}
	}
	if len(rep.Overall) > 1 {
		for sp, v := range rep.Overall {
			m.Set("overall/"+sp, 100*v, true)
		}
	}
	return m, nil
}
