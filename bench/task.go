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
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	// Rescore is set by `evalrun score`: the task will only Score saved
	// predictions, so files that only Predict opens (model-side weights,
	// recorded in the protocol by base name) need not exist.
	Rescore bool `json:"-" yaml:"-"`

	// declared is the task's option keys when New built these options:
	// Get panics on any other key, so that a suite cannot read an option it
	// does not document (a programming error, caught by the suites' tests).
	declared map[string]bool
	task     string
}

// Get returns an extra option or def. Inside a factory called by New the key
// must be one the task declared.
func (o Options) Get(key, def string) string {
	if o.declared != nil && !o.declared[key] {
		panic(fmt.Sprintf("bench: task %s reads option %q, which its Spec does not declare", o.task, key))
	}
	if v, ok := o.Extra[key]; ok && v != "" {
		return v
	}
	return def
}

// OptionDoc declares one task option (a key of Options.Extra) for users
// (`evalrun tasks`) and for New's check of what a user passed.
type OptionDoc struct {
	Key  string `json:"key"`
	Help string `json:"help"`
	// Default is the value in force when the option is unset; "" when the
	// default is worked out from the data or the environment (Help says how).
	Default string `json:"default"`
	// Values is the fixed set of accepted values; empty for free-form
	// (a path, a number, a name).
	Values []string `json:"values"`
	// List means the value is a comma list of Values (e.g. pope's splits).
	List bool `json:"list"`
	// Scoring means the option only changes how saved predictions are
	// scored (a rule, a judge, which items are counted), so evalrun score
	// may change it; any other option decides the predictions themselves.
	Scoring bool `json:"scoring"`
	// Int means the value is a whole number of at least Min (a batch size,
	// a length); Values is then empty. (Model kinds' options use it.)
	Int bool `json:"int,omitempty"`
	// Min is the least value an Int option accepts.
	Min int `json:"min,omitempty"`
}

// Check reports whether v is acceptable for the option: an integer of at
// least Min for an Int option, one of Values (each element of a comma list
// for a List option), or anything when Values is empty.
func (d OptionDoc) Check(v string) error {
	if d.Int {
		if n, err := strconv.Atoi(v); err != nil || n < d.Min {
			want := fmt.Sprintf("an integer >= %d", d.Min)
			if d.Min == 1 {
				want = "a positive integer"
			}
			return fmt.Errorf("option %s=%q: want %s", d.Key, v, want)
		}
		return nil
	}
	if len(d.Values) == 0 {
		return nil
	}
	parts := []string{v}
	if d.List {
		parts = strings.Split(v, ",")
	}
	for _, p := range parts {
		if !slices.Contains(d.Values, strings.TrimSpace(p)) {
			what := "want one of"
			if d.List {
				what = "want a comma list of"
			}
			return fmt.Errorf("option %s=%q: %s %s", d.Key, v, what, strings.Join(d.Values, ", "))
		}
	}
	return nil
}

// Spec registers a task: its factory and what a user needs to know to run it.
type Spec struct {
	Name    string
	Version int    // equals every built task's Version()
	Help    string // one line: what the task measures
	Data    string // one line: the layout it reads under the data root
	// Options are every key the factory reads from Options.Extra, in the
	// order `evalrun tasks` lists them. New refuses any other key.
	Options []OptionDoc
	New     Factory
}

// Keys lists the declared option keys, in declaration order.
func (s Spec) Keys() []string {
	keys := make([]string, len(s.Options))
	for i, o := range s.Options {
		keys[i] = o.Key
	}
	return keys
}

// Option returns the declaration of key.
func (s Spec) Option(key string) (OptionDoc, bool) {
	for _, o := range s.Options {
		if o.Key == key {
			return o, true
		}
	}
	return OptionDoc{}, false
}

// Check verifies that opts sets only declared keys, each to an accepted
// value; the error names the task, the key and what is accepted.
func (s Spec) Check(opts Options) error {
	keys := make([]string, 0, len(opts.Extra))
	for k := range opts.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same first error every time
	for _, k := range keys {
		d, ok := s.Option(k)
		if !ok {
			known := "none"
			if len(s.Options) > 0 {
				known = strings.Join(s.Keys(), ", ")
			}
			return fmt.Errorf("%s: unknown option %q (known: %s)", s.Name, k, known)
		}
		if v := opts.Extra[k]; v != "" { // "" means unset, as in Get
			if err := d.Check(v); err != nil {
				return fmt.Errorf("%s: %v", s.Name, err)
			}
		}
	}
	return nil
}

var (
	regMu    sync.Mutex
	registry = map[string]Spec{}
)

// Register adds a task. Every option its factory reads must be declared in
// s.Options.
func Register(s Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("bench: task registered twice: " + s.Name)
	}
	seen := map[string]bool{}
	for _, o := range s.Options {
		if o.Key == "" || seen[o.Key] {
			panic(fmt.Sprintf("bench: task %s declares option %q twice or empty", s.Name, o.Key))
		}
		if o.Default != "" {
			if err := o.Check(o.Default); err != nil {
				panic(fmt.Sprintf("bench: task %s: declared default: %v", s.Name, err))
			}
		}
		seen[o.Key] = true
	}
	registry[s.Name] = s
}

// New builds the named task after checking opts against its declared
// options: an unknown key or a value outside an option's fixed set is an
// error naming the task, the key and what is accepted.
func New(name string, opts Options) (Task, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err := s.Check(opts); err != nil {
		return nil, err
	}
	// The data root as an absolute path: results.json and the prediction
	// cache key then name the same data wherever the command was started.
	if opts.Data != "" {
		abs, err := filepath.Abs(opts.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: data %q: %w", name, opts.Data, err)
		}
		opts.Data = abs
	}
	opts.task, opts.declared = name, map[string]bool{}
	for _, k := range s.Keys() {
		opts.declared[k] = true
	}
	return s.New(opts)
}

// OptionsFromProtocol rebuilds the options of a recorded run from the
// protocol in its results.json: the data root and every declared option the
// protocol records with a value the option accepts. Protocol entries that
// describe rather than configure ("decoding", "ties", recon's "fid_mode: not
// computed ...") are left out, so those options take their defaults, which
// is what produced such an entry.
func OptionsFromProtocol(name string, protocol map[string]any) (Options, error) {
	s, ok := Lookup(name)
	if !ok {
		return Options{}, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	opts := Options{Data: protocolString(protocol["data"]), Extra: map[string]string{}}
	for _, d := range s.Options {
		raw, ok := protocol[d.Key]
		if !ok {
			continue
		}
		if v := protocolString(raw); d.Check(v) == nil {
			opts.Extra[d.Key] = v
		}
	}
	return opts, nil
}

// protocolString is a protocol value as an option string: strings as they
// are, numbers and booleans in their JSON form.
func protocolString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Lookup returns the registration of a task.
func Lookup(name string) (Spec, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	s, ok := registry[name]
	return s, ok
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
	s, _ := Lookup(name)
	return s.Help
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
