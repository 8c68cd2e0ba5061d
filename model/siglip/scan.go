package siglip

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/scan"
)

// encoderLayerWeights are the weights of one encoder block, as paths below
// its scope ("vision_model/encoder/layers/<i>"); TestEncoderLayerWeights
// checks them against the name table.
var encoderLayerWeights = []string{
	"layer_norm1/weight", "layer_norm1/bias",
	"self_attn/q_proj/weight", "self_attn/q_proj/bias",
	"self_attn/k_proj/weight", "self_attn/k_proj/bias",
	"self_attn/v_proj/weight", "self_attn/v_proj/bias",
	"self_attn/out_proj/weight", "self_attn/out_proj/bias",
	"layer_norm2/weight", "layer_norm2/bias",
	"mlp/fc1/weight", "mlp/fc1/bias",
	"mlp/fc2/weight", "mlp/fc2/bias",
}

// StackedScope holds, below a tower's "encoder" scope, its layer weights
// stacked for the layer loops: "encoder/layers_stacked/<path>" is [L, ...],
// the "encoder/layers/<i>/<path>" of every layer in their stored dtype.
// Without it a loop stacks its layers' weights in the graph, a copy of them
// on every call.
const StackedScope = "layers_stacked"

// SetScanLayers makes both towers loop over their encoder layers (on) or
// unroll them (off); see VisionConfig.ScanLayers. On, it also keeps a
// stacked copy of each tower's layer weights (on the host; the loops read
// it, any run of layers from the same stack); off frees it. The copy is a
// snapshot for inference: SetDType remakes it, other changes to the weights
// (another model's SetDType on a shared store) need SetScanLayers(true)
// again. Graphs compiled before keep what they were built with.
func (m *Model) SetScanLayers(on bool) error {
	m.Config.Vision.ScanLayers = on
	if m.Config.Text != nil {
		m.Config.Text.ScanLayers = on
	}
	if err := m.dropStacked(); err != nil || !on {
		return err
	}
	return m.stackWeights()
}

// towers lists the towers of m: scope and layer count.
func (m *Model) towers() map[*model.Scope]int {
	t := map[*model.Scope]int{VisionScope(m.Root()): m.Config.Vision.NumLayers}
	if m.Config.Text != nil {
		t[TextScope(m.Root())] = m.Config.Text.NumLayers
	}
	return t
}

func (m *Model) dropStacked() error {
	for s := range m.towers() {
		if err := s.At("encoder").At(StackedScope).DeleteVariablesInScope(); err != nil {
			return fmt.Errorf("siglip: %w", err)
		}
	}
	return nil
}

// StackedBytes is the memory of the stacked copies of the layer weights
// (zero unless SetScanLayers(true)).
func (m *Model) StackedBytes() int64 {
	var n int64
	for s := range m.towers() {
		n += precision.Bytes(s.At("encoder").At(StackedScope).IterVariables())
	}
	return n
}

// stackWeights makes the stacked copy of every tower's layer weights.
func (m *Model) stackWeights() error {
	for s, layers := range m.towers() {
		if layers < 2 {
			continue // a single layer never loops
		}
		enc := s.At("encoder")
		for _, path := range encoderLayerWeights {
			vars := make([]*model.Variable, layers)
			for i := range vars {
				sc, name := pathScope(enc.At("layers").At("%d", i), path)
				if vars[i] = sc.GetVariable(name); vars[i] == nil {
					return fmt.Errorf("siglip: variable %s/%s was not loaded", sc.Scope(), name)
				}
			}
			t, err := scan.StackValues(vars)
			if err != nil {
				return fmt.Errorf("siglip: %w", err)
			}
			sc, name := pathScope(enc.At(StackedScope), path)
			if _, err := sc.CreateVariable(name, t); err != nil {
				return fmt.Errorf("siglip: stacking %s: %w", path, err)
			}
		}
	}
	return nil
}

// pathScope resolves a weight path ("self_attn/q_proj/weight") below s into
// its scope and variable name.
func pathScope(s *model.Scope, path string) (*model.Scope, string) {
	parts := strings.Split(path, "/")
	for _, p := range parts[:len(parts)-1] {
		s = s.At("%s", p)
	}
	return s, parts[len(parts)-1]
}

// VisionLayers applies encoder blocks from..to-1 to x = hidden_states[from]
// [B,N,D] and returns hidden_states[to]. With c.ScanLayers a run of two or
// more blocks is one loop over their stacked weights; otherwise each block is
// VisionLayer. DualToken runs the tower in such runs between its taps.
func VisionLayers(s *model.Scope, c *VisionConfig, from, to int, x *Node) *Node {
	if from < 0 || to < from || to > c.NumLayers {
		panic(fmt.Errorf("siglip: VisionLayers(%d, %d): the tower has layers 0..%d", from, to, c.NumLayers))
	}
	if !c.ScanLayers || to-from < 2 {
		for i := from; i < to; i++ {
			x = VisionLayer(s, c, i, x)
		}
		return x
	}
	if c.Checkpoint {
		panic(fmt.Errorf("siglip: VisionConfig.ScanLayers is for inference and cannot be combined with Checkpoint"))
	}
	return scanEncoder(s, c.NumLayers, from, to, c.NumHeads, c.LayerNormEps, c.HiddenAct, precision.As(x, c.ComputeDType()))
}

// TextLayers is VisionLayers for the text tower.
func TextLayers(s *model.Scope, c *TextConfig, from, to int, x *Node) *Node {
	if from < 0 || to < from || to > c.NumLayers {
		panic(fmt.Errorf("siglip: TextLayers(%d, %d): the tower has layers 0..%d", from, to, c.NumLayers))
	}
	if !c.ScanLayers || to-from < 2 {
		for i := from; i < to; i++ {
			x = TextLayer(s, c, i, x)
		}
		return x
	}
	return scanEncoder(s, c.NumLayers, from, to, c.NumHeads, c.LayerNormEps, c.HiddenAct, precision.As(x, c.ComputeDType()))
}

// scanEncoder runs blocks from..to-1 of the tower (of numLayers) under s as
// one loop whose body is encoderLayer reading layer i's slices of the
// stacked weights: the tower's stacked copy (SetScanLayers) when there is
// one, else the blocks' variables stacked in the graph; in their stored
// dtypes, converted at use as the unrolled blocks do. x is in the compute
// dtype and stays in it.
func scanEncoder(s *model.Scope, numLayers, from, to, heads int, eps float64, act string, x *Node) *Node {
	g := x.Graph()
	enc := s.At("encoder")
	body := func(l *scan.Layer, st []*Node) []*Node {
		return []*Node{encoderLayer(layerWeights{l: l}, heads, eps, act, true, st[0])}
	}
	w := scan.Stacked{}
	for _, path := range encoderLayerWeights {
		sc, name := pathScope(enc.At(StackedScope), path)
		sv := sc.GetVariable(name)
		if sv == nil {
			break
		}
		l0, name0 := pathScope(enc.At("layers").At("0"), path)
		if !scan.Fits(sv, l0.GetVariable(name0), numLayers) {
			panic(fmt.Errorf("siglip: the stacked %s/%s (%s) does not fit the layers' variables: call SetScanLayers(true) again after changing them", sc.Scope(), name, sv.Shape()))
		}
		w[path] = sv.NodeValue(g)
	}
	if len(w) == len(encoderLayerWeights) {
		return scan.RunRange(w, from, to, []*Node{x}, body)[0]
	}
	if len(w) > 0 {
		panic(fmt.Errorf("siglip: %s holds only %d of the %d stacked layer weights: call SetScanLayers(true) again", enc.At(StackedScope).Scope(), len(w), len(encoderLayerWeights)))
	}
	for _, path := range encoderLayerWeights {
		per := make([]*Node, 0, to-from)
		for i := from; i < to; i++ {
			sc, name := pathScope(enc.At("layers").At("%d", i), path)
			per = append(per, stored(sc, g, name))
		}
		w[path] = scan.StackLayers(per)
	}
	return scan.Run(w, []*Node{x}, body)[0]
}

// layerWeights reads one loop iteration's slices of the stacked weights.
type layerWeights struct {
	l      *scan.Layer
	prefix string
}

func (w layerWeights) at(sub string) weightSource {
	return layerWeights{w.l, w.prefix + sub + "/"}
}

func (w layerWeights) get(name string, dt dtypes.DType) *Node {
	return precision.As(w.l.Weight(w.prefix+name), dt)
}
