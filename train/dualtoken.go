package train

// DualToken tokenizer training on the procedural world, for the generic loop.
//
// A DualTokenTask is one row of the paper's Table 3 (a Mode applied to a base
// configuration): its store holds the SigLIP tower at the root (HF names, the
// text tower and logit scale/bias frozen), the tokenizer parts (authors'
// names; codebooks learned only by their in-graph EMA), a frozen copy of the
// initial vision tower under /frozen (semantic targets), the discriminator
// under /disc and, when given, LPIPS under /lpips. The loss is
// dualtoken.Objective plus the discriminator's hinge loss times DiscFactor:
// the generator side reads the discriminator's weights as constants and the
// discriminator side sees the reconstruction detached, so one backward pass
// trains both.
//
// The discriminator follows the authors' epoch schedule (EpochSteps long
// epochs stand in for passes over their data): it is created when the GAN
// starts and re-created — fresh weights, zero optimizer state — every
// DiscRestartEpochs epochs after the epoch in which it started
// (BeforeStep); its loss is weighted 1 in that first epoch and
// Weights.GAN (0.75) after it. As the authors', it has an optimizer of its
// own when the loop's Config.Groups holds DiscGroup (the study's RowTask
// does): Adam with their betas, no weight decay, its own half-epoch warmup
// from 0 and cosine, restarted with it, outside the tokenizer's gradient
// clipping. Without that group it shares the loop's Adam (same betas, no
// decay by NoDecay, but the loop's schedule and step counter, so a restart
// zeroes its moments without restarting bias correction or warmup).
//
// Gradient accumulation, two ways, which compose: (1) Accum micro-batches
// of MicroBatch images run one after the other inside one compiled call;
// the codebook EMA and restarts chain across them (micro-batch k+1
// quantises with the codebook micro-batch k updated, as k+1 torch forwards
// before one optimizer.step would) and the loss, hence the gradient, is
// their mean; memory is that of the whole call's batch. (2) The loop's
// Config.AccumSteps runs that many calls per optimizer step, summing
// gradients in accumulator variables (memory of one call); each call's
// in-graph EMA updates happen as it runs, as torch's forwards do. CallBatch
// numbers the scenes so that a step sees the same images either way.
//
// Augment applies the authors' RandomResizedCrop(scale 0.9–1, bicubic) to
// every training image (imageio.RandomResizedCrop), seeded per image.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/world"
)

// Scopes of a DualToken training store besides the root.
const (
	FrozenScope = "frozen" // the initial vision tower, never trained
	DiscScope   = "disc"   // the discriminator
	LPIPSScope  = "lpips"  // LPIPS VGG16 + heads, never trained
	// DiscAdamScope holds the discriminator's own optimizer state when it
	// trains in its own Group (DiscGroup).
	DiscAdamScope = "disc_adam"
)

// DualTokenTask is a train.Task for one tokenizer training (see the file comment).
type DualTokenTask struct {
	Config  *dualtoken.FullConfig // wired for Mode
	Mode    Mode
	Weights dualtoken.LossWeights // Mode's loss switches already applied
	Disc    dualtoken.DiscConfig  // NDF 0: no discriminator
	// GANStart is the first step with the GAN terms (the authors start them
	// half-way into an epoch; before it the discriminator is not updated).
	GANStart   int
	MicroBatch int    // images per micro-batch
	Accum      int    // micro-batches per graph call, in-graph (>= 1)
	Seed       uint64 // world seed of the training scenes, and base seed of the discriminator's inits
	// Scenes > 0 cycles through world scenes 0..Scenes-1 (a fixed small set,
	// to test that the model can overfit); 0 draws fresh scenes every step.
	Scenes int
	// LPIPS is true when LPIPS weights were loaded (LoadLPIPS).
	LPIPS bool

	// EpochSteps is the length of an "epoch" in optimizer steps. The world
	// is procedural, so epochs only pace the discriminator as the authors'
	// epoch loop does (see DiscFactor and DiscRestart); 0: no epochs.
	EpochSteps int
	// DiscRestartEpochs re-creates the discriminator every that many epochs
	// after the epoch in which the GAN starts (the authors' --restart_gan,
	// 20 in their run script); 0: only when the GAN starts.
	DiscRestartEpochs int

	// Augment crops every training image as the authors'
	// RandomResizedCrop(size, scale=AugmentScale, bicubic) does (aspect
	// ratios 3/4..4/3): the scene is rendered at AugmentSize (0: the tower's
	// size) and the window resized to the tower's size with PIL's bicubic.
	// The window of draw j (the j-th image of the run) comes from a PCG seeded
	// by (Seed, j): a batch is a pure function of the step.
	Augment      bool
	AugmentScale [2]float64 // area fraction range; zero: the authors' (0.9, 1)
	AugmentSize  int
}

// Validate checks the task's sizes.
func (t *DualTokenTask) Validate() error {
	if t.MicroBatch < 1 || t.Accum < 1 {
		return fmt.Errorf("dualtoken training: batch %d and accum %d must be >= 1", t.MicroBatch, t.Accum)
	}
	if t.EpochSteps < 0 || t.DiscRestartEpochs < 0 || t.AugmentSize < 0 {
		return fmt.Errorf("dualtoken training: epoch steps %d, discriminator restart epochs %d and augment size %d must not be negative", t.EpochSteps, t.DiscRestartEpochs, t.AugmentSize)
	}
	if t.DiscRestartEpochs > 0 && t.EpochSteps == 0 {
		return fmt.Errorf("dualtoken training: discriminator restarts every %d epochs need epochs (EpochSteps > 0)", t.DiscRestartEpochs)
	}
	if sc := t.augmentScale(); t.Augment && !(0 < sc[0] && sc[0] <= sc[1] && sc[1] <= 1) {
		return fmt.Errorf("dualtoken training: augment scale %v, expected 0 < min <= max <= 1", sc)
	}
	s := t.Config.Tower.Vision.ImageSize
	if h, w := t.Config.OutputSide(); t.Mode.Decode && (h != s || w != s) {
		return fmt.Errorf("dualtoken training: the decoder outputs %dx%d but the tower takes %dx%d images: reconstruction needs equal sizes", h, w, s, s)
	}
	return nil
}

// Batch is CallBatch(step, 0, 1): the inputs of a step run as one call.
func (t *DualTokenTask) Batch(step int) ([]*tensors.Tensor, error) { return t.CallBatch(step, 0, 1) }

// CallBatch returns the images of call `call` of `calls` of optimizer step
// step, [Accum·MicroBatch,3,S,S]: world scenes (draws) first … first+N−1
// of Seed, N = Accum·MicroBatch, first = (step·calls + call)·N, in [-1,1]
// (so one step sees the same scenes whether its images are split across
// calls, Accum micro-batches or neither). From GANStart on (with a
// discriminator) also a float32 scalar, the discriminator loss's factor
// DiscFactor(step): the step's compiled graph, cached by its inputs, then
// includes the discriminator, so the steps before GANStart run a graph
// without it (it costs as much as the rest of the step on CPU).
func (t *DualTokenTask) CallBatch(step, call, calls int) ([]*tensors.Tensor, error) {
	n := t.MicroBatch * t.Accum
	px := t.pixels((step*calls+call)*n, n)
	if t.GANOn(step) {
		return []*tensors.Tensor{px, tensors.FromScalar(float32(t.DiscFactor(step)))}, nil
	}
	return []*tensors.Tensor{px}, nil
}

// GANOn reports whether step trains with the discriminator.
func (t *DualTokenTask) GANOn(step int) bool {
	return t.Disc.NDF > 0 && t.Mode.Decode && t.Weights.GAN != 0 && step >= t.GANStart
}

// ganEpoch is the epoch in which the GAN starts (the authors' gan_start_epoch).
func (t *DualTokenTask) ganEpoch() int { return t.GANStart / t.EpochSteps }

// DiscFactor is the weight of the discriminator's loss at step: 1 during
// the epoch in which the GAN starts, then Weights.GAN (0.75) — the
// authors back-propagate loss_disc in gan_start_epoch and
// d_weight·loss_disc after it, with the same d_weight as the generator
// side. Without epochs (EpochSteps 0) it is 1 throughout.
func (t *DualTokenTask) DiscFactor(step int) float64 {
	if t.EpochSteps == 0 || step/t.EpochSteps == t.ganEpoch() {
		return 1
	}
	return t.Weights.GAN
}

// DiscRestart reports whether the discriminator is re-created before step,
// and the restart's index: 0 at GANStart, then k at the start of epoch
// ganEpoch + k·DiscRestartEpochs, as the authors re-create it (with a new
// Adam) at the start of gan_start_epoch and every restart_gan epochs after.
func (t *DualTokenTask) DiscRestart(step int) (index int, ok bool) {
	if !t.GANOn(step) {
		return 0, false
	}
	if step == t.GANStart {
		return 0, true
	}
	if t.EpochSteps == 0 || t.DiscRestartEpochs == 0 || step%t.EpochSteps != 0 {
		return 0, false
	}
	e := step/t.EpochSteps - t.ganEpoch()
	if e > 0 && e%t.DiscRestartEpochs == 0 {
		return e / t.DiscRestartEpochs, true
	}
	return 0, false
}

// discSeed is the init seed of the discriminator's restart k.
func (t *DualTokenTask) discSeed(k int) uint64 {
	return mix64(t.Seed ^ 0xd15c0000d15c0000 + uint64(k)*0x9e3779b97f4a7c15)
}

// mix64 is SplitMix64's finaliser: nearby inputs give unrelated seeds.
func mix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// BeforeStep re-creates the discriminator when DiscRestart says so: fresh
// weights from discSeed(index) and its optimizer state set to zero — its
// own Group's moments and update counter under /disc_adam (so its warmup
// and bias correction restart too), or, when it shares the loop's Adam,
// its moments under /AdamOptimizer/disc — the state a new torch
// discriminator, optimizer and scheduler start from. Decided by the step
// number alone, so resume stays exact.
func (t *DualTokenTask) BeforeStep(step int, store *model.Store) error {
	k, ok := t.DiscRestart(step)
	if !ok {
		return nil
	}
	if err := dualtoken.InitDiscriminator(store.RootScope().At(DiscScope), t.Disc, t.discSeed(k)); err != nil {
		return err
	}
	shared := model.ScopeSeparator + optimizer.AdamDefaultScope + model.ScopeSeparator + DiscScope + model.ScopeSeparator
	own := model.ScopeSeparator + DiscAdamScope + model.ScopeSeparator
	for v := range store.IterVariables() {
		p := v.Path()
		if !(strings.HasPrefix(p, shared) || strings.HasPrefix(p, own)) || !v.HasValue() {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return err
		}
		if err := v.SetValue(tensors.FromShape(val.Shape())); err != nil { // zeros
			return fmt.Errorf("dualtoken training: resetting %s: %w", v.Path(), err)
		}
	}
	return nil
}

// DiscGroup is the discriminator's own optimizer as the authors build it
// (vqgan.create_discriminator_with_optimizer_scheduler): Adam with betas
// (beta1, beta2), no weight decay, learning rate rising linearly from 0 over
// half an epoch of its updates, then a cosine to lr·4/7.2 (their 4e-5 for
// 7.2e-5) over the run's length in steps less the warmup (their
// max_epoch·steps_per_epoch − warmup). Its counter advances only on GAN
// steps, and BeforeStep zeroes it with the rest of its state on a restart.
// Without epochs there is no warmup.
func (t *DualTokenTask) DiscGroup(steps int, lr, beta1, beta2 float64) Group {
	warm := float64(t.EpochSteps) / 2
	return Group{Name: DiscAdamScope, Match: isDisc, Beta1: beta1, Beta2: beta2, LR: lr, MinLR: lr * 4 / 7.2,
		WarmupSteps: warm, PeriodSteps: max(float64(steps)-warm, 1)}
}

func isDisc(v *model.Variable) bool {
	return strings.HasPrefix(v.Path(), model.ScopeSeparator+DiscScope+model.ScopeSeparator)
}

func (t *DualTokenTask) augmentScale() [2]float64 {
	if t.AugmentScale == [2]float64{} {
		return [2]float64{0.9, 1}
	}
	return t.AugmentScale
}

// augmentRender is the size scenes are rendered at before the crop.
func (t *DualTokenTask) augmentRender() int {
	if t.AugmentSize > 0 {
		return t.AugmentSize
	}
	return t.Config.Tower.Vision.ImageSize
}

// pixels renders draws first..first+n-1 (draw j shows scene j, or j mod
// Scenes), augmented when Augment is set: [n,3,S,S] in [-1,1].
func (t *DualTokenTask) pixels(first, n int) *tensors.Tensor {
	size := t.Config.Tower.Vision.ImageSize
	per := 3 * size * size
	px := make([]float32, n*per)
	parallelFor(n, func(i int) {
		j := first + i
		scene := j
		if t.Scenes > 0 {
			scene = j % t.Scenes
		}
		var img *imageio.Image
		if t.Augment {
			render := t.augmentRender()
			rng := rand.New(rand.NewPCG(t.Seed^0x5eed0a0a5eed0a0a, uint64(j)))
			img = imageio.RandomResizedCrop(world.Generate(t.Seed, scene).Image(render), size, t.augmentScale(), imageio.DefaultCropRatio, rng)
		} else {
			img = world.Generate(t.Seed, scene).Image(size)
		}
		imageio.NormalizeInto(px[i*per:(i+1)*per], img, 0.5, 0.5)
	})
	return tensors.FromFlatDataAndDimensions(px, n, 3, size, size)
}

// WorldPixels renders world scenes first..first+n-1 of seed at size×size,
// normalised to [-1,1] as SigLIP's processor: [n,3,size,size] float32.
func WorldPixels(seed uint64, first, n, size int) *tensors.Tensor {
	per := 3 * size * size
	px := make([]float32, n*per)
	parallelFor(n, func(i int) {
		imageio.NormalizeInto(px[i*per:(i+1)*per], world.Generate(seed, first+i).Image(size), 0.5, 0.5)
	})
	return tensors.FromFlatDataAndDimensions(px, n, 3, size, size)
}

// WorldPixelsCycle is WorldPixels over scenes (first+i) mod scenes.
func WorldPixelsCycle(seed uint64, first, n, scenes, size int) *tensors.Tensor {
	per := 3 * size * size
	px := make([]float32, n*per)
	parallelFor(n, func(i int) {
		imageio.NormalizeInto(px[i*per:(i+1)*per], world.Generate(seed, (first+i)%scenes).Image(size), 0.5, 0.5)
	})
	return tensors.FromFlatDataAndDimensions(px, n, 3, size, size)
}

// metricNames are the Loss metrics, in order.
var dualTokenMetrics = []string{"mse", "sem_layer", "sem_pooled", "commit_pix", "commit_sem", "lpips", "gen", "disc", "gen_weight", "logits_real", "logits_fake"}

// MetricNames names Loss's metrics (averages over the micro-batches; 0
// where not computed). "disc" is the discriminator's loss before
// DiscFactor, as the authors log it.
func (t *DualTokenTask) MetricNames() []string { return dualTokenMetrics }

// Loss builds the step's objective over its micro-batches.
func (t *DualTokenTask) Loss(root *model.Scope, inputs []*Node) (*Node, []*Node) {
	g := inputs[0].Graph()
	fc := t.Config
	pixels := inputs[0]
	zero := ScalarZero(g, pixels.DType())
	sums := make([]*Node, len(dualTokenMetrics))
	for i := range sums {
		sums[i] = zero
	}
	total := zero
	var disc dualtoken.Parts
	var discFactor *Node
	if len(inputs) > 1 { // the GAN marker, the disc loss's factor: see CallBatch
		disc = dualtoken.NewParts(root.At(DiscScope), g)
		discFactor = ConvertDType(inputs[1], pixels.DType())
	}
	var lp *model.Scope
	if t.LPIPS {
		lp = root.At(LPIPSScope)
	}
	parts := dualtoken.NewParts(root, g)
	for k := range t.Accum {
		x := Slice(pixels, AxisRange(k*t.MicroBatch, (k+1)*t.MicroBatch))
		out := dualtoken.Forward(root, fc, x, dualtoken.Options{Train: true, Decode: t.Mode.Decode, Pooled: t.Mode.Semantic, SkipPixel: !t.Mode.Decode})
		in := dualtoken.LossInputs{Out: out, Pixels: x, Target: x, LPIPSScope: lp, Disc: disc}
		if t.Mode.Semantic {
			in.FrozenH, in.FrozenP = dualtoken.FrozenTargets(root.At(FrozenScope), fc.TowerVision(), x, fc.LayerSem)
		}
		if disc.Scope != nil {
			in.ConvOut = parts.At("decoder.conv_out").W("weight")
		}
		terms := dualtoken.Objective(t.Weights, in)
		step := terms.Total
		if terms.DiscLoss != nil {
			step = Add(step, Mul(discFactor, terms.DiscLoss))
		}
		total = Add(total, step)
		for i, m := range []*Node{terms.PixelMSE, terms.SemLayer, terms.SemPooled, terms.CommitPix, terms.CommitSem, terms.LPIPS,
			terms.GenLoss, terms.DiscLoss, terms.AdaptiveW, terms.LogitsReal, terms.LogitsFake} {
			if m != nil {
				sums[i] = Add(sums[i], StopGradient(m))
			}
		}
	}
	inv := 1 / float64(t.Accum)
	for i := range sums {
		sums[i] = MulScalar(sums[i], inv)
	}
	return MulScalar(total, inv), sums
}

// Fingerprint covers everything that shapes the trajectory besides the loop's Config.
func (t *DualTokenTask) Fingerprint() string {
	b, _ := json.Marshal([]any{dualtoken.ConfigJSON(t.Config), t.Mode, t.Weights, t.Disc, t.GANStart, t.MicroBatch, t.Accum, t.Seed, t.Scenes, t.LPIPS,
		t.EpochSteps, t.DiscRestartEpochs, t.Augment, t.augmentScale(), t.AugmentSize, precision.Compute(t.Config.DType).String()})
	// The tower's gradient checkpointing is left out on purpose: it changes
	// memory, not the trajectory, so a resumed run may switch it.
	h := sha256.Sum256(b)
	return "dualtoken:" + t.Mode.ID + ":" + hex.EncodeToString(h[:8])
}

// NoDecay is the weight-decay exclusion for DualToken runs: rank <= 1
// (biases, gains, scalars) and the whole discriminator (the authors' Adam
// for it has weight_decay 0).
func NoDecay(v *model.Variable) bool {
	return v.Shape().Rank() <= 1 || isDisc(v)
}

// NewDualTokenStore builds the training store of t from the initial tower:
// tower (vision trainable unless the mode freezes it; text tower and logit
// parameters frozen), the parts initialised from seed, the frozen copy of
// the vision tower and the discriminator.
func NewDualTokenStore(t *DualTokenTask, tower *siglip.Model, seed uint64) (*model.Store, error) {
	m := dualtoken.NewModel(nil, t.Config)
	if err := m.Init(tower, seed); err != nil {
		return nil, err
	}
	store := m.Store
	vision := model.ScopeSeparator + "vision_model" + model.ScopeSeparator
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), vision) {
			v.SetTrainable(!t.Mode.FreezeTower)
		} else if isTowerPath(v.Path()) {
			v.SetTrainable(false)
		}
	}
	frozen := store.RootScope().At(FrozenScope)
	for v := range tower.Store.RootScope().IterVariables() {
		if !strings.HasPrefix(v.Path(), vision) {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		c, err := val.LocalClone()
		if err != nil {
			return nil, err
		}
		nv, err := store.CreateVariable(model.JoinPath(frozen.Scope(), v.Path()), c)
		if err != nil {
			return nil, err
		}
		nv.SetTrainable(false)
	}
	if t.Disc.NDF > 0 && t.Mode.Decode { // the weights BeforeStep gives it at GANStart
		if err := dualtoken.InitDiscriminator(store.RootScope().At(DiscScope), t.Disc, t.discSeed(0)); err != nil {
			return nil, err
		}
	}
	if err := store.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, err
	}
	return store, nil
}

func isTowerPath(p string) bool {
	for _, s := range []string{"vision_model", "text_model", "logit_scale", "logit_bias"} {
		if strings.HasPrefix(p, model.ScopeSeparator+s) {
			return true
		}
	}
	return false
}

// LoadLPIPS loads LPIPS's two weight files into store under /lpips (never
// trained). Without the files a DualToken run has no perceptual loss.
func LoadLPIPS(store *model.Store, vggPath, linPath string) error {
	if err := lpips.LoadFiles(store.RootScope().At(LPIPSScope), vggPath, linPath); err != nil {
		return err
	}
	for v := range store.RootScope().At(LPIPSScope).IterVariables() {
		v.SetTrainable(false)
	}
	return nil
}

// ExportTokenizer copies the tokenizer's weights (the tower's HF table and
// the parts' names; not the frozen copy, discriminator or optimizer state)
// from a training store into a fresh Model for fc.
func ExportTokenizer(store *model.Store, fc *dualtoken.FullConfig) (*dualtoken.Model, error) {
	m := dualtoken.NewModel(nil, fc)
	var names []string
	for _, e := range siglip.Table(fc.Tower) {
		names = append(names, e.Name)
	}
	for _, p := range dualtoken.Params(fc.Config) {
		names = append(names, p.Name)
	}
	for _, n := range names {
		path := model.ScopeSeparator + strings.ReplaceAll(n, ".", model.ScopeSeparator)
		v := store.GetVariable(path)
		if v == nil {
			return nil, fmt.Errorf("dualtoken training: the store has no variable %s (%s)", path, n)
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		c, err := val.LocalClone()
		if err != nil {
			return nil, err
		}
		if _, err := m.Store.CreateVariable(path, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
