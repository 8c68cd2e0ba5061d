package dualtoken

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/internal/fixtures/refs"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
)

// loadPartsAs loads the fixture's parts with the matrices stored in dt (the
// quantisers kept float32, as Model.SetDType does) and checks the storage.
func loadPartsAs(t *testing.T, dir string, dt dtypes.DType) (*Config, *model.Store) {
	t.Helper()
	cfg, store, err := LoadParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := precision.Bytes(store.IterVariables())
	if _, _, err := precision.StoreAs(store.IterVariables(), dt, isQuantizerVar); err != nil {
		t.Fatal(err)
	}
	for v := range store.IterVariables() {
		s := v.Shape()
		want := precision.F32
		if s.Rank() >= 2 && !isQuantizerVar(v) {
			want = dt
		}
		if s.DType.IsFloat() && s.DType != want {
			t.Errorf("variable %s stored as %s, want %s", v.Path(), s.DType, want)
		}
	}
	t.Logf("parts: %d bytes in float32, %d with matrices in %s", before, precision.Bytes(store.IterVariables()), dt)
	return cfg, store
}

// within1e4 is the fixtures' float32 tolerance, for the float32 islands.
func within1e4(t *testing.T, name string, got, want []float32) {
	t.Helper()
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i] - want[i]))
		if d > 1e-4+1e-4*math.Abs(float64(want[i])) {
			t.Errorf("%s[%d] = %g, want %g (float32 island: 1e-4 tolerance)", name, i, got[i], want[i])
			return
		}
		worst = max(worst, d)
	}
	t.Logf("%-26s float32 island: max|Δ| %.3g", name, worst)
}

// TestParityBF16DualTokenParts runs the authors'-code fixture parts with
// bfloat16 matrices and a bfloat16 Parts, each stage fed its golden input so
// that every comparison measures that stage's own bfloat16 error:
//   - projections, post-quant projections, decoder stages and the 2025 conv
//     blocks within precision.CompareBF16 at their stage counts;
//   - the quantisers on the golden latents: codes exactly, quantised latents,
//     commitment losses and code embeddings within the float32 1e-4 (they
//     are float32 islands), and one train-mode EMA step likewise;
//   - end to end, the codes the quantisers pick from the bfloat16
//     projections of the golden tower states: the share equal to the golden
//     codes is reported per depth; the latent they came from must be within
//     bfloat16's bound of the golden one (the accuracy check), and every
//     code that differs must be a nearest-code pick that this latent's
//     error explains (explainedFlips); a depth-d code also changes whenever
//     an earlier one did, so only the first difference at a position is
//     judged.
func TestParityBF16DualTokenParts(t *testing.T) {
	dir := fixtures.Dir(t, "dualtoken_parts")
	golden, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	cfg, store := loadPartsAs(t, dir, precision.BF16)

	// The inputs, the stages and their counts are BF16Parts', which
	// `evalrun verify --dtype bfloat16` runs too.
	inputs := BF16PartsInputs(cfg, golden.Has)
	var args []any
	byName := map[string]any{}
	for _, n := range inputs {
		x, err := golden.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.ToGoMLX(false)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, v)
		byName[n] = v
	}
	grid := func(x *Node) *Node { return tokensToGrid(x) }
	var checks []Staged // Stages > 0: CompareBF16; 0: float32 1e-4; -1: integers, exact
	var chainNames []string
	fn := func(scope *model.Scope, xs []*Node) []*Node {
		in := map[string]*Node{}
		for i, n := range inputs {
			in[n] = xs[i]
		}
		p := NewParts(scope, xs[0].Graph())
		p.DType = precision.BF16
		checks, chainNames = BF16Parts(p, cfg, in), chainNames[:0]
		var outs []*Node
		for _, c := range checks {
			outs = append(outs, c.Value)
		}
		// End to end: codes from the bfloat16 projections.
		chainNames = append(chainNames, "codes_pix", "codes_sem")
		pix, sem := BF16PartsCodes(p, cfg, in)
		outs = append(outs, pix, sem)
		// For explainedFlips: each quantiser's golden input and the bfloat16
		// one the codes came from, in code shape, and its codebooks.
		goldPix := in["prequant_pix"]
		if cfg.HasShortcut() {
			goldPix = Add(goldPix, MulScalar(in["prequant_shortcut"], cfg.WeightShortcut))
		}
		zPix, zSem := BF16PartsLatents(p, cfg, in)
		for _, q := range []struct {
			v          VQConfig
			name       string
			gold, ours *Node
		}{
			{cfg.Pix, "quantizer_pix", tokensToGrid(goldPix), zPix},
			{cfg.Sem, "quantizer_sem", tokensToGrid(in["prequant_sem"]), zSem},
		} {
			outs = append(outs, toCodeShape(q.v, precision.ToF32(q.gold)), toCodeShape(q.v, precision.ToF32(q.ours)))
			for i := range q.v.NumCodebooks() {
				outs = append(outs, p.At(q.name).At(fmt.Sprintf("codebooks.%d", i)).WAs("weight", precision.F32))
			}
		}
		return outs
	}
	b := testBackend(t)
	res, err := model.ExecOnceN(b, store, fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range checks {
		if !golden.Has(c.Name) {
			t.Logf("golden has no %s: not compared", c.Name)
			continue
		}
		switch {
		case c.Stages < 0:
			got, want := tensors.MustCopyFlatData[int64](res[i]), refs.Ints(t, golden, c.Name)
			for j := range want {
				if got[j] != want[j] {
					t.Errorf("%s[%d] = %d, want %d (float32 island: codes exact)", c.Name, j, got[j], want[j])
					break
				}
			}
		case c.Stages == 0:
			within1e4(t, c.Name, tensors.MustCopyFlatData[float32](res[i]), refs.Floats(t, golden, c.Name))
		default:
			a := precision.CompareBF16(tensors.MustCopyFlatData[float32](res[i]), refs.Floats(t, golden, c.Name), c.Stages)
			t.Logf("%-26s %s", c.Name, a)
			if !a.OK {
				t.Errorf("%s: %s; %s", c.Name, a, a.Mismatched)
			}
		}
	}
	extra := len(checks) + len(chainNames) // the explainedFlips inputs follow the codes
	for k, name := range chainNames {
		got, want := tensors.MustCopyFlatData[int64](res[len(checks)+k]), refs.Ints(t, golden, name)
		depth := res[len(checks)+k].Shape().Dimensions[3]
		v := []VQConfig{cfg.Pix, cfg.Sem}[k]
		zGold, zOurs := tensors.MustCopyFlatData[float32](res[extra]), tensors.MustCopyFlatData[float32](res[extra+1])
		books := make([][]float32, v.NumCodebooks())
		for i := range books {
			books[i] = tensors.MustCopyFlatData[float32](res[extra+2+i])
		}
		e := res[extra].Shape().Dimensions[3]
		extra += 2 + len(books)
		// The accuracy check: the latent the codes came from is within
		// bfloat16's error of the golden one (the pixel latent adds the
		// shortcut, rounded once more: one more stage; FullBF16Stages's count
		// from the pixels covers that sum in its per-layer allowance).
		// explainedFlips then checks that the codes are nearest-code picks
		// from that latent.
		stages := projStages
		if k == 0 && cfg.HasShortcut() {
			stages++
		}
		if a := precision.CompareBF16(zOurs, zGold, stages); !a.OK {
			t.Errorf("%s: the bfloat16 latent behind the codes: %s; %s", name, a, a.Mismatched)
		}
		same, perDepth := 0, make([]int, depth)
		for j := range want {
			if got[j] == want[j] {
				same++
				perDepth[j%depth]++
			}
		}
		n := len(want) / depth
		share := make([]string, depth)
		for d := range depth {
			share[d] = fmt.Sprintf("%.0f%%", 100*float64(perDepth[d])/float64(n))
		}
		t.Logf("%s from bfloat16 projections: %d of %d codes equal the golden ones (%.1f%%); by depth %v", name, same, len(want), 100*float64(same)/float64(len(want)), share)
		flips, bad := explainedFlips(zGold, zOurs, books, e, depth, want, got)
		t.Logf("%s: %d positions with a differing code, each judged at its first one", name, flips)
		for _, msg := range bad {
			t.Errorf("%s: %s", name, msg)
		}
	}

	// One train-mode step with a bfloat16 Parts: the EMA updates are float32.
	cfg, store = loadPartsAs(t, dir, precision.BF16)
	trainIn := []any{byName["prequant_pix"], byName["prequant_sem"]}
	if cfg.HasShortcut() {
		trainIn = append(trainIn, byName["prequant_shortcut"])
	}
	_, err = model.ExecOnceN(b, store, func(scope *model.Scope, xs []*Node) []*Node {
		g := xs[0].Graph()
		scope.SetTraining(g, true)
		p := NewParts(scope, g)
		p.DType = precision.BF16
		zp := xs[0]
		if cfg.HasShortcut() {
			zp = Add(zp, MulScalar(xs[2], cfg.WeightShortcut))
		}
		return []*Node{QuantizePixels(p, cfg, grid(zp), true).Commit, QuantizeSemantic(p, cfg, grid(xs[1]), true).Commit}
	}, trainIn...)
	if err != nil {
		t.Fatal(err)
	}
	for _, br := range []struct{ short, module string }{{"pix", "quantizer_pix"}, {"sem", "quantizer_sem"}} {
		for _, f := range []string{"weight", "cluster_size_ema", "embed_ema"} {
			name := fmt.Sprintf("train.%s.%s", br.short, f)
			if !golden.Has(name) {
				continue
			}
			v, err := Variable(store.RootScope(), br.module+".codebooks.0."+f).Value()
			if err != nil {
				t.Fatal(err)
			}
			within1e4(t, name, tensors.MustCopyFlatData[float32](v), refs.Floats(t, golden, name))
		}
	}
}

// TestModelSetDTypeBF16 stores a tiny tokenizer in bfloat16 (Model.SetDType)
// and compares it with the same model in float32: the pooled embedding within
// precision.CompareBF16 at its stage count, decoding the same codes within
// the decoder's, and the codes Encode picks (reported; at least 90% of the
// depth-1 codes equal, see TestParityBF16DualTokenParts).
func TestModelSetDTypeBF16(t *testing.T) {
	m32, m16 := tinyModel(t, nil), tinyModel(t, nil)
	m16.Backend = m32.Backend
	f32Bytes := precision.Bytes(m16.Store.IterVariables())
	if err := m16.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	if m16.Config.DType != precision.BF16 {
		t.Errorf("Config.DType = %s after SetDType(bfloat16)", m16.Config.DType)
	}
	var matrices int64
	for v := range m16.Store.IterVariables() {
		s := v.Shape()
		want := precision.F32
		if s.Rank() >= 2 && !isQuantizerVar(v) {
			want, matrices = precision.BF16, matrices+int64(s.Size())
		}
		if s.DType.IsFloat() && s.DType != want {
			t.Errorf("variable %s stored as %s, want %s", v.Path(), s.DType, want)
		}
	}
	after := precision.Bytes(m16.Store.IterVariables())
	if f32Bytes-after != 2*matrices {
		t.Errorf("store shrank by %d bytes, want %d (2 per matrix value)", f32Bytes-after, 2*matrices)
	}
	t.Logf("tokenizer weights: %d bytes in float32, %d in bfloat16 (%.1f%%)", f32Bytes, after, 100*float64(after)/float64(f32Bytes))

	px := randomPixels(2, 32, 7)
	e32, err := m32.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	e16, err := m16.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	fc := m16.Config
	if e16.Pooled.DType() != dtypes.Float32 {
		t.Errorf("bfloat16 pooled embedding is %s, want float32", e16.Pooled.DType())
	}
	// The pooled embedding comes after the semantic quantiser, where
	// bfloat16 flips some codes (not a rounding error: the compared
	// distances tie within bfloat16's error), so it is checked as verify
	// does: the bfloat16 tower after the quantiser is fed float32's
	// quantised state, and the pooled output then passes at its stage count.
	f32Outs, err := fullF32(m32, px)
	if err != nil {
		t.Fatal(err)
	}
	golden := weights.NewMemSet("float32 run")
	for _, o := range f32Outs {
		golden.Add(o)
	}
	res, err := fullBF16(m16, golden, px)
	if err != nil {
		t.Fatal(err)
	}
	pooled := siglip.OutVisionPooled
	got, err := res.Outputs[pooled].Float32()
	if err != nil {
		t.Fatal(err)
	}
	want, err := f32Outs[pooled].Float32()
	if err != nil {
		t.Fatal(err)
	}
	a := precision.CompareBF16(got, want, res.BF16[pooled].Stages)
	t.Logf("pooled (fed float32's quantised state, %d stages): %s", res.BF16[pooled].Stages, a)
	if !a.OK || res.BF16[pooled].Stages == 0 {
		t.Errorf("bfloat16 pooled at %d stages: %s; %s", res.BF16[pooled].Stages, a, a.Mismatched)
	}
	for _, c := range []struct {
		name     string
		got, ref *tensors.Tensor
	}{{"pixel", e16.PixelCodes, e32.PixelCodes}, {"semantic", e16.SemanticCodes, e32.SemanticCodes}} {
		got, ref := tensors.MustCopyFlatData[int64](c.got), tensors.MustCopyFlatData[int64](c.ref)
		depth := c.got.Shape().Dimensions[3]
		same, first := 0, 0
		for j := range ref {
			if got[j] == ref[j] {
				same++
				if j%depth == 0 {
					first++
				}
			}
		}
		t.Logf("%s codes: %d of %d equal to float32's (depth 1: %d of %d)", c.name, same, len(ref), first, len(ref)/depth)
		if float64(first) < 0.9*float64(len(ref)/depth) {
			t.Errorf("%s codes: only %d of %d depth-1 codes equal to float32's", c.name, first, len(ref)/depth)
		}
	}
	i32, err := m32.DecodePixels(e32.PixelCodes)
	if err != nil {
		t.Fatal(err)
	}
	i16, err := m16.DecodePixels(e32.PixelCodes)
	if err != nil {
		t.Fatal(err)
	}
	a = precision.CompareBF16(tensors.MustCopyFlatData[float32](i16), tensors.MustCopyFlatData[float32](i32), decodeStages(fc.Config))
	t.Logf("decoded images: %s", a)
	if !a.OK || i16.DType() != dtypes.Float32 {
		t.Errorf("bfloat16 decode (%s): %s; %s", i16.DType(), a, a.Mismatched)
	}
}

// tokenizerGradients returns the gradients of a scalar loss on a
// tokenizer forward (decoded images, pooled embedding, commitment losses;
// eval-mode quantisers, so the straight-through path is differentiated) with
// respect to tower and parts variables, for config fc.
func tokenizerGradients(t *testing.T, m *Model, fc *FullConfig, px *tensors.Tensor, names []string) ([]*tensors.Tensor, map[NodeType]int) {
	t.Helper()
	counts := map[NodeType]int{}
	res, err := model.ExecOnceN(m.Backend, m.Store, func(root *model.Scope, x *Node) []*Node {
		g := x.Graph()
		root.SetTraining(g, true)
		o := Forward(root, fc, x, Options{Decode: true, Pooled: true})
		loss := Add(ReduceAllMean(Square(o.Decoded.Images)), ReduceAllMean(Square(o.Pooled)))
		loss = Add(loss, Add(o.Pix.Commit, o.Sem.Commit))
		var wrt []*Node
		for _, n := range names {
			v := m.Store.GetVariable(model.ScopeSeparator + n)
			if v == nil {
				t.Fatalf("no variable %s", n)
			}
			wrt = append(wrt, v.NodeValue(g))
		}
		grads := Gradient(loss, wrt...)
		for _, n := range g.Nodes() {
			counts[n.Type()]++
		}
		return grads
	}, px)
	if err != nil {
		t.Fatal(err)
	}
	return res, counts
}

// TestTokenizerCheckpointAndBF16Gradients: the tokenizer forward with the
// tower checkpointed (Tower.Vision.Checkpoint) gives the same gradients
// (within 1e-6) through a graph with recomputation; and with bfloat16
// compute over float32 variables (FullConfig.DType, the training
// arrangement) every gradient is float32 (it lands on the variable), finite
// and points the same way as the float32 one: cosine >= 0.8. That is a loose
// check by design: a few codes differ in bfloat16 (see
// TestModelSetDTypeBF16), which makes the forward a different function at
// those positions, and the adjoints of attention probabilities and
// normalisations carry bfloat16 rounding as in PyTorch's bf16 autocast
// (measured: 0.93 for the patch embedding through both branches, 0.998 for
// the decoder's last convolution). SigLIP's own test bounds the tower's
// gradients tightly (TestTrainingBF16GradientsOnF32).
func TestTokenizerCheckpointAndBF16Gradients(t *testing.T) {
	m := tinyModel(t, nil)
	names := []string{
		"vision_model/embeddings/patch_embedding/weight",
		"vision_model/encoder/layers/0/self_attn/k_proj/weight",
		"vision_model/encoder/layers/2/mlp/fc1/weight",
		"vision_model/encoder/layers/5/mlp/fc2/bias",
		"prequant_pix/attn/qkv/weight",
		"decoder/conv_out/weight",
	}

	px := randomPixels(2, 32, 9)
	base := *m.Config
	plain, nPlain := tokenizerGradients(t, m, &base, px, names)

	ck := base
	tower := *base.Tower
	tower.Vision.Checkpoint = true
	ck.Tower = &tower
	got, nCk := tokenizerGradients(t, m, &ck, px, names)
	t.Logf("gradient graph: %d scheduling barriers with checkpointing, %d without; %d vs %d matmuls",
		nCk[NodeTypeSchedulingBarrier], nPlain[NodeTypeSchedulingBarrier], nCk[NodeTypeDotGeneral], nPlain[NodeTypeDotGeneral])
	if nCk[NodeTypeSchedulingBarrier] == 0 || nCk[NodeTypeDotGeneral] <= nPlain[NodeTypeDotGeneral] {
		t.Errorf("checkpointed tokenizer graph recomputes nothing")
	}
	for i, n := range names {
		if d := maxAbsDiff(t, got[i], plain[i]); d > 1e-6 {
			t.Errorf("%s: checkpointed gradient differs by %g", n, d)
		}
	}

	bf := ck
	bf.DType = precision.BF16
	got, _ = tokenizerGradients(t, m, &bf, px, names)
	for i, n := range names {
		if got[i].DType() != dtypes.Float32 {
			t.Errorf("%s: gradient is %s, want float32 (the variable's)", n, got[i].DType())
			continue
		}
		x, y := tensors.MustCopyFlatData[float32](got[i]), tensors.MustCopyFlatData[float32](plain[i])
		var xy, xx, yy float64
		for j := range x {
			if math.IsNaN(float64(x[j])) || math.IsInf(float64(x[j]), 0) {
				t.Fatalf("%s: non-finite bfloat16 gradient", n)
			}
			xy += float64(x[j]) * float64(y[j])
			xx += float64(x[j]) * float64(x[j])
			yy += float64(y[j]) * float64(y[j])
		}
		cos := xy / math.Sqrt(xx*yy)
		t.Logf("%-50s bfloat16 vs float32 gradient: cosine %.5f", n, cos)
		if cos < 0.8 {
			t.Errorf("%s: bfloat16 gradient has cosine %.4f with the float32 one, want >= 0.8", n, cos)
		}
	}
}

// explainedFlips judges the codes a quantiser picked from a bfloat16 latent
// (ours) against the golden ones, picked from the float32 latent: at each
// position the first depth d where they differ, with equal codes before it,
// has residuals r (golden) and r+δ (ours) that differ by δ = zOurs − zGold
// exactly. Ours nearest to r+δ while golden's is nearest to r means the
// gap g = |r−c_ours|² − |r−c_gold|² ≥ 0 is at most 2δ·(c_ours − c_gold) ≤
// 2|δ||c_ours − c_gold| (expand |r+δ−c|²); a flip outside that bound (plus
// the float32 rounding of the distances, 1e-5 of their terms) was not
// picked as the nearest code to zOurs. δ is measured, not bounded: that zOurs
// is accurate is the caller's check (CompareBF16 against zGold); this one
// catches codes that no nearest-code search from zOurs gives. Returns the
// number of flips judged and a message per unexplained one or per code
// outside the codebook. z are [M, e] row-major (code shape), codes [M, depth],
// books the quantiser's codebooks ([K+1, e], one shared or one per depth).
func explainedFlips(zGold, zOurs []float32, books [][]float32, e, depth int, gold, ours []int64) (int, []string) {
	var bad []string
	flips := 0
	code := func(d int, k int64) []float32 {
		b := books[min(d, len(books)-1)]
		return b[int(k)*e : int(k+1)*e]
	}
	for m := range len(zGold) / e {
		r := make([]float64, e)
		delta := 0.0
		for i := range e {
			r[i] = float64(zGold[m*e+i])
			dz := float64(zOurs[m*e+i]) - r[i]
			delta += dz * dz
		}
		delta = math.Sqrt(delta)
		inRange := true
		for d := range depth { // every code a real one (the last row is padding)
			rows := int64(len(books[min(d, len(books)-1)]) / e)
			for _, c := range []struct {
				who  string
				code int64
			}{{"golden", gold[m*depth+d]}, {"our", ours[m*depth+d]}} {
				if c.code < 0 || c.code >= rows-1 {
					bad = append(bad, fmt.Sprintf("position %d depth %d: %s code %d is not one of the %d codes", m, d+1, c.who, c.code, rows-1))
					inRange = false
				}
			}
		}
		if !inRange {
			continue
		}
		for d := range depth {
			cg, co := gold[m*depth+d], ours[m*depth+d]
			vg := code(d, cg)
			if cg != co {
				vo := code(d, co)
				var dg, do, sep, scale float64
				for i := range e {
					a, b := r[i]-float64(vg[i]), r[i]-float64(vo[i])
					dg, do = dg+a*a, do+b*b
					c := float64(vo[i]) - float64(vg[i])
					sep += c * c
					scale += r[i]*r[i] + float64(vg[i])*float64(vg[i]) + float64(vo[i])*float64(vo[i])
				}
				if gap, bound := do-dg, 2*delta*math.Sqrt(sep)+1e-5*scale; gap > bound {
					bad = append(bad, fmt.Sprintf("position %d depth %d: code %d instead of %d, %.3g farther from the golden residual than bfloat16's |δ| = %.3g can move it (bound %.3g)", m, d+1, co, cg, gap, delta, bound))
				}
				flips++
				break
			}
			for i := range e {
				r[i] -= float64(vg[i])
			}
		}
	}
	return flips, bad
}
