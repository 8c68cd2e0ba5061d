package llm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/internal/fixtures/refs"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/weights"
)

// scanPair returns two models with the same random weights on a loop-capable
// backend: unrolled and with ScanLayers.
func scanPair(t *testing.T, cfg *Config, seed uint64) (unrolled, scanned *Model) {
	t.Helper()
	b := backendtest.ForLoops(t)
	set := RandomWeights(cfg, seed)
	var err error
	if unrolled, err = New(b, cfg, set); err != nil {
		t.Fatal(err)
	}
	c2 := *cfg
	if scanned, err = New(b, &c2, set); err != nil {
		t.Fatal(err)
	}
	setScan(t, scanned, true)
	return unrolled, scanned
}

func setScan(t *testing.T, m *Model, on bool) {
	t.Helper()
	if err := m.SetScanLayers(on); err != nil {
		t.Fatal(err)
	}
}

// within requires max|got−want| <= tol·max(1, max|want|) and returns max|Δ|.
func within(t *testing.T, what string, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var d, s float64
	for i := range want {
		e := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		d, s = max(d, e), max(s, math.Abs(float64(want[i])))
	}
	if d > tol*max(1, s) {
		t.Errorf("%s: scanned differs from unrolled by %.3g (max|want| %.3g), allowed %.3g", what, d, s, tol*max(1, s))
	}
	return d
}

func flat(rows [][][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		for _, p := range r {
			out = append(out, p...)
		}
	}
	return out
}

// scanConfigs are smallConfigs plus a deeper model (7 layers).
func scanConfigs() map[string]*Config {
	cs := smallConfigs()
	cs["qwen2-7layers"] = TestConfig(89, 32, 7, 4, 2, 48, true)
	return cs
}

// TestParityScanLLM loads the fixture models with ScanLayers and runs the
// verify outputs: logits, the first and last hidden states and the greedy
// tokens through the looped KV cache must match the golden file (README
// tolerance, tokens exactly), and the unrolled model within 1e-5.
func TestParityScanLLM(t *testing.T) {
	for _, name := range []string{"qwen2", "llama"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.Dir(t, name)
			b := backendtest.ForLoops(t)
			m, err := Load(b, dir)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := Load(b, dir)
			if err != nil {
				t.Fatal(err)
			}
			setScan(t, m, true)
			golden, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer golden.Close()
			outs, _, err := VerifyOutputs(m, golden)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := VerifyOutputs(ref, golden)
			if err != nil {
				t.Fatal(err)
			}
			N := m.Config.NumLayers
			names := []string{"logits", "hidden_states.0", fmt.Sprintf("hidden_states.%d", N)}
			for _, n := range names {
				g, ok := outs[n]
				if !ok {
					t.Fatalf("%s not produced", n)
				}
				gf, _ := g.Float32()
				allClose(t, n, gf, refs.Floats(t, golden, n))
				wf, _ := want[n].Float32()
				t.Logf("%-16s scanned vs unrolled max|Δ| %.3g", n, within(t, n, gf, wf, 1e-5))
			}
			for i := 1; i < N; i++ {
				if _, ok := outs[fmt.Sprintf("hidden_states.%d", i)]; ok {
					t.Errorf("hidden_states.%d produced inside the loop", i)
				}
			}
			gen, _ := outs["generated_ids"].Int64()
			gw, _ := golden.Get("generated_ids")
			gi, _ := gw.Int64()
			if !slices.Equal(gen, gi) {
				t.Errorf("generated_ids %v, golden %v", gen, gi)
			}
		})
	}
}

// TestScanLayersCacheAndGeneration: with ScanLayers the KV cache (prefill
// chunk, then one token per step, growing from 16 slots) gives the uncached
// forward's logits, the forward and the cached logits equal the unrolled
// model's within 1e-5, and greedy generation of a left-padded batch gives
// the unrolled model's tokens.
func TestScanLayersCacheAndGeneration(t *testing.T) {
	for name, cfg := range scanConfigs() {
		t.Run(name, func(t *testing.T) {
			un, sc := scanPair(t, cfg, 5)
			rng := rand.New(rand.NewPCG(6, 6))
			tokens := randomTokens(rng, 21, cfg.VocabSize)
			checkCache(t, sc, tokens, 5)

			fu, err := un.Forward(Input{IDs: [][]int{tokens}})
			if err != nil {
				t.Fatal(err)
			}
			fs, err := sc.Forward(Input{IDs: [][]int{tokens}})
			if err != nil {
				t.Fatal(err)
			}
			within(t, "forward logits", tensors.MustCopyFlatData[float32](fs.Logits), tensors.MustCopyFlatData[float32](fu.Logits), 1e-5)
			N := cfg.NumLayers
			within(t, "final hidden", tensors.MustCopyFlatData[float32](fs.Hidden[N]), tensors.MustCopyFlatData[float32](fu.Hidden[N]), 1e-5)
			if len(fs.Hidden) != N+1 || fs.Hidden[0] == nil || (N > 1 && fs.Hidden[1] != nil) {
				t.Errorf("scanned Forward hidden states: %d, want %d with only the first and last set", len(fs.Hidden), N+1)
			}

			prompts := [][]int{randomTokens(rng, 3, cfg.VocabSize), randomTokens(rng, 9, cfg.VocabSize), randomTokens(rng, 6, cfg.VocabSize)}
			opts := GenerateOptions{MaxNewTokens: 10, MinNewTokens: 10, EOS: []int{}}
			gu, err := un.Generate(prompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := sc.Generate(prompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			for b := range prompts {
				if !slices.Equal(gs[b].Tokens, gu[b].Tokens) {
					t.Errorf("row %d: scanned %v, unrolled %v", b, gs[b].Tokens, gu[b].Tokens)
				}
			}

			// Step by step: the same cached logits.
			su, _ := un.NewState(2, 8)
			ss, _ := sc.NewState(2, 8)
			defer su.Close()
			defer ss.Close()
			in := Input{IDs: [][]int{tokens[:7], tokens[7:14]}, Mask: [][]bool{{false, false, true, true, true, true, true}, trues(7)}}
			for step := range 12 {
				ou, err := su.Append(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				osc, err := ss.Append(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				within(t, fmt.Sprintf("step %d logits", step), flat(osc.Logits), flat(ou.Logits), 1e-5)
				in = Input{IDs: [][]int{{argmax(ou.Logits[0][0])}, {argmax(ou.Logits[1][0])}}}
			}
			if len(ss.cache) != 2 || ss.cache[0].Shape().Rank() != 5 || ss.cache[0].Shape().Dimensions[0] != N {
				t.Errorf("scanned cache: %d tensors, first %s; want [K,V] of [%d,B,nKV,L,hd]", len(ss.cache), ss.cache[0].Shape(), N)
			}
			if ss.Capacity() <= 8 || ss.Capacity() != su.Capacity() {
				t.Errorf("capacities %d scanned, %d unrolled: want equal and grown past 8 (16 slots)", ss.Capacity(), su.Capacity())
			}
		})
	}
}

// TestScanLayersBF16: a scanned model stored and run in bfloat16 gives the
// unrolled bfloat16 model's logits (within 1e-5 of their scale) and greedy
// tokens, and meets the bfloat16 bound against the float32 model.
func TestScanLayersBF16(t *testing.T) {
	cfg := scanConfigs()["qwen2-7layers"]
	un, sc := scanPair(t, cfg, 8)
	rng := rand.New(rand.NewPCG(9, 9))
	tokens := randomTokens(rng, 15, cfg.VocabSize)
	f32, err := un.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	ref := tensors.MustCopyFlatData[float32](f32.Logits)
	for _, m := range []*Model{un, sc} {
		if err := m.SetDType(precision.BF16); err != nil {
			t.Fatal(err)
		}
	}
	if sc.StackedBytes() == 0 || !sc.Config.ScanLayers {
		t.Errorf("SetDType dropped the layer loop's stacked weights")
	}
	fu, err := un.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := sc.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](fs.Logits)
	within(t, "bfloat16 logits", got, tensors.MustCopyFlatData[float32](fu.Logits), 1e-5)
	a := precision.CompareBF16(got, ref, 1+2*cfg.NumLayers+2)
	t.Logf("scanned bfloat16 vs float32 logits: %s", a)
	if !a.OK {
		t.Errorf("scanned bfloat16 logits: %s; %s", a, a.Mismatched)
	}
	opts := GenerateOptions{MaxNewTokens: 8, MinNewTokens: 8, EOS: []int{}}
	gu, err := un.Generate([][]int{tokens}, opts)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := sc.Generate([][]int{tokens}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gs[0].Tokens, gu[0].Tokens) {
		t.Errorf("bfloat16 greedy tokens: scanned %v, unrolled %v", gs[0].Tokens, gu[0].Tokens)
	}
	st, _ := sc.NewState(1, 4)
	defer st.Close()
	if _, err := st.Append(Input{IDs: [][]int{tokens}}, nil); err != nil {
		t.Fatal(err)
	}
	if dt := st.cache[0].DType(); dt != dtypes.BFloat16 {
		t.Errorf("scanned KV cache is %s, want bfloat16", dt)
	}
}

// stepGraphCounts builds a cached decode step (one token, a 32-slot cache)
// of a random model with the given depth and counts its nodes by type
// (NodeTypeInvalid: all).
//
// inGraph drops the stacked copy of the weights, so the loop stacks them in
// the graph.
func stepGraphCounts(t *testing.T, layers int, scanned, inGraph bool) map[NodeType]int {
	t.Helper()
	cfg := TestConfig(50, 32, layers, 4, 2, 48, true)
	cfg.ScanLayers = scanned
	b := backendtest.ForLoops(t)
	m, err := New(b, cfg, RandomWeights(cfg, 1))
	if err != nil {
		t.Fatal(err)
	}
	if inGraph {
		if err := m.dropStacked(); err != nil {
			t.Fatal(err)
		}
	}
	const B, L = 1, 32
	cache := make([]*tensors.Tensor, 0)
	kv := []int{B, cfg.NumKVHeads, L, cfg.HeadDim}
	n := 2 * layers
	if scanned {
		kv, n = append([]int{layers}, kv...), 2
	}
	for range n {
		cache = append(cache, tensors.FromShape(shapes.Make(dtypes.Float32, kv...)))
	}
	counts := map[NodeType]int{}
	args := []any{tensors.FromFlatDataAndDimensions([]int32{3}, B, 1), tensors.FromFlatDataAndDimensions([]int32{5}, B, 1),
		int32(5), tensors.FromFlatDataAndDimensions(make([]bool, B*L), B, L), tensors.FromFlatDataAndDimensions([]int32{0}, B, 1)}
	for _, c := range cache {
		args = append(args, c)
	}
	_, err = model.CallOnceN(b, m.Store, func(scope *model.Scope, x []*Node) []*Node {
		logits, _, caches := m.StepGraph(scope, x[0], x[1], x[2], x[3], x[4], nil, nil, x[5:])
		for _, nd := range x[0].Graph().Nodes() {
			counts[nd.Type()]++
		}
		counts[NodeTypeInvalid] = len(x[0].Graph().Nodes())
		return append([]*Node{logits}, caches...)
	}, args...)
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestScanStepGraphSize: the looped decode step has one While and the same
// nodes at 2 and 8 layers (reading the stacked weights SetScanLayers made);
// stacking in the graph instead adds only the stacking per layer: the same
// matrix products at both depths.
func TestScanStepGraphSize(t *testing.T) {
	matmuls := func(n map[NodeType]int) int { return n[NodeTypeDotGeneral] + n[NodeTypeFusedDense] }
	p2, p8 := stepGraphCounts(t, 2, true, false), stepGraphCounts(t, 8, true, false)
	s2, s8 := stepGraphCounts(t, 2, true, true), stepGraphCounts(t, 8, true, true)
	u2, u8 := stepGraphCounts(t, 2, false, false), stepGraphCounts(t, 8, false, false)
	t.Logf("decode step: %d nodes at 2 layers, %d at 8 looped over stacked variables; %d and %d stacking in the graph; %d and %d unrolled",
		p2[NodeTypeInvalid], p8[NodeTypeInvalid], s2[NodeTypeInvalid], s8[NodeTypeInvalid], u2[NodeTypeInvalid], u8[NodeTypeInvalid])
	if p2[NodeTypeInvalid] != p8[NodeTypeInvalid] || p8[NodeTypeWhile] != 1 {
		t.Errorf("looped step over stacked variables: %d nodes at 2 layers, %d at 8, %d While; want equal and 1", p2[NodeTypeInvalid], p8[NodeTypeInvalid], p8[NodeTypeWhile])
	}
	if s2[NodeTypeWhile] != 1 || s8[NodeTypeWhile] != 1 || u8[NodeTypeWhile] != 0 {
		t.Errorf("While nodes: %d and %d scanned, %d unrolled; want 1, 1, 0", s2[NodeTypeWhile], s8[NodeTypeWhile], u8[NodeTypeWhile])
	}
	if matmuls(s2) != matmuls(s8) || matmuls(u8) <= matmuls(u2) {
		t.Errorf("matmuls: scanned %d and %d (want equal), unrolled %d and %d (want growing)", matmuls(s2), matmuls(s8), matmuls(u2), matmuls(u8))
	}
	weightsPerLayer := 0
	for _, p := range layerParams {
		if p.when == nil || p.when(TestConfig(50, 32, 2, 4, 2, 48, true)) {
			weightsPerLayer++
		}
	}
	perLayer := float64(s8[NodeTypeInvalid]-s2[NodeTypeInvalid]) / 6
	t.Logf("nodes per extra layer: %.1f scanned, %.1f unrolled", perLayer, float64(u8[NodeTypeInvalid]-u2[NodeTypeInvalid])/6)
	if perLayer > float64(2*weightsPerLayer) {
		t.Errorf("scanned step grows by %.1f nodes per layer, want <= %d (a parameter and a reshape per stacked weight)", perLayer, 2*weightsPerLayer)
	}
}

// TestScanStateLayout: a state made before switching ScanLayers is refused
// with a clear error, not fed a cache of the wrong layout.
func TestScanStateLayout(t *testing.T) {
	cfg := TestConfig(50, 32, 2, 4, 2, 48, true)
	_, sc := scanPair(t, cfg, 1)
	st, err := sc.NewState(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Append(Input{IDs: [][]int{{1, 2, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	setScan(t, sc, false)
	if sc.StackedBytes() != 0 {
		t.Errorf("SetScanLayers(false) kept %d bytes of stacked weights", sc.StackedBytes())
	}
	_, err = st.Append(Input{IDs: [][]int{{4}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "ScanLayers = true") || !strings.Contains(err.Error(), "cache layout") {
		t.Errorf("error %v, want one about the ScanLayers cache layout", err)
	}
}

// TestScanStackedWeights: the loop gives the same logits reading the stacked
// copy SetScanLayers keeps as stacking the weights in the graph (a decoder
// without that copy), the copy holds exactly the layer weights, and a copy
// that no longer fits the variables is refused with a clear error.
func TestScanStackedWeights(t *testing.T) {
	cfg := scanConfigs()["qwen2-gqa-untied"]
	c2 := *cfg
	c2.ScanLayers = true
	set := RandomWeights(cfg, 4)
	b := backendtest.ForLoops(t)
	pre, err := New(b, &c2, set)
	if err != nil {
		t.Fatal(err)
	}
	c3 := c2
	inGraph, err := New(b, &c3, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := inGraph.dropStacked(); err != nil {
		t.Fatal(err)
	}
	var layerBytes int64
	for v := range pre.Store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/layers/") {
			layerBytes += v.Shape().ByteSize()
		}
	}
	if pre.StackedBytes() != layerBytes || inGraph.StackedBytes() != 0 {
		t.Errorf("stacked copy %d bytes, layer variables %d; without the copy %d", pre.StackedBytes(), layerBytes, inGraph.StackedBytes())
	}
	tokens := randomTokens(rand.New(rand.NewPCG(1, 1)), 9, cfg.VocabSize)
	a, err := pre.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := inGraph.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	within(t, "stacked in the graph vs stacked variables", tensors.MustCopyFlatData[float32](g.Logits), tensors.MustCopyFlatData[float32](a.Logits), 0)

	// Converting the store behind the model's back (biases stacked into
	// matrices would turn bfloat16 while the layers' stay float32).
	stale, err := New(b, &c3, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := precision.StoreAs(stale.Store.IterVariables(), precision.BF16, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Forward(Input{IDs: [][]int{tokens}}); err == nil || !strings.Contains(err.Error(), "SetScanLayers(true) again") {
		t.Errorf("stale stacked weights: error %v, want one asking for SetScanLayers(true)", err)
	}
}
