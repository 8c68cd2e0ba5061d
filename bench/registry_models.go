package bench

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/model/precision"
)

// ModelSpec names a model to build: its kind (siglip, dualtoken, llava, ...),
// checkpoint path and kind-specific options.
type ModelSpec struct {
	Name      string            `json:"name" yaml:"name"`
	Kind      string            `json:"kind" yaml:"kind"`
	Path      string            `json:"path" yaml:"path"`
	Tokenizer string            `json:"tokenizer,omitempty" yaml:"tokenizer,omitempty"`
	Extra     map[string]string `json:"extra,omitempty" yaml:"extra,omitempty"`
	// DType is the compute dtype: "" or float32, or bfloat16 (bf16) for
	// accelerators (see model/precision).
	DType string `json:"dtype,omitempty" yaml:"dtype,omitempty"`
}

// ModelFactory builds a model of one kind on a backend.
type ModelFactory func(spec ModelSpec, b compute.Backend) (Model, error)

var (
	modelMu      sync.Mutex
	modelKinds   = map[string]ModelFactory{}
	modelOptions = map[string][]OptionDoc{}
)

// RegisterModel adds a model kind.
func RegisterModel(kind string, f ModelFactory) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelKinds[kind] = f
}

// RegisterModelOptions declares the options (ModelSpec.Extra) a model kind
// takes, with their accepted values or integer ranges and defaults, so that
// CheckModelOptions can refuse a misspelt key or a bad value before any
// model is loaded, and the kind's constructor reads them (ModelSpec.Option,
// ModelSpec.IntOption) by the same declaration.
func RegisterModelOptions(kind string, opts ...OptionDoc) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelOptions[kind] = append([]OptionDoc(nil), opts...)
}

// ModelOptions lists the options kind declared, in declaration order.
func ModelOptions(kind string) []OptionDoc {
	modelMu.Lock()
	defer modelMu.Unlock()
	return append([]OptionDoc(nil), modelOptions[kind]...)
}

// ModelOptionKeys lists the option keys kind declared.
func ModelOptionKeys(kind string) []string {
	opts := ModelOptions(kind)
	keys := make([]string, len(opts))
	for i, o := range opts {
		keys[i] = o.Key
	}
	return keys
}

// CheckModelOptions checks what can be checked of spec without loading
// it: every option key is one its kind declared, every value is accepted
// by the declaration (a value of a fixed set, an integer in range; "" is
// unset), and the dtype is one model/precision implements. Checks that
// need the checkpoint (max_length against the text tower's positions) stay
// with the kind's constructor. The error is one line naming the model path
// and the field.
func CheckModelOptions(spec ModelSpec) error {
	opts := ModelOptions(spec.Kind)
	known := ModelOptionKeys(spec.Kind)
	var bad []string
	for k := range spec.Extra {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("model %s: unknown %s option(s) %s (known: %s)", spec.Path, spec.Kind, strings.Join(bad, ", "), strings.Join(known, ", "))
	}
	for _, o := range opts { // declaration order: the same first error every time
		if v := spec.Extra[o.Key]; v != "" {
			if err := o.Check(v); err != nil {
				return fmt.Errorf("model %s: %s %v", spec.Path, spec.Kind, err)
			}
		}
	}
	if _, err := ParseModelDType(spec); err != nil {
		return err
	}
	return nil
}

// ParseModelDType is spec's compute dtype: float32 when unset, else what
// precision.Parse accepts (float32, bfloat16 and their short names).
func ParseModelDType(spec ModelSpec) (dtypes.DType, error) {
	if spec.DType == "" {
		return precision.F32, nil
	}
	dt, err := precision.Parse(spec.DType)
	if err != nil {
		why := ""
		if d := strings.ToLower(spec.DType); d == "float16" || d == "f16" || d == "fp16" || d == "half" {
			why = "; float16 is not implemented (its range overflows in activations)"
		}
		return dt, fmt.Errorf("model %s: dtype %q: want float32 or bfloat16 (bf16)%s", spec.Path, spec.DType, why)
	}
	return dt, nil
}

// Option is the value of option key: spec.Extra's when set (not ""), else
// the default spec's kind declared for it ("" when none, or when the kind
// did not declare key).
func (spec ModelSpec) Option(key string) string {
	if v := spec.Extra[key]; v != "" {
		return v
	}
	for _, o := range ModelOptions(spec.Kind) {
		if o.Key == key {
			return o.Default
		}
	}
	return ""
}

// IntOption is the value of the integer option key (Option, parsed and
// checked against its declaration); ok is false when neither spec nor the
// declared default sets it.
func (spec ModelSpec) IntOption(key string) (n int, ok bool, err error) {
	v := spec.Option(key)
	if v == "" {
		return 0, false, nil
	}
	for _, o := range ModelOptions(spec.Kind) {
		if o.Key == key {
			if !o.Int {
				return 0, false, fmt.Errorf("model %s: %s option %s is not declared an integer", spec.Path, spec.Kind, key)
			}
			if err := o.Check(v); err != nil {
				return 0, false, fmt.Errorf("model %s: %s %v", spec.Path, spec.Kind, err)
			}
			n, _ = strconv.Atoi(v) // Check parsed it
			return n, true, nil
		}
	}
	return 0, false, fmt.Errorf("model %s: %s declares no option %s", spec.Path, spec.Kind, key)
}

// NewModel builds spec on b.
func NewModel(spec ModelSpec, b compute.Backend) (Model, error) {
	modelMu.Lock()
	f, ok := modelKinds[spec.Kind]
	modelMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("model %q: unknown kind %q (known: %s)", spec.Name, spec.Kind, strings.Join(ModelKinds(), ", "))
	}
	return f(spec, b)
}

// ModelKinds lists the registered model kinds.
func ModelKinds() []string {
	modelMu.Lock()
	defer modelMu.Unlock()
	out := make([]string, 0, len(modelKinds))
	for k := range modelKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// modelTypes holds the Go type each kind's factory returns (a typed nil),
// declared by RegisterModelType.
var modelTypes = map[string]Model{}

// RegisterModelType declares the Go type kind's factory returns, as a typed
// nil such as (*Siglip)(nil), so that the capabilities of the kind's models
// (Embedder, Answerer, Reconstructor: what CanRun asks) are known before
// any model loads: `evalrun run` refuses a task its model cannot run before
// loading anything.
func RegisterModelType(kind string, zero Model) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelTypes[kind] = zero
}

// Capabilities lists what m can do (NeedsEmbedder, NeedsAnswerer,
// NeedsReconstructor, in that order), by its type as CanRun tests it.
func Capabilities(m Model) []string {
	var caps []string
	if _, ok := m.(Embedder); ok {
		caps = append(caps, NeedsEmbedder)
	}
	if _, ok := m.(Answerer); ok {
		caps = append(caps, NeedsAnswerer)
	}
	if _, ok := m.(Reconstructor); ok {
		caps = append(caps, NeedsReconstructor)
	}
	return caps
}

// KindCapabilities lists the capabilities of kind's models; ok is false
// when kind declared no type (RegisterModelType), so that only loading a
// model tells.
func KindCapabilities(kind string) (caps []string, ok bool) {
	modelMu.Lock()
	zero, ok := modelTypes[kind]
	modelMu.Unlock()
	if !ok {
		return nil, false
	}
	return Capabilities(zero), true
}

// KindCanRun reports whether models of kind have the capability task needs
// (CanRun before loading); known is false when kind declared no type.
func KindCanRun(task Task, kind string) (can, known bool) {
	caps, known := KindCapabilities(kind)
	if !known {
		return false, false
	}
	switch need := task.Needs(); need {
	case NeedsEmbedder, NeedsAnswerer, NeedsReconstructor:
		return slices.Contains(caps, need), true
	}
	return true, true // as CanRun: a task needing nothing known runs on anything
}

// KindsWith lists the kinds whose models have capability need (sorted).
func KindsWith(need string) []string {
	var out []string
	for _, k := range ModelKinds() {
		if caps, _ := KindCapabilities(k); slices.Contains(caps, need) {
			out = append(out, k)
		}
	}
	return out
}
