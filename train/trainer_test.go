package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/model/weights"
)

// toyTask is linear regression y = x·Wᵀ + b on a fixed random teacher, plus
// "idle" variables multiplied by zero (in the graph, zero gradient) so that
// weight decay can be observed alone.
type toyTask struct {
	seed uint64
	in   int
	out  int
	n    int
	tag  string // changes the fingerprint
}

func (t *toyTask) Batch(step int) ([]*tensors.Tensor, error) {
	r := rand.New(rand.NewPCG(t.seed, uint64(step)))
	x := make([]float32, t.n*t.in)
	y := make([]float32, t.n*t.out)
	for i := range t.n {
		for k := range t.in {
			x[i*t.in+k] = float32(r.NormFloat64())
		}
		for o := range t.out { // teacher: W[o][k] = (o+1)·(k+1)/10, b[o] = o
			s := float64(o)
			for k := range t.in {
				s += float64(o+1) * float64(k+1) / 10 * float64(x[i*t.in+k])
			}
			y[i*t.out+o] = float32(s)
		}
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, t.n, t.in), tensors.FromFlatDataAndDimensions(y, t.n, t.out)}, nil
}

func (t *toyTask) Loss(root *model.Scope, in []*Node) (*Node, []*Node) {
	g := in[0].Graph()
	w := root.GetVariable("w").NodeValue(g)
	b := root.GetVariable("b").NodeValue(g)
	pred := Add(Einsum("ni,oi->no", in[0], w), InsertAxes(b, 0))
	loss := ReduceAllMean(Square(Sub(pred, in[1])))
	idle := Add(ReduceAllSum(root.GetVariable("idle_w").NodeValue(g)), ReduceAllSum(root.GetVariable("idle_b").NodeValue(g)))
	loss = Add(loss, MulScalar(idle, 0))
	return loss, []*Node{ReduceAllMean(Abs(w))}
}

func (t *toyTask) MetricNames() []string { return []string{"mean_abs_w"} }
func (t *toyTask) Fingerprint() string {
	return fmt.Sprintf("toy:%d:%d:%d:%d:%s", t.seed, t.in, t.out, t.n, t.tag)
}

func toyStore(t *testing.T, task *toyTask) *model.Store {
	t.Helper()
	s := model.NewStore()
	r := rand.New(rand.NewPCG(99, 1))
	mk := func(name string, dims ...int) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		if _, err := s.RootScope().CreateVariable(name, tensors.FromFlatDataAndDimensions(v, dims...)); err != nil {
			t.Fatal(err)
		}
	}
	mk("w", task.out, task.in)
	mk("b", task.out)
	mk("idle_w", 3, 2)
	mk("idle_b", 2)
	return s
}

func toyBackend(t *testing.T) compute.Backend {
	return backendtest.New(t)
}

func toyValues(t *testing.T, s *model.Store) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range s.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		if val.DType().IsFloat() {
			out[v.Path()] = tensors.MustCopyFlatData[float32](val)
		} else {
			out[v.Path()] = []float32{float32(toyInt(val))}
		}
	}
	return out
}

func toyInt(t *tensors.Tensor) int64 {
	switch v := t.Value().(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	}
	return -1
}

// TestTrainerReducesLoss: the toy regression converges.
func TestTrainerReducesLoss(t *testing.T) {
	task := &toyTask{seed: 1, in: 4, out: 3, n: 32}
	tr, err := New(toyBackend(t), toyStore(t, task), task, Config{Steps: 150, LearningRate: 0.05, WarmupSteps: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var first, last float64
	err = tr.Run(context.Background(), func(r Result) {
		if r.Step == 1 {
			first = r.Loss
		}
		last = r.Loss
	})
	if err != nil {
		t.Fatal(err)
	}
	if !(last < first/20) {
		t.Fatalf("loss %.4f -> %.4f: expected a 20x reduction", first, last)
	}
}

// TestScheduleAndDecay checks the learning rate of every step against warmup
// + cosine computed here, and that decoupled decay shrinks a zero-gradient
// matrix by exactly (1 − lr·wd) per step while a zero-gradient vector
// (rank 1, excluded by default) stays put.
func TestScheduleAndDecay(t *testing.T) {
	const steps, warm, lr, minLR, wd = 10, 3, 0.1, 0.01, 0.5
	task := &toyTask{seed: 2, in: 2, out: 2, n: 8}
	store := toyStore(t, task)
	before := toyValues(t, store)
	tr, err := New(toyBackend(t), store, task, Config{Steps: steps, LearningRate: lr, MinLearningRate: minLR, WarmupSteps: warm, WeightDecay: wd})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	factor := 1.0
	for s := range steps {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		want := minLR + (lr-minLR)*float64(s)/warm
		if s >= warm {
			want = minLR + (lr-minLR)*(1+math.Cos(math.Pi*float64(s-warm)/float64(steps-warm)))/2
		}
		if math.Abs(r.LR-want) > 1e-6 {
			t.Errorf("step %d: lr %.7f, want %.7f", s, r.LR, want)
		}
		factor *= 1 - r.LR*wd
	}
	after := toyValues(t, store)
	for i, w0 := range before["/idle_w"] {
		if got, want := float64(after["/idle_w"][i]), float64(w0)*factor; math.Abs(got-want) > 1e-5*math.Abs(want)+1e-7 {
			t.Errorf("idle_w[%d] = %g, want %g (decayed by %g)", i, got, want, factor)
		}
	}
	if !slices.Equal(after["/idle_b"], before["/idle_b"]) {
		t.Errorf("rank-1 idle_b changed: %v -> %v (it is excluded from decay)", before["/idle_b"], after["/idle_b"])
	}
	if got := tr.Done(); got != steps {
		t.Errorf("Done = %d, want %d", got, steps)
	}
}

// TestResumeEqualsUninterrupted: a run stopped after 4 of 9 steps, saved,
// and resumed by a fresh trainer ends bit-identical to an uninterrupted run,
// with the same losses on the remaining steps; without and with gradient
// accumulation (whose accumulators, zero between steps, stay out of the
// checkpoint).
func TestResumeEqualsUninterrupted(t *testing.T) {
	for _, accum := range []int{1, 2} {
		t.Run(fmt.Sprintf("accum%d", accum), func(t *testing.T) { testResume(t, accum) })
	}
}

func testResume(t *testing.T, accum int) {
	b := toyBackend(t)
	cfg := Config{Steps: 9, LearningRate: 0.05, WarmupSteps: 2, WeightDecay: 0.01, ClipGradNorm: 1, CheckpointEvery: 4, AccumSteps: accum}
	task := &toyTask{seed: 3, in: 3, out: 2, n: 16}

	full := toyStore(t, task)
	c := cfg
	c.Dir = filepath.Join(t.TempDir(), "full")
	tr, err := New(b, full, task, c)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	if err := tr.Run(context.Background(), func(r Result) { want = append(want, r.Loss) }); err != nil {
		t.Fatal(err)
	}
	tr.Close()

	c.Dir = filepath.Join(t.TempDir(), "split")
	part := toyStore(t, task)
	tr, err = New(b, part, task, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for range 4 {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Loss)
	}
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	f, err := weights.OpenSafetensors(tr.CheckpointPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Names() {
		if isAccumulator(n) {
			t.Errorf("the checkpoint holds accumulator %s", n)
		}
	}
	f.Close()

	resumed := toyStore(t, task) // fresh weights: everything must come from the checkpoint
	tr, err = New(b, resumed, task, c)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ok, err := tr.Resume()
	if err != nil || !ok || tr.Done() != 4 {
		t.Fatalf("Resume = %v, %v; Done %d (want true, nil, 4)", ok, err, tr.Done())
	}
	if err := tr.Run(context.Background(), func(r Result) { got = append(got, r.Loss) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("losses\n got %v\nwant %v", got, want)
	}
	wv, gv := toyValues(t, full), toyValues(t, resumed)
	if len(wv) != len(gv) {
		t.Fatalf("variables: %d after the uninterrupted run, %d after the resumed one", len(wv), len(gv))
	}
	for name, w := range wv {
		if !slices.Equal(gv[name], w) {
			t.Errorf("variable %s differs:\n got %v\nwant %v", name, gv[name], w)
		}
	}
}

// TestResumeRefusesOtherRuns: a checkpoint from other hyper-parameters or
// another task setup is refused with the file named.
func TestResumeRefusesOtherRuns(t *testing.T) {
	b := toyBackend(t)
	dir := t.TempDir()
	task := &toyTask{seed: 4, in: 2, out: 2, n: 4}
	cfg := Config{Steps: 3, LearningRate: 0.01, Dir: dir}
	tr, err := New(b, toyStore(t, task), task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	for _, c := range []struct {
		cfg  Config
		task *toyTask
		want string
	}{
		{Config{Steps: 3, LearningRate: 0.02, Dir: dir}, task, "other hyper-parameters"},
		{cfg, &toyTask{seed: 4, in: 2, out: 2, n: 4, tag: "x"}, "another task setup"},
		{Config{Steps: 2, LearningRate: 0.01, Dir: dir}, task, "other hyper-parameters"},
		{Config{Steps: 3, LearningRate: 0.01, Dir: dir, AccumSteps: 2}, task, "other hyper-parameters"},
	} {
		tr, err := New(b, toyStore(t, c.task), c.task, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Resume()
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), CheckpointFile) {
			t.Errorf("Resume error %v, want one naming %s and containing %q", err, CheckpointFile, c.want)
		}
	}
}

// TestConfigErrors: invalid configurations are refused up front.
func TestConfigErrors(t *testing.T) {
	b := toyBackend(t)
	task := &toyTask{seed: 5, in: 2, out: 2, n: 4}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Steps: 0, LearningRate: 0.1}, "Steps = 0"},
		{Config{Steps: 5, LearningRate: 0}, "LearningRate = 0"},
		{Config{Steps: 5, LearningRate: 0.1, MinLearningRate: 0.2}, "MinLearningRate = 0.2"},
		{Config{Steps: 5, LearningRate: 0.1, WarmupSteps: 5}, "WarmupSteps = 5"},
		{Config{Steps: 5, LearningRate: 0.1, WeightDecay: -1}, "must not be negative"},
		{Config{Steps: 5, LearningRate: 0.1, AccumSteps: -2}, "AccumSteps -2"},
		{Config{Steps: 5, LearningRate: 0.1, Groups: []Group{{Name: AccumScope, Match: NoDecay, LR: 1, PeriodSteps: 1}}}, `group name "grad_accum"`},
		{Config{Steps: 5, LearningRate: 0.1, Groups: []Group{{Name: "d", LR: 1, PeriodSteps: 1}}}, "group d has no Match"},
		{Config{Steps: 5, LearningRate: 0.1, Groups: []Group{{Name: "d", Match: NoDecay, LR: 1, MinLR: 2, PeriodSteps: 1}}}, "MinLR 2"},
		{Config{Steps: 5, LearningRate: 0.1, Groups: []Group{{Name: "d", Match: NoDecay, LR: 1}}}, "PeriodSteps 0"},
	} {
		_, err := New(b, toyStore(t, task), task, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) error %v, want %q", c.cfg, err, c.want)
		}
	}
}

// pairTask is toyTask with step s's batch the concatenation of toyTask's
// batches 2s and 2s+1: one call sees what two accumulated calls see.
type pairTask struct{ toyTask }

func (t *pairTask) Batch(step int) ([]*tensors.Tensor, error) {
	a, err := t.toyTask.Batch(2 * step)
	if err != nil {
		return nil, err
	}
	b, err := t.toyTask.Batch(2*step + 1)
	if err != nil {
		return nil, err
	}
	out := make([]*tensors.Tensor, len(a))
	for i := range a {
		x := append(tensors.MustCopyFlatData[float32](a[i]), tensors.MustCopyFlatData[float32](b[i])...)
		dims := a[i].Shape().Dimensions
		out[i] = tensors.FromFlatDataAndDimensions(x, append([]int{2 * dims[0]}, dims[1:]...)...)
	}
	return out, nil
}

// countingTask records the batch numbers it was asked for.
type countingTask struct {
	toyTask
	mu    sync.Mutex
	asked []int
}

func (t *countingTask) Batch(step int) ([]*tensors.Tensor, error) {
	t.mu.Lock()
	t.asked = append(t.asked, step)
	t.mu.Unlock()
	return t.toyTask.Batch(step)
}

// TestAccumulationEqualsOneBigBatch: AccumSteps=2 over micro-batches of B
// gives, step by step, the loss, gradient norm and finally the parameters of
// AccumSteps=1 over the two micro-batches concatenated (the loss is a mean
// over examples, so the mean of the two calls' gradients is the big batch's
// gradient), with clipping and weight decay applied once to the average.
func TestAccumulationEqualsOneBigBatch(t *testing.T) {
	b := toyBackend(t)
	const steps = 6
	cfg := Config{Steps: steps, LearningRate: 0.05, MinLearningRate: 0.01, WarmupSteps: 2, WeightDecay: 0.1, ClipGradNorm: 2}
	small := toyTask{seed: 7, in: 3, out: 2, n: 8}

	accStore := toyStore(t, &small)
	c := cfg
	c.AccumSteps = 2
	acc, err := New(b, accStore, &small, c)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	big := &pairTask{small}
	bigStore := toyStore(t, &small)
	one, err := New(b, bigStore, big, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	clipped := false
	for s := range steps {
		ra, err := acc.Step()
		if err != nil {
			t.Fatal(err)
		}
		rb, err := one.Step()
		if err != nil {
			t.Fatal(err)
		}
		clipped = clipped || rb.GradNorm > cfg.ClipGradNorm
		for _, p := range []struct {
			name     string
			got, ref float64
		}{{"loss", ra.Loss, rb.Loss}, {"grad norm", ra.GradNorm, rb.GradNorm}, {"lr", ra.LR, rb.LR},
			{"mean_abs_w", ra.Metrics["mean_abs_w"], rb.Metrics["mean_abs_w"]}} {
			if math.Abs(p.got-p.ref) > 1e-5*math.Abs(p.ref)+1e-6 {
				t.Errorf("step %d: %s %.7g accumulated, %.7g in one batch", s, p.name, p.got, p.ref)
			}
		}
	}
	if !clipped {
		t.Error("the gradient was never clipped: the test does not exercise clipping")
	}
	av, bv := toyValues(t, accStore), toyValues(t, bigStore)
	for _, name := range []string{"/w", "/b", "/idle_w", "/idle_b"} {
		for i := range bv[name] {
			if d := math.Abs(float64(av[name][i] - bv[name][i])); d > 1e-5*math.Abs(float64(bv[name][i]))+1e-6 {
				t.Errorf("%s[%d] = %.7g accumulated, %.7g in one batch", name, i, av[name][i], bv[name][i])
			}
		}
	}
}

// TestAccumulatorsZeroAndOneScheduleStepPerUpdate: with AccumSteps=3 every
// trainable variable has an accumulator, zero after every optimizer step;
// the learning rate follows the schedule of optimizer steps (not calls);
// the schedule's, Adam's and the global counters advance once per step; and
// Batch is asked for calls s·3+k in order.
func TestAccumulatorsZeroAndOneScheduleStepPerUpdate(t *testing.T) {
	const steps, warm, lr, minLR, n = 5, 2, 0.1, 0.01, 3
	task := &countingTask{toyTask: toyTask{seed: 8, in: 2, out: 2, n: 4}}
	store := toyStore(t, &task.toyTask)
	tr, err := New(toyBackend(t), store, task, Config{Steps: steps, LearningRate: lr, MinLearningRate: minLR, WarmupSteps: warm, AccumSteps: n})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for s := range steps {
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		want := minLR + (lr-minLR)*float64(s)/warm
		if s >= warm {
			want = minLR + (lr-minLR)*(1+math.Cos(math.Pi*float64(s-warm)/float64(steps-warm)))/2
		}
		if math.Abs(r.LR-want) > 1e-6 {
			t.Errorf("step %d: lr %.7f, want %.7f", s, r.LR, want)
		}
		accs := 0
		for v := range store.IterVariables() {
			if !isAccumulator(v.Path()) {
				continue
			}
			accs++
			for i, x := range tensors.MustCopyFlatData[float32](v.MustValue()) {
				if x != 0 {
					t.Errorf("step %d: accumulator %s[%d] = %g after the update", s, v.Path(), i, x)
				}
			}
		}
		if accs != 4 { // w, b, idle_w, idle_b
			t.Errorf("step %d: %d accumulators, want 4", s, accs)
		}
		for _, p := range []string{"/optimizers/cosine_schedule/step", "/AdamOptimizer/step", "/global_step"} {
			v := store.GetVariable(p)
			if v == nil {
				t.Fatalf("no counter %s", p)
			}
			got := scalarValue(v.MustValue())
			if v.MustValue().DType().IsInt() {
				got = float64(toyInt(v.MustValue()))
			}
			if got != float64(s+1) {
				t.Errorf("step %d: counter %s = %g, want %d", s, p, got, s+1)
			}
		}
	}
	task.mu.Lock()
	asked := slices.Clone(task.asked)
	task.mu.Unlock()
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}; !slices.Equal(asked, want) {
		t.Errorf("Batch asked for %v, want %v", asked, want)
	}
}

// resetTask zeroes a scope's variables before the listed steps (a StepHook).
type resetTask struct {
	toyTask
	scope string
	at    map[int]bool
}

func (t *resetTask) BeforeStep(step int, store *model.Store) error {
	if !t.at[step] {
		return nil
	}
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), t.scope) {
			if err := v.SetValue(tensors.FromShape(v.MustValue().Shape())); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestGroupAdamEqualsGoMLXAdam: a Group stepping /b with constant learning
// rate and the same betas and epsilon as the main Adam leaves every
// variable where GoMLX's Adam alone leaves it, with its state under its own
// scope and not GoMLX's.
func TestGroupAdamEqualsGoMLXAdam(t *testing.T) {
	b := toyBackend(t)
	task := &toyTask{seed: 10, in: 3, out: 2, n: 8}
	cfg := Config{Steps: 8, LearningRate: 0.05, MinLearningRate: 0.05, Beta1: 0.8, Beta2: 0.95, Epsilon: 1e-7}
	run := func(c Config) *model.Store {
		s := toyStore(t, task)
		tr, err := New(b, s, task, c)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for range c.Steps {
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	plain := run(cfg)
	c := cfg
	c.Groups = []Group{{Name: "g", Match: func(v *model.Variable) bool { return v.Path() == "/b" }, Beta1: 0.8, Beta2: 0.95, Epsilon: 1e-7, LR: 0.05, MinLR: 0.05, PeriodSteps: 1}}
	grouped := run(c)
	pv, gv := toyValues(t, plain), toyValues(t, grouped)
	for _, name := range []string{"/w", "/b"} {
		for i := range pv[name] {
			if d := math.Abs(float64(pv[name][i] - gv[name][i])); d > 1e-6*math.Abs(float64(pv[name][i]))+1e-7 {
				t.Errorf("%s[%d] = %.8g with the group, %.8g with GoMLX's Adam", name, i, gv[name][i], pv[name][i])
			}
		}
	}
	if grouped.GetVariable("/g/b_1st_moment") == nil || grouped.GetVariable("/g/step") == nil {
		t.Error("the group's moments or counter are not under /g")
	}
	if grouped.GetVariable("/AdamOptimizer/b_1st_moment") != nil {
		t.Error("GoMLX's Adam also keeps moments for /b")
	}
}

// TestGroupScheduleDecayClipAndRestart: a group's learning rate follows its
// own warmup-from-0 + cosine over its own updates (written out here),
// restarting when a StepHook zeroes its scope; its first update (lr 0)
// leaves its variable put; its matrices get no weight decay; and the
// reported gradient norm leaves its gradients out.
func TestGroupScheduleDecayClipAndRestart(t *testing.T) {
	b := toyBackend(t)
	const lr, minLR, warm, period = 0.1, 0.01, 2.5, 4.0
	base := toyTask{seed: 11, in: 2, out: 2, n: 8}
	task := &resetTask{toyTask: base, scope: "/g/", at: map[int]bool{4: true}}
	store := toyStore(t, &base)
	before := toyValues(t, store)
	grp := Group{Name: "g", Match: func(v *model.Variable) bool { return v.Path() == "/b" || v.Path() == "/idle_w" },
		LR: lr, MinLR: minLR, WarmupSteps: warm, PeriodSteps: period}
	tr, err := New(b, store, task, Config{Steps: 7, LearningRate: 0.05, WeightDecay: 0.5, Groups: []Group{grp}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ref, err := New(b, toyStore(t, &base), &base, Config{Steps: 7, LearningRate: 0.05, WeightDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := func(u float64) float64 {
		if u < warm {
			return lr * u / warm
		}
		return minLR + (lr-minLR)*(1+math.Cos(math.Pi*(u-warm)/period))/2
	}
	for s, u := range []float64{0, 1, 2, 3, 0, 1, 2} { // zeroed before step 4
		r, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.GroupLR["g"]; math.Abs(got-want(u)) > 1e-6 {
			t.Errorf("step %d: group lr %.7f, want %.7f (its update %g)", s, got, want(u), u)
		}
		rr, err := ref.Step()
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			v := toyValues(t, store)
			if !slices.Equal(v["/b"], before["/b"]) || slices.Equal(v["/w"], before["/w"]) {
				t.Errorf("after the group's update at lr 0: /b %v -> %v (want unchanged), /w changed %v", before["/b"], v["/b"], !slices.Equal(v["/w"], before["/w"]))
			}
			if !(r.GradNorm < rr.GradNorm) {
				t.Errorf("gradient norm %g with /b in a group, %g without: the group's gradient should be left out", r.GradNorm, rr.GradNorm)
			}
		}
	}
	if v := toyValues(t, store); !slices.Equal(v["/idle_w"], before["/idle_w"]) {
		t.Errorf("the group's zero-gradient matrix changed (%v -> %v): groups get no weight decay", before["/idle_w"], v["/idle_w"])
	}
}

// failingTask fails its batch at step failAt (a broken data file, say).
type failingTask struct {
	toyTask
	failAt int
}

func (t *failingTask) Batch(step int) ([]*tensors.Tensor, error) {
	if step == t.failAt {
		return nil, fmt.Errorf("scene %d unreadable", step)
	}
	return t.toyTask.Batch(step)
}

// TestStepRefusesAfterAFailure: with accumulation, the failing call leaves a
// partial sum in the accumulators, so the trainer refuses to go on instead
// of folding it into the next update.
func TestStepRefusesAfterAFailure(t *testing.T) {
	task := &failingTask{toyTask: toyTask{seed: 3, in: 4, out: 2, n: 8}, failAt: 3}
	tr, err := New(toyBackend(t), toyStore(t, &task.toyTask), task, Config{Steps: 5, LearningRate: 0.01, AccumSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Step(); err != nil { // calls 0 and 1
		t.Fatal(err)
	}
	if _, err := tr.Step(); err == nil || !strings.Contains(err.Error(), "unreadable") { // call 2 ran, call 3 failed
		t.Fatalf("second step: %v, want the batch error", err)
	}
	if _, err := tr.Step(); err == nil || !strings.Contains(err.Error(), "earlier step failed") {
		t.Errorf("step after a failure: %v, want a refusal", err)
	}
}
