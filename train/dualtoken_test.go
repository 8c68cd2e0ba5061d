package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/world"
)

func dtBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
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

// TestDualTokenResumeEqualsUninterrupted: 5 steps of row d (the
// discriminator from step 1, so both compiled graphs run, in epochs of 2
// steps with a restart every epoch: before steps 1, 2 and 4) give
// bit-identical variables whether run straight or saved after 3 steps and
// resumed in a fresh store — so across a restart — with and without the
// loop's gradient accumulation; the discriminator in its own optimizer
// group, as the study trains it.
func TestDualTokenResumeEqualsUninterrupted(t *testing.T) {
	tower := dtTower(t)
	for _, accum := range []int{1, 2} {
		t.Run(fmt.Sprintf("accum%d", accum), func(t *testing.T) { testDualTokenResume(t, tower, accum) })
	}
}

func testDualTokenResume(t *testing.T, tower *siglip.Model, accum int) {
	const steps, split = 5, 3
	cfg := func(dir string) Config {
		return Config{Steps: steps, LearningRate: 1e-3, WarmupSteps: 1, WeightDecay: 1e-4, Beta1: 0.5, Beta2: 0.9, Dir: dir, AccumSteps: accum}
	}
	task := func() *DualTokenTask {
		tk := dtTask(t, tower, "d", 2)
		tk.Disc, tk.GANStart, tk.EpochSteps, tk.DiscRestartEpochs = dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3}, 1, 2, 1
		return tk
	}
	cfg = func(cfg func(string) Config) func(string) Config { // the discriminator in its own group, as the study runs it
		return func(dir string) Config {
			c := cfg(dir)
			c.Groups = []Group{task().DiscGroup(c.Steps, c.LearningRate, c.Beta1, c.Beta2)}
			return c
		}
	}(cfg)
	straight := dtTrainer(t, task(), tower, cfg(t.TempDir()))
	for range steps {
		if _, err := straight.Step(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	first := dtTrainer(t, task(), tower, cfg(dir))
	for range split {
		if _, err := first.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}
	second := dtTrainer(t, task(), tower, cfg(dir))
	if ok, err := second.Resume(); err != nil || !ok || second.Done() != split {
		t.Fatalf("resume: %v %v, done %d", ok, err, second.Done())
	}
	for range steps - split {
		r, err := second.Step()
		if err != nil {
			t.Fatal(err)
		}
		if r.Metrics["disc"] == 0 || r.Metrics["gen_weight"] == 0 {
			t.Errorf("step %d ran without the discriminator: %v", r.Step, r.Metrics)
		}
	}
	n := 0
	for v := range straight.Store.IterVariables() {
		if isAccumulator(v.Path()) {
			continue
		}
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
func benchTrainStep(b *testing.B, gan bool) { benchTrainStepAccum(b, gan, 1, 1) }

// benchTrainStepAccum is benchTrainStep with the step's images split into
// accum micro-batches inside one call and over calls graph calls.
func benchTrainStepAccum(b *testing.B, gan bool, accum, calls int) {
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
	task := &DualTokenTask{Config: fc, Mode: mode, Weights: w, MicroBatch: o.MicroBatch / (accum * calls), Accum: accum, Seed: 5}
	if gan {
		task.Disc, task.GANStart = o.Disc, 0
	}
	tr := dtTrainer(b, task, tower, Config{Steps: 1 << 30, LearningRate: 1e-3, Beta1: 0.5, Beta2: 0.9, AccumSteps: calls})
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

// BenchmarkDualTokenTrainStepAccumInGraph: the recipe's 8 images as 2
// micro-batches of 4 inside one graph call (Accum 2).
func BenchmarkDualTokenTrainStepAccumInGraph(b *testing.B) { benchTrainStepAccum(b, false, 2, 1) }

// BenchmarkDualTokenTrainStepAccumCalls: the recipe's 8 images as 2 graph
// calls of 4 (the loop's AccumSteps 2).
func BenchmarkDualTokenTrainStepAccumCalls(b *testing.B) { benchTrainStepAccum(b, false, 1, 2) }

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
	lpipsStep(t, task, store, "/lpips/features.0/kernel")
}

// lpipsStep runs one training step of task with LPIPS on and checks that the
// objective reports an LPIPS term and that the LPIPS weight at probe stays put.
func lpipsStep(t *testing.T, task *DualTokenTask, store *model.Store, probe string) {
	t.Helper()
	task.LPIPS = true
	tr, err := New(dtBackend(t), store, task, Config{Steps: 2, LearningRate: 1e-3, NoDecay: NoDecay})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := values(t, store, probe)
	r, err := tr.Step()
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["lpips"] <= 0 {
		t.Errorf("lpips metric %g, want > 0", r.Metrics["lpips"])
	}
	if !same(before, values(t, store, probe)) {
		t.Error("LPIPS weights changed")
	}
}

// TestDiscScheduleByStep: the discriminator's loss factor and restarts
// follow the authors' epoch loop, written out by hand for GANStart 10 in
// epochs of 4 steps (the GAN's first epoch is epoch 2, steps 8–11) with a
// restart every 2 epochs: created at 10, re-created at the starts of epochs
// 4, 6, 8 (steps 16, 24, 32); factor 1 through step 11, then 0.75.
func TestDiscScheduleByStep(t *testing.T) {
	task := &DualTokenTask{Mode: Mode{Decode: true}, Weights: dualtoken.DefaultLossWeights(), Disc: dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3},
		GANStart: 10, EpochSteps: 4, DiscRestartEpochs: 2}
	restarts := map[int]int{10: 0, 16: 1, 24: 2, 32: 3}
	for s := range 36 {
		k, ok := task.DiscRestart(s)
		wk, want := restarts[s]
		if ok != want || k != wk {
			t.Errorf("step %d: restart %v (index %d), want %v (index %d)", s, ok, k, want, wk)
		}
		wf := 1.0
		if s >= 12 {
			wf = 0.75
		}
		if f := task.DiscFactor(s); s >= 10 && f != wf {
			t.Errorf("step %d: disc factor %g, want %g", s, f, wf)
		}
	}
	for _, c := range []struct {
		epochSteps, every int
		name              string
	}{{0, 2, "no epochs"}, {4, 0, "no periodic restart"}} {
		task.EpochSteps, task.DiscRestartEpochs = c.epochSteps, c.every
		for s := range 40 {
			if _, ok := task.DiscRestart(s); ok != (s == 10) {
				t.Errorf("%s: step %d: restart %v, want only at GANStart", c.name, s, ok)
			}
		}
		if f := task.DiscFactor(39); c.epochSteps == 0 && f != 1 {
			t.Errorf("no epochs: disc factor %g at step 39, want 1", f)
		}
	}
	if task.discSeed(0) == task.discSeed(1) || task.discSeed(1) == task.discSeed(2) {
		t.Error("restarts share an init seed")
	}
}

// TestDualTokenDiscFactorInLoss: the factor carried by the GAN input scales
// the discriminator's loss inside the objective: on two identical stores,
// loss(factor 1) − loss(factor 0.75) = 0.25 · the reported "disc" metric,
// and the metric itself does not depend on the factor.
func TestDualTokenDiscFactorInLoss(t *testing.T) {
	tower := dtTower(t)
	task := dtTask(t, tower, "d", 2)
	task.Disc, task.GANStart = dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3}, 0
	in, err := task.Batch(0)
	if err != nil {
		t.Fatal(err)
	}
	b := dtBackend(t)
	discAt := 0
	for i, n := range task.MetricNames() {
		if n == "disc" {
			discAt = i
		}
	}
	run := func(factor float32) (loss, disc float64) {
		store, err := NewDualTokenStore(task, tower, 3)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := model.CallOnceN(b, store, func(root *model.Scope, x []*graph.Node) []*graph.Node {
			root.Store().SetTraining(x[0].Graph(), true)
			l, m := task.Loss(root, x)
			return []*graph.Node{l, m[discAt]}
		}, in[0], tensors.FromScalar(factor))
		if err != nil {
			t.Fatal(err)
		}
		return scalarValue(outs[0]), scalarValue(outs[1])
	}
	l1, d1 := run(1)
	l2, d2 := run(0.75)
	if d1 <= 0 || d1 != d2 {
		t.Fatalf("disc metric %g (factor 1) and %g (factor 0.75): want equal and positive", d1, d2)
	}
	if got, want := l1-l2, 0.25*d1; math.Abs(got-want) > 1e-5*math.Abs(l1)+1e-6 {
		t.Errorf("loss(1) − loss(0.75) = %.7g, want 0.25·disc = %.7g", got, want)
	}
}

// snapTask records, around the task's BeforeStep, the discriminator's
// weights and Adam moments.
type snapTask struct {
	*DualTokenTask
	before, after []map[string][]float32 // by step
}

func discState(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		p := v.Path()
		if strings.HasPrefix(p, "/disc/") || strings.HasPrefix(p, "/AdamOptimizer/disc/") || strings.HasPrefix(p, "/"+DiscAdamScope+"/") {
			out[p] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

func (s *snapTask) BeforeStep(step int, store *model.Store) error {
	s.before = append(s.before, discState(store))
	err := s.DualTokenTask.BeforeStep(step, store)
	s.after = append(s.after, discState(store))
	return err
}

// TestDualTokenDiscRestart: run through the trainer with the GAN from step
// 1 in epochs of 2 steps, a restart every epoch: before steps 1, 2 and 4 the
// discriminator holds a fresh init from that restart's seed (not the same
// twice) and zero Adam moments; before steps 0 and 3 BeforeStep changes
// nothing (and at 3 the moments are live). (Before step 1 the store
// already holds restart 0's weights: NewDualTokenStore initialises it so.)
func TestDualTokenDiscRestart(t *testing.T) {
	tower := dtTower(t)
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared_adam", true: "own_adam"}[own], func(t *testing.T) { testDiscRestart(t, tower, own) })
	}
}

func testDiscRestart(t *testing.T, tower *siglip.Model, ownAdam bool) {
	task := dtTask(t, tower, "d", 2)
	task.Disc, task.GANStart, task.EpochSteps, task.DiscRestartEpochs = dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3}, 1, 2, 1
	snap := &snapTask{DualTokenTask: task}
	store, err := NewDualTokenStore(task, tower, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Steps: 5, LearningRate: 1e-3, Beta1: 0.5, Beta2: 0.9, NoDecay: NoDecay}
	if ownAdam {
		cfg.Groups = []Group{task.DiscGroup(cfg.Steps, cfg.LearningRate, 0.5, 0.9)}
	}
	tr, err := New(dtBackend(t), store, snap, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var lrs []float64
	for range 5 {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		lrs = append(lrs, r.GroupLR[DiscAdamScope])
	}
	if ownAdam {
		// Epochs of 2 steps: warmup over 1 update, so its lr is 0 on the
		// first update after each (re)creation (steps 1, 2, 4) and the
		// cosine's start, 1e-3, on the second (step 3).
		for s, want := range []float64{0, 0, 0, 1e-3, 0} {
			if math.Abs(lrs[s]-want) > 1e-9 {
				t.Errorf("step %d: discriminator lr %g, want %g", s, lrs[s], want)
			}
		}
	}
	fresh := func(k int) map[string][]float32 {
		s := model.NewStore()
		if err := dualtoken.InitDiscriminator(s.RootScope().At(DiscScope), task.Disc, task.discSeed(k)); err != nil {
			t.Fatal(err)
		}
		return discState(s)
	}
	for step, k := range map[int]int{1: 0, 2: 1, 4: 2} {
		want, got := fresh(k), snap.after[step]
		moments := 0
		for p, v := range got {
			if !strings.HasPrefix(p, "/disc/") { // optimizer state
				moments++
				for _, x := range v {
					if x != 0 {
						t.Errorf("before step %d: moment %s not reset", step, p)
						break
					}
				}
				continue
			}
			if !same(v, want[p]) {
				t.Errorf("before step %d: %s is not restart %d's fresh init", step, p, k)
			}
		}
		if step > 1 && moments == 0 {
			t.Errorf("before step %d: no discriminator Adam moments in the store", step)
		}
		if ownAdam && step > 1 && got["/"+DiscAdamScope+"/step"] == nil {
			t.Errorf("before step %d: no /%s/step counter", step, DiscAdamScope)
		}
		if step > 1 && same(snap.before[step]["/disc/main/0/weight"], got["/disc/main/0/weight"]) {
			t.Errorf("before step %d: the restart did not change the discriminator", step)
		}
	}
	if same(fresh(1)["/disc/main/0/weight"], fresh(2)["/disc/main/0/weight"]) {
		t.Error("restarts 1 and 2 gave the same weights")
	}
	// The compiled step trained the restarted weights (not a stale copy):
	// after step 2 they are restart 1's init plus one small Adam update.
	worst, moved := 0.0, false
	init1 := fresh(1)["/disc/main/0/weight"]
	for i, x := range snap.before[3]["/disc/main/0/weight"] {
		d := math.Abs(float64(x - init1[i]))
		worst, moved = max(worst, d), moved || d > 0
	}
	if ownAdam { // its first update after the restart ran at lr 0 (warmup from 0)
		if moved {
			t.Errorf("after step 2 (discriminator lr 0) the discriminator moved %g from restart 1's init", worst)
		}
	} else if !moved || worst > 5e-3 {
		t.Errorf("after step 2 the discriminator is %g (max |Δ|) from restart 1's init: want a small non-zero update", worst)
	}
	for _, step := range []int{0, 3} {
		live := false
		for p, v := range snap.before[step] {
			if !same(v, snap.after[step][p]) {
				t.Errorf("step %d is no restart, but BeforeStep changed %s", step, p)
			}
			if !strings.HasPrefix(p, "/disc/") && slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
				live = true
			}
		}
		if step == 3 && !live {
			t.Error("before step 3 the discriminator's Adam moments are all zero: the steps after the restart did not train it")
		}
	}
}

// TestDualTokenAccumulationTwoWays: a step of 2 micro-batches run inside
// one graph call (Accum 2) and the same step as 2 calls of the loop's
// accumulation (AccumSteps 2, Accum 1) see the same scenes, chain the
// codebook EMA the same way and average the same gradients: after 3 steps
// (the discriminator from step 1) the losses and gradient norms agree to
// 1e-4 and every variable to 1e-4 relative + 5e-5 absolute. (Adam
// normalises gradients, so an element whose true gradient is zero — the
// conv biases that feed a GroupNorm — moves by its float noise scaled up
// to as much as the learning rate; Epsilon 1e-6 damps that to ~1e-5.)
func TestDualTokenAccumulationTwoWays(t *testing.T) {
	tower := dtTower(t)
	run := func(accum, accumSteps int) (*Trainer, []Result) {
		task := dtTask(t, tower, "d", 2)
		task.Accum = accum
		task.Disc, task.GANStart = dualtoken.DiscConfig{NDF: 32, NLayers: 2, InCh: 3}, 1
		tr := dtTrainer(t, task, tower, Config{Steps: 3, LearningRate: 1e-3, WarmupSteps: 1, WeightDecay: 1e-4, Beta1: 0.5, Beta2: 0.9, Epsilon: 1e-6, AccumSteps: accumSteps})
		var rs []Result
		for range 3 {
			r, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return tr, rs
	}
	inGraph, ra := run(2, 1)
	calls, rb := run(1, 2)
	for i := range ra {
		for _, p := range []struct {
			name string
			a, b float64
		}{{"loss", ra[i].Loss, rb[i].Loss}, {"grad norm", ra[i].GradNorm, rb[i].GradNorm}, {"mse", ra[i].Metrics["mse"], rb[i].Metrics["mse"]}, {"disc", ra[i].Metrics["disc"], rb[i].Metrics["disc"]}} {
			if math.Abs(p.a-p.b) > 1e-4*math.Abs(p.a)+1e-6 {
				t.Errorf("step %d: %s %.7g in one call, %.7g over two calls", i, p.name, p.a, p.b)
			}
		}
	}
	n := 0
	for v := range inGraph.Store.IterVariables() {
		w := calls.Store.GetVariable(v.Path())
		if w == nil || !v.MustValue().DType().IsFloat() {
			continue
		}
		a, b := tensors.MustCopyFlatData[float32](v.MustValue()), tensors.MustCopyFlatData[float32](w.MustValue())
		for i := range a {
			if d := math.Abs(float64(a[i] - b[i])); d > 1e-4*math.Abs(float64(a[i]))+5e-5 {
				t.Errorf("%s[%d] = %.7g in one call, %.7g over two calls", v.Path(), i, a[i], b[i])
				break
			}
		}
		n++
	}
	if n < 100 {
		t.Errorf("compared only %d variables", n)
	}
}

// TestDualTokenCallBatchNumbering: call k of 2 of a step holds the images
// that micro-batch k of the same step holds with in-graph accumulation;
// with Augment, image i of a call is the RandomResizedCrop of the scene
// rendered at AugmentSize, with the window drawn for its draw number, the
// same on every call and different from the plain render.
func TestDualTokenCallBatchNumbering(t *testing.T) {
	tower := dtTower(t)
	for _, aug := range []bool{false, true} {
		one := dtTask(t, tower, "d", 2)
		one.Accum, one.Augment, one.AugmentSize = 2, aug, 40
		two := dtTask(t, tower, "d", 2)
		two.Augment, two.AugmentSize = aug, 40
		all, err := one.Batch(3)
		if err != nil {
			t.Fatal(err)
		}
		a := tensors.MustCopyFlatData[float32](all[0])
		half := len(a) / 2
		for k := range 2 {
			part, err := two.CallBatch(3, k, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !same(tensors.MustCopyFlatData[float32](part[0]), a[k*half:(k+1)*half]) {
				t.Errorf("augment %v: call %d of step 3 differs from micro-batch %d", aug, k, k)
			}
		}
	}
	task := dtTask(t, tower, "d", 2)
	task.Augment, task.AugmentSize = true, 40
	size := task.Config.Tower.Vision.ImageSize
	got, err := task.CallBatch(2, 1, 3) // draws (2·3+1)·2 = 14 and 15
	if err != nil {
		t.Fatal(err)
	}
	g := tensors.MustCopyFlatData[float32](got[0])
	per := 3 * size * size
	for i, draw := range []int{14, 15} {
		rng := rand.New(rand.NewPCG(task.Seed^0x5eed0a0a5eed0a0a, uint64(draw)))
		img := imageio.RandomResizedCrop(world.Generate(task.Seed, draw).Image(40), size, [2]float64{0.9, 1}, imageio.DefaultCropRatio, rng)
		want := make([]float32, per)
		imageio.NormalizeInto(want, img, 0.5, 0.5)
		if !same(g[i*per:(i+1)*per], want) {
			t.Errorf("image %d is not the crop of draw %d", i, draw)
		}
		plain := make([]float32, per)
		imageio.NormalizeInto(plain, world.Generate(task.Seed, draw).Image(size), 0.5, 0.5)
		if same(g[i*per:(i+1)*per], plain) {
			t.Errorf("image %d is the plain render: no augmentation", i)
		}
	}
	again, _ := task.CallBatch(2, 1, 3)
	if !same(g, tensors.MustCopyFlatData[float32](again[0])) {
		t.Error("the same call gave other images")
	}
}

// benchBatch times one step's images of the study recipe (8 scenes for a
// 48 px tower), plain or augmented as the recipe does (rendered at 64 px,
// RandomResizedCrop to 48).
func benchBatch(b *testing.B, augment bool) {
	tower, err := siglip.NewRandom(siglip.BaseConfig(64, 4, 4, 256, 16, 48), 9)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultStudyOptions()
	mode, _ := ModeByID("d")
	task, _, err := o.RowTask(tower.Config, mode)
	if err != nil {
		b.Fatal(err)
	}
	task.Augment = augment
	step := 0
	for b.Loop() {
		if _, err := task.Batch(step); err != nil {
			b.Fatal(err)
		}
		step++
	}
}

// BenchmarkDualTokenBatch: a step's images without augmentation.
func BenchmarkDualTokenBatch(b *testing.B) { benchBatch(b, false) }

// BenchmarkDualTokenBatchAugment: a step's images with the recipe's augmentation.
func BenchmarkDualTokenBatchAugment(b *testing.B) { benchBatch(b, true) }
