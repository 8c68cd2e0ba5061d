// Package mme is the MME suite (benchmarks.md §3): two yes/no questions per
// image (one "Yes", one "No") in 14 subtasks; per subtask 100·acc + 100·acc+
// (acc+ = images with both answers right), Perception = the sum over the 10
// perception subtasks (max 2000), Cognition over the 4 cognition ones (max
// 800), as the official eval_tool/calculation.py computes them.
//
// Layout: MME_Benchmark_release_version/<subtask>/ under the data root (or the
// data root itself). artwork, celebrity, landmark, posters and scene hold
// images/<stem>.<ext> and questions_answers_YN/<stem>.txt; the other nine keep
// <stem>.<ext> and <stem>.txt side by side (either arrangement is accepted for
// any subtask). Each .txt has two lines "question\tYes|No".
//
// Options: subtasks (all = the 14, each required; available = those present;
// or a comma list), prompt (llava = LLaVA-1.5's: " Please answer yes or no."
// replaced by the short-answer suffix, as its llava_mme.jsonl and
// convert_answer_to_mme.py do; plain = the question as written),
// max_new_tokens (128).
package mme

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name.
const Name = "mme"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

// RootName is the folder the MME release unpacks to.
const RootName = "MME_Benchmark_release_version"

// YesNoSuffix ends every MME question.
const YesNoSuffix = " Please answer yes or no."

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "MME perception and cognition scores (14 yes/no subtasks)",
		Data: "MME_Benchmark_release_version/<subtask>/ (or the subtask folders at the root), images with questions_answers_YN/<stem>.txt or <stem>.txt beside them",
		Options: []bench.OptionDoc{
			{Key: "subtasks", Help: "all = the 14, each required for the totals; available = those present; or a comma list of subtask names", Default: "all", Scoring: true},
			qa.PromptOption(),
			qa.MaxNewTokensOption(qa.MaxNewTokensShort),
		},
		New: New})
}

// Task is one configured MME run. Items are questions, subtask by subtask in
// the tool's order, image by image (sorted by file name), the two lines of an
// image's .txt in file order: the pairing the scorer relies on.
type Task struct {
	data, root, prompt string
	subtasks           []string
	subtasksOpt        string
	maxNew             int
	items              []bench.Item
}

// question is an item's payload.
type question struct {
	Subtask  string
	Image    string // file name, as the tool's first column
	Path     string
	Question string // as in the .txt
	GT       string // Yes or No
	TxtLine  string // "file:line", for logs
}

var imageExts = []string{".jpg", ".png", ".jpeg", ".JPG", ".PNG", ".JPEG"}

// Subtasks lists the 14 subtasks in the tool's order.
func Subtasks() []string {
	return append(append([]string(nil), metrics.MMEPerception...), metrics.MMECognition...)
}

// New configures the task and reads every subtask's question files.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, subtasksOpt: opts.Get("subtasks", "all")}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (the folder holding %s/) is required", Name, RootName)
	}
	var err error
	if t.prompt, err = qa.Choice(Name, opts, "prompt", qa.PromptLLaVA, qa.PromptLLaVA, qa.PromptPlain); err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensShort); err != nil {
		return nil, err
	}
	t.root = qa.Dir(filepath.Join(t.data, RootName), t.data)
	if t.root == "" {
		return nil, fmt.Errorf("%s: %s is not a folder", Name, t.data)
	}
	switch t.subtasksOpt {
	case "all", "available":
		for _, s := range Subtasks() {
			if qa.Dir(filepath.Join(t.root, s)) != "" {
				t.subtasks = append(t.subtasks, s)
			} else if t.subtasksOpt == "all" {
				return nil, fmt.Errorf("%s: subtask folder %s is missing (MME needs all 14 for its totals; --opt subtasks=available scores those present)", Name, filepath.Join(t.root, s))
			}
		}
	default:
		want := map[string]bool{}
		for _, s := range strings.Split(t.subtasksOpt, ",") {
			s = strings.TrimSpace(s)
			if !contains(Subtasks(), s) {
				return nil, fmt.Errorf("%s: unknown subtask %q (known: %s)", Name, s, strings.Join(Subtasks(), ", "))
			}
			want[s] = true
		}
		for _, s := range Subtasks() { // the tool's order, whatever the list's
			if want[s] {
				t.subtasks = append(t.subtasks, s)
			}
		}
	}
	if len(t.subtasks) == 0 {
		return nil, fmt.Errorf("%s: no subtask folders (%s) in %s", Name, strings.Join(Subtasks(), ", "), t.root)
	}
	for _, s := range t.subtasks {
		qs, err := readSubtask(t.root, s)
		if err != nil {
			return nil, err
		}
		for k, q := range qs {
			t.items = append(t.items, bench.Item{ID: fmt.Sprintf("%s/%s#%d", s, q.Image, k%2), Payload: q})
		}
	}
	return t, nil
}

// readSubtask reads one subtask folder in either arrangement.
func readSubtask(root, name string) ([]question, error) {
	dir := filepath.Join(root, name)
	imgDir, qaDir := dir, dir
	if qa.Dir(filepath.Join(dir, "images")) != "" {
		imgDir, qaDir = filepath.Join(dir, "images"), filepath.Join(dir, "questions_answers_YN")
		if qa.Dir(qaDir) == "" {
			return nil, fmt.Errorf("%s: %s has images/ but no questions_answers_YN/", Name, dir)
		}
	}
	images := map[string]string{} // stem → file name
	entries, err := os.ReadDir(imgDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.IsDir() && contains(imageExts, ext) {
			images[strings.TrimSuffix(e.Name(), ext)] = e.Name()
		}
	}
	txts, err := filepath.Glob(filepath.Join(qaDir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(txts)
	if len(txts) == 0 {
		return nil, fmt.Errorf("%s: no question files (*.txt) in %s", Name, qaDir)
	}
	var out []question
	for _, txt := range txts {
		stem := strings.TrimSuffix(filepath.Base(txt), ".txt")
		img, ok := images[stem]
		if !ok {
			return nil, fmt.Errorf("%s: %s: no image %s.{jpg,png,...} in %s", Name, txt, stem, imgDir)
		}
		qs, err := readPair(txt)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			q.Subtask, q.Image, q.Path = name, img, filepath.Join(imgDir, img)
			out = append(out, q)
		}
	}
	return out, nil
}

// readPair reads one image's question file: exactly two lines
// "question\tYes|No" (the tool strips each line and splits on the tab).
func readPair(path string) ([]question, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	defer f.Close()
	var out []question
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 2 || fields[0] == "" {
			return nil, fmt.Errorf("%s: %s:%d: want \"question<TAB>Yes|No\", found %q", Name, path, n, line)
		}
		if gt := strings.ToLower(fields[1]); gt != "yes" && gt != "no" {
			return nil, fmt.Errorf("%s: %s:%d: answer %q, want Yes or No", Name, path, n, fields[1])
		}
		out = append(out, question{Question: fields[0], GT: fields[1], TxtLine: fmt.Sprintf("%s:%d", path, n)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", Name, path, err)
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("%s: %s: %d questions, want 2 (MME pairs the two answers of an image for acc+)", Name, path, len(out))
	}
	return out, nil
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back). subtasks is the resolved
// list, so a report can tell a partial total from the full one.
func (t *Task) Protocol() map[string]any {
	return map[string]any{"data": t.data, "subtasks": strings.Join(t.subtasks, ","), "prompt": t.prompt,
		"max_new_tokens": t.maxNew, "decoding": "greedy", "parse": "calculation.py (yes/no, else first 4 characters)",
		"complete": len(t.subtasks) == len(Subtasks())}
}

var _ bench.ImagePather = (*Task)(nil)

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(question).Path }

func (t *Task) query(it bench.Item) qa.Query {
	q := it.Payload.(question)
	p := q.Question
	if t.prompt == qa.PromptLLaVA {
		p = strings.TrimSpace(strings.Replace(p, strings.TrimSpace(YesNoSuffix), "", 1)) + qa.ShortAnswerSuffix
	}
	return qa.Query{Image: qa.FileImage(q.Path), Prompt: p}
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	qs := make([]qa.Query, len(items))
	for i, it := range items {
		qs[i] = t.query(it)
	}
	return qa.Generate(ctx, Name, m, qs, t.maxNew, func(_ int, raw string) string { return metrics.MMEParse(raw) })
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	lines := map[string][]metrics.MMELine{}
	m := &bench.Metrics{}
	for i, it := range items {
		q := it.Payload.(question)
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		// An unreadable image leaves an empty response, which parses as
		// "other": a wrong answer, as the tool counts it.
		resp := p.Raw
		lines[q.Subtask] = append(lines[q.Subtask], metrics.MMELine{Image: q.Image, Question: q.Question, GT: q.GT, Response: resp})
		row := map[string]any{"id": it.ID, "subtask": q.Subtask, "image": q.Image, "question": q.Question,
			"gt": q.GT, "source": q.TxtLine, "parsed": metrics.MMEParse(resp),
			"correct": metrics.MMEParse(resp) == strings.ToLower(q.GT)}
		if ok {
			row["prompt"], row["raw"] = p.Prompt, p.Raw
		} else {
			row["error"] = recs[i].Error
		}
		m.PerSample = append(m.PerSample, row)
	}
	var perception, cognition []*metrics.MMETask
	for _, s := range t.subtasks {
		if len(lines[s]) == 0 {
			continue // --limit can leave a subtask without items
		}
		if len(lines[s])%2 != 0 {
			return nil, fmt.Errorf("%s: subtask %s has %d questions scored (--limit cut an image's pair); use a limit that keeps pairs whole", Name, s, len(lines[s]))
		}
		r, err := metrics.MMEScoreTask(s, lines[s])
		if err != nil {
			return nil, err
		}
		m.Set(s+"/score", r.Score, true)
		m.Set(s+"/acc", 100*r.Acc, true)
		m.Set(s+"/acc_plus", 100*r.AccPlus, true)
		if contains(metrics.MMEPerception, s) {
			perception = append(perception, r)
		} else {
			cognition = append(cognition, r)
		}
	}
	if len(perception) > 0 {
		m.Set("perception", metrics.MMETotal(perception), true)
	}
	if len(cognition) > 0 {
		m.Set("cognition", metrics.MMETotal(cognition), true)
	}
	if len(perception)+len(cognition) == 0 {
		return nil, fmt.Errorf("%s: no questions to score", Name)
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
