package dualtoken

// The training objective (the authors' 2026 train_one_epoch, stage 1):
//
//	L = sem·[5·(MSE − cos)(postquant_sem, F0_layer_sem) + 1·(MSE − cos)(pooled, F0_pooled)]
//	  + 5·(commit_pix + commit_sem) + 5·MSE(x̂, x) + 1·LPIPS(x̂, x) + g_w·0.75·L_G
//
// F0 comes from a frozen copy of the initial tower; g_w is the VQGAN
// adaptive weight |∇_last nll| / (|∇_last L_G| + 1e-4) at the decoder's
// conv_out, clamped to [0.3, 10] and detached, with nll = MSE + LPIPS (the
// unweighted terms, as the authors). The discriminator's loss is the leaky
// hinge 0.5·(mean lrelu(1 − D(x)) + mean lrelu(1 + D(x̂))).

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/siglip"
)

// LossWeights are the objective's coefficients (see the file comment).
type LossWeights struct {
	SemLayer  float64 `json:"sem_layer"`  // (MSE − cos) of the post-quant semantic state vs the frozen layer_sem state (5)
	SemPooled float64 `json:"sem_pooled"` // (MSE − cos) of the pooled output vs the frozen pooled output (1)
	Commit    float64 `json:"commit"`     // commitment losses of both quantisers (5)
	PixelMSE  float64 `json:"pixel_mse"`  // MSE(x̂, x) in [-1, 1] units (5)
	LPIPS     float64 `json:"lpips"`      // LPIPS VGG16 (1); 0 runs without it
	GAN       float64 `json:"gan"`        // generator loss weight d_weight (0.75); 0 disables the discriminator
	// AdaptiveMin/Max clamp the adaptive generator weight ([0.3, 10]).
	AdaptiveMin float64 `json:"adaptive_min"`
	AdaptiveMax float64 `json:"adaptive_max"`
}

// DefaultLossWeights are the authors' 2026 values.
func DefaultLossWeights() LossWeights {
	return LossWeights{SemLayer: 5, SemPooled: 1, Commit: 5, PixelMSE: 5, LPIPS: 1, GAN: 0.75, AdaptiveMin: 0.3, AdaptiveMax: 10}
}

// SemanticDistance is MSE(x, y) − mean cosine(x, y) over the last axis (the
// authors' nn.MSELoss + −F.cosine_similarity(dim=−1).mean(), cosine eps 1e-8).
func SemanticDistance(x, y *Node) *Node {
	mse := ReduceAllMean(Square(Sub(x, y)))
	axis := x.Rank() - 1
	dot := ReduceSum(Mul(x, y), axis)
	nx := Sqrt(ReduceSum(Square(x), axis))
	ny := Sqrt(ReduceSum(Square(y), axis))
	cos := Div(dot, Max(Mul(nx, ny), Scalar(x.Graph(), x.DType(), 1e-8)))
	return Sub(mse, ReduceAllMean(cos))
}

// FrozenTargets runs the frozen initial tower (variables under frozen, HF
// names, never trained) on pixels: its layer `layer` state [B,L,C] and its
// pooled output [B,C], both without gradient.
func FrozenTargets(frozen *model.Scope, vc *siglip.VisionConfig, pixels *Node, layer int) (hLayer, pooled *Node) {
	vs := siglip.VisionScope(frozen)
	x := siglip.VisionEmbeddings(vs, vc, pixels)
	for i := range layer {
		x = siglip.VisionLayer(vs, vc, i, x)
	}
	_, pooled = siglip.VisionFrom(vs, vc, x, layer)
	// The tower runs in vc's compute dtype; the targets are float32 like the
	// rest of the objective.
	return StopGradient(ConvertDType(x, dtypes.Float32)), StopGradient(ConvertDType(pooled, dtypes.Float32))
}

// Terms are the objective's parts for one batch (nil when not computed).
type Terms struct {
	Total                  *Node // generator/tokenizer objective
	SemLayer, SemPooled    *Node
	CommitPix, CommitSem   *Node
	PixelMSE, LPIPS        *Node
	GenLoss, AdaptiveW     *Node
	DiscLoss               *Node // to add to Total when the discriminator trains in the same step
	LogitsReal, LogitsFake *Node // mean discriminator logits
}

// LossInputs are what Objective reads.
type LossInputs struct {
	Out     Outputs // a train-mode Forward with Decode and (for the semantic loss) Pooled
	Pixels  *Node   // the input images [B,3,S,S] in [-1,1]
	Target  *Node   // the reconstruction target [B,3,S',S'] (= Pixels when S' = S)
	FrozenH *Node   // frozen layer_sem state, nil without the semantic loss
	FrozenP *Node   // frozen pooled output
	// LPIPSScope holds loaded LPIPS weights; nil skips LPIPS whatever its weight.
	LPIPSScope *model.Scope
	// Disc reads the discriminator; zero Parts skips the GAN terms.
	Disc Parts
	// ConvOut is the decoder's last weight, for the adaptive weight.
	ConvOut *Node
}

// Objective builds the objective's terms.
func Objective(w LossWeights, in LossInputs) Terms {
	o := in.Out
	g := in.Pixels.Graph()
	zero := ScalarZero(g, in.Pixels.DType())
	var t Terms
	total := zero
	add := func(weight float64, term *Node) {
		if term != nil && weight != 0 {
			total = Add(total, MulScalar(term, weight))
		}
	}
	if in.FrozenH != nil && o.SemState != nil {
		t.SemLayer = SemanticDistance(o.SemState, in.FrozenH)
		add(w.SemLayer, t.SemLayer)
	}
	if in.FrozenP != nil && o.Pooled != nil {
		t.SemPooled = SemanticDistance(o.Pooled, in.FrozenP)
		add(w.SemPooled, t.SemPooled)
	}
	t.CommitPix = o.Pix.Commit
	add(w.Commit, t.CommitPix)
	if o.Sem.Commit != nil && o.Sem.Commit != o.Pix.Commit {
		t.CommitSem = o.Sem.Commit
		add(w.Commit, t.CommitSem)
	}
	if o.Decoded == nil {
		t.Total = total
		return t
	}
	x := o.Decoded.Images
	t.PixelMSE = ReduceAllMean(Square(Sub(x, in.Target)))
	add(w.PixelMSE, t.PixelMSE)
	nll := t.PixelMSE
	if in.LPIPSScope != nil && w.LPIPS != 0 {
		t.LPIPS = ReduceAllMean(lpips.Distance(in.LPIPSScope, x, in.Target))
		add(w.LPIPS, t.LPIPS)
		nll = Add(nll, MulScalar(t.LPIPS, w.LPIPS))
	}
	if in.Disc.Scope != nil && w.GAN != 0 {
		// Generator side: the discriminator's weights are constants here, so
		// L_G trains only the tokenizer; the discriminator side sees x̂
		// detached, so L_D trains only the discriminator. One backward pass
		// then serves both.
		fake := Discriminator(in.Disc, x, true)
		t.GenLoss = Neg(ReduceAllMean(fake))
		gNll := Gradient(nll, in.ConvOut)[0]
		gGen := Gradient(t.GenLoss, in.ConvOut)[0]
		aw := Div(frobenius(gNll), AddScalar(frobenius(gGen), 1e-4))
		t.AdaptiveW = StopGradient(Clip(aw, Scalar(g, aw.DType(), w.AdaptiveMin), Scalar(g, aw.DType(), w.AdaptiveMax)))
		total = Add(total, MulScalar(Mul(t.AdaptiveW, t.GenLoss), w.GAN))

		real := Discriminator(in.Disc, in.Target, false)
		fakeD := Discriminator(in.Disc, StopGradient(x), false)
		t.LogitsReal, t.LogitsFake = ReduceAllMean(real), ReduceAllMean(fakeD)
		t.DiscLoss = HingeDLoss(real, fakeD)
	}
	t.Total = total
	return t
}

// frobenius is the L2 norm of all of x's elements.
func frobenius(x *Node) *Node { return Sqrt(ReduceAllSum(Square(x))) }

// HingeDLoss is the authors' leaky hinge: 0.5·(mean lrelu(1 − real) + mean lrelu(1 + fake)).
func HingeDLoss(real, fake *Node) *Node {
	l := func(x *Node) *Node { return ReduceAllMean(leakyReLU(x, 0.01)) } // F.leaky_relu default slope
	return MulScalar(Add(l(OneMinus(real)), l(OnePlus(fake))), 0.5)
}

func leakyReLU(x *Node, slope float64) *Node {
	return Where(GreaterOrEqual(x, ZerosLike(x)), x, MulScalar(x, slope))
}
