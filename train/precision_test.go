package train

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/backend"
)

// studyRun trains row c of a small study for steps and returns the
// per-step losses and the final values of a few tower variables.
func studyRun(t *testing.T, o StudyOptions, steps int) ([]float64, map[string][]float32) {
	t.Helper()
	tower := dtTower(t)
	mode, err := ModeByID("c")
	if err != nil {
		t.Fatal(err)
	}
	task, cfg, err := o.RowTask(tower.Config, mode)
	if err != nil {
		t.Fatal(err)
	}
	if tower.Config.Vision.Checkpoint {
		t.Fatal("RowTask changed the initial tower's config")
	}
	if got := task.Config.Tower.Vision.Checkpoint; got != o.CheckpointLayers {
		t.Fatalf("row tower checkpointing %v, want %v", got, o.CheckpointLayers)
	}
	cfg.Dir, cfg.Steps = "", steps+1
	store, err := NewDualTokenStore(task, tower, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(dtBackend(t), store, task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var losses []float64
	for range steps {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	for v := range store.IterVariables() {
		if v.Trainable && v.Shape().DType != dtypes.Float32 {
			t.Errorf("trainable %s is %s: master weights must stay float32", v.Path(), v.Shape().DType)
		}
	}
	vals := map[string][]float32{}
	for _, p := range []string{"/vision_model/encoder/layers/0/mlp/fc1/weight", "/vision_model/encoder/layers/0/self_attn/q_proj/weight", "/vision_model/embeddings/patch_embedding/weight"} {
		vals[p] = values(t, store, p)
	}
	return losses, vals
}

func smallStudy() StudyOptions {
	o := DefaultStudyOptions()
	o.Codes, o.Depth, o.MicroBatch, o.Steps, o.Augment, o.Epochs = 32, 2, 2, 3, false, 0
	return o
}

// TestStudyCheckpointLayersSameTrajectory: recomputing the tower's layers in
// the backward pass changes memory, not the numbers.
func TestStudyCheckpointLayersSameTrajectory(t *testing.T) {
	// Checkpointed blocks always use the decomposed attention (see
	// siglip.VisionLayer); pin the plain run to it too, so both use one kernel.
	t.Setenv(backend.EnvAttention, "decomposed")
	plain := smallStudy()
	ckpt := smallStudy()
	ckpt.CheckpointLayers = true
	l0, v0 := studyRun(t, plain, 2)
	l1, v1 := studyRun(t, ckpt, 2)
	for i := range l0 {
		if math.Abs(l0[i]-l1[i]) > 1e-6*math.Max(1, math.Abs(l0[i])) {
			t.Errorf("step %d loss %g with checkpointing, %g without", i, l1[i], l0[i])
		}
	}
	for p := range v0 {
		for i := range v0[p] {
			if d := math.Abs(float64(v0[p][i] - v1[p][i])); d > 1e-6 {
				t.Errorf("%s[%d] differs by %g after 2 steps", p, i, d)
				break
			}
		}
	}
}

// TestStudyBF16Training: bf16 compute trains float32 master weights; the
// first loss (same initial weights, same batch) is within bf16 rounding of
// the float32 one, and the update moves the weights in the same direction.
func TestStudyBF16Training(t *testing.T) {
	f32 := smallStudy()
	bf := smallStudy()
	bf.DType = dtypes.BFloat16
	l0, v0 := studyRun(t, f32, 1)
	l1, v1 := studyRun(t, bf, 1)
	// 16 bf16 stages of relative error 2^-8 bound the loss's relative error.
	if rel := math.Abs(l1[0]-l0[0]) / math.Abs(l0[0]); rel > 16*math.Pow(2, -8) || math.IsNaN(l1[0]) {
		t.Errorf("bf16 loss %g vs float32 %g (relative %g)", l1[0], l0[0], rel)
	}
	// Adam's first step is lr·sign(g) up to epsilon, so the cosine of the two
	// updates is the share of gradient signs bf16 keeps, weighted alike.
	init := dtTower(t)
	for p := range v0 {
		w := values(t, init.Store, p)
		var dot, n0, n1 float64
		for i := range w {
			d0, d1 := float64(v0[p][i]-w[i]), float64(v1[p][i]-w[i])
			dot, n0, n1 = dot+d0*d1, n0+d0*d0, n1+d1*d1
		}
		cos := dot / math.Sqrt(n0*n1)
		t.Logf("%s: cosine of the bf16 and float32 updates %.3f", p, cos)
		if !(cos > 0.8) {
			t.Errorf("%s: bf16 update cosine %.3f with the float32 one, want > 0.8", p, cos)
		}
	}
}
