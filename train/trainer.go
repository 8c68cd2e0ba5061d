package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
)

// Task is what a run optimises; see the package documentation.
type Task interface {
	Batch(step int) ([]*tensors.Tensor, error)
	Loss(root *model.Scope, inputs []*Node) (loss *Node, metrics []*Node)
	MetricNames() []string
	Fingerprint() string
}

// Config holds the optimisation hyper-parameters and the checkpoint policy.
type Config struct {
	Steps           int     // total optimisation steps (the schedule's length)
	LearningRate    float64 // peak learning rate, reached after WarmupSteps
	MinLearningRate float64 // learning rate at the end of the cosine
	WarmupSteps     int     // linear warmup from MinLearningRate
	WeightDecay     float64 // decoupled (AdamW) decay; 0 disables it
	Beta1, Beta2    float64 // Adam moment decays; 0 means 0.9 and 0.999
	Epsilon         float64 // Adam epsilon; 0 means 1e-8
	ClipGradNorm    float64 // clip gradients to this global L2 norm; 0 disables it
	// NoDecay excludes variables from weight decay; nil means rank <= 1
	// (biases, gains, scalars).
	NoDecay func(v *model.Variable) bool

	Dir             string // checkpoint folder; "" disables checkpoints
	CheckpointEvery int    // steps between checkpoints in Run; 0: only at the end
}

func (c *Config) defaults() {
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-8
	}
	if c.NoDecay == nil {
		c.NoDecay = func(v *model.Variable) bool { return v.Shape().Rank() <= 1 }
	}
}

func (c *Config) validate() error {
	switch {
	case c.Steps < 1:
		return fmt.Errorf("train: Steps = %d, expected at least 1", c.Steps)
	case c.LearningRate <= 0:
		return fmt.Errorf("train: LearningRate = %g, expected > 0", c.LearningRate)
	case c.MinLearningRate < 0 || c.MinLearningRate > c.LearningRate:
		return fmt.Errorf("train: MinLearningRate = %g, expected in [0, LearningRate %g]", c.MinLearningRate, c.LearningRate)
	case c.WarmupSteps < 0 || c.WarmupSteps >= c.Steps:
		return fmt.Errorf("train: WarmupSteps = %d, expected in [0, Steps %d)", c.WarmupSteps, c.Steps)
	case c.WeightDecay < 0 || c.ClipGradNorm < 0 || c.CheckpointEvery < 0:
		return fmt.Errorf("train: WeightDecay %g, ClipGradNorm %g and CheckpointEvery %d must not be negative", c.WeightDecay, c.ClipGradNorm, c.CheckpointEvery)
	}
	return nil
}

// fingerprint hashes the fields that change the trajectory (not Dir or the
// checkpoint interval, which a resumed run may change).
func (c *Config) fingerprint() string {
	b, _ := json.Marshal([]any{c.Steps, c.LearningRate, c.MinLearningRate, c.WarmupSteps, c.WeightDecay,
		c.Beta1, c.Beta2, c.Epsilon, c.ClipGradNorm})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Result is one step's outcome.
type Result struct {
	Step     int                // steps done after this one (1-based)
	Loss     float64            // the loss of the batch, before the update
	LR       float64            // learning rate used by the update
	GradNorm float64            // global gradient L2 norm before clipping
	Metrics  map[string]float64 // the task's metrics, by name
	Elapsed  time.Duration      // wall time of this step (batch + graph)
}

// Trainer runs a Task's steps on a Store.
type Trainer struct {
	Config  Config
	Store   *model.Store
	task    Task
	backend compute.Backend
	exec    *model.Exec
	done    int

	next    chan prefetched // the batch of step `done`, being prepared
	nextFor int
}

type prefetched struct {
	inputs []*tensors.Tensor
	err    error
}

// New prepares a trainer; the step graph is compiled on the first step.
// store must hold the model's variables already.
func New(b compute.Backend, store *model.Store, task Task, cfg Config) (*Trainer, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Config: cfg, Store: store, task: task, backend: b, nextFor: -1}
	var err error
	t.exec, err = model.NewExec(b, store, t.stepGraph)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return t, nil
}

// Done is the number of steps taken (including those of a resumed checkpoint).
func (t *Trainer) Done() int { return t.done }

// Close releases the compiled step.
func (t *Trainer) Close() {
	if t.next != nil {
		<-t.next // let the producer finish before its results are dropped
		t.next = nil
	}
	t.exec.Finalize()
}

// stepGraph: inputs -> [loss, lr, grad norm, metrics...]; the optimizer's
// variable updates are returned by model.Exec behind the scenes.
func (t *Trainer) stepGraph(root *model.Scope, inputs []*Node) []*Node {
	c := &t.Config
	g := inputs[0].Graph()
	root.Store().SetTraining(g, true)
	loss, metrics := t.task.Loss(root, inputs)
	if !loss.Shape().IsScalar() || !loss.DType().IsFloat() {
		panic(fmt.Errorf("train: the task's loss must be a float scalar, got %s", loss.Shape()))
	}
	dtype := loss.DType()

	// Schedule first: it sets the learning-rate variable that Adam reads.
	cosineschedule.New(root, g, dtype).LearningRate(c.LearningRate).MinLearningRate(c.MinLearningRate).
		WarmUpSteps(c.WarmupSteps).PeriodSteps(c.Steps - c.WarmupSteps).Done()
	lr := optimizer.LearningRateVar(root, dtype, c.LearningRate).NodeValue(g)

	// The same selection and order as BuildTrainableVariablesGradientsGraph.
	var vars []*model.Variable
	for v := range root.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	if len(vars) == 0 {
		panic(errors.New("train: the loss uses no trainable variable"))
	}
	grads := root.BuildTrainableVariablesGradientsGraph(loss)
	var sumSq *Node
	for _, gr := range grads {
		sq := ReduceAllSum(Square(ConvertDType(gr, dtype)))
		if sumSq == nil {
			sumSq = sq
		} else {
			sumSq = Add(sumSq, sq)
		}
	}
	gradNorm := Sqrt(sumSq)
	if c.ClipGradNorm > 0 {
		// scale = min(1, clip/norm): gradients keep their direction.
		scale := MinScalar(Div(Scalar(g, dtype, c.ClipGradNorm), MaxScalar(gradNorm, 1e-12)), 1)
		for i := range grads {
			grads[i] = Mul(grads[i], ConvertDType(scale, grads[i].DType()))
		}
	}
	var decayed []*model.Variable
	var before []*Node
	if c.WeightDecay > 0 {
		for _, v := range vars {
			if !c.NoDecay(v) {
				decayed = append(decayed, v)
				before = append(before, v.NodeValue(g))
			}
		}
	}

	opt := optimizer.Adam().LearningRate(c.LearningRate).Betas(c.Beta1, c.Beta2).Epsilon(c.Epsilon).Done()
	withGrads, ok := opt.(interface {
		UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType)
	})
	if !ok {
		panic(errors.New("train: GoMLX's Adam no longer accepts precomputed gradients"))
	}
	withGrads.UpdateGraphWithGradients(root, grads, dtype)

	for i, v := range decayed { // AdamW: w -= lr·wd·w_before
		w := before[i]
		step := Mul(ConvertDType(lr, w.DType()), MulScalar(w, c.WeightDecay))
		v.SetNodeValue(Sub(v.NodeValue(g), step))
	}
	out := []*Node{loss, lr, gradNorm}
	for _, m := range metrics {
		out = append(out, ConvertDType(m, dtype))
	}
	return out
}

// prefetch starts preparing the batch of step s in the background.
func (t *Trainer) prefetch(s int) {
	ch := make(chan prefetched, 1)
	t.next, t.nextFor = ch, s
	go func() {
		in, err := t.task.Batch(s)
		ch <- prefetched{in, err}
	}()
}

// Step runs one optimisation step (step number Done()).
func (t *Trainer) Step() (Result, error) {
	start := time.Now()
	s := t.done
	if t.next == nil || t.nextFor != s {
		if t.next != nil {
			<-t.next
		}
		t.prefetch(s)
	}
	p := <-t.next
	t.next = nil
	if p.err != nil {
		return Result{}, fmt.Errorf("train: batch of step %d: %w", s, p.err)
	}
	if s+1 < t.Config.Steps { // overlap the next batch with this step's graph
		t.prefetch(s + 1)
	}
	args := make([]any, len(p.inputs))
	for i, x := range p.inputs {
		args[i] = x
	}
	outs, err := t.exec.Call(args...)
	for _, x := range p.inputs {
		x.FinalizeAll()
	}
	if err != nil {
		return Result{}, fmt.Errorf("train: step %d: %w", s, err)
	}
	vals := make([]float64, len(outs))
	for i, o := range outs {
		vals[i] = scalarValue(o)
		o.FinalizeAll()
	}
	t.done++
	r := Result{Step: t.done, Loss: vals[0], LR: vals[1], GradNorm: vals[2], Metrics: map[string]float64{}, Elapsed: time.Since(start)}
	for i, name := range t.task.MetricNames() {
		if 3+i < len(vals) {
			r.Metrics[name] = vals[3+i]
		}
	}
	if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
		return r, fmt.Errorf("train: step %d: loss is %v", s, r.Loss)
	}
	return r, nil
}

func scalarValue(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// Run steps until Config.Steps, calling onStep (may be nil) after each step.
// It checkpoints every CheckpointEvery steps and at the end when Dir is set;
// when ctx is cancelled it saves and returns ctx.Err().
func (t *Trainer) Run(ctx context.Context, onStep func(Result)) error {
	for t.done < t.Config.Steps {
		if err := ctx.Err(); err != nil {
			if serr := t.Save(); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		r, err := t.Step()
		if err != nil {
			return err
		}
		if onStep != nil {
			onStep(r)
		}
		if k := t.Config.CheckpointEvery; k > 0 && t.done%k == 0 && t.done < t.Config.Steps {
			if err := t.Save(); err != nil {
				return err
			}
		}
	}
	return t.Save()
}
