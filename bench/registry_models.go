package bench

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
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
	modelOptions = map[string][]string{}
)

// RegisterModel adds a model kind.
func RegisterModel(kind string, f ModelFactory) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelKinds[kind] = f
}

// RegisterModelOptions declares the option keys (ModelSpec.Extra) a model
// kind takes, so that CheckModelOptions can refuse a misspelt one before
// any model is loaded.
func RegisterModelOptions(kind string, keys ...string) {
	modelMu.Lock()
	defer modelMu.Unlock()
	modelOptions[kind] = append([]string(nil), keys...)
}

// ModelOptionKeys lists the option keys kind declared.
func ModelOptionKeys(kind string) []string {
	modelMu.Lock()
	defer modelMu.Unlock()
	return append([]string(nil), modelOptions[kind]...)
}

// CheckModelOptions refuses an option key spec's kind did not declare.
func CheckModelOptions(spec ModelSpec) error {
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
	return nil
}

// NewModel builds spec on b.
func NewModel(spec ModelSpec, b compute.Backend) (Model, error) {
	modelMu.Lock()
	f, ok := modelKinds[spec.Kind]
	modelMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("model %q: unknown kind %q (known: %v)", spec.Name, spec.Kind, ModelKinds())
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
