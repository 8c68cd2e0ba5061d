package train

// DualToken tokenizer training on the procedural world, for the generic loop.
//
// A DualTokenTask is one row of the paper's Table 3 (a Mode applied to a base
// configuration): its store holds the SigLIP tower at the root (HF names, the
// text tower and logit scale/bias frozen), the tokenizer parts (authors'
// names; codebooks learned only by their in-graph EMA), a frozen copy of the
// initial vision tower under /frozen (semantic targets), the discriminator
// under /disc and, when given, LPIPS under /lpips. The loss is
// dualtoken.Objective plus the discriminator's hinge loss: the generator side
// reads the discriminator's weights as constants and the discriminator side
// sees the reconstruction detached, so one backward pass trains both (with
// the loop's single Adam: the authors use betas (0.5, 0.9) for both, and no
// weight decay on the discriminator, see NoDecay).
//
// Gradient accumulation: a step holds Accum micro-batches of Batch images,
// run one after the other inside the compiled step; the codebook EMA and
// restarts chain across them (micro-batch k+1 quantises with the codebook
// micro-batch k updated, as k+1 torch forwards before one optimizer.step
// would) and the loss, hence the gradient, is their mean. The generic loop
// compiles one graph per step, so memory is that of the whole step's batch.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/world"
)

// Scopes of a DualToken training store besides the root.
const (
	FrozenScope = "frozen" // the initial vision tower, never trained
	DiscScope   = "disc"   // the discriminator
	LPIPSScope  = "lpips"  // LPIPS VGG16 + heads, never trained
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
	Accum      int    // micro-batches per optimizer step (>= 1)
	Seed       uint64 // world seed of the training scenes
	// Scenes > 0 cycles through world scenes 0..Scenes-1 (a fixed small set,
	// to test that the model can overfit); 0 draws fresh scenes every step.
	Scenes int
	// LPIPS is true when LPIPS weights were loaded (LoadLPIPS).
	LPIPS bool
}

// Validate checks the task's sizes.
func (t *DualTokenTask) Validate() error {
	if t.MicroBatch < 1 || t.Accum < 1 {
		return fmt.Errorf("dualtoken training: batch %d and accum %d must be >= 1", t.MicroBatch, t.Accum)
	}
	s := t.Config.Tower.Vision.ImageSize
	if h, w := t.Config.OutputSide(); t.Mode.Decode && (h != s || w != s) {
		return fmt.Errorf("dualtoken training: the decoder outputs %dx%d but the tower takes %dx%d images: reconstruction needs equal sizes", h, w, s, s)
	}
	return nil
}

// Batch returns step's images [Accum·MicroBatch,3,S,S] (world scenes
// step·N … step·N+N−1 of Seed, N = Accum·MicroBatch, in [-1,1]); from
// GANStart on (with a discriminator) also a scalar marker: the step's
// compiled graph, cached by its inputs, then includes the discriminator, so
// the steps before GANStart run a graph without it (it costs as much as the
// rest of the step on CPU).
func (t *DualTokenTask) Batch(step int) ([]*tensors.Tensor, error) {
	n := t.MicroBatch * t.Accum
	var px *tensors.Tensor
	if t.Scenes > 0 {
		px = WorldPixelsCycle(t.Seed, step*n, n, t.Scenes, t.Config.Tower.Vision.ImageSize)
	} else {
		px = WorldPixels(t.Seed, step*n, n, t.Config.Tower.Vision.ImageSize)
	}
	if t.GANOn(step) {
		return []*tensors.Tensor{px, tensors.FromScalar(float32(1))}, nil
	}
	return []*tensors.Tensor{px}, nil
}

// GANOn reports whether step trains with the discriminator.
func (t *DualTokenTask) GANOn(step int) bool {
	return t.Disc.NDF > 0 && t.Mode.Decode && t.Weights.GAN != 0 && step >= t.GANStart
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

// MetricNames names Loss's metrics (averages over the micro-batches; 0 where not computed).
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
	if len(inputs) > 1 { // the GAN marker: see Batch
		disc = dualtoken.NewParts(root.At(DiscScope), g)
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
			in.FrozenH, in.FrozenP = dualtoken.FrozenTargets(root.At(FrozenScope), &fc.Tower.Vision, x, fc.LayerSem)
		}
		if disc.Scope != nil {
			in.ConvOut = parts.At("decoder.conv_out").W("weight")
		}
		terms := dualtoken.Objective(t.Weights, in)
		step := terms.Total
		if terms.DiscLoss != nil {
			step = Add(step, terms.DiscLoss)
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
	b, _ := json.Marshal([]any{dualtoken.ConfigJSON(t.Config), t.Mode, t.Weights, t.Disc, t.GANStart, t.MicroBatch, t.Accum, t.Seed, t.Scenes, t.LPIPS})
	h := sha256.Sum256(b)
	return "dualtoken:" + t.Mode.ID + ":" + hex.EncodeToString(h[:8])
}

// NoDecay is the weight-decay exclusion for DualToken runs: rank <= 1
// (biases, gains, scalars) and the whole discriminator (the authors' Adam
// for it has weight_decay 0).
func NoDecay(v *model.Variable) bool {
	return v.Shape().Rank() <= 1 || strings.HasPrefix(v.Path(), model.ScopeSeparator+DiscScope+model.ScopeSeparator)
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
	if t.Disc.NDF > 0 && t.Mode.Decode {
		if err := dualtoken.InitDiscriminator(store.RootScope().At(DiscScope), t.Disc, seed+1); err != nil {
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
