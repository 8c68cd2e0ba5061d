// Package seed is the SEED-Bench suite, image part (benchmarks.md §5):
// four-way multiple choice over nine image dimensions; accuracy per dimension
// and question-weighted over all image questions.
//
// Layout under the data root: SEED-Bench.json ({"questions": [{answer,
// choice_a..choice_d, data_id, data_type, question, question_id,
// question_type_id}], "question_type": {name: id}}) and the image part's
// files, named by data_id, in SEED-Bench-image/ (LLaVA's folder; also
// seed_bench_image/, images/, or --opt images=DIR). Video questions are
// skipped.
//
// Two modes, named in every result (option mode):
//   - generation (default, LLaVA-1.5): the question, option lines and the
//     multiple-choice suffix; correct only if the answer text equals the
//     letter exactly;
//   - likelihood (SEED-Bench's official eval.py): the prompt "Question:
//     {question}\nAnswer:" and the four choice texts as candidates; the
//     prediction is the choice of lowest mean token cross-entropy.
//
// Options: mode, prompt (generation: llava | plain = no suffix; likelihood:
// seed | plain = the question alone), max_new_tokens (128), file, images.
package seed

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name.
const Name = "seed"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

// FileName is the official question file.
const FileName = "SEED-Bench.json"

// PromptSEED is the likelihood prompt of SEED-Bench's InstructBLIP interface.
const PromptSEED = "seed"

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "SEED-Bench image accuracy, per dimension and question-weighted",
		Data: "SEED-Bench.json and the image part's files, named by data_id, in SEED-Bench-image/ (or seed_bench_image/, images/)",
		Options: []bench.OptionDoc{
			{Key: "mode", Help: "generation = LLaVA-1.5's (answer letter generated, exact match); likelihood = SEED-Bench's eval.py (choice of lowest mean cross-entropy)", Default: string(metrics.SEEDGeneration), Values: []string{string(metrics.SEEDGeneration), string(metrics.SEEDLikelihood)}},
			{Key: "prompt", Help: "generation: llava (default) = question, option lines and the multiple-choice suffix, plain = no suffix; likelihood: seed (default) = \"Question: ...\\nAnswer:\", plain = the question alone", Values: []string{qa.PromptLLaVA, qa.PromptPlain, PromptSEED}},
			qa.MaxNewTokensOption(qa.MaxNewTokensShort),
			{Key: "file", Help: "question FILE, relative to the data root or absolute (default: " + FileName + ")"},
			{Key: "images", Help: "DIR of the images (default: SEED-Bench-image/, seed_bench_image/ or images/ in the data root)", Scoring: true},
		},
		New: New})
}

// Task is one configured SEED-Bench run; items are the image questions.
type Task struct {
	data, fileOpt, imagesOpt string
	mode                     metrics.SEEDMode
	prompt                   string
	maxNew                   int
	names                    map[int]string
	items                    []bench.Item
}

// question is an item's payload.
type question struct {
	metrics.SEEDQuestion
	Path string
}

// New configures the task and reads SEED-Bench.json.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, fileOpt: opts.Get("file", ""), imagesOpt: opts.Get("images", "")}
	if t.imagesOpt != "" { // recorded as the folder it is, wherever score runs
		abs, err := filepath.Abs(t.imagesOpt)
		if err != nil {
			return nil, err
		}
		t.imagesOpt = abs
	}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (the folder with %s) is required", Name, FileName)
	}
	mode, err := qa.Choice(Name, opts, "mode", string(metrics.SEEDGeneration), string(metrics.SEEDGeneration), string(metrics.SEEDLikelihood))
	if err != nil {
		return nil, err
	}
	t.mode = metrics.SEEDMode(mode)
	if t.mode == metrics.SEEDGeneration {
		t.prompt, err = qa.Choice(Name, opts, "prompt", qa.PromptLLaVA, qa.PromptLLaVA, qa.PromptPlain)
	} else {
		t.prompt, err = qa.Choice(Name, opts, "prompt", PromptSEED, PromptSEED, qa.PromptPlain)
	}
	if err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensShort); err != nil {
		return nil, err
	}
	path := t.fileOpt
	if path == "" {
		path = FileName
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(t.data, path)
	}
	qs, names, err := metrics.SEEDReadQuestions(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	t.names = metrics.SEEDImageDimensions
	if len(names) > 0 {
		t.names = names
	}
	images := t.imagesOpt
	if images == "" {
		images = qa.Dir(filepath.Join(t.data, "SEED-Bench-image"), filepath.Join(t.data, "seed_bench_image"), filepath.Join(t.data, "images"))
		if images == "" {
			images = filepath.Join(t.data, "SEED-Bench-image")
		}
	}
	seen := map[string]bool{}
	for i, q := range qs {
		if q.DataType != "image" {
			continue
		}
		bad := ""
		switch {
		case len(q.Answer) != 1 || q.Answer < "A" || q.Answer > "D":
			bad = fmt.Sprintf("answer %q, want A, B, C or D", q.Answer)
		case q.DataID == "":
			bad = "field \"data_id\" is missing"
		case q.Question == "":
			bad = "field \"question\" is missing"
		case seen[q.QuestionID]:
			bad = "question_id appears twice"
		}
		for k, c := range q.Choices {
			if bad == "" && c == "" {
				bad = fmt.Sprintf("field \"choice_%c\" is missing", 'a'+k)
			}
		}
		if bad != "" {
			return nil, fmt.Errorf("%s: %s: questions[%d] (question_id %s): %s", Name, path, i, q.QuestionID, bad)
		}
		if !filepath.IsLocal(q.DataID) { // a data file must not reach outside the image folder
			return nil, fmt.Errorf("%s: %s: questions[%d] (question_id %s): data_id %q, expected a path inside %s", Name, path, i, q.QuestionID, q.DataID, images)
		}
		seen[q.QuestionID] = true
		t.items = append(t.items, bench.Item{ID: q.QuestionID, Payload: question{q, filepath.Join(images, q.DataID)}})
	}
	if len(t.items) == 0 {
		return nil, fmt.Errorf("%s: %s has no image questions (data_type \"image\")", Name, path)
	}
	return t, nil
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back).
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "mode": string(t.mode), "prompt": t.prompt, "data_type": "image",
		"weighting": "question-weighted over all image questions"}
	if t.mode == metrics.SEEDGeneration {
		p["max_new_tokens"], p["decoding"], p["match"] = t.maxNew, "greedy", "text == answer letter, exactly"
	} else {
		p["ranking"] = "lowest mean token cross-entropy of the choice text"
	}
	for k, v := range map[string]string{"file": t.fileOpt, "images": t.imagesOpt} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

var _ bench.ImagePather = (*Task)(nil)

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(question).Path }

func (t *Task) query(it bench.Item) qa.Query {
	q := it.Payload.(question)
	var p string
	switch t.prompt {
	case qa.PromptLLaVA:
		p = q.Question + qa.OptionLines(q.Choices[:]) + qa.MultipleChoiceSuffix
	case PromptSEED:
		p = "Question: " + q.Question + "\nAnswer:"
	default: // plain
		p = q.Question
		if t.mode == metrics.SEEDGeneration {
			p += qa.OptionLines(q.Choices[:])
		}
	}
	return qa.Query{Image: qa.FileImage(q.Path), Prompt: p}
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	qs := make([]qa.Query, len(items))
	for i, it := range items {
		qs[i] = t.query(it)
	}
	if t.mode == metrics.SEEDGeneration {
		return qa.Generate(ctx, Name, m, qs, t.maxNew, func(_ int, raw string) string { return raw })
	}
	cands := make([][]string, len(items))
	for i, it := range items {
		c := it.Payload.(question).Choices
		cands[i] = c[:]
	}
	return qa.Rank(ctx, Name, m, qs, cands, metrics.SEEDLikelihoodPredict)
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	m := &bench.Metrics{}
	samples := make([]metrics.SEEDSample, len(items))
	for i, it := range items {
		q := it.Payload.(question)
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		s := metrics.SEEDSample{QuestionID: q.QuestionID, QuestionTypeID: q.QuestionTypeID, Answer: q.Answer}
		row := map[string]any{"id": it.ID, "dimension": t.names[q.QuestionTypeID], "image": q.DataID,
			"question": q.Question, "choices": q.Choices, "answer": q.Answer}
		switch {
		case !ok: // an unreadable image: a wrong answer
			row["error"] = recs[i].Error
		case t.mode == metrics.SEEDGeneration:
			s.Prediction, s.Correct = p.Raw, metrics.SEEDExactMatch(p.Raw, q.Answer)
			row["prompt"], row["raw"] = p.Prompt, p.Raw
		default:
			if len(p.Losses) != 4 {
				return nil, fmt.Errorf("item %s: %d choice losses, want 4", it.ID, len(p.Losses))
			}
			s.Prediction = metrics.SEEDLikelihoodPredict(p.Losses)
			s.Correct = s.Prediction == q.Answer
			row["prompt"], row["losses"] = p.Prompt, p.Losses
		}
		row["parsed"], row["correct"] = s.Prediction, s.Correct
		samples[i] = s
		m.PerSample = append(m.PerSample, row)
	}
	rep := metrics.SEEDAggregate(t.mode, samples, t.names)
	m.Set("image_accuracy", rep.Accuracy, true)
	dims := append([]metrics.SEEDDimension(nil), rep.Dimensions...)
	sort.Slice(dims, func(i, j int) bool { return dims[i].ID < dims[j].ID })
	for _, d := range dims {
		m.Set("dim/"+Slug(d.Name, d.ID), d.Accuracy, true)
	}
	return m, nil
}

// Slug names a dimension in metric keys: "Instance Identity" →
// "instance_identity" (the id when the file gives no name).
func Slug(name string, id int) string {
	if name == "" {
		return fmt.Sprint(id)
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), " ", "_")
}
