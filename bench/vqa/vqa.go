// Package vqa is the VQAv2 suite (benchmarks.md §1): open-ended questions on
// COCO images scored with the official VQA accuracy (min(1, matches/3)
// averaged over the ten leave-one-out subsets of the ten human answers).
//
// Layout under the data root (the official file names):
//
//	v2_OpenEnded_mscoco_<split>_questions.json   {"questions": [{image_id, question, question_id}]}
//	v2_mscoco_<split>_annotations.json           {"annotations": [{question_id, question_type, answer_type, answers: [10 × {answer}]}]}
//	<images>/COCO_<images>_<image_id:012d>.jpg   (val2014/, train2014/ or test2015/)
//
// split is val2014 (default, scored locally), train2014, or test-dev2015 /
// test2015, whose annotations are not public: those run and cache predictions,
// and scoring says to submit them to EvalAI.
//
// Options: split, rule (official = vqaEval.py, evalai = LLaVA's
// EvalAIAnswerProcessor first, lmms-eval), prompt (llava = question +
// short-answer suffix, plain), max_new_tokens (128), images=DIR.
package vqa

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name (the paper's column "VQAv2").
const Name = "vqav2"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

// imageSplit maps a question split to its COCO image folder.
var imageSplit = map[string]string{"val2014": "val2014", "train2014": "train2014", "test-dev2015": "test2015", "test2015": "test2015"}

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "VQAv2 open-ended accuracy",
		Data: "v2_OpenEnded_mscoco_<split>_questions.json, v2_mscoco_<split>_annotations.json (absent for the test splits) and COCO images in val2014/, train2014/ or test2015/",
		Options: []bench.OptionDoc{
			{Key: "split", Help: "question split; test-dev2015 and test2015 have no public answers: their predictions are for EvalAI", Default: "val2014", Values: []string{"val2014", "train2014", "test-dev2015", "test2015"}},
			{Key: "rule", Help: "answer normalisation: official = vqaEval.py, evalai = LLaVA's EvalAIAnswerProcessor first, lmms-eval", Default: string(metrics.VQAOfficial), Values: []string{string(metrics.VQAOfficial), string(metrics.VQAEvalAI), string(metrics.VQALmmsEval)}, Scoring: true},
			qa.PromptOption(),
			qa.MaxNewTokensOption(qa.MaxNewTokensShort),
			{Key: "images", Help: "DIR of the COCO images (default: the split's folder, e.g. val2014/, in the data root)", Scoring: true},
		},
		New: New})
}

// Task is one configured VQAv2 run; items are questions in file order.
type Task struct {
	data, split, prompt string
	imagesOpt           string
	rule                metrics.VQAVariant
	maxNew              int
	annotated           bool
	items               []bench.Item
}

// question is an item's payload; Truth is empty for unannotated splits.
type question struct {
	ImageID  int64
	Question string
	Path     string
	Truth    metrics.VQAQuestion
	// MC is the annotation's multiple_choice_answer (the most common answer).
	MC string
}

// QuestionsFile and AnnotationsFile are the official file names of a split.
func QuestionsFile(split string) string {
	return "v2_OpenEnded_mscoco_" + split + "_questions.json"
}
func AnnotationsFile(split string) string { return "v2_mscoco_" + split + "_annotations.json" }

// New configures the task and reads questions and annotations.
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
		return nil, fmt.Errorf("%s: --data (the folder with %s) is required", Name, QuestionsFile("val2014"))
	}
	var err error
	if t.split, err = qa.Choice(Name, opts, "split", "val2014", "val2014", "train2014", "test-dev2015", "test2015"); err != nil {
		return nil, err
	}
	if t.rule, err = metrics.ParseVQAVariant(opts.Get("rule", "official")); err != nil {
		return nil, err
	}
	if t.prompt, err = qa.Choice(Name, opts, "prompt", qa.PromptLLaVA, qa.PromptLLaVA, qa.PromptPlain); err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensShort); err != nil {
		return nil, err
	}
	imgSplit := imageSplit[t.split]
	images := t.imagesOpt
	if images == "" {
		images = filepath.Join(t.data, imgSplit)
	}
	qpath := filepath.Join(t.data, QuestionsFile(t.split))
	qs, err := readQuestions(qpath)
	if err != nil {
		return nil, err
	}
	truth := map[int64]metrics.VQAQuestion{}
	mc := map[int64]string{}
	apath := filepath.Join(t.data, AnnotationsFile(t.split))
	if _, err := os.Stat(apath); err == nil {
		t.annotated = true
		anns, err := metrics.VQAReadAnnotations(apath)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", Name, err)
		}
		for _, a := range anns {
			if _, dup := truth[a.QuestionID]; dup {
				return nil, fmt.Errorf("%s: %s: question_id %d is annotated twice", Name, apath, a.QuestionID)
			}
			truth[a.QuestionID] = a
		}
		if mc, err = readMC(apath); err != nil {
			return nil, err
		}
		if len(anns) != len(qs) {
			return nil, fmt.Errorf("%s: %s has %d annotations but %s has %d questions; the scorer needs exactly the annotated question ids", Name, apath, len(anns), qpath, len(qs))
		}
	} else if t.split == "val2014" || t.split == "train2014" {
		return nil, fmt.Errorf("%s: %s: %v (the %s annotations are needed to score)", Name, apath, err, t.split)
	}
	for i, q := range qs {
		tr, ok := truth[q.QuestionID]
		if t.annotated && !ok {
			return nil, fmt.Errorf("%s: %s: questions[%d]: question_id %d has no annotation in %s", Name, qpath, i, q.QuestionID, apath)
		}
		t.items = append(t.items, bench.Item{ID: fmt.Sprint(q.QuestionID), Payload: question{
			ImageID: q.ImageID, Question: q.Question, Truth: tr, MC: mc[q.QuestionID],
			Path: filepath.Join(images, fmt.Sprintf("COCO_%s_%012d.jpg", imgSplit, q.ImageID)),
		}})
	}
	return t, nil
}

type rawQuestion struct {
	ImageID    int64
	Question   string
	QuestionID int64
}

func readQuestions(path string) ([]rawQuestion, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	var doc struct {
		Questions []struct {
			ImageID    *int64  `json:"image_id"`
			Question   *string `json:"question"`
			QuestionID *int64  `json:"question_id"`
		} `json:"questions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", Name, path, err)
	}
	if doc.Questions == nil {
		return nil, fmt.Errorf("%s: %s: field \"questions\" is missing", Name, path)
	}
	if len(doc.Questions) == 0 {
		return nil, fmt.Errorf("%s: %s: \"questions\" is empty, want at least one question", Name, path)
	}
	out := make([]rawQuestion, len(doc.Questions))
	seen := map[int64]bool{}
	for i, q := range doc.Questions {
		for _, f := range []struct {
			name    string
			missing bool
		}{{"image_id", q.ImageID == nil}, {"question", q.Question == nil}, {"question_id", q.QuestionID == nil}} {
			if f.missing {
				return nil, fmt.Errorf("%s: %s: questions[%d]: field %q is missing", Name, path, i, f.name)
			}
		}
		if seen[*q.QuestionID] {
			return nil, fmt.Errorf("%s: %s: questions[%d]: question_id %d appears twice", Name, path, i, *q.QuestionID)
		}
		seen[*q.QuestionID] = true
		out[i] = rawQuestion{*q.ImageID, *q.Question, *q.QuestionID}
	}
	return out, nil
}

// readMC reads multiple_choice_answer per question (logged beside each
// sample; the scorer uses the ten answers).
func readMC(path string) (map[int64]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Annotations []struct {
			QuestionID int64  `json:"question_id"`
			MC         string `json:"multiple_choice_answer"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", Name, path, err)
	}
	out := make(map[int64]string, len(doc.Annotations))
	for _, a := range doc.Annotations {
		out[a.QuestionID] = a.MC
	}
	return out, nil
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back).
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "split": t.split, "rule": string(t.rule), "prompt": t.prompt,
		"max_new_tokens": t.maxNew, "decoding": "greedy"}
	if t.imagesOpt != "" {
		p["images"] = t.imagesOpt
	}
	return p
}

var _ bench.ImagePather = (*Task)(nil)

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(question).Path }

func (t *Task) query(it bench.Item) qa.Query {
	q := it.Payload.(question)
	p := q.Question
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
		if !t.annotated {
			return raw
		}
		return metrics.VQAScoreSample(t.rule, items[i].Payload.(question).Truth, raw).Compared
	})
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	if !t.annotated {
		return nil, fmt.Errorf("%s: split %s has no public annotations (%s): the predictions are cached; submit them to the EvalAI VQA challenge", Name, t.split, AnnotationsFile(t.split))
	}
	m := &bench.Metrics{}
	samples := make([]metrics.VQASample, len(items))
	for i, it := range items {
		q := it.Payload.(question)
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		row := map[string]any{"id": it.ID, "image_id": q.ImageID, "question": q.Question, "answers": q.Truth.Answers,
			"multiple_choice_answer": q.MC, "question_type": q.Truth.QuestionType, "answer_type": q.Truth.AnswerType}
		if ok {
			samples[i] = metrics.VQAScoreSample(t.rule, q.Truth, p.Raw)
			row["prompt"], row["raw"], row["parsed"] = p.Prompt, p.Raw, samples[i].Compared
		} else {
			// An unreadable image is a question answered wrongly.
			samples[i] = metrics.VQASample{QuestionID: q.Truth.QuestionID, QuestionType: q.Truth.QuestionType, AnswerType: q.Truth.AnswerType}
			row["error"] = recs[i].Error
		}
		row["accuracy"] = samples[i].Accuracy
		m.PerSample = append(m.PerSample, row)
	}
	rep, err := metrics.VQAAggregate(t.rule, samples)
	if err != nil {
		return nil, err
	}
	overall := rep.Overall
	if t.rule == metrics.VQALmmsEval {
		overall = 100 * rep.Mean // lmms-eval reports the unrounded mean
	}
	m.Set("accuracy", overall, true)
	types := make([]string, 0, len(rep.PerAnswerType))
	for k := range rep.PerAnswerType {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		m.Set("accuracy/"+strings.ReplaceAll(k, " ", "_"), rep.PerAnswerType[k], true)
	}
	return m, nil
}
