package llm

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/scan"
)

// StackedScope holds, below the model root, the layer weights stacked for
// the layer loop: "layers_stacked/<path>/<name>" is [N, ...], the
// "layers/<i>/<path>/<name>" of every layer in their stored dtype. With
// them a looped graph reads the stack directly; without (a decoder embedded
// under another scope) it stacks the weights in the graph, a copy of all
// layer weights on every call — as much memory traffic again as a decoding
// step's own reads.
const StackedScope = "layers_stacked"

// SetScanLayers switches Config.ScanLayers and drops the compiled graphs
// (they were built for the other layout). Switching on stacks the layer
// weights once (on the host, in StackedScope: a second copy of them, which
// the looped graphs use instead of the per-layer variables); switching off
// frees that copy. The stack is a snapshot for inference: SetDType remakes
// it, other changes to the weights need SetScanLayers(true) again. States
// made before cannot be continued after a switch.
func (m *Model) SetScanLayers(on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = map[string]*model.Exec{}
	m.Config.ScanLayers = on
	if !on {
		return m.dropStacked()
	}
	return m.stackWeights()
}

// dropStacked deletes the stacked copy of the layer weights, if any.
func (m *Model) dropStacked() error {
	return m.Root().At(StackedScope).DeleteVariablesInScope()
}

// StackedBytes is the memory of the stacked copy of the layer weights
// (zero unless ScanLayers).
func (m *Model) StackedBytes() int64 {
	return precision.Bytes(m.Root().At(StackedScope).IterVariables())
}

// stackWeights (re)makes the stacked copy of every layer weight from the
// per-layer variables' values.
func (m *Model) stackWeights() error {
	if err := m.dropStacked(); err != nil {
		return err
	}
	c := m.Config
	for _, p := range layerParams {
		if p.when != nil && !p.when(c) {
			continue
		}
		vars := make([]*model.Variable, c.NumLayers)
		for i := range vars {
			path := model.ScopeSeparator + fmt.Sprintf(p.scope, i) + model.ScopeSeparator + p.name
			if vars[i] = m.Store.GetVariable(path); vars[i] == nil {
				return fmt.Errorf("llm: variable %s was not loaded", path)
			}
		}
		stacked, err := scan.StackValues(vars)
		if err != nil {
			return fmt.Errorf("llm: %w", err)
		}
		if _, err := stackedVarScope(m.Root(), p).CreateVariable(p.name, stacked); err != nil {
			return fmt.Errorf("llm: stacking %s: %w", stackedName(p), err)
		}
	}
	return nil
}

// stackedVarScope is the scope of p's stacked variable below root.
func stackedVarScope(root *model.Scope, p param) *model.Scope {
	s := root.At(StackedScope)
	for _, part := range strings.Split(strings.TrimPrefix(p.scope, "layers/%d/"), "/") {
		s = s.At("%s", part)
	}
	return s
}

// stackedName is the name of a layer weight inside the loop: its variable
// path below the layer scope, e.g. "self_attn/q_proj/dense/weights".
func stackedName(p param) string {
	return strings.TrimPrefix(p.scope, "layers/%d/") + "/" + p.name
}

// stackLayers returns every layer weight (the layerParams the config has)
// stacked along a new leading axis, in its stored dtype: [N, ...]: the
// stacked variables below scope when SetScanLayers made them, else stacked
// in the graph.
func (m *Model) stackLayers(scope *model.Scope, g *Graph) scan.Stacked {
	c := m.Config
	w := scan.Stacked{}
	for _, p := range layerParams {
		if p.when != nil && !p.when(c) {
			continue
		}
		if sv := stackedVarScope(scope, p).GetVariable(p.name); sv != nil {
			l0 := scope.At("layers").At("0")
			for _, part := range strings.Split(strings.TrimPrefix(p.scope, "layers/%d/"), "/") {
				l0 = l0.At("%s", part)
			}
			if !scan.Fits(sv, l0.GetVariable(p.name), c.NumLayers) {
				panic(fmt.Errorf("llm: the stacked %s (%s) does not fit the layers' variables: call SetScanLayers(true) again after changing them", stackedName(p), sv.Shape()))
			}
			w[stackedName(p)] = sv.NodeValue(g)
			continue
		}
		per := make([]*Node, c.NumLayers)
		for i := range per {
			s := scope
			for _, part := range strings.Split(fmt.Sprintf(p.scope, i), "/") {
				s = s.At("%s", part)
			}
			v := s.GetVariable(p.name)
			if v == nil {
				panic(fmt.Errorf("llm: variable %s/%s was not loaded", s.Scope(), p.name))
			}
			per[i] = v.NodeValue(g)
		}
		w[stackedName(p)] = scan.StackLayers(per)
	}
	return w
}

// scanDecoder is decoder with the layers as one loop: the state is the
// residual stream x [B,S,H] and, with a cache, all layers' keys and values
// [N,B,nKV,L,hd] (caches = [K,V]). It returns the final (normed) state, the
// states [x, nil..., final] and the updated [K,V].
func (m *Model) scanDecoder(scope *model.Scope, x *Node, a *attnInputs, caches []*Node) (final *Node, states, newCaches []*Node) {
	c := m.Config
	if caches != nil && len(caches) != 2 {
		panic(fmt.Errorf("llm: a layer loop takes the cache as [K,V] of all layers, got %d tensors", len(caches)))
	}
	w := m.stackLayers(scope, x.Graph())
	// The attention inputs enter the loop as invariants (scan.RunWith).
	var inv []*Node
	for _, p := range a.nodes() {
		if *p != nil {
			inv = append(inv, *p)
		}
	}
	out := scan.RunWith(w, 0, -1, append([]*Node{x}, caches...), inv, func(l *scan.Layer, st []*Node) []*Node {
		la := *a
		k := 0
		for _, p := range la.nodes() {
			if *p != nil {
				*p, k = l.Invariants[k], k+1
			}
		}
		var ck, cv *Node
		if len(st) == 3 {
			ck, cv = st[1], st[2]
		}
		y, nk, nv := m.layer(loopLayer{l}, st[0], &la, ck, cv, l.Index)
		if ck == nil {
			return []*Node{y}
		}
		return []*Node{y, nk, nv}
	})
	final = rmsNorm(scope.In("norm"), out[0], c.RMSNormEps)
	states = make([]*Node, c.NumLayers+1)
	states[0], states[c.NumLayers] = x, final
	if caches != nil {
		newCaches = out[1:]
	}
	return final, states, newCaches
}

// loopLayer reads one loop iteration's slices of the stacked weights.
type loopLayer struct{ l *scan.Layer }

// norm is rmsNorm (norm.RMSNorm in float32, returned in x's dtype) with
// the gain taken from the stack: the same operations norm.RMSNorm builds.
func (w loopLayer) norm(name string, x *Node, eps float64) *Node {
	scale := w.l.Weight(name + "/rms_norm/scale") // [H] float32
	y := precision.ToF32(x)
	ms := ReduceAndKeep(Square(y), ReduceMean, -1)
	if eps != 0 {
		ms = AddScalar(ms, eps)
	}
	y = Div(y, Sqrt(ms))
	shape := make([]int, y.Rank())
	for i := range shape {
		shape[i] = 1
	}
	shape[len(shape)-1] = scale.Shape().Dimensions[0]
	return precision.As(Mul(y, Reshape(scale, shape...)), x.DType())
}

// linear is the package's linear with the weights from the stack.
func (w loopLayer) linear(block, name string, x *Node, bias bool, width int) *Node {
	path := block + "/" + name + "/dense/"
	return withMinRows(x, func(x *Node) *Node {
		wt := precision.As(w.l.Weight(path+"weights"), x.DType())
		if d := wt.Shape().Dimensions; d[0] != width {
			panic(fmt.Errorf("llm: %sweights is %v, expected %d outputs", path, d, width))
		}
		var b *Node
		if bias {
			b = precision.As(w.l.Weight(path+"biases"), x.DType())
		}
		return nn.Dense(x, wt, b, compute.DenseLayoutOutputsInput)
	})
}

// loopRoPE is pos.RoPEWithCosSin's rotation (rotate_half convention) of x
// [B,S,heads,hd] by cos, sin [B,S,hd/2]: x1·cos − x2·sin and x1·sin + x2·cos
// on the two halves, the same operations in the same order. It broadcasts
// cos and sin over the heads implicitly ([B,S,1,hd/2]) instead of with
// BroadcastLike: the Go backend mis-executes an explicit same-rank
// broadcast feeding an elementwise op inside a loop body (package scan).
func loopRoPE(x, cos, sin *Node) *Node {
	half := cos.Shape().Dimensions[2]
	if d := x.Shape().Dimensions[3]; d != 2*half {
		panic(fmt.Errorf("llm: RoPE of head dim %d with %d frequencies", d, half))
	}
	cos, sin = InsertAxes(cos, 2), InsertAxes(sin, 2)
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, half))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(half, 2*half))
	r1 := Sub(Mul(x1, cos), Mul(x2, sin))
	r2 := Add(Mul(x1, sin), Mul(x2, cos))
	return Concatenate([]*Node{r1, r2}, -1)
}
