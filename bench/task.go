// Package bench holds the benchmark Task interface, the task registry and the
// shared runner: batching, a per-sample prediction cache (JSONL) that makes
// runs resumable and lets `score` re-score without the model, progress, and
// results.json.
//
// Data flow: data on disk -> Task.Items -> Task.Predict (model, batched) ->
// predictions.jsonl (one record per item) -> Task.Score -> results.json.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Item is one unit of work (an image, a question, a caption set).
type Item struct {
	ID string
	// Payload is task-private (paths, question text, ground truth).
	Payload any
}

// Record is the cached outcome of one item: the task's prediction (raw
// model output and parsed answer, embeddings, per-image metrics) or the
// error that made it fail. Failed items are counted, never dropped silently.
type Record struct {
	ID    string          `json:"id"`
	Pred  json.RawMessage `json:"pred,omitempty"`
	Error string          `json:"error,omitempty"`
}

// Metrics are a task's corpus-level numbers.
type Metrics struct {
	Values         map[string]float64 `json:"metrics"`
	HigherIsBetter map[string]bool    `json:"higher_is_better"`
	// Informational lists metrics reported for reading but not judged by
	// check (a yes-ratio, whose ideal is the data's share, not an extreme).
	Informational []string `json:"informational,omitempty"`
	// PerSample optional per-sample metric logs written beside results.
	PerSample []map[string]any `json:"-"`
}

// SetInformational records a metric that check reports but never counts as
// a regression; higherIsBetter is still written, for the tools that expect
// every metric to have a direction.
func (m *Metrics) SetInformational(name string, v float64, higherIsBetter bool) {
	m.Set(name, v, higherIsBetter)
	m.Informational = append(m.Informational, name)
}

// Set records a metric and its direction.
func (m *Metrics) Set(name string, v float64, higherIsBetter bool) {
	if m.Values == nil {
		m.Values, m.HigherIsBetter = map[string]float64{}, map[string]bool{}
	}
	m.Values[name] = v
	m.HigherIsBetter[name] = higherIsBetter
}

// Task is one benchmark suite configured on one data copy.
type Task interface {
	// Name is the registry name ("pope", "imagenet-zeroshot"); Version
	// changes whenever predictions or scores would change.
	Name() string
	Version() int
	// Protocol is the variant in force (prompt, split, scorer rule): it is
	// fingerprinted into the cache key and written into results.json.
	Protocol() map[string]any
	// Items lists the work from the data on disk; malformed data is an error
	// naming the file and line.
	Items() ([]Item, error)
	// Needs names the model capability Predict requires ("answerer",
	// "embedder", "tokenizer"); the runner checks the model has it.
	Needs() string
	// Predict runs the model on a batch; one record per item, in order.
	Predict(ctx context.Context, m Model, items []Item) ([]Record, error)
	// Score aggregates the records of every item (order as Items).
	Score(items []Item, recs []Record) (*Metrics, error)
}

// Factory builds a task from its options (data root, split, variant).
type Factory func(opts Options) (Task, error)

// Options configure a task: the data root plus task-specific keys.
type Options struct {
	Data  string            `json:"data" yaml:"data"`
	Extra map[string]string `json:"extra,omitempty" yaml:"extra,omitempty"`
}

// Get returns an extra option or def.
func (o Options) Get(key, def string) string {
	if v, ok := o.Extra[key]; ok && v != "" {
		return v
	}
	return def
}

type registered struct {
	factory Factory
	help    string
}

var (
	regMu    sync.Mutex
	registry = map[string]registered{}
)

// Register adds a task factory under name.
func Register(name, help string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("bench: task registered twice: " + name)
	}
	registry[name] = registered{f, help}
}

// New builds the named task.
func New(name string, opts Options) (Task, error) {
	regMu.Lock()
	r, ok := registry[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown task %q (known: %v)", name, Names())
	}
	return r.factory(opts)
}

// Names lists the registered tasks, sorted.
func Names() []string {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Help returns the one-line help of a registered task.
func Help(name string) string {
	regMu.Lock()
	defer regMu.Unlock()
	return registry[name].help
}

// DemoWriter writes a small copy of a task's official data layout, made from
// the procedural world, under dir and returns the task options that read it.
type DemoWriter func(dir string, seed uint64, n int) (Options, error)

var demos = map[string]DemoWriter{}

// RegisterDemo makes w the demo-data writer of task name.
func RegisterDemo(name string, w DemoWriter) {
	regMu.Lock()
	defer regMu.Unlock()
	demos[name] = w
}

// Demo returns the demo-data writer of task name, if any.
func Demo(name string) (DemoWriter, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	w, ok := demos[name]
	return w, ok
}
