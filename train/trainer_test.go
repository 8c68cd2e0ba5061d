package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend"
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
	t.Helper()
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
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
// with the same losses on the remaining steps.
func TestResumeEqualsUninterrupted(t *testing.T) {
	b := toyBackend(t)
	cfg := Config{Steps: 9, LearningRate: 0.05, WarmupSteps: 2, WeightDecay: 0.01, ClipGradNorm: 1, CheckpointEvery: 4}
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
	} {
		_, err := New(b, toyStore(t, task), task, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) error %v, want %q", c.cfg, err, c.want)
		}
	}
}
