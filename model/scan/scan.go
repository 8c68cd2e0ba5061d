// Package scan runs a run of identical transformer layers as one loop: an
// XLA/GoMLX While over weights stacked along a new leading axis, instead of
// one copy of the layer per index in the graph. Compile time then no longer
// grows with the depth (XLA spends seconds per unrolled layer on a GPU,
// issue 7); the graph holds one layer body.
//
// The per-layer variables stay as they are (checkpoints, variable names and
// the HF name tables unchanged). A model keeps a stacked copy of them for
// its loops (StackValues, made once on the host: siglip and llm
// SetScanLayers); without one the loop stacks them in the graph
// (StackLayers), which copies all layer weights on every call. Inside the
// body layer i's slice is picked with DynamicSlice where the backend has it
// (XLA) and with Gather where it does not (the Go backend lacks
// DynamicSlice; its Gather copies the layer's weights). The loop is for
// inference: GoMLX has no gradient of While.
//
// On GoMLX's Go backend (compute v0.1.14) a While body runs its ops on the
// worker pool of the enclosing execution, whose idle executors hold the
// pool's slots; a parallel matmul inside the body then waits for a free slot
// forever (seen with 2 cores). Run refuses that configuration (CheckBackend):
// use "go:ops_sequential" (or "go:parallelism=-1") to loop on the CPU.
package scan

import (
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/par"
)

// ForceGather makes Pick use Gather even where the backend has
// DynamicSlice (to compare the two on XLA).
var ForceGather = false

// Stacked maps a weight's name within a layer (e.g. "self_attn/q_proj/weight")
// to its per-layer values stacked along a new leading axis: [n, ...].
type Stacked map[string]*Node

// StackLayers stacks per-layer values of one shape along a new leading axis.
func StackLayers(perLayer []*Node) *Node {
	if len(perLayer) == 1 {
		return InsertAxes(perLayer[0], 0)
	}
	return Stack(perLayer, 0)
}

// Pick returns stacked[i] (the leading axis dropped) for a scalar integer
// index node i: DynamicSlice where the backend implements it, else Gather.
func Pick(stacked, i *Node) *Node {
	g := stacked.Graph()
	dims := stacked.Shape().Dimensions
	if !ForceGather && g.Backend().Capabilities().Operations[compute.OpTypeDynamicSlice] {
		zero := ScalarZero(g, i.DType())
		starts := []*Node{i}
		for range dims[1:] {
			starts = append(starts, zero)
		}
		sizes := append([]int{1}, dims[1:]...)
		return Reshape(DynamicSlice(stacked, starts, sizes), dims[1:]...)
	}
	return Gather(stacked, i)
}

// Layer is one iteration of the loop: its index and the layer's weights.
type Layer struct {
	Index *Node // int32 scalar, 0-based within the stack
	// Invariants are the body's copies of RunWith's invariants, in order.
	Invariants []*Node
	w          Stacked
	picked     map[string]*Node
}

// Weight returns this layer's value of the stacked weight name (picked once
// per iteration, on first use).
func (l *Layer) Weight(name string) *Node {
	if v, ok := l.picked[name]; ok {
		return v
	}
	s, ok := l.w[name]
	if !ok {
		panic(fmt.Errorf("scan: no stacked weight %q (have %v)", name, l.names()))
	}
	v := Pick(s, l.Index)
	l.picked[name] = v
	return v
}

func (l *Layer) names() []string {
	var n []string
	for k := range l.w {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// Run runs body once per layer of w (n = the stacks' leading dimension) as
// one While loop, threading state through it: body receives the iteration
// and the current state and returns the next state, each value of the shape
// and dtype it came in with. The stacked weights are captured by the loop;
// other outside values the body combines elementwise with its own must be
// passed as RunWith's invariants (go-xla refuses the capture). It returns
// the final state; with n = 0 the state itself.
//
// On the Go backend a body must not feed an explicit broadcast
// (BroadcastToDims, BroadcastLike, ZerosLike, ...) of the same rank as its
// output, or of a scalar, into an elementwise op or Where: compute v0.1.14
// compiles a loop body before its ImplicitBroadcastFusion pass rewrites that
// pattern, and the stale body then frees the broadcast's input too early
// ("input 1 for node Mul not computed yet"). Rely on the elementwise ops'
// implicit broadcasting instead (size-1 axes, scalars), as package llm does.
func Run(w Stacked, state []*Node, body func(l *Layer, state []*Node) []*Node) []*Node {
	return RunWith(w, 0, -1, state, nil, body)
}

// RunRange is Run over the layers from..to-1 of the stacks only (to < 0:
// all of them): Layer.Index counts from `from`, so a stack of a whole
// tower serves any run of its layers without being sliced.
func RunRange(w Stacked, from, to int, state []*Node, body func(l *Layer, state []*Node) []*Node) []*Node {
	return RunWith(w, from, to, state, nil, body)
}

// RunWith is RunRange with invariants: values from outside the loop that
// the body combines with its own in elementwise ops (masks, RoPE tables, a
// cache slot). They enter the loop as state carried unchanged and the body
// reads them as Layer.Invariants: go-xla v0.4.13 builds an op on a captured
// outside value only where the op takes operands from enclosing functions
// (DynamicSlice of the stacked weights does), not an elementwise one
// ("cannot add operation Multiply to function closure2, because the
// operands are not part of the function").
func RunWith(w Stacked, from, to int, state, invariants []*Node, body func(l *Layer, state []*Node) []*Node) []*Node {
	if len(state) == 0 {
		panic(fmt.Errorf("scan: Run needs at least one state value"))
	}
	n := -1
	for name, s := range w {
		d := s.Shape().Dimensions
		if len(d) == 0 || (n >= 0 && d[0] != n) {
			panic(fmt.Errorf("scan: stacked weight %q is %s: every stack needs the same leading (layer) axis, %d", name, s.Shape(), n))
		}
		n = d[0]
	}
	if n < 0 {
		panic(fmt.Errorf("scan: Run needs stacked weights"))
	}
	if to < 0 {
		to = n
	}
	if from < 0 || from > to || to > n {
		panic(fmt.Errorf("scan: layers [%d, %d) of a stack of %d", from, to, n))
	}
	if from == to {
		return state
	}
	g := state[0].Graph()
	if err := CheckBackend(g.Backend()); err != nil {
		panic(err)
	}
	params := func(g *Graph) (*Node, []*Node, []*Node) {
		i := Parameter(g, "layer", shapes.Make(dtypes.Int32))
		st := make([]*Node, len(state))
		for k, s := range state {
			st[k] = Parameter(g, fmt.Sprintf("state_%d", k), s.Shape())
		}
		inv := make([]*Node, len(invariants))
		for k, s := range invariants {
			inv[k] = Parameter(g, fmt.Sprintf("invariant_%d", k), s.Shape())
		}
		return i, st, inv
	}
	cond := closure(g, func(g *Graph) []*Node {
		i, _, _ := params(g)
		return []*Node{LessThan(i, Const(g, int32(to)))}
	})
	loop := closure(g, func(g *Graph) []*Node {
		i, st, inv := params(g)
		next := body(&Layer{Index: i, Invariants: inv, w: w, picked: map[string]*Node{}}, st)
		if len(next) != len(state) {
			panic(fmt.Errorf("scan: the layer body returned %d values for %d state values", len(next), len(state)))
		}
		for k, s := range next {
			if !s.Shape().Equal(state[k].Shape()) {
				panic(fmt.Errorf("scan: the layer body turned state %d from %s into %s", k, state[k].Shape(), s.Shape()))
			}
		}
		return append(append([]*Node{AddScalar(i, 1)}, next...), inv...)
	})
	init := append(append([]*Node{Const(g, int32(from))}, state...), invariants...)
	out := While(cond, loop, init...)
	resetXLACaches(g) // main goes on building: no closure of the body may serve it
	return out[1 : 1+len(state)]
}

// StackValues stacks the values of per-layer variables of one shape along a
// new leading axis, on the host, in their stored dtype: the stacked copy a
// model keeps for its layer loops, so that a loop reads one stack instead
// of stacking the weights in the graph on every call.
func StackValues(vars []*model.Variable) (*tensors.Tensor, error) {
	if len(vars) == 0 {
		return nil, fmt.Errorf("scan: nothing to stack")
	}
	values := make([]*tensors.Tensor, len(vars))
	for i, v := range vars {
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("scan: variable %s: %w", v.Path(), err)
		}
		if i > 0 && !t.Shape().Equal(values[0].Shape()) {
			return nil, fmt.Errorf("scan: variable %s is %s, %s is %s: only equal shapes stack", v.Path(), t.Shape(), vars[0].Path(), values[0].Shape())
		}
		values[i] = t
	}
	shape := values[0].Shape()
	size := int(shape.ByteSize())
	out := tensors.FromShape(shapes.Make(shape.DType, append([]int{len(vars)}, shape.Dimensions...)...))
	var inner error
	err := out.MutableBytes(func(dst []byte) {
		for i, t := range values { // each layer's bytes straight into place, the copy over all cores
			if err := t.ConstBytes(func(src []byte) { par.Copy(dst[i*size:(i+1)*size], src) }); err != nil && inner == nil {
				inner = fmt.Errorf("scan: variable %s: %w", vars[i].Path(), err)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if inner != nil {
		return nil, inner
	}
	return out, nil
}

// Fits reports whether stacked (a variable of a stacked copy) still holds
// n layers of layer0's shape and dtype; a stale copy would loop over other
// weights than the layers'.
func Fits(stacked, layer0 *model.Variable, n int) bool {
	if stacked == nil || layer0 == nil {
		return false
	}
	s, l := stacked.Shape(), layer0.Shape()
	return s.DType == l.DType && slices.Equal(s.Dimensions, append([]int{n}, l.Dimensions...))
}

// CheckBackend returns an error when b cannot run a layer loop: GoMLX's Go
// backend in its default configuration, whose parallel op scheduler
// deadlocks inside a While body when the worker pool is small (see the
// package comment). It accepts every other backend and the Go backend
// created with "go:ops_sequential", "go:num_executors=1",
// "go:parallelism=-1" or "go:parallelism=0". The configuration is read by
// reflection from compute v0.1.14's Backend; an unknown layout is refused.
func CheckBackend(b compute.Backend) error {
	if b.String() != "go" {
		return nil
	}
	v := reflect.ValueOf(b)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var ops, executors int64 = -1, -1
	maxPar := int64(1)
	if f := v.FieldByName("OpsExecutionType"); f.IsValid() && f.CanInt() {
		ops = f.Int()
	}
	if f := v.FieldByName("NumExecutors"); f.IsValid() && f.CanInt() {
		executors = f.Int()
	}
	if f := v.FieldByName("Workers"); f.IsValid() && !f.IsNil() {
		if m := f.MethodByName("MaxParallelism"); m.IsValid() {
			maxPar = m.Call(nil)[0].Int()
		}
	}
	const opsSequential = 2 // gobackend.OpsExecutionSequential
	if ops < 0 || executors < 0 {
		return fmt.Errorf("scan: cannot read this Go backend's configuration (%s): layer loops need a known-safe one", b.Description())
	}
	if ops == opsSequential || executors == 1 || maxPar <= 0 {
		return nil
	}
	return fmt.Errorf("scan: the Go backend (%s) deadlocks running a layer loop with parallel op scheduling; "+
		"create it as \"go:ops_sequential\" (e.g. --backend go:ops_sequential or GOMLX_BACKEND=go:ops_sequential) or leave layers unrolled", b.Description())
}

// closure is NewClosure with the closure's own cache of scalar constants.
//
// GoMLX v0.28 caches scalar constants (AddScalar, MulScalar, ...) per
// graph, not per function: a constant first made inside a loop body would
// be handed to a later op of the enclosing function, which then fails with
// "uses a node from a different function scope". The cache is unexported,
// so it is swapped through reflection; a GoMLX version without it fails
// here loudly rather than building a wrong graph.
func closure(g *Graph, def func(g *Graph) []*Node) *Function {
	f := reflect.ValueOf(g).Elem().FieldByName("scalars")
	want := reflect.TypeOf(map[dtypes.DType]map[float64]*Node{})
	if !f.IsValid() || f.Kind() != reflect.Map || !f.Type().ConvertibleTo(want) {
		panic(fmt.Errorf("scan: this GoMLX version has no per-graph scalar cache Graph.scalars of type %s; revisit scan.closure", want))
	}
	cache := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	saved := reflect.ValueOf(cache.Interface())
	cache.Set(reflect.MakeMap(f.Type()))
	defer cache.Set(saved)
	resetXLACaches(g)
	return NewClosure(g, def)
}
