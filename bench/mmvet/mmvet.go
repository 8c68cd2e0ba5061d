// Package mmvet is the MM-Vet suite (benchmarks.md §6): open-ended questions
// graded 0..1 by an LLM judge with MM-Vet's few-shot grader prompt; total =
// 100·mean score, and per capability (rec, ocr, know, gen, spat, math) and
// capability set.
//
// Layout under the data root: mm-vet.json ({"v1_0": {imagename, capability,
// question, answer}, ...}) and images/<imagename>.
//
// Prompt: the question alone (LLaVA-1.5's MM-Vet run adds no suffix), greedy,
// up to 1024 new tokens.
//
// Grading (option grader):
//   - llm (default, the benchmark's protocol): any OpenAI-compatible chat
//     endpoint. URL from --opt judge_url or DUALTOKEN_JUDGE_URL, model from
//     --opt judge_model, DUALTOKEN_JUDGE_MODEL or gpt-4-0613 (MM-Vet's), key
//     from OPENAI_API_KEY; every reply is cached (--opt judge_cache=DIR,
//     default <user cache dir>/evalharness/judge), grader_runs=N repeats the
//     grading (the paper: 5; mean and population std). With no endpoint,
//     scoring fails with instructions and the model's answers stay cached, so
//     running again with a judge configured only grades.
//   - substring: an offline stand-in that is NOT MM-Vet's protocol (for the
//     demo and smoke tests): 1 if every <AND> part of some <OR> alternative of
//     the ground truth occurs in the answer (case-insensitive), else the
//     largest fraction of parts found.
package mmvet

import (
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
const Name = "mmvet"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

// FileName is the official question file.
const FileName = "mm-vet.json"

// Graders (option grader).
const (
	GraderLLM       = "llm"
	GraderSubstring = "substring"
)

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "MM-Vet open-ended answers graded 0..1 by an LLM judge, total and per capability",
		Data: "mm-vet.json and images/<imagename>",
		Options: []bench.OptionDoc{
			{Key: "grader", Help: "llm = MM-Vet's few-shot LLM judge (the benchmark's protocol); substring = an offline stand-in that is NOT MM-Vet's protocol", Default: GraderLLM, Values: []string{GraderLLM, GraderSubstring}, Scoring: true},
			{Key: "judge_url", Help: "OpenAI-compatible base URL of the judge (default: $" + metrics.JudgeEnvURL + "; key from $" + metrics.JudgeEnvKey + ")", Scoring: true},
			{Key: "judge_model", Help: "judge model name ($" + metrics.JudgeEnvModel + " overrides the default)", Default: metrics.JudgeDefaultModel, Scoring: true},
			{Key: "judge_cache", Help: "DIR caching every judge reply (default: <user cache dir>/evalharness/judge)", Scoring: true},
			{Key: "grader_runs", Help: "times the grading is repeated (the paper: 5; mean and population std); a positive integer", Default: "1", Scoring: true},
			{Key: "judge_workers", Help: "judge requests in flight at once; a positive integer", Default: "4", Scoring: true},
			qa.MaxNewTokensOption(qa.MaxNewTokensLong),
		},
		New: New})
}

// Task is one configured MM-Vet run; items are the questions in file order.
type Task struct {
	data, grader string
	judgeModel   string
	judgeURL     string
	judgeCache   string
	runs         int
	workers      int
	maxNew       int
	items        []bench.Item
}

// question is an item's payload.
type question struct {
	metrics.MMVetItem
	Path string
}

// New configures the task and reads mm-vet.json. The judge is only needed
// (and only contacted) when scoring.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, judgeURL: opts.Get("judge_url", ""), judgeCache: opts.Get("judge_cache", "")}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (the folder with %s and images/) is required", Name, FileName)
	}
	var err error
	if t.grader, err = qa.Choice(Name, opts, "grader", GraderLLM, GraderLLM, GraderSubstring); err != nil {
		return nil, err
	}
	if t.runs, err = qa.Int(Name, opts, "grader_runs", 1); err != nil {
		return nil, err
	}
	if t.workers, err = qa.Int(Name, opts, "judge_workers", 4); err != nil {
		return nil, err
	}
	if t.maxNew, err = qa.Int(Name, opts, "max_new_tokens", qa.MaxNewTokensLong); err != nil {
		return nil, err
	}
	t.judgeModel = opts.Get("judge_model", os.Getenv(metrics.JudgeEnvModel))
	if t.judgeModel == "" {
		t.judgeModel = metrics.JudgeDefaultModel
	}
	if t.judgeCache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			t.judgeCache = filepath.Join(d, "evalharness", "judge")
		}
	}
	path := filepath.Join(t.data, FileName)
	items, err := metrics.MMVetReadItems(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	seen := map[string]bool{}
	for _, it := range items {
		switch {
		case it.ID == "":
			return nil, fmt.Errorf("%s: %s: an item has an empty id", Name, path)
		case seen[it.ID]:
			return nil, fmt.Errorf("%s: %s: item %s appears twice", Name, path, it.ID)
		case it.ImageName == "":
			return nil, fmt.Errorf("%s: %s: item %s: field \"imagename\" is missing", Name, path, it.ID)
		case !filepath.IsLocal(it.ImageName): // a data file must not reach outside the image folder
			return nil, fmt.Errorf("%s: %s: item %s: imagename %q, expected a file inside %s", Name, path, it.ID, it.ImageName, filepath.Join(t.data, "images"))
		}
		seen[it.ID] = true
		t.items = append(t.items, bench.Item{ID: it.ID, Payload: question{it, filepath.Join(t.data, "images", it.ImageName)}})
	}
	return t, nil
}

func (t *Task) Name() string                 { return Name }
func (t *Task) Version() int                 { return Version }
func (t *Task) Needs() string                { return bench.NeedsAnswerer }
func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// Protocol names every variant in force; its keys are the options that
// rebuild the task (evalrun score passes them back). The judge's URL and
// cache are where it runs, not what it is, and stay out (the prediction
// cache key must not change when only they do).
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "prompt": "question only", "max_new_tokens": t.maxNew, "decoding": "greedy",
		"grader": t.grader}
	if t.grader == GraderLLM {
		p["judge_model"], p["grader_runs"] = t.judgeModel, t.runs
		p["grader_prompt"] = "MM-Vet few-shot (mm-vet_evaluator.py), max_tokens 3, temperature 0, 5 tries"
	} else {
		p["grader_note"] = "offline substring stand-in, not MM-Vet's protocol"
	}
	return p
}

var _ bench.ImagePather = (*Task)(nil)

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(question).Path }

func (t *Task) query(it bench.Item) qa.Query {
	q := it.Payload.(question)
	return qa.Query{Image: qa.FileImage(q.Path), Prompt: q.Question}
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	qs := make([]qa.Query, len(items))
	for i, it := range items {
		qs[i] = t.query(it)
	}
	// Open answers are graded whole; the raw text is the parsed answer.
	return qa.Generate(ctx, Name, m, qs, t.maxNew, func(_ int, raw string) string { return raw })
}

// judge builds the LLM grader or says how to configure one.
func (t *Task) judge() (*metrics.Judge, error) {
	j, err := metrics.NewJudge(metrics.JudgeConfig{URL: t.judgeURL, Model: t.judgeModel, CacheDir: t.judgeCache})
	if err != nil {
		return nil, fmt.Errorf("%s: grading needs an LLM judge (%v). Set %s to an OpenAI-compatible base URL (and %s, %s as needed) or pass --opt judge_url=URL; the model's answers are cached, so running again grades them without re-running the model (or: evalrun score RESULTS). For an offline approximation that is not MM-Vet's protocol: --opt grader=substring",
			Name, err, metrics.JudgeEnvURL, metrics.JudgeEnvModel, metrics.JudgeEnvKey)
	}
	return j, nil
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	all := make([]metrics.MMVetItem, len(items))
	preds := make([]string, len(items))
	answered := make([]bool, len(items))
	var okItems []metrics.MMVetItem
	results := map[string]string{}
	for i, it := range items {
		q := it.Payload.(question)
		all[i] = q.MMVetItem
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		if ok {
			preds[i], answered[i] = p.Raw, true
			okItems = append(okItems, q.MMVetItem)
			results[q.ID] = p.Raw
		}
	}
	// scores[run][item]; an unreadable image scores 0 without asking.
	scores := make([][]float64, t.runs)
	var grades [][]metrics.MMVetGrade
	if t.grader == GraderSubstring {
		scores = scores[:1]
		scores[0] = make([]float64, len(items))
		for i := range items {
			if answered[i] {
				scores[0][i] = SubstringScore(all[i].Answer, preds[i])
			}
		}
	} else {
		j, err := t.judge()
		if err != nil {
			return nil, err
		}
		if len(okItems) > 0 {
			if grades, err = metrics.MMVetGradeAll(context.Background(), j, okItems, results, t.runs, t.workers); err != nil {
				return nil, err
			}
		}
		for r := range scores {
			scores[r] = make([]float64, len(items))
			k := 0
			for i := range items {
				if answered[i] {
					scores[r][i] = grades[r][k].Score
					k++
				}
			}
		}
	}
	rep, err := metrics.MMVetAggregate(all, scores)
	if err != nil {
		return nil, err
	}
	m := &bench.Metrics{}
	k := 0
	for i, it := range items {
		q := it.Payload.(question)
		row := map[string]any{"id": it.ID, "image": q.ImageName, "question": q.Question, "answer": q.Answer,
			"capabilities": q.Capabilities}
		per := make([]float64, len(scores))
		for r := range scores {
			per[r] = scores[r][i]
		}
		row["scores"] = per
		if answered[i] {
			row["prompt"], row["raw"], row["parsed"] = q.Question, preds[i], preds[i]
			if grades != nil {
				var replies []string
				tries := 0
				for r := range grades {
					replies = append(replies, grades[r][k].Content)
					tries += grades[r][k].Tries
				}
				row["judge_replies"], row["judge_tries"], row["judge_model"] = replies, tries, grades[0][k].Model
			}
			k++
		} else {
			row["error"] = recs[i].Error
		}
		m.PerSample = append(m.PerSample, row)
	}
	m.Set("total", rep.Total, true)
	if rep.Runs > 1 {
		m.Set("std", rep.Std, false)
	}
	for _, g := range rep.Capabilities {
		m.Set("cap/"+g.Name, g.Mean, true)
	}
	sets := append([]metrics.MMVetGroupScore(nil), rep.Integrations...)
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
	for _, g := range sets {
		m.Set("set/"+g.Name, g.Mean, true)
	}
	return m, nil
}

// SubstringScore is the offline stand-in grader (not MM-Vet's protocol): the
// best over the <OR> alternatives of the fraction of their <AND> parts that
// occur in the prediction, case-insensitively.
func SubstringScore(truth, prediction string) float64 {
	pred := strings.ToLower(prediction)
	best := 0.0
	for _, alt := range strings.Split(truth, "<OR>") {
		parts := strings.Split(alt, "<AND>")
		found, n := 0, 0
		for _, p := range parts {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			n++
			if strings.Contains(pred, p) {
				found++
			}
		}
		if n > 0 && float64(found)/float64(n) > best {
			best = float64(found) / float64(n)
		}
	}
	return best
}
