//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

// Package xladry is a "dry run" of GoMLX's XLA backend: graphs are built
// with go-xla's own StableHLO builder exactly as for a PJRT plugin (CUDA by
// default) and serialised to the StableHLO program that would be compiled;
// Compile records the program and returns a stand-in executable whose
// outputs have the program's shapes and all-zero data, so a whole command
// (model loading, every graph it compiles, host code between them) runs
// through without a device.
//
// Why: GPU machines are lent to few sessions and briefly, and the XLA path
// differs from the Go backend's in real ways (layer loops slice stacked
// weights with DynamicSlice instead of Gather, attention may lower to
// cuDNN's flash-attention custom call, TF32 dots). A shape or lowering error
// there should show up on a CPU machine without a plugin, and the program
// can be inspected (which custom calls, how many while loops). Nothing is
// computed: buffers hold a shape, and read back as zeros.
//
// It constructs go-xla v0.4.13's Backend without a plugin by setting its
// unexported fields through reflection; New fails with a clear error if a
// go-xla upgrade renames them.
package xladry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"

	"github.com/dualtoken/evalharness/backend/goxla"
)

// ErrDryRun marks what a dry run cannot do (share host memory).
var ErrDryRun = errors.New("xladry: dry run (no PJRT plugin)")

// EnvDump names a folder where every built program is written as
// NNN-<name>.mlir (StableHLO text), numbered in the order the process built
// them.
const EnvDump = "DUALTOKEN_XLADRY_DUMP"

// dumped counts the programs built by all dry backends of the process.
var dumped atomic.Int64

// Program is one graph as the XLA backend would have compiled it.
type Program struct {
	Name string
	Text string         // StableHLO (MLIR text)
	Ops  map[string]int // operation name ("stablehlo.dot_general", "stablehlo.custom_call", ...) -> count
	// CustomCalls counts custom_call targets (e.g. "__cudnn$fmhaSoftmax").
	CustomCalls map[string]int
}

// Backend is a compute.Backend that builds like go-xla's backend for the
// given plugin name and compiles nothing.
type Backend struct {
	*xla.Backend
	plugin string

	mu        sync.Mutex
	programs  []Program
	dump      string
	finalized atomic.Bool
}

// New returns a dry XLA backend for plugin ("cuda" or "cpu"): the
// capabilities, TF32 default and fused attention of that plugin.
func New(plugin string) (*Backend, error) {
	if plugin == "" {
		plugin = "cuda"
	}
	if plugin != "cuda" && plugin != "cpu" {
		return nil, fmt.Errorf("xladry: plugin %q: expected cuda or cpu", plugin)
	}
	p := &pjrt.Plugin{}
	if err := goxla.SetField(p, "name", plugin); err != nil {
		return nil, err
	}
	xb := &xla.Backend{}
	caps := xla.Capabilities.Clone()
	cuda := pjrt.IsCUDAName(plugin)
	if cuda { // as xla.NewWithOptions advertises for the cuda plugin
		caps.Operations[compute.OpTypeFusedScaledDotProductAttention] = true
		caps.Operations[compute.OpTypeFusedScaledDotProductAttentionVJP] = true
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"plugin", p}, {"pluginName", plugin}, {"config", plugin}, {"capabilities", caps}, {"numDevices", 1}} {
		if err := goxla.SetField(xb, f.name, f.v); err != nil {
			return nil, err
		}
	}
	xb.DotGeneralUseTF32 = cuda
	return &Backend{Backend: xb, plugin: plugin, dump: os.Getenv(EnvDump)}, nil
}

// Name is "xla", as the real backend's, so models take the XLA paths.
func (b *Backend) Name() string { return b.Backend.Name() }

// String and Description say it is a dry run.
func (b *Backend) String() string { return "xladry:" + b.plugin }

// Description says what the backend is.
func (b *Backend) Description() string {
	return fmt.Sprintf("xla:%s dry run (StableHLO built, nothing compiled or run)", b.plugin)
}

// DeviceDescription has no device to describe.
func (b *Backend) DeviceDescription(compute.DeviceNum) string { return b.Description() }

// BufferFromFlatData returns a placeholder holding only the shape: GoMLX
// moves a call's arguments to the device before it compiles the graph.
func (b *Backend) BufferFromFlatData(_ compute.DeviceNum, _ any, shape shapes.Shape) (compute.Buffer, error) {
	return &buffer{backend: b, shape: shape}, nil
}

// NewSharedBuffer fails: a dry run holds no memory to share.
func (b *Backend) NewSharedBuffer(compute.DeviceNum, shapes.Shape) (compute.Buffer, any, error) {
	return nil, nil, fmt.Errorf("%w: no shared buffers", ErrDryRun)
}

// buffer stands for an argument on the device: its shape, no data.
type buffer struct {
	backend *Backend
	shape   shapes.Shape
}

func (u *buffer) Backend() compute.Backend              { return u.backend }
func (u *buffer) Finalize() error                       { return nil }
func (u *buffer) Shape() (shapes.Shape, error)          { return u.shape, nil }
func (u *buffer) DeviceNum() (compute.DeviceNum, error) { return 0, nil }

// ToFlatData fills flat with the dry run's stand-in for the data: floating
// point values in [0.25, 0.75) from a fixed sequence (not all equal, so that
// host code normalising or ranking them goes on), everything else zero
// (valid as ids and indices).
func (u *buffer) ToFlatData(flat any) error {
	v := reflect.ValueOf(flat)
	if v.Kind() != reflect.Slice {
		return fmt.Errorf("xladry: ToFlatData wants a slice, got %T", flat)
	}
	if v.Len() != u.shape.Size() {
		return fmt.Errorf("xladry: ToFlatData of %s into %d values", u.shape, v.Len())
	}
	elem := v.Type().Elem()
	for i := range v.Len() {
		x := 0.25 + 0.5*float64((i*2654435761)%1000)/1000
		switch {
		case elem.Kind() == reflect.Float32 || elem.Kind() == reflect.Float64:
			v.Index(i).SetFloat(x)
		case elem == bf16Type:
			v.Index(i).Set(reflect.ValueOf(bfloat16.FromFloat32(float32(x))))
		case elem == f16Type:
			v.Index(i).Set(reflect.ValueOf(float16.FromFloat32(float32(x))))
		default:
			v.Index(i).SetZero()
		}
	}
	return nil
}

var (
	bf16Type = reflect.TypeOf(bfloat16.BFloat16(0))
	f16Type  = reflect.TypeOf(float16.Float16(0))
)

// Data returns the stand-in data (ToFlatData) of the buffer's dtype and size.
func (u *buffer) Data() (any, error) {
	flat := reflect.MakeSlice(reflect.SliceOf(u.shape.DType.GoType()), u.shape.Size(), u.shape.Size()).Interface()
	return flat, u.ToFlatData(flat)
}

func (u *buffer) CopyToDevice(compute.DeviceNum) (compute.Buffer, error) { return u, nil }

// HasSharedBuffers is false (no buffers at all).
func (b *Backend) HasSharedBuffers() bool { return false }

// Finalize marks the backend finalized (there is no client to release).
func (b *Backend) Finalize() { b.finalized.Store(true) }

// IsFinalized reports whether Finalize was called.
func (b *Backend) IsFinalized() bool { return b.finalized.Load() }

// Builder returns go-xla's builder, whose Compile stops after the program.
func (b *Backend) Builder(name string) compute.Builder {
	inner := b.Backend.Builder(name)
	if inner == nil {
		return nil
	}
	return &builder{Builder: inner, owner: b}
}

// Programs returns the programs built so far, in order.
func (b *Backend) Programs() []Program {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Program(nil), b.programs...)
}

type builder struct {
	compute.Builder
	owner *Backend
}

// Unwrap returns go-xla's builder (for code that patches its internals).
func (bb *builder) Unwrap() compute.Builder { return bb.Builder }

// Compile builds the StableHLO program as go-xla's Compile does before
// handing it to PJRT, records it and returns a stand-in executable.
func (bb *builder) Compile() (compute.Executable, error) {
	xb, err := goxla.Builder(bb.Builder)
	if err != nil {
		return nil, fmt.Errorf("xladry: %w", err)
	}
	text, err := goxla.Program(xb)
	if err != nil {
		return nil, fmt.Errorf("xladry: %w", err)
	}
	sig, err := goxla.ReadSignature(xb)
	if err != nil {
		return nil, fmt.Errorf("xladry: %w", err)
	}
	exe := &executable{backend: bb.owner, names: sig.Names, inputs: sig.Inputs, outputs: sig.Outputs}
	p := Program{Name: bb.Name(), Text: string(text)}
	p.Ops, p.CustomCalls = count(p.Text)
	o := bb.owner
	o.mu.Lock()
	o.programs = append(o.programs, p)
	o.mu.Unlock()
	n := dumped.Add(1) // numbered across backends: one folder serves a whole process
	if o.dump != "" {
		if err := os.MkdirAll(o.dump, 0o755); err != nil {
			return nil, err
		}
		file := filepath.Join(o.dump, fmt.Sprintf("%03d-%s.mlir", n, safeName(p.Name)))
		if err := os.WriteFile(file, text, 0o644); err != nil {
			return nil, err
		}
	}
	return exe, nil
}

// executable stands for a compiled program: it knows the signature and
// returns zero-data outputs of the right shapes.
type executable struct {
	backend *Backend
	names   []string
	inputs  []shapes.Shape
	outputs []shapes.Shape
}

func (e *executable) Finalize()                          {}
func (e *executable) Inputs() ([]string, []shapes.Shape) { return e.names, e.inputs }
func (e *executable) Outputs() []shapes.Shape            { return e.outputs }

// Execute checks the arguments' shapes and returns zero-data outputs.
func (e *executable) Execute(inputs []compute.Buffer, _ []bool, _ compute.DeviceNum) ([]compute.Buffer, error) {
	if len(inputs) != len(e.inputs) {
		return nil, fmt.Errorf("xladry: %d arguments for %d parameters", len(inputs), len(e.inputs))
	}
	for i, in := range inputs {
		s, err := in.Shape()
		if err != nil {
			return nil, err
		}
		if !s.Equal(e.inputs[i]) {
			return nil, fmt.Errorf("xladry: argument %d (%s) is %s, the program takes %s", i, e.names[i], s, e.inputs[i])
		}
	}
	out := make([]compute.Buffer, len(e.outputs))
	for i, s := range e.outputs {
		out[i] = &buffer{backend: e.backend, shape: s}
	}
	return out, nil
}

var (
	opRE     = regexp.MustCompile(`"?\b(stablehlo\.[a-z_]+|func\.[a-z_]+)\b`)
	targetRE = regexp.MustCompile(`call_target_name\s*=\s*"([^"]+)"`)
	unsafeRE = regexp.MustCompile(`[^A-Za-z0-9_.+-]+`)
)

// count tallies the operations and custom-call targets of a program.
func count(text string) (ops, calls map[string]int) {
	ops, calls = map[string]int{}, map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		if m := opRE.FindStringSubmatch(line); m != nil {
			ops[m[1]]++
		}
		if m := targetRE.FindStringSubmatch(line); m != nil {
			calls[m[1]]++
		}
	}
	return ops, calls
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func safeName(s string) string {
	s = unsafeRE.ReplaceAllString(s, "_")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// Summary is a one-line-per-program description: name, op count, while
// loops, dots and custom calls.
func Summary(ps []Program) string {
	var sb strings.Builder
	for _, p := range ps {
		calls := make([]string, 0, len(p.CustomCalls))
		for k, v := range p.CustomCalls {
			calls = append(calls, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(calls)
		fmt.Fprintf(&sb, "%s: %d ops, %d while, %d dot_general, %d dynamic_slice, custom calls [%s]\n", p.Name, total(p.Ops),
			p.Ops["stablehlo.while"], p.Ops["stablehlo.dot_general"], p.Ops["stablehlo.dynamic_slice"], strings.Join(calls, " "))
	}
	return sb.String()
}
