package siglip

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/precision"
)

// scanTol is how close a scanned forward must be to the unrolled one in
// float32: the same operations in the same order, so only a backend
// reordering a reduction could make them differ.
const scanTol = 1e-5

// maxDiff returns max |a−b| and max |b| of two float32 tensors of one size.
func maxDiff(t *testing.T, what string, a, b *tensors.Tensor) (diff, scale float64) {
	t.Helper()
	x, y := tensors.MustCopyFlatData[float32](precisionF32(t, a)), tensors.MustCopyFlatData[float32](precisionF32(t, b))
	if len(x) != len(y) {
		t.Fatalf("%s: %d values, want %d", what, len(x), len(y))
	}
	for i := range y {
		d := math.Abs(float64(x[i]) - float64(y[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		diff, scale = max(diff, d), max(scale, math.Abs(float64(y[i])))
	}
	return diff, scale
}

func precisionF32(t *testing.T, x *tensors.Tensor) *tensors.Tensor {
	t.Helper()
	y, err := precision.CastTensor(x, precision.F32)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// compareForwards runs Forward unrolled and scanned on the same inputs and
// requires every output the scanned one produces to be within tol·max(1,
// max|want|) of the unrolled one, and the hidden states it drops to be only
// the inner ones. It returns the scanned outputs.
func compareForwards(t *testing.T, b compute.Backend, m *Model, px, ids *tensors.Tensor, tol float64) map[string]*tensors.Tensor {
	t.Helper()
	setScan(t, m, false)
	want, err := m.Forward(b, px, ids)
	if err != nil {
		t.Fatal(err)
	}
	setScan(t, m, true)
	defer setScan(t, m, false)
	got, err := m.Forward(b, px, ids)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			var i int
			inner := false
			for tower, n := range map[string]int{OutVisionHidden: m.Config.Vision.NumLayers, OutTextHidden: textLayers(m.Config)} {
				if _, err := fmt.Sscanf(name, tower, &i); err == nil && strings.HasPrefix(name, strings.Split(tower, "%")[0]) && i > 0 && i < n {
					inner = true
				}
			}
			if !inner {
				t.Errorf("scanned forward lacks %s", name)
			}
			continue
		}
		d, s := maxDiff(t, name, g, w)
		t.Logf("%-26s scanned vs unrolled: max|Δ| %.3g (max|want| %.3g)", name, d, s)
		if d > tol*max(1, s) {
			t.Errorf("%s: scanned differs from unrolled by %.3g, allowed %.3g", name, d, tol*max(1, s))
		}
	}
	return got
}

func setScan(t *testing.T, m *Model, on bool) {
	t.Helper()
	if err := m.SetScanLayers(on); err != nil {
		t.Fatal(err)
	}
}

func textLayers(c *Config) int {
	if c.Text == nil {
		return 0
	}
	return c.Text.NumLayers
}

// TestParityScanSiglip runs the fixture model with both towers' layers as
// loops (ScanLayers): every output it produces matches the unrolled forward
// within 1e-5 and the golden file within the README tolerance, and only the
// inner hidden states are missing.
func TestParityScanSiglip(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, dir)
	px, ids := goldenTensor(t, g, "pixel_values"), goldenTensor(t, g, "input_ids")
	got := compareForwards(t, backendtest.ForLoops(t), m, px, ids, scanTol)
	compared := 0
	for name, out := range got {
		w, err := g.Get(name)
		if err != nil {
			t.Fatalf("no golden %s: %v", name, err)
		}
		want, _ := w.Float32()
		have := tensors.MustCopyFlatData[float32](out)
		for i := range want {
			if !close1e4(float64(have[i]), float64(want[i])) {
				t.Fatalf("scanned %s[%d] = %g, golden %g", name, i, have[i], want[i])
			}
		}
		compared++
	}
	// hidden 0 and L of each tower, last, pooled, embeds (×2), logits.
	if want := 2 + 2 + 7; compared != want {
		t.Errorf("compared %d golden outputs, want %d", compared, want)
	}
}

// TestScanLayerRuns checks the runs DualToken taps the tower in: for every
// split k, looping layers 0..k-1 from the golden embeddings gives the golden
// hidden_states[k] and VisionFrom(k) (a loop over k..L-1) from the golden
// hidden_states[k] gives the golden last hidden state and pooled output —
// with the layers stacked in the graph and reading the stacked copy
// SetScanLayers keeps.
func TestScanLayerRuns(t *testing.T) {
	for _, prestacked := range []bool{false, true} {
		t.Run(fmt.Sprintf("prestacked=%v", prestacked), func(t *testing.T) { scanLayerRuns(t, prestacked) })
	}
}

func scanLayerRuns(t *testing.T, prestacked bool) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if prestacked {
		setScan(t, m, true)
		if m.StackedBytes() == 0 {
			t.Fatal("SetScanLayers(true) stacked nothing")
		}
	}
	g := openGolden(t, dir)
	c := m.Config.Vision
	c.ScanLayers = true
	b := backendtest.ForLoops(t)
	check := func(what string, got *tensors.Tensor, name string) {
		t.Helper()
		w, _ := g.Get(name)
		want, _ := w.Float32()
		have := tensors.MustCopyFlatData[float32](got)
		for i := range want {
			if !close1e4(float64(have[i]), float64(want[i])) {
				t.Fatalf("%s: %s[%d] = %g, golden %g", what, name, i, have[i], want[i])
			}
		}
	}
	h0 := goldenTensor(t, g, fmt.Sprintf(OutVisionHidden, 0))
	for k := 0; k <= c.NumLayers; k++ {
		hk, err := model.CallOnce(b, m.Store, func(root *model.Scope, x *Node) *Node {
			return VisionLayers(VisionScope(root), &c, 0, k, x)
		}, h0)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("layers [0,%d)", k), hk, fmt.Sprintf(OutVisionHidden, k))
		outs, err := model.CallOnceN(b, m.Store, func(root *model.Scope, x *Node) []*Node {
			last, pooled := VisionFrom(VisionScope(root), &c, x, k)
			return []*Node{last, pooled}
		}, goldenTensor(t, g, fmt.Sprintf(OutVisionHidden, k)))
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("VisionFrom(%d)", k), outs[0], OutVisionLast)
		check(fmt.Sprintf("VisionFrom(%d)", k), outs[1], OutVisionPooled)
	}
}

// scanTestConfig is a small two-tower model with several layers (6 vision, 5
// text) to exercise the loop beyond the fixture's depth.
func scanTestConfig() *Config {
	cfg := BaseConfig(32, 6, 4, 64, 8, 32)
	cfg.ModelType = ModelTypeSiglip
	cfg.Text = &TextConfig{VocabSize: 50, HiddenSize: 32, IntermediateSize: 48, NumLayers: 5, NumHeads: 2,
		MaxPositions: 8, ProjectionSize: 32, LayerNormEps: 1e-6, HiddenAct: "quick_gelu", PadTokenID: 1, EOSTokenID: 1}
	return cfg
}

func randomIDs(vocab, b, l int) *tensors.Tensor {
	v := make([]int32, b*l)
	for i := range v {
		v[i] = int32((i*7 + 3) % vocab)
	}
	return tensors.FromFlatDataAndDimensions(v, b, l)
}

// TestScanLayersRandom compares scanned and unrolled forwards of a random
// model with more layers than the fixture, in float32 (within 1e-5) and in
// bfloat16: the scanned bfloat16 model must meet the bfloat16 bound
// (precision.CompareBF16) against the float32 unrolled model, as the
// unrolled bfloat16 one does.
func TestScanLayersRandom(t *testing.T) {
	cfg := scanTestConfig()
	m, err := NewRandom(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	b := backendtest.ForLoops(t)
	px, ids := randomTensor(3, 3, 3, 32, 32), randomIDs(cfg.Text.VocabSize, 3, 8)
	ref := compareForwards(t, b, m, px, ids, scanTol)

	if err := m.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	compareForwards(t, b, m, px, ids, scanTol) // loop vs unrolled, both bfloat16
	setScan(t, m, true)
	scanned, err := m.Forward(b, px, ids)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range ref {
		if name == OutLogits {
			continue // a scaled cosine: checked through the embeddings
		}
		a := precision.CompareBF16(tensors.MustCopyFlatData[float32](scanned[name]), tensors.MustCopyFlatData[float32](want), stagesOf(cfg, name))
		t.Logf("bf16 scanned %-22s %s", name, a)
		if !a.OK {
			t.Errorf("bfloat16 scanned %s vs float32: %s; %s", name, a, a.Mismatched)
		}
	}
}

// scanGraphCounts builds the pooled-embedding graph of a random vision tower
// with the given depth and returns its node counts by type (NodeTypeInvalid:
// all nodes).
//
// prestacked reads the stacked copy SetScanLayers keeps.
func scanGraphCounts(t *testing.T, b compute.Backend, layers int, scanned, prestacked bool) map[NodeType]int {
	t.Helper()
	cfg := BaseConfig(16, layers, 2, 32, 8, 16)
	m, err := NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Vision.ScanLayers = scanned
	if prestacked {
		setScan(t, m, true)
	}
	counts := map[NodeType]int{}
	_, err = model.CallOnce(b, m.Store, func(root *model.Scope, x *Node) *Node {
		out := Vision(VisionScope(root), &cfg.Vision, x).Pooled
		for _, n := range x.Graph().Nodes() {
			counts[n.Type()]++
		}
		counts[NodeTypeInvalid] = len(x.Graph().Nodes())
		return out
	}, randomTensor(1, 1, 3, 16, 16))
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestScanGraphSize: a scanned tower's graph has one While and one layer
// body whatever the depth: reading the stacked copy, the same graph at 2 and
// 8 layers; stacking in the graph, the same number of matrix products and
// per layer only the stacking of its 16 weights (a parameter and a reshape
// each), while the unrolled graph grows by a whole layer body.
func TestScanGraphSize(t *testing.T) {
	b := backendtest.ForLoops(t)
	matmuls := func(n map[NodeType]int) int { return n[NodeTypeDotGeneral] + n[NodeTypeFusedDense] }
	p2, p8 := scanGraphCounts(t, b, 2, true, true), scanGraphCounts(t, b, 8, true, true)
	s2, s8 := scanGraphCounts(t, b, 2, true, false), scanGraphCounts(t, b, 8, true, false)
	u2, u8 := scanGraphCounts(t, b, 2, false, false), scanGraphCounts(t, b, 8, false, false)
	t.Logf("%d nodes at 2 layers, %d at 8 over the stacked copy; %d and %d stacking in the graph; unrolled: %d and %d",
		p2[NodeTypeInvalid], p8[NodeTypeInvalid], s2[NodeTypeInvalid], s8[NodeTypeInvalid], u2[NodeTypeInvalid], u8[NodeTypeInvalid])
	if p2[NodeTypeInvalid] != p8[NodeTypeInvalid] || p8[NodeTypeWhile] != 1 {
		t.Errorf("over the stacked copy: %d nodes at 2 layers, %d at 8, %d While; want equal and 1", p2[NodeTypeInvalid], p8[NodeTypeInvalid], p8[NodeTypeWhile])
	}
	if s2[NodeTypeWhile] != 1 || s8[NodeTypeWhile] != 1 || u8[NodeTypeWhile] != 0 {
		t.Errorf("While nodes: %d and %d scanned, %d unrolled; want 1, 1, 0", s2[NodeTypeWhile], s8[NodeTypeWhile], u8[NodeTypeWhile])
	}
	if matmuls(s2) != matmuls(s8) {
		t.Errorf("scanned graph has %d matmuls at 2 layers and %d at 8: the layer body is repeated", matmuls(s2), matmuls(s8))
	}
	if d := matmuls(u8) - matmuls(u2); d < 6*6 {
		t.Errorf("unrolled graph gains %d matmuls for 6 more layers, want >= 36 (sanity of the count)", d)
	}
	perLayerScan := float64(s8[NodeTypeInvalid]-s2[NodeTypeInvalid]) / 6
	perLayerUnrolled := float64(u8[NodeTypeInvalid]-u2[NodeTypeInvalid]) / 6
	t.Logf("nodes per extra layer: %.1f scanned, %.1f unrolled", perLayerScan, perLayerUnrolled)
	if perLayerScan > 2*float64(len(encoderLayerWeights)) {
		t.Errorf("scanned graph grows by %.1f nodes per layer, want <= %d (a parameter and a reshape per stacked weight)", perLayerScan, 2*len(encoderLayerWeights))
	}
}

// TestEncoderLayerWeights: the stacked weight list is exactly the name
// table's entries of one encoder layer, for both towers.
func TestEncoderLayerWeights(t *testing.T) {
	cfg := scanTestConfig()
	for _, prefix := range []string{"vision_model.encoder.layers.2.", "text_model.encoder.layers.2."} {
		var got []string
		for _, e := range Table(cfg) {
			if rest, ok := strings.CutPrefix(e.Name, prefix); ok {
				got = append(got, strings.ReplaceAll(rest, ".", "/"))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(encoderLayerWeights) {
			t.Errorf("%s: table has %v, stacked list %v", prefix, got, encoderLayerWeights)
		}
	}
}

func TestScanLayersBadUse(t *testing.T) {
	cfg := BaseConfig(16, 3, 2, 32, 8, 16)
	m, err := NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Vision
	c.ScanLayers, c.Checkpoint = true, true
	_, err = model.CallOnce(backendtest.ForLoops(t), m.Store, func(root *model.Scope, x *Node) *Node {
		return Vision(VisionScope(root), &c, x).Pooled
	}, randomTensor(1, 1, 3, 16, 16))
	wantErr(t, err, "ScanLayers", "Checkpoint")
	c.Checkpoint = false
	_, err = model.CallOnce(backendtest.ForLoops(t), m.Store, func(root *model.Scope, x *Node) *Node {
		return VisionLayers(VisionScope(root), &c, 2, 4, x)
	}, randomTensor(1, 1, 4, 16))
	wantErr(t, err, "VisionLayers(2, 4)", "0..3")
}

// TestScanStackedCopy: SetScanLayers(true) keeps exactly the layer weights
// stacked, SetDType remakes the copy in the new storage, SetScanLayers(false)
// frees it, and a copy that no longer fits the variables is refused.
func TestScanStackedCopy(t *testing.T) {
	cfg := scanTestConfig()
	m, err := NewRandom(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	layerBytes := func() int64 {
		var n int64
		for v := range m.Store.IterVariables() {
			if strings.Contains(v.Path(), "/encoder/layers/") {
				n += v.Shape().ByteSize()
			}
		}
		return n
	}
	setScan(t, m, true)
	if got, want := m.StackedBytes(), layerBytes(); got != want {
		t.Errorf("stacked copy %d bytes, layer variables %d", got, want)
	}
	if err := m.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	if got, want := m.StackedBytes(), layerBytes(); got != want || !m.Config.Vision.ScanLayers {
		t.Errorf("after SetDType: stacked copy %d bytes, layer variables %d", got, want)
	}
	b := backendtest.ForLoops(t)
	px := randomTensor(4, 1, 3, 32, 32)
	if _, err := m.Forward(b, px, nil); err != nil {
		t.Fatal(err)
	}
	// Converting the store behind the model's back: stacked biases are
	// matrices and turn bfloat16, the layers' vectors stay float32.
	if _, _, err := precision.StoreAs(m.Store.IterVariables(), precision.F32, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := precision.StoreAs(m.Store.IterVariables(), precision.BF16, nil); err != nil {
		t.Fatal(err)
	}
	_, err = m.Forward(b, px, nil)
	wantErr(t, err, "SetScanLayers(true) again")
	setScan(t, m, false)
	if m.StackedBytes() != 0 {
		t.Errorf("SetScanLayers(false) kept %d bytes", m.StackedBytes())
	}
}
