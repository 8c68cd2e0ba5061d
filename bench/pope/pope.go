// Package pope is the POPE object-hallucination suite (benchmarks.md §2):
// yes/no questions "Is there a X in the image?" over three negative-sampling
// splits, yes as the positive class; accuracy, precision, recall, F1 and
// yes-ratio per split, and LLaVA's single number, F1 averaged over the splits.
//
// Layout under the data root: coco_pope_{random,popular,adversarial}.json
// (JSON lines {question_id, image, text, label}; also accepted under coco/ and
// with a .jsonl extension) and the COCO images they name in val2014/ (or
// images/, or --opt images=DIR).
//
// Options: splits (comma list, default all three), rule (official =
// POPE's evaluate.py / LLaVA's eval_pope.py, or vlmevalkit), prompt (llava =
// question + short-answer suffix, plain = question only), max_new_tokens (128).
package pope

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name.
const Name = "pope"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

// Splits are POPE's negative-sampling settings, in report order.
var Splits = []string{"random", "popular", "adversarial"}

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "POPE yes/no hallucination F1 per split and averaged",
		Data: "coco_pope_{random,popular,adversarial}.json (JSON lines; also under coco/ or .jsonl) and the COCO images in val2014/ or images/",
		Options: []bench.OptionDoc{
			{Key: "splits", Help: "comma list of the negative-sampling splits to ask", Default: strings.Join(Splits, ","), Values: Splits, List: true, Scoring: true},
			{Key: "rule", Help: "yes/no extraction: official = POPE's evaluate.py / LLaVA's eval_pope.py, vlmevalkit = VLMEvalKit's YOrN_Extraction", Default: string(metrics.POPEOfficial), Values: []string{string(metrics.POPEOfficial), string(metrics.POPEVLMEvalKit)}, Scoring: true},
			qa.PromptOption(),
			qa.MaxNewTokensOption(qa.MaxNewTokensShort),
			{Key: "images", Help: "DIR of the COCO images (default: val2014/, images/ or the data root itself)", Scoring: true},
		},
		New: New})
}

// Task is one configured POPE run; items are questions, split by split.
type Task struct {
	data, images, prompt string
	imagesOpt            string
	rule                 metrics.POPEVariant
	splits               []string
	maxNew               int
	items                []bench.Item
}

// question is an item's payload.
type question struct {
	Split string
	metrics.POPEQuestion
	Path string // the image file
}

// New configures the task and reads the question files.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, imagesOpt: opts.Get("images", "")}
	if t.imagesOpt != "" { // recorded as the folder it is, wherever score runs
		abs, err := filepath.Abs(t.imagesOpt)
		if err != nil {
			return nil, err
		}
		t.imagesOpt = abs
	}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (the folder with coco_pope_<split>.json) is required", Name)
	}
	var err error
	if t.rule, err = metrics.ParsePOPEVariant(opts.Get("rule", "official")); err != nil {
		return nil, err
	}
	if t.prompt, err = qa.Choice(Name, opts, "prompt", qa.PromptLLaVA, qa.PromptLLaVA, qa.PromptPlain); err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensShort); err != nil {
		return nil, err
	}
	for _, s := range strings.Split(opts.Get("splits", strings.Join(Splits, ",")), ",") {
		s = strings.TrimSpace(s)
		if !contains(Splits, s) {
			return nil, fmt.Errorf("%s: unknown split %q (random, popular, adversarial)", Name, s)
		}
		t.splits = append(t.splits, s)
	}
	t.images = t.imagesOpt
	if t.images == "" {
		t.images = qa.Dir(filepath.Join(t.data, "val2014"), filepath.Join(t.data, "images"), t.data)
	}
	for _, s := range t.splits {
		path, err := questionFile(t.data, s)
		if err != nil {
			return nil, err
		}
		qs, err := metrics.POPEReadQuestions(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", Name, err)
		}
		if len(qs) == 0 {
			return nil, fmt.Errorf("%s: %s: no questions (want JSON lines {question_id, image, text, label})", Name, path)
		}
		for _, q := range qs {
			switch {
			case q.Label != "yes" && q.Label != "no":
				return nil, fmt.Errorf("%s: %s: question_id %d: label %q, want yes or no", Name, path, q.QuestionID, q.Label)
			case q.Image == "":
				return nil, fmt.Errorf("%s: %s: question_id %d: field \"image\" is missing", Name, path, q.QuestionID)
			case q.Text == "":
				return nil, fmt.Errorf("%s: %s: question_id %d: field \"text\" is missing", Name, path, q.QuestionID)
			case !filepath.IsLocal(q.Image): // a data file must not reach outside the image folder
				return nil, fmt.Errorf("%s: %s: question_id %d: image %q, expected a file inside %s", Name, path, q.QuestionID, q.Image, t.images)
			}
			t.items = append(t.items, bench.Item{ID: fmt.Sprintf("%s/%d", s, q.QuestionID),
				Payload: question{Split: s, POPEQuestion: q, Path: filepath.Join(t.images, q.Image)}})
		}
	}
	return t, nil
}

func questionFile(data, split string) (string, error) {
	var tried []string
	for _, dir := range []string{data, filepath.Join(data, "coco")} {
		for _, ext := range []string{".json", ".jsonl"} {
			p := filepath.Join(dir, "coco_pope_"+split+ext)
			if qa.File(p) != "" {
				return p, nil
			}
			tried = append(tried, p)
		}
	}
	return "", fmt.Errorf("%s: no question file for split %s (looked for %s)", Name, split, strings.Join(tried, ", "))
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back).
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "splits": strings.Join(t.splits, ","), "rule": string(t.rule),
		"prompt": t.prompt, "max_new_tokens": t.maxNew, "positive": "yes",
		"average": "F1 mean over the splits", "decoding": "greedy"}
	if t.imagesOpt != "" {
		p["images"] = t.imagesOpt
	}
	return p
}

// query is the question an item asks.
var _ bench.ImagePather = (*Task)(nil)

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(question).Path }

func (t *Task) query(it bench.Item) qa.Query {
	q := it.Payload.(question)
	p := q.Text
	if t.prompt == qa.PromptLLaVA {
		p += qa.ShortAnswerSuffix
	}
	return qa.Query{Image: qa.FileImage(q.Path), Prompt: p}
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	qs := make([]qa.Query, len(items))
	for i, it := range items {
		qs[i] = t.query(it)
	}
	return qa.Generate(ctx, Name, m, qs, t.maxNew, func(i int, raw string) string {
		return metrics.POPEScoreSample(t.rule, items[i].Payload.(question).Label, raw).Extracted
	})
}

// failedSample is a question whose image could not be read: it counts as
// answered wrongly (the opposite of its label), so it is a false negative or
// a false positive and never leaves the denominator.
func (t *Task) failedSample(label string) metrics.POPESample {
	ext := map[bool]string{true: "no", false: "yes"}[label == "yes"]
	if t.rule == metrics.POPEVLMEvalKit {
		ext = strings.ToUpper(ext[:1]) + ext[1:]
	}
	return metrics.POPESample{Label: label, Extracted: ext}
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	bySplit := map[string][]metrics.POPESample{}
	var all []metrics.POPESample
	m := &bench.Metrics{}
	for i, it := range items {
		q := it.Payload.(question)
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		s := t.failedSample(q.Label)
		if ok {
			s = metrics.POPEScoreSample(t.rule, q.Label, p.Raw)
		}
		s.QuestionID = q.QuestionID
		bySplit[q.Split] = append(bySplit[q.Split], s)
		all = append(all, s)
		row := map[string]any{"id": it.ID, "split": q.Split, "image": q.Image, "question": q.Text,
			"label": q.Label, "parsed": s.Extracted, "correct": s.Correct}
		if ok {
			row["prompt"], row["raw"] = p.Prompt, p.Raw
		} else {
			row["error"] = recs[i].Error
		}
		m.PerSample = append(m.PerSample, row)
	}
	set := func(prefix string, r *metrics.POPEMetrics) {
		m.Set(prefix+"/accuracy", 100*r.Accuracy, true)
		m.Set(prefix+"/precision", 100*r.Precision, true)
		m.Set(prefix+"/recall", 100*r.Recall, true)
		m.Set(prefix+"/f1", 100*r.F1, true)
		// The ideal yes-ratio is the share of yes labels (50%), not an
		// extreme: informational, so check never calls a change in it a
		// regression. The direction written is lmms-eval's (pope_yes_ratio).
		m.SetInformational(prefix+"/yes_ratio", 100*r.YesRatio, true)
	}
	f1, acc, n := 0.0, 0.0, 0
	for _, s := range t.splits {
		if len(bySplit[s]) == 0 {
			continue // --limit can leave a split without items
		}
		r, err := metrics.POPEAggregate(t.rule, bySplit[s])
		if err != nil {
			return nil, err
		}
		set(s, r)
		f1, acc, n = f1+r.F1, acc+r.Accuracy, n+1
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no questions to score", Name)
	}
	m.Set("f1_avg", 100*f1/float64(n), true)
	m.Set("accuracy_avg", 100*acc/float64(n), true)
	pooled, err := metrics.POPEAggregate(t.rule, all)
	if err != nil {
		return nil, err
	}
	set("all", pooled)
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
