// Package qatest holds test doubles for the question-answering suites: an
// oracle Answerer that answers from the ground truth (keyed by prompt and
// image pixels, so any wiring error between a question, its image and its
// answer shows up as a wrong answer), a constant Answerer, and the
// kill-and-resume check every suite runs.
package qatest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/imageio"
)

// Key identifies a question by its prompt and its image's pixels.
func Key(prompt string, img *imageio.Image) string {
	h := sha256.Sum256(img.Pix)
	return prompt + "\x00" + hex.EncodeToString(h[:8])
}

// Oracle answers each question with Answers[Key(prompt, image)]; MeanNLL
// gives 0 to the candidate equal to that answer and 1 to the others. It
// counts the questions it saw and, with FailAfter > 0, fails a batch that
// would take it past FailAfter questions (a run killed midway).
type Oracle struct {
	Answers   map[string]string
	FailAfter int

	mu    sync.Mutex
	calls int
}

// NewOracle builds the answer table from queries and their true answers,
// loading every image; queries whose image cannot be read are skipped.
func NewOracle(t testing.TB, qs []qa.Query, answers []string) *Oracle {
	t.Helper()
	o := &Oracle{Answers: map[string]string{}}
	for i, q := range qs {
		img, err := q.Image()
		if err != nil {
			continue
		}
		k := Key(q.Prompt, img)
		if prev, dup := o.Answers[k]; dup && prev != answers[i] {
			t.Fatalf("oracle: two questions with the same prompt and image have different answers (%q, %q): %q", prev, answers[i], q.Prompt)
		}
		o.Answers[k] = answers[i]
	}
	return o
}

// Clone returns a fresh oracle (no calls counted) with the same answers.
func (o *Oracle) Clone(failAfter int) *Oracle {
	return &Oracle{Answers: o.Answers, FailAfter: failAfter}
}

// Calls is the number of questions answered or ranked.
func (o *Oracle) Calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

func (o *Oracle) take(n int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.FailAfter > 0 && o.calls+n > o.FailAfter {
		return errors.New("killed")
	}
	o.calls += n
	return nil
}

func (o *Oracle) Info() bench.ModelInfo {
	return bench.ModelInfo{Name: "oracle", ConfigSHA256: "c", WeightsSHA256: "w"}
}

func (o *Oracle) lookup(q bench.Question) string {
	if len(q.Images) != 1 {
		return "<want exactly one image>"
	}
	a, ok := o.Answers[Key(q.Prompt, q.Images[0])]
	if !ok {
		return "<unknown question>"
	}
	return a
}

func (o *Oracle) Answer(_ context.Context, qs []bench.Question) ([]string, error) {
	if err := o.take(len(qs)); err != nil {
		return nil, err
	}
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = o.lookup(q)
	}
	return out, nil
}

func (o *Oracle) MeanNLL(_ context.Context, q bench.Question, cands []string) ([]float64, error) {
	if err := o.take(1); err != nil {
		return nil, err
	}
	a := o.lookup(q)
	out := make([]float64, len(cands))
	for i, c := range cands {
		if c != a {
			out[i] = 1
		}
	}
	return out, nil
}

// Const answers every question with Text; MeanNLL prefers the first
// candidate (the "always A" model of likelihood mode).
type Const struct{ Text string }

func (c Const) Info() bench.ModelInfo { return bench.ModelInfo{Name: "const-" + c.Text} }
func (c Const) Answer(_ context.Context, qs []bench.Question) ([]string, error) {
	out := make([]string, len(qs))
	for i := range out {
		out[i] = c.Text
	}
	return out, nil
}
func (c Const) MeanNLL(_ context.Context, _ bench.Question, cands []string) ([]float64, error) {
	out := make([]float64, len(cands))
	for i := 1; i < len(out); i++ {
		out[i] = 1
	}
	return out, nil
}

// CheckResume runs task with o three ways and requires identical results:
// uninterrupted; killed after about half the questions and restarted (the
// restart must answer only what the first attempt did not); and re-scored
// from the saved predictions without a model. It returns the full result.
func CheckResume(t *testing.T, task bench.Task, o *Oracle) *bench.Result {
	t.Helper()
	ctx := context.Background()
	full := o.Clone(0)
	want, err := bench.Run(ctx, task, full, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.RunConfig{OutDir: t.TempDir(), BatchSize: 3}
	// Killed at a batch boundary: work inside a batch that fails is lost, by
	// design, so only then do the two attempts add up to the full run.
	if full.Calls() <= cfg.BatchSize {
		t.Fatalf("CheckResume needs more than %d questions, got %d", cfg.BatchSize, full.Calls())
	}
	first := o.Clone(max(cfg.BatchSize, full.Calls()/2/cfg.BatchSize*cfg.BatchSize))
	if _, err := bench.Run(ctx, task, first, cfg); err == nil {
		t.Fatal("run with a model killed midway succeeded")
	}
	second := o.Clone(0)
	got, err := bench.Run(ctx, task, second, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.Calls()+second.Calls() != full.Calls() {
		t.Errorf("resumed run answered %d questions after %d cached, want %d in all", second.Calls(), first.Calls(), full.Calls())
	}
	if got.Run.Cached == 0 {
		t.Errorf("resumed run used no cached predictions")
	}
	if !reflect.DeepEqual(got.Metrics, want.Metrics) || got.NSamples != want.NSamples {
		t.Errorf("resumed metrics %v %+v, want %v %+v", got.Metrics, got.NSamples, want.Metrics, want.NSamples)
	}
	re, err := bench.Rescore(task, bench.PredictionsPath(cfg, task, o.Info()), bench.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(re.Metrics, want.Metrics) || re.NSamples != want.NSamples {
		t.Errorf("rescored metrics %v %+v, want %v %+v", re.Metrics, re.NSamples, want.Metrics, want.NSamples)
	}
	// Per-sample logs: one line per item, with the prompt sent.
	b, err := os.ReadFile(filepath.Join(bench.RunDir(cfg, task, o.Info()), "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != want.NSamples.Total || !strings.Contains(lines[0], `"prompt":`) {
		t.Errorf("samples.jsonl: %d lines for %d items; first %s", len(lines), want.NSamples.Total, lines[0])
	}
	return want
}

// Run runs task on m into a temporary folder.
func Run(t *testing.T, task bench.Task, m bench.Model) *bench.Result {
	t.Helper()
	res, err := bench.Run(context.Background(), task, m, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// CheckProtocolRoundTrip rebuilds task from its protocol the way `evalrun
// score` does (the values read back from results.json, each passed as an
// option string, "data" as the data root) and requires the same protocol and
// so the same prediction cache key.
func CheckProtocolRoundTrip(t *testing.T, task bench.Task, factory bench.Factory) {
	t.Helper()
	b, err := json.Marshal(task.Protocol())
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	opts := bench.Options{Extra: map[string]string{}}
	for k, v := range p {
		s, ok := v.(string)
		if !ok {
			j, _ := json.Marshal(v)
			s = string(j)
		}
		if k == "data" {
			opts.Data = s
		} else {
			opts.Extra[k] = s
		}
	}
	again, err := factory(opts)
	if err != nil {
		t.Fatalf("rebuilding from the protocol: %v", err)
	}
	info := bench.ModelInfo{Name: "m"}
	if !reflect.DeepEqual(again.Protocol(), task.Protocol()) || bench.CacheKey(again, info) != bench.CacheKey(task, info) {
		t.Errorf("protocol after the round trip %v, want %v", again.Protocol(), task.Protocol())
	}
}

// NewTask builds a task with factory f on dir and returns it as its
// concrete type T, failing the test on error.
func NewTask[T bench.Task](t testing.TB, f bench.Factory, dir string, extra map[string]string) T {
	t.Helper()
	task, err := f(bench.Options{Data: dir, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	return task.(T)
}

// OracleFor is an Oracle answering every item of task with answer(item);
// query gives the item's query as the suite builds it.
func OracleFor(t testing.TB, task bench.Task, query func(bench.Item) qa.Query, answer func(bench.Item) string) *Oracle {
	t.Helper()
	items, err := task.Items()
	if err != nil {
		t.Fatal(err)
	}
	qs := make([]qa.Query, len(items))
	answers := make([]string, len(items))
	for i, it := range items {
		qs[i], answers[i] = query(it), answer(it)
	}
	return NewOracle(t, qs, answers)
}
