package siglip

import (
	"github.com/dualtoken/evalharness/backend"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/precision"
)

// checkStoredAs requires every floating-point matrix (rank >= 2) of store to
// be stored in dt and every vector in float32, and that the matrices now take
// dt's share of their float32 bytes. It returns the store's bytes.
func checkStoredAs(t *testing.T, store *model.Store, dt dtypes.DType, f32Bytes int64) int64 {
	t.Helper()
	var matrices, total int64
	for v := range store.IterVariables() {
		s := v.Shape()
		total += s.ByteSize()
		if !s.DType.IsFloat() {
			continue
		}
		want := precision.F32
		if s.Rank() >= 2 {
			want = dt
			matrices += int64(s.Size())
		}
		if s.DType != want {
			t.Errorf("variable %s is %s, want %s", v.Path(), s.DType, want)
		}
	}
	saved := matrices * int64(precision.F32.Size()-dt.Size())
	if f32Bytes-total != saved {
		t.Errorf("store shrank by %d bytes, want %d (the matrices' %d values at %d bytes instead of 4)", f32Bytes-total, saved, matrices, dt.Size())
	}
	t.Logf("weights: %d bytes in float32, %d with matrices in %s (%.1f%%)", f32Bytes, total, dt, 100*float64(total)/float64(f32Bytes))
	return total
}

// stagesOf is BF16Stages, for the tests that compare bfloat16 outputs.
func stagesOf(c *Config, name string) int { return BF16Stages(c, name) }

// TestParityBF16Siglip runs the fixture model with its matrices stored in
// bfloat16 (Model.SetDType) on the golden inputs and compares every golden
// output with precision.CompareBF16 at the output's stage count (BF16Stages,
// which `evalrun verify --dtype bfloat16` uses too):
// |Δ| <= 4·2⁻⁸·stages·max|want| elementwise and rms(Δ) <= 4·2⁻⁸·√stages·rms(want).
// The logits are compared as cosines ((logit − bias)/exp(logit_scale)), the
// quantity the towers produce. It also checks that the weights really are
// stored in bfloat16 and that the batching Encoder gives the same embeddings.
func TestParityBF16Siglip(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	f32Bytes := precision.Bytes(m.Store.IterVariables())
	if err := m.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	checkStoredAs(t, m.Store, precision.BF16, f32Bytes)
	g := openGolden(t, dir)
	px, ids := goldenTensor(t, g, "pixel_values"), goldenTensor(t, g, "input_ids")
	b := newBackend(t)
	outs, err := m.Forward(b, px, ids)
	if err != nil {
		t.Fatal(err)
	}
	scale, bias, _ := m.LogitScaleBias()
	compared := 0
	for _, name := range g.Names() {
		if name == "pixel_values" || name == "input_ids" {
			continue
		}
		out, ok := outs[name]
		if !ok {
			t.Errorf("golden %s not produced", name)
			continue
		}
		if out.DType() != dtypes.Float32 {
			t.Errorf("%s is %s, want float32 outputs", name, out.DType())
		}
		got := tensors.MustCopyFlatData[float32](out)
		w, _ := g.Get(name)
		want, _ := w.Float32()
		if name == OutLogits {
			for i := range want {
				want[i] = float32((float64(want[i]) - bias) / scale)
				got[i] = float32((float64(got[i]) - bias) / scale)
			}
		}
		a := precision.CompareBF16(got, want, BF16Stages(m.Config, name))
		t.Logf("%-26s %s", name, a)
		if !a.OK {
			t.Errorf("%s: %s; %s", name, a, a.Mismatched)
		}
		compared++
	}
	if want := m.Config.Vision.NumLayers + 1 + m.Config.Text.NumLayers + 1 + 7; compared != want {
		t.Errorf("compared %d golden outputs, want %d", compared, want)
	}

	enc, err := NewEncoder(b, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pixels := tensors.MustCopyFlatData[float32](px)
	rows, err := enc.EmbedImages(pixels)
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	for _, r := range rows {
		got = append(got, r...)
	}
	w, _ := g.Get(OutImageEmbeds)
	want, _ := w.Float32()
	if a := precision.CompareBF16(got, want, BF16Stages(m.Config, OutImageEmbeds)); !a.OK {
		t.Errorf("Encoder's bfloat16 image embeddings: %s; %s", a, a.Mismatched)
	}
}

// TestTrainingBF16GradientsOnF32 is the training arrangement: float32
// variables, bfloat16 compute (Config.Vision.DType). Gradients of a loss on
// the pooled output must come back float32, one per variable, and agree with
// the float32 model's gradients within bfloat16's tolerance for the forward
// and backward stages (twice the forward's).
func TestTrainingBF16GradientsOnF32(t *testing.T) {
	cfg := BaseConfig(32, 2, 4, 64, 8, 32)
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	px := randomTensor(4, 2, 3, 32, 32)
	b := newBackend(t)
	f32, _ := gradientGraph(t, b, m, cfg.Vision, px)
	c16 := cfg.Vision
	c16.DType = precision.BF16
	bf, _ := gradientGraph(t, b, m, c16, px)
	stages := 2 * (1 + 2*cfg.Vision.NumLayers + 1 + 2)
	for i, name := range gradVariables {
		if bf[i].DType() != dtypes.Float32 {
			t.Errorf("gradient of %s is %s, want float32 (the variable's)", name, bf[i].DType())
		}
		a := precision.CompareBF16(tensors.MustCopyFlatData[float32](bf[i]), tensors.MustCopyFlatData[float32](f32[i]), stages)
		t.Logf("%-50s %s", name, a)
		if !a.OK {
			t.Errorf("bfloat16 gradient of %s: %s; %s", name, a, a.Mismatched)
		}
	}
}

// gradVariables are the tower variables whose gradients the tests compare:
// the first and last layers, the embeddings and the head.
var gradVariables = []string{
	"vision_model/embeddings/patch_embedding/weight",
	"vision_model/embeddings/position_embedding/weight",
	"vision_model/encoder/layers/0/self_attn/q_proj/weight",
	"vision_model/encoder/layers/0/layer_norm1/weight",
	"vision_model/encoder/layers/1/mlp/fc2/weight",
	"vision_model/encoder/layers/1/mlp/fc1/weight",
	"vision_model/encoder/layers/1/self_attn/v_proj/bias",
	"vision_model/post_layernorm/weight",
	"vision_model/head/probe",
}

// gradientGraph returns d loss / d v for gradVariables, loss = mean of the
// squared pooled output plus a fixed projection of it (so every direction
// matters), computed with vision config c, and the gradient graph's node
// counts by type (NodeTypeInvalid: all nodes).
func gradientGraph(t *testing.T, b compute.Backend, m *Model, c VisionConfig, px *tensors.Tensor) ([]*tensors.Tensor, map[NodeType]int) {
	t.Helper()
	counts := map[NodeType]int{}
	exec, err := model.NewExec(b, m.Store, func(root *model.Scope, x *Node) []*Node {
		g := x.Graph()
		root.SetTraining(g, true)
		pooled := precision.ToF32(Vision(VisionScope(root), &c, x).Pooled) // [B,D]
		proj := Cos(Iota(g, pooled.Shape(), 1))
		loss := Add(ReduceAllMean(Square(pooled)), ReduceAllMean(Mul(pooled, proj)))
		var wrt []*Node
		for _, name := range gradVariables {
			v := m.Store.GetVariable(model.ScopeSeparator + name)
			if v == nil {
				t.Fatalf("no variable %s", name)
			}
			wrt = append(wrt, v.NodeValue(g))
		}
		grads := Gradient(loss, wrt...)
		for _, n := range g.Nodes() {
			counts[n.Type()]++
		}
		counts[NodeTypeInvalid] = len(g.Nodes()) // total
		return grads
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(px)
	if err != nil {
		t.Fatal(err)
	}
	return out, counts
}

// TestCheckpointGradients: with VisionConfig.Checkpoint every encoder layer
// is recomputed in the backward pass. Gradients of a scalar loss with respect
// to tower variables must be the same as without (within 1e-6), and the
// gradient graph must really hold the recomputation: scheduling barriers and
// at least the forward matrix products of every layer once more.
//
// It runs with the fused attention kernel allowed too: checkpointed blocks
// must then still use the decomposed one (GoMLX rematerialises the fused op
// wrongly; see VisionLayer), so the gradients agree all the same.
func TestCheckpointGradients(t *testing.T) {
	for _, att := range []string{"decomposed", "fused"} {
		t.Run(att, func(t *testing.T) {
			t.Setenv(backend.EnvAttention, att)
			checkCheckpointGradients(t)
		})
	}
}

func checkCheckpointGradients(t *testing.T) {
	cfg := BaseConfig(32, 3, 4, 64, 8, 32)
	m, err := NewRandom(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	px := randomTensor(6, 2, 3, 32, 32)
	b := newBackend(t)
	plain, nPlain := gradientGraph(t, b, m, cfg.Vision, px)
	ck := cfg.Vision
	ck.Checkpoint = true
	grads, nCk := gradientGraph(t, b, m, ck, px)
	for i, name := range gradVariables {
		a, b := tensors.MustCopyFlatData[float32](plain[i]), tensors.MustCopyFlatData[float32](grads[i])
		worst := 0.0
		for j := range a {
			worst = max(worst, float64(abs32(a[j]-b[j])))
		}
		if worst > 1e-6 {
			t.Errorf("%s: checkpointed gradient differs by %.3g", name, worst)
		}
	}
	matmuls := func(n map[NodeType]int) int { return n[NodeTypeDotGeneral] + n[NodeTypeFusedDense] }
	// Per layer: q, k, v, out, fc1, fc2 and the two attention products.
	const perLayer = 8
	t.Logf("gradient graph: %d nodes, %d matmuls without checkpointing; %d nodes, %d matmuls, %d scheduling barriers with",
		nPlain[NodeTypeInvalid], matmuls(nPlain), nCk[NodeTypeInvalid], matmuls(nCk), nCk[NodeTypeSchedulingBarrier])
	if nCk[NodeTypeSchedulingBarrier] == 0 || nPlain[NodeTypeSchedulingBarrier] != 0 {
		t.Errorf("scheduling barriers: %d with checkpointing, %d without; want some and none", nCk[NodeTypeSchedulingBarrier], nPlain[NodeTypeSchedulingBarrier])
	}
	if extra := matmuls(nCk) - matmuls(nPlain); extra < perLayer*cfg.Vision.NumLayers {
		t.Errorf("checkpointed graph has %d more matmuls, want >= %d (every layer's forward recomputed)", extra, perLayer*cfg.Vision.NumLayers)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
