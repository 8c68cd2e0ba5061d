package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
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

// CallBatcher is implemented by tasks that choose each call's data under
// gradient accumulation (Config.AccumSteps > 1): CallBatch(step, call,
// calls) returns the inputs of call 0 <= call < calls of optimizer step
// step, a pure function of its arguments like Batch. Without it call k of
// step s gets Batch(s·calls + k).
type CallBatcher interface {
	CallBatch(step, call, calls int) ([]*tensors.Tensor, error)
}

// StepHook is implemented by tasks that change the store between optimizer
// steps (re-initialising a module, resetting its optimizer state).
// BeforeStep runs before every optimizer step, step being the 0-based
// number of the step about to run. To keep resume exact its changes must
// depend only on step and the store.
type StepHook interface {
	BeforeStep(step int, store *model.Store) error
}

// AccumScope is the store scope of the gradient accumulators: the
// accumulator of trainable variable /a/b is /grad_accum/a/b. They are zero
// between optimizer steps and are not written to checkpoints.
const AccumScope = "grad_accum"

// Group is a set of trainable variables stepped by an Adam of its own, as a
// second torch optimizer with its own scheduler stepping alongside the
// first: its moments and its update counter live under /<Name> (moments
// named as GoMLX's Adam names them), its learning rate is a function of that
// counter — linear from 0 over WarmupSteps updates, then one cosine half
// period from LR to MinLR over PeriodSteps updates (the authors' VQGAN
// discriminator scheduler) — so zeroing /<Name> (a StepHook) restarts the
// optimizer and its schedule together. A group gets no weight decay and
// stays out of the global-norm clipping and the reported gradient norm. Its
// counter advances only on steps whose graph uses its variables. Match is
// not part of the checkpoint fingerprint: keep it fixed for a run.
type Group struct {
	Name                     string                       // scope of its state; unique, not "AdamOptimizer" or AccumScope
	Match                    func(v *model.Variable) bool // its variables (first matching group wins)
	Beta1, Beta2, Epsilon    float64                      // 0 means 0.9, 0.999, 1e-8
	LR, MinLR                float64                      // peak and final learning rate
	WarmupSteps, PeriodSteps float64                      // in the group's own updates; may be fractional
}

// LRAt is the group's learning rate for its update u (0-based since its
// state was last zeroed).
func (gr *Group) LRAt(u float64) float64 {
	if u < gr.WarmupSteps {
		return gr.LR * u / gr.WarmupSteps
	}
	return gr.MinLR + (gr.LR-gr.MinLR)*(1+math.Cos(math.Pi*(u-gr.WarmupSteps)/gr.PeriodSteps))/2
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
	// AccumSteps > 1 makes one optimizer step out of that many calls of
	// the compiled graph, summing their gradients in accumulators (see the
	// package documentation); 0 or 1: one call per step.
	AccumSteps int
	// NoDecay excludes variables from weight decay; nil means rank <= 1
	// (biases, gains, scalars).
	NoDecay func(v *model.Variable) bool
	// Groups are trainable variables stepped by optimizers of their own
	// (see Group); the rest, the main group, by the loop's Adam.
	Groups []Group

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
	groups := make([]Group, len(c.Groups)) // a copy: defaults must not write to the caller's slice
	for i, gr := range c.Groups {
		if gr.Beta1 == 0 {
			gr.Beta1 = 0.9
		}
		if gr.Beta2 == 0 {
			gr.Beta2 = 0.999
		}
		if gr.Epsilon == 0 {
			gr.Epsilon = 1e-8
		}
		groups[i] = gr
	}
	c.Groups = groups
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
	case c.WeightDecay < 0 || c.ClipGradNorm < 0 || c.CheckpointEvery < 0 || c.AccumSteps < 0:
		return fmt.Errorf("train: WeightDecay %g, ClipGradNorm %g, CheckpointEvery %d and AccumSteps %d must not be negative", c.WeightDecay, c.ClipGradNorm, c.CheckpointEvery, c.AccumSteps)
	}
	seen := map[string]bool{optimizer.AdamDefaultScope: true, AccumScope: true}
	for _, gr := range c.Groups {
		switch {
		case gr.Name == "" || strings.Contains(gr.Name, model.ScopeSeparator) || seen[gr.Name]:
			return fmt.Errorf("train: group name %q: expected a unique scope name other than %s and %s", gr.Name, optimizer.AdamDefaultScope, AccumScope)
		case gr.Match == nil:
			return fmt.Errorf("train: group %s has no Match", gr.Name)
		case gr.LR <= 0 || gr.MinLR < 0 || gr.MinLR > gr.LR:
			return fmt.Errorf("train: group %s: LR %g and MinLR %g, expected 0 <= MinLR <= LR, LR > 0", gr.Name, gr.LR, gr.MinLR)
		case gr.WarmupSteps < 0 || gr.PeriodSteps <= 0:
			return fmt.Errorf("train: group %s: WarmupSteps %g and PeriodSteps %g, expected >= 0 and > 0", gr.Name, gr.WarmupSteps, gr.PeriodSteps)
		}
		seen[gr.Name] = true
	}
	return nil
}

// fingerprint hashes the fields that change the trajectory (not Dir or the
// checkpoint interval, which a resumed run may change).
func (c *Config) fingerprint() string {
	fields := []any{c.Steps, c.LearningRate, c.MinLearningRate, c.WarmupSteps, c.WeightDecay,
		c.Beta1, c.Beta2, c.Epsilon, c.ClipGradNorm}
	if c.calls() > 1 { // only then: checkpoints of runs without accumulation keep their fingerprint
		fields = append(fields, c.AccumSteps)
	}
	for _, gr := range c.Groups {
		fields = append(fields, []any{gr.Name, gr.Beta1, gr.Beta2, gr.Epsilon, gr.LR, gr.MinLR, gr.WarmupSteps, gr.PeriodSteps})
	}
	b, _ := json.Marshal(fields)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// calls is the number of graph calls per optimizer step.
func (c *Config) calls() int { return max(c.AccumSteps, 1) }

// Result is one step's outcome.
type Result struct {
	Step     int                // steps done after this one (1-based)
	Loss     float64            // the loss of the batch, before the update (mean over the step's calls)
	LR       float64            // learning rate used by the update
	GradNorm float64            // global L2 norm of the (averaged) gradient before clipping (main group)
	GroupLR  map[string]float64 // each Group's learning rate used by the update (0 when its variables sat out)
	Metrics  map[string]float64 // the task's metrics, by name (means over the step's calls)
	Elapsed  time.Duration      // wall time of this step (batches + graphs)
}

// Trainer runs a Task's steps on a Store.
type Trainer struct {
	failed  error // the error of a failed Step: no further steps (see Step)
	Config  Config
	Store   *model.Store
	task    Task
	backend compute.Backend
	exec    *model.Exec
	done    int

	next    chan prefetched // the batch of call nextFor, being prepared
	nextFor int             // a call number: step·calls + call
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

// phaseMarker: under gradient accumulation the trainer appends one scalar
// to every call's inputs, whose dtype (the value is unused) tells stepGraph
// which graph to build: int32 on a non-final call (add the gradient to the
// accumulators), int64 on the final one (add, average, clip, update, zero).
// model.Exec caches a graph per input signature, so both stay compiled.
func phaseMarker(final bool) *tensors.Tensor {
	if final {
		return tensors.FromScalar(int64(0))
	}
	return tensors.FromScalar(int32(0))
}

// stepGraph: inputs -> [loss, lr, grad norm, metrics...] (the applying
// graph) or [loss, metrics...] (an accumulating call); the optimizer's and
// the task's variable updates are returned by model.Exec behind the scenes.
func (t *Trainer) stepGraph(root *model.Scope, inputs []*Node) []*Node {
	c := &t.Config
	g := inputs[0].Graph()
	accumulate := false
	if c.calls() > 1 {
		mark := inputs[len(inputs)-1]
		inputs = inputs[:len(inputs)-1]
		accumulate = mark.DType() == dtypes.Int32 // see phaseMarker
	}
	root.Store().SetTraining(g, true)
	loss, metrics := t.task.Loss(root, inputs)
	if !loss.Shape().IsScalar() || !loss.DType().IsFloat() {
		panic(fmt.Errorf("train: the task's loss must be a float scalar, got %s", loss.Shape()))
	}
	dtype := loss.DType()

	var lr *Node
	if !accumulate {
		// Schedule first: it sets the learning-rate variable that Adam
		// reads. It advances once per optimizer step: only this graph has it.
		cosineschedule.New(root, g, dtype).LearningRate(c.LearningRate).MinLearningRate(c.MinLearningRate).
			WarmUpSteps(c.WarmupSteps).PeriodSteps(c.Steps - c.WarmupSteps).Done()
		lr = optimizer.LearningRateVar(root, dtype, c.LearningRate).NodeValue(g)
	}

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
	if c.calls() > 1 {
		inv := 1 / float64(c.calls())
		for i, v := range vars {
			acc := accumulator(root.Store(), v)
			sum := Add(acc.NodeValue(g), grads[i])
			if accumulate {
				acc.SetNodeValue(sum)
				continue
			}
			grads[i] = MulScalar(sum, inv)
			acc.SetNodeValue(ZerosLike(sum))
		}
		if accumulate {
			out := []*Node{loss}
			for _, m := range metrics {
				out = append(out, ConvertDType(m, dtype))
			}
			return out
		}
	}

	// Split off the groups' variables: the rest is the main group.
	group := make([]int, len(vars)) // index into c.Groups; -1: main
	var mainVars []*model.Variable
	var mainGrads []*Node
	for i, v := range vars {
		group[i] = -1
		for j := range c.Groups {
			if c.Groups[j].Match(v) {
				group[i] = j
				break
			}
		}
		if group[i] < 0 {
			mainVars = append(mainVars, v)
			mainGrads = append(mainGrads, grads[i])
		}
	}
	if len(mainVars) == 0 {
		panic(errors.New("train: every trainable variable the loss uses belongs to a Group: the main optimizer has none"))
	}

	var sumSq *Node
	for _, gr := range mainGrads {
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
		for i := range mainGrads {
			mainGrads[i] = Mul(mainGrads[i], ConvertDType(scale, mainGrads[i].DType()))
		}
	}
	var decayed []*model.Variable
	var before []*Node
	if c.WeightDecay > 0 {
		for _, v := range mainVars {
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
	// GoMLX's Adam steps every trainable variable the graph uses: the
	// groups' are hidden from it while it builds its update.
	func() {
		for i, v := range vars {
			if group[i] >= 0 {
				v.SetTrainable(false)
			}
		}
		defer func() { // also when the graph build panics: later builds must see them trainable
			for i, v := range vars {
				if group[i] >= 0 {
					v.SetTrainable(true)
				}
			}
		}()
		withGrads.UpdateGraphWithGradients(root, mainGrads, dtype)
	}()

	for i, v := range decayed { // AdamW: w -= lr·wd·w_before
		w := before[i]
		step := Mul(ConvertDType(lr, w.DType()), MulScalar(w, c.WeightDecay))
		v.SetNodeValue(Sub(v.NodeValue(g), step))
	}
	out := []*Node{loss, lr, gradNorm}
	for j := range c.Groups {
		var gv []*model.Variable
		var gg []*Node
		for i, v := range vars {
			if group[i] == j {
				gv, gg = append(gv, v), append(gg, grads[i])
			}
		}
		if len(gv) == 0 { // sat out: its counter and schedule wait
			out = append(out, ScalarZero(g, dtype))
			continue
		}
		out = append(out, groupUpdate(root.Store(), &c.Groups[j], gv, gg, dtype))
	}
	for _, m := range metrics {
		out = append(out, ConvertDType(m, dtype))
	}
	return out
}

// groupUpdate builds one Adam step of a Group's variables (torch's and
// GoMLX's arithmetic: bias-corrected moments, w −= lr·m̂/(√v̂ + ε)) with the
// group's schedule, and returns the learning rate it used.
func groupUpdate(store *model.Store, gr *Group, vars []*model.Variable, grads []*Node, dtype dtypes.DType) *Node {
	g := grads[0].Graph()
	scope := store.Scope(model.ScopeSeparator + gr.Name)
	t := optimizer.IncrementCounter(scope, g, "step", dtype) // updates, this one included
	u := AddScalar(t, -1)
	var lr *Node
	cos := AddScalar(MulScalar(Cos(MulScalar(AddScalar(u, -gr.WarmupSteps), math.Pi/gr.PeriodSteps)), (gr.LR-gr.MinLR)/2), (gr.LR+gr.MinLR)/2)
	if gr.WarmupSteps > 0 {
		lr = Where(LessThan(u, Scalar(g, dtype, gr.WarmupSteps)), MulScalar(u, gr.LR/gr.WarmupSteps), cos)
	} else {
		lr = cos
	}
	b1, b2 := Scalar(g, dtype, gr.Beta1), Scalar(g, dtype, gr.Beta2)
	debias1 := Reciprocal(OneMinus(Pow(b1, t)))
	debias2 := Reciprocal(OneMinus(Pow(b2, t)))
	for i, v := range vars {
		grad := ConvertDType(grads[i], dtype)
		mScope := store.Scope(path.Join(model.ScopeSeparator, gr.Name, v.Scope())).WithInitializer(initializer.Zero)
		shape := v.Shape().Clone()
		shape.DType = dtype
		m1 := mScope.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
		m2 := mScope.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)
		n1 := Add(MulScalar(m1.NodeValue(g), gr.Beta1), MulScalar(grad, 1-gr.Beta1))
		n2 := Add(MulScalar(m2.NodeValue(g), gr.Beta2), MulScalar(Square(grad), 1-gr.Beta2))
		m1.SetNodeValue(n1)
		m2.SetNodeValue(n2)
		step := Div(Mul(lr, Mul(n1, debias1)), AddScalar(Sqrt(Mul(n2, debias2)), gr.Epsilon))
		w := v.NodeValue(g)
		v.SetNodeValue(ConvertDType(Sub(ConvertDType(w, dtype), step), w.DType()))
	}
	return lr
}

// accumulator returns (creating it, zero, on first use) the gradient
// accumulator of trainable variable v.
func accumulator(store *model.Store, v *model.Variable) *model.Variable {
	return store.Scope(path.Join(model.ScopeSeparator, AccumScope, v.Scope())).WithInitializer(initializer.Zero).
		VariableWithShape(v.Name(), v.Shape()).SetTrainable(false)
}

// isAccumulator reports whether a store path is a gradient accumulator's.
func isAccumulator(p string) bool {
	return strings.HasPrefix(p, model.ScopeSeparator+AccumScope+model.ScopeSeparator)
}

// batchOf computes the inputs of call number c (step·calls + call).
func (t *Trainer) batchOf(c int) ([]*tensors.Tensor, error) {
	n := t.Config.calls()
	if mb, ok := t.task.(CallBatcher); ok {
		return mb.CallBatch(c/n, c%n, n)
	}
	return t.task.Batch(c)
}

// prefetch starts preparing the batch of call c in the background.
func (t *Trainer) prefetch(c int) {
	ch := make(chan prefetched, 1)
	t.next, t.nextFor = ch, c
	go func() {
		in, err := t.batchOf(c)
		ch <- prefetched{in, err}
	}()
}

// Step runs one optimisation step (step number Done()): Config.AccumSteps
// calls of the compiled graph (one without accumulation), after the task's
// BeforeStep when it has one. After an error the trainer refuses further
// steps: with accumulation the accumulators may hold a partial sum, so
// resume from the last checkpoint with a new Trainer (Run does).
func (t *Trainer) Step() (Result, error) {
	if t.failed != nil {
		return Result{}, fmt.Errorf("train: an earlier step failed (%w); resume from the last checkpoint with a new trainer", t.failed)
	}
	r, err := t.step()
	if err != nil {
		t.failed = err
	}
	return r, err
}

func (t *Trainer) step() (Result, error) {
	start := time.Now()
	s := t.done
	if h, ok := t.task.(StepHook); ok {
		if err := h.BeforeStep(s, t.Store); err != nil {
			return Result{}, fmt.Errorf("train: before step %d: %w", s, err)
		}
	}
	n := t.Config.calls()
	names := t.task.MetricNames()
	r := Result{Step: s + 1, Metrics: map[string]float64{}, GroupLR: map[string]float64{}}
	sums := make([]float64, len(names))
	for k := range n {
		vals, err := t.call(s, k)
		if err != nil {
			return Result{}, err
		}
		r.Loss += vals[0]
		if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
			r.Loss = vals[0]
			if k == n-1 {
				t.done++ // the update ran
			}
			return r, fmt.Errorf("train: step %d: loss is %v", s, vals[0])
		}
		first := 1 // the task's metrics follow loss (accumulating) or loss, lr, grad norm, group lrs (applying)
		if k == n-1 {
			r.LR, r.GradNorm, first = vals[1], vals[2], 3+len(t.Config.Groups)
			for j, gr := range t.Config.Groups {
				r.GroupLR[gr.Name] = vals[3+j]
			}
		}
		for i := range names {
			if first+i < len(vals) {
				sums[i] += vals[first+i]
			}
		}
	}
	t.done++
	r.Loss /= float64(n)
	for i, name := range names {
		r.Metrics[name] = sums[i] / float64(n)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// call runs call k of step s and returns its outputs as float64.
func (t *Trainer) call(s, k int) ([]float64, error) {
	n := t.Config.calls()
	c := s*n + k
	if t.next == nil || t.nextFor != c {
		if t.next != nil {
			<-t.next
		}
		t.prefetch(c)
	}
	p := <-t.next
	t.next = nil
	if p.err != nil {
		if n > 1 {
			return nil, fmt.Errorf("train: batch of step %d (call %d of %d): %w", s, k, n, p.err)
		}
		return nil, fmt.Errorf("train: batch of step %d: %w", s, p.err)
	}
	if c+1 < t.Config.Steps*n { // overlap the next batch with this call's graph
		t.prefetch(c + 1)
	}
	inputs := p.inputs
	if n > 1 {
		inputs = append(inputs, phaseMarker(k == n-1))
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	outs, err := t.exec.Call(args...)
	for _, x := range inputs {
		x.FinalizeAll()
	}
	if err != nil {
		return nil, fmt.Errorf("train: step %d: %w", s, err)
	}
	vals := make([]float64, len(outs))
	for i, o := range outs {
		vals[i] = scalarValue(o)
		o.FinalizeAll()
	}
	return vals, nil
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
