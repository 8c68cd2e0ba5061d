package llm

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/internal/fixtures/refs"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/weights"
)

func TestParityBF16Qwen2(t *testing.T) { parityBF16(t, "qwen2") }
func TestParityBF16Llama(t *testing.T) { parityBF16(t, "llama") }

// parityBF16 runs a fixture decoder with its matrices stored in bfloat16
// (Model.SetDType) through the verify outputs and checks:
//
//   - storage: every weight matrix bfloat16, norms float32;
//   - hidden_states.i and logits within precision.CompareBF16 at their stage
//     counts (BF16Stages, which `evalrun verify --dtype bfloat16` uses too):
//     the embedding is stage 1, each layer adds two (attention, MLP), the
//     final RMSNorm one, the lm_head product one;
//   - greedy tokens, teacher-forced on the golden sequence: wherever the
//     float32 model's margin between its two best (processed) logits exceeds
//     twice the logits' error bound, no bfloat16 error can swap them, so the
//     bfloat16 argmax must be the golden token;
//   - free-running greedy generation through the KV cache (bfloat16 cache):
//     the tokens must equal the golden ones up to the first step where the
//     margin is within that bound (until then the contexts are identical);
//     how many of all the new tokens agree is reported.
func parityBF16(t *testing.T, name string) {
	dir := fixtures.Dir(t, name)
	b := testBackend(t)
	m32, err := Load(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	m16, err := Load(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	f32Bytes := precision.Bytes(m16.Store.IterVariables())
	if err := m16.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	var matrices int64
	for v := range m16.Store.IterVariables() {
		s := v.Shape()
		want := precision.F32
		if s.Rank() >= 2 {
			want, matrices = precision.BF16, matrices+int64(s.Size())
		}
		if s.DType != want {
			t.Errorf("variable %s stored as %s, want %s", v.Path(), s.DType, want)
		}
	}
	after := precision.Bytes(m16.Store.IterVariables())
	if f32Bytes-after != 2*matrices {
		t.Errorf("weights shrank by %d bytes, want %d", f32Bytes-after, 2*matrices)
	}
	t.Logf("weights: %d bytes in float32, %d with matrices in bfloat16 (%.1f%%)", f32Bytes, after, 100*float64(after)/float64(f32Bytes))

	golden, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	outs, _, err := VerifyOutputs(m16, golden)
	if err != nil {
		t.Fatal(err)
	}
	N := m16.Config.NumLayers
	var logitBound float64
	for i := 0; i <= N+1; i++ {
		name := fmt.Sprintf("hidden_states.%d", i)
		if i == N+1 {
			name = "logits"
		}
		stages := BF16Stages(m16.Config, name)
		got, ok := outs[name]
		if !ok {
			t.Errorf("%s not produced", name)
			continue
		}
		if got.DType != weights.F32 {
			t.Errorf("%s is %s, want float32", name, got.DType)
		}
		g, _ := got.Float32()
		w := refs.Floats(t, golden, name)
		a := precision.CompareBF16(g, w, stages)
		t.Logf("%-16s %s", name, a)
		if !a.OK {
			t.Errorf("%s: %s; %s", name, a, a.Mismatched)
		}
		if name == "logits" {
			logitBound = a.Bound
		}
	}

	// Greedy tokens.
	gen, err := golden.Get("generated_ids")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := gen.Int64()
	idsT, _ := golden.Get("input_ids")
	S := idsT.Shape[1]
	n := len(want) - S
	var mask []bool
	if golden.Has("attention_mask") {
		mt, _ := golden.Get("attention_mask")
		m, _ := mt.Int64()
		for i := range S {
			mask = append(mask, m[i] != 0)
		}
	}
	// The golden sequence minus its last token, teacher-forced through both models.
	seq := Input{IDs: [][]int{make([]int, S+n-1)}}
	for i := range S + n - 1 {
		seq.IDs[0][i] = int(want[i])
	}
	if mask != nil {
		seq.Mask = [][]bool{append(append([]bool{}, mask...), trues(n-1)...)}
	}
	opts := GenerateOptions{MaxNewTokens: n, MinNewTokens: n}
	if err := m32.checkOptions(&opts); err != nil {
		t.Fatal(err)
	}
	penalty := 1.0
	if m32.Gen != nil && m32.Gen.RepetitionPenalty > 0 {
		penalty = m32.Gen.RepetitionPenalty
	}
	f32, err := m32.Forward(seq)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := m16.Forward(seq)
	if err != nil {
		t.Fatal(err)
	}
	rows32, rows16 := rowsOf(f32.Logits)[0], rowsOf(bf.Logits)[0]
	var history []int
	for i := range S {
		if mask == nil || mask[i] {
			history = append(history, int(want[i]))
		}
	}
	tol := 2 * logitBound * max(penalty, 1)
	certain, firstUncertain := 0, n
	for j := range n {
		p32 := processed(rows32[S-1+j], history, penalty, opts.EOS)
		p16 := processed(rows16[S-1+j], history, penalty, opts.EOS)
		top, margin := topMargin(p32)
		if top != int(want[S+j]) {
			t.Errorf("step %d: the float32 model picks %d, golden %d (float32 parity is TestParity%s's)", j, top, want[S+j], name)
		}
		if margin > tol {
			certain++
			if got, _ := topMargin(p16); got != int(want[S+j]) {
				t.Errorf("step %d: bfloat16 picks %d, golden %d, although the float32 margin %.3g exceeds twice the logits' error bound (%.3g)", j, got, want[S+j], margin, tol)
			}
		} else if firstUncertain == n {
			firstUncertain = j
		}
		history = append(history, int(want[S+j]))
	}
	got := outs["generated_ids"]
	g, _ := got.Int64()
	agree := 0
	for j := range n {
		if g[S+j] == want[S+j] {
			agree++
		} else if j < firstUncertain {
			t.Errorf("free-running step %d: bfloat16 generated %d, golden %d, before any step within the error bound", j, g[S+j], want[S+j])
		}
	}
	t.Logf("greedy: %d of %d bfloat16 tokens (KV cache, free-running) equal the golden ones; %d of %d teacher-forced steps had a margin above %.3g (the first at most that: step %d)",
		agree, n, certain, n, tol, firstUncertain)
}

func trues(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

// processed applies what greedy generation does to one position's logits:
// the repetition penalty over history and the suppression of eos ids.
func processed(logits []float32, history []int, penalty float64, eos []int) []float32 {
	out := append([]float32(nil), logits...)
	pick(out, history, 0, &GenerateOptions{RepetitionPenalty: penalty, MinNewTokens: 1}, map[int]bool{}, nil)
	for _, id := range eos {
		out[id] = float32(math.Inf(-1))
	}
	return out
}

// topMargin returns the argmax and the gap to the second largest value.
func topMargin(x []float32) (int, float64) {
	best, second := 0, math.Inf(-1)
	for i, v := range x {
		if v > x[best] {
			second, best = float64(x[best]), i
		} else if i != best && float64(v) > second {
			second = float64(v)
		}
	}
	return best, float64(x[best]) - second
}

// TestBF16CacheAndTraining: a random GQA model in bfloat16 keeps a
// bfloat16 KV cache that grows (reallocation) without changing results:
// incremental logits equal the uncached forward's within the logits' bound;
// and with float32 variables and Config.DType bfloat16 (training) the
// weights stay float32.
func TestBF16CacheAndTraining(t *testing.T) {
	cfg := TestConfig(97, 48, 3, 6, 2, 80, false)
	m := newRandom(t, cfg, 11)
	if err := m.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	tokens := []int{5, 17, 3, 88, 41, 9, 60, 2, 33, 71, 14, 50, 6, 28, 90, 12, 45, 1, 77, 64}
	full, err := m.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	want := rowsOf(full.Logits)[0]
	st, err := m.NewState(1, 4) // 16 slots: the 20 tokens make it grow
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got [][]float32
	for i := 0; i < len(tokens); i += 3 {
		chunk := tokens[i:min(i+3, len(tokens))]
		at := make([]int, len(chunk))
		for k := range at {
			at[k] = k
		}
		out, err := st.Append(Input{IDs: [][]int{chunk}}, at)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Logits[0]...)
	}
	if st.Capacity() <= 16 {
		t.Errorf("cache did not grow: %d slots", st.Capacity())
	}
	for _, c := range st.cache {
		if c.DType() != dtypes.BFloat16 {
			t.Errorf("KV cache is %s, want bfloat16", c.DType())
		}
	}
	var g, w []float32
	for i := range want {
		g, w = append(g, got[i]...), append(w, want[i]...)
	}
	// Both are bfloat16 computations of the same logits (2N+2 stages each).
	a := precision.CompareBF16(g, w, 2*(1+2*cfg.NumLayers+2))
	t.Logf("cached vs uncached bfloat16 logits: %s", a)
	if !a.OK {
		t.Errorf("cached bfloat16 logits: %s; %s", a, a.Mismatched)
	}

	tr := newRandom(t, cfg, 11)
	tr.Config.DType = precision.BF16
	out, err := tr.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Logits.DType() != dtypes.Float32 {
		t.Errorf("logits are %s, want float32", out.Logits.DType())
	}
	for v := range tr.Store.IterVariables() {
		if v.Shape().DType != dtypes.Float32 {
			t.Errorf("training arrangement: variable %s became %s", v.Path(), v.Shape().DType)
		}
	}
	a = precision.CompareBF16(tensors.MustCopyFlatData[float32](out.Logits), tensors.MustCopyFlatData[float32](full.Logits), 2*(1+2*cfg.NumLayers+2))
	if !a.OK {
		t.Errorf("bfloat16 compute over float32 variables vs bfloat16 storage: %s", a)
	}
}
