package train

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/siglip"
)

func dtBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dtTower is a random SigLIP of the tiny study's shape (64 wide, 4 layers,
// 32 px in 8 px patches).
func dtTower(t testing.TB) *siglip.Model {
	t.Helper()
	c := siglip.BaseConfig(64, 4, 4, 128, 8, 32)
	m, err := siglip.NewRandom(c, 9)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dtTask is mode's study task on the random tower (small codebook).
func dtTask(t testing.TB, tower *siglip.Model, id string, batch int) *DualTokenTask {
	t.Helper()
	base, err := StudyConfig(tower.Config, 32, 2)
	if err != nil {
		t.Fatal(err)
	}
	mode, err := ModeByID(id)
	if err != nil {
		t.Fatal(err)
	}
	w := dualtoken.DefaultLossWeights()
	w.LPIPS = 0
	fc, w := mode.Apply(base, w)
	task := &DualTokenTask{Config: fc, Mode: mode, Weights: w, MicroBatch: batch, Accum: 1, Seed: 5}
	if err := task.Validate(); err != nil {
		t.Fatal(err)
	}
	return task
}

func dtTrainer(t testing.TB, task *DualTokenTask, tower *siglip.Model, cfg Config) *Trainer {
	t.Helper()
	store, err := NewDualTokenStore(task, tower, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NoDecay == nil {
		cfg.NoDecay = NoDecay
	}
	tr, err := New(dtBackend(t), store, task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func values(t testing.TB, store *model.Store, path string) []float32 {
	t.Helper()
	v := store.GetVariable(path)
	if v == nil {
		t.Fatalf("no variable %s", path)
	}
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](val)
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestModesApplyLossesWhereTable3Says: one step of every row, checking the
// wiring (taps, one codebook for a) and which terms and modules train.
func TestModesApplyLossesWhereTable3Says(t *testing.T) {
	tower := dtTower(t)
	const (
		semQ    = "/quantizer_sem/codebooks/0/weight"
		pixQ    = "/quantizer_pix/codebooks/0/weight"
		decoder = "/decoder/conv_out/weight"
		layer0  = "/vision_model/encoder/layers/0/mlp/fc1/weight"
		preSem  = "/prequant_sem/proj/weight"
		frozen  = "/frozen/vision_model/encoder/layers/0/mlp/fc1/weight"
	)
	for _, c := range []struct {
		id                   string
		reconLayer           int
		oneCodebook, semanic bool
		changed, unchanged   []string
		nonzero, zero        []string
	}{
		{"q", 1, false, true, []string{semQ, preSem}, []string{pixQ, decoder, layer0, frozen}, []string{"sem_layer", "sem_pooled", "commit_sem"}, []string{"mse", "commit_pix"}},
		{"a", 3, true, true, []string{semQ, decoder, layer0, preSem}, []string{pixQ, frozen}, []string{"mse", "sem_layer", "sem_pooled", "commit_pix"}, []string{"commit_sem"}},
		{"b", 3, false, false, []string{pixQ, decoder, layer0}, []string{semQ, preSem, frozen}, []string{"mse", "commit_pix"}, []string{"sem_layer", "sem_pooled", "commit_sem"}},
		{"c", 1, false, false, []string{pixQ, decoder, layer0}, []string{semQ, preSem, frozen}, []string{"mse", "commit_pix"}, []string{"sem_layer", "sem_pooled", "commit_sem"}},
		{"d", 1, false, true, []string{pixQ, semQ, decoder, layer0, preSem}, []string{frozen}, []string{"mse", "sem_layer", "sem_pooled", "commit_pix", "commit_sem"}, nil},
	} {
		t.Run(c.id, func(t *testing.T) {
			task := dtTask(t, tower, c.id, 2)
			fc := task.Config
			if fc.LayerRecon != c.reconLayer || fc.LayerSem != 3 || fc.ReconFromSemantic != c.oneCodebook || fc.SemanticBranch != c.semanic {
				t.Errorf("wiring: layer_recon %d, layer_sem %d, one codebook %v, semantic branch %v", fc.LayerRecon, fc.LayerSem, fc.ReconFromSemantic, fc.SemanticBranch)
			}
			tr := dtTrainer(t, task, tower, Config{Steps: 2, LearningRate: 1e-3, WeightDecay: 1e-4, Beta1: 0.5, Beta2: 0.9})
			before := map[string][]float32{}
			for _, p := range append(append([]string(nil), c.changed...), c.unchanged...) {
				before[p] = values(t, tr.Store, p)
			}
			r, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.changed {
				if same(before[p], values(t, tr.Store, p)) {
					t.Errorf("%s did not change", p)
				}
			}
			for _, p := range c.unchanged {
				if !same(before[p], values(t, tr.Store, p)) {
					t.Errorf("%s changed", p)
				}
			}
			for _, k := range c.nonzero {
				if r.Metrics[k] == 0 {
					t.Errorf("metric %s is 0: the term is missing", k)
				}
			}
			for _, k := range c.zero {
				if r.Metrics[k] != 0 {
					t.Errorf("metric %s = %g: the term should not apply", k, r.Metrics[k])
				}
			}
		})
	}
}

// TestDualTokenResumeEqualsUninterrupted: 3 steps of row d (the
// discriminator from step 1, so both compiled graphs run) give bit-identical
// variables whether run straight or saved after 2 steps and resumed in a
// fresh store.
func TestDualTokenResumeEqualsUninterrupted(t *testing.T) {
	tower := dtTower(t)
	cfg := func(dir string) Config {
		return Config{Steps: 3, LearningRate: 1e-3, WarmupSteps: 1, WeightDecay: 1e-4, Beta1: 0.5, Beta2: 0.9, Dir: dir}
	}
	task := func() *DualTokenTask {
		tk := dtTask(t, tower, "d", 2)
		tk.Disc, tk.GANStart = dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3}, 1
		return tk
	}
	straight := dtTrainer(t, task(), tower, cfg(t.TempDir()))
	for range 3 {
		if _, err := straight.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	first := dtTrainer(t, task(), tower, cfg(dir))
	for range 2 {
		if _, err := first.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}
	second := dtTrainer(t, task(), tower, cfg(dir))
	if ok, err := second.Resume(); err != nil || !ok || second.Done() != 2 {
		t.Fatalf("resume: %v %v, done %d", ok, err, second.Done())
	}
	r, err := second.Step()
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["disc"] == 0 || r.Metrics["gen_weight"] == 0 {
		t.Errorf("step 3 ran without the discriminator: %v", r.Metrics)
	}
	n := 0
	for v := range straight.Store.IterVariables() {
		w := second.Store.GetVariable(v.Path())
		if w == nil {
			t.Errorf("resumed store lacks %s", v.Path())
			continue
		}
		a, _ := v.Value()
		b, _ := w.Value()
		if a.DType() != b.DType() || !a.Shape().Equal(b.Shape()) {
			t.Errorf("%s: %s vs %s", v.Path(), a.Shape(), b.Shape())
			continue
		}
		if a.DType().IsFloat() && !same(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
			t.Errorf("%s differs after resume", v.Path())
		}
		n++
	}
	if n < 100 {
		t.Errorf("compared only %d variables", n)
	}
}

// psnrOn reconstructs world scenes 0..n-1 of seed with the tokenizer exported
// from store and returns their mean PSNR (RGB in [-1,1] → [0,1]).
func psnrOn(t testing.TB, store *model.Store, fc *dualtoken.FullConfig, seed uint64, n int) float64 {
	t.Helper()
	m, err := ExportTokenizer(store, fc)
	if err != nil {
		t.Fatal(err)
	}
	m.Backend = dtBackend(t)
	px := WorldPixelsCycle(seed, 0, n, n, fc.Tower.Vision.ImageSize)
	rec, _, err := m.Reconstruct(px)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tensors.MustCopyFlatData[float32](px), tensors.MustCopyFlatData[float32](rec)
	per := len(a) / n
	total := 0.0
	for i := range n {
		mse := 0.0
		for j := i * per; j < (i+1)*per; j++ {
			x := math.Min(math.Max(float64(b[j]), -1), 1)
			d := (x - float64(a[j])) / 2
			mse += d * d
		}
		total += 10 * math.Log10(1/(mse/float64(per)))
	}
	return total / float64(n)
}

// overfitSteps and overfitMargin: the tiny DualToken (row d, both branches)
// must gain this much PSNR on 4 fixed scenes within this many steps.
const (
	overfitSteps  = 40
	overfitMargin = 8.0 // dB (measured: 7.3 -> 20.6 dB on the Go backend)
)

// TestDualTokenOverfitsAHandfulOfImages trains row d on 4 fixed world
// scenes and checks that their reconstruction PSNR rises by overfitMargin.
func TestDualTokenOverfitsAHandfulOfImages(t *testing.T) {
	tower := dtTower(t)
	task := dtTask(t, tower, "d", 4)
	task.Scenes = 4
	tr := dtTrainer(t, task, tower, Config{Steps: overfitSteps, LearningRate: 3e-3, MinLearningRate: 1e-3, WarmupSteps: 2, Beta1: 0.5, Beta2: 0.9})
	before := psnrOn(t, tr.Store, task.Config, task.Seed, 4)
	for range overfitSteps {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	after := psnrOn(t, tr.Store, task.Config, task.Seed, 4)
	t.Logf("PSNR on 4 scenes: %.2f dB -> %.2f dB after %d steps", before, after, overfitSteps)
	if after-before < overfitMargin {
		t.Errorf("PSNR rose %.2f dB in %d steps, want >= %.1f", after-before, overfitSteps, overfitMargin)
	}
}

// benchTrainStep times optimizer steps of the study's row d with the
// default recipe (codebook, depth, batch) on a random tower of the shipped
// tiny SigLIP's shape (48 px, patch 16, 64 wide, 4 layers), with or
// without the discriminator.
func benchTrainStep(b *testing.B, gan bool) {
	tower, err := siglip.NewRandom(siglip.BaseConfig(64, 4, 4, 256, 16, 48), 9)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultStudyOptions()
	base, err := StudyConfig(tower.Config, o.Codes, o.Depth)
	if err != nil {
		b.Fatal(err)
	}
	mode, _ := ModeByID("d")
	fc, w := mode.Apply(base, o.Weights)
	task := &DualTokenTask{Config: fc, Mode: mode, Weights: w, MicroBatch: o.MicroBatch, Accum: 1, Seed: 5}
	if gan {
		task.Disc, task.GANStart = o.Disc, 0
	}
	tr := dtTrainer(b, task, tower, Config{Steps: 1 << 30, LearningRate: 1e-3, Beta1: 0.5, Beta2: 0.9})
	if _, err := tr.Step(); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkDualTokenTrainStep: row d without the discriminator.
func BenchmarkDualTokenTrainStep(b *testing.B) { benchTrainStep(b, false) }

// BenchmarkDualTokenTrainStepGAN: row d with the discriminator and the adaptive weight.
func BenchmarkDualTokenTrainStepGAN(b *testing.B) { benchTrainStep(b, true) }

// TestDualTokenLPIPSTerm: with LPIPS variables in the store (here the
// package's untrained stand-in weights, only to exercise the graph), row c
// adds the LPIPS term, and LPIPS's weights do not train.
func TestDualTokenLPIPSTerm(t *testing.T) {
	tower := dtTower(t)
	task := dtTask(t, tower, "c", 2)
	task.Weights.LPIPS = 1
	store, err := NewDualTokenStore(task, tower, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lpips.LoadUntrained(store.RootScope().At(LPIPSScope)); err != nil {
		t.Fatal(err)
	}
	for v := range store.RootScope().At(LPIPSScope).IterVariables() {
		v.SetTrainable(false)
	}
	task.LPIPS = true
	tr, err := New(dtBackend(t), store, task, Config{Steps: 2, LearningRate: 1e-3, NoDecay: NoDecay})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const w = "/lpips/features.0/kernel"
	before := values(t, store, w)
	r, err := tr.Step()
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["lpips"] <= 0 {
		t.Errorf("lpips metric %g, want > 0", r.Metrics["lpips"])
	}
	if !same(before, values(t, store, w)) {
		t.Error("LPIPS weights changed")
	}
}
