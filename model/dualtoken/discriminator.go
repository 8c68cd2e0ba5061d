package dualtoken

// The authors' PatchGAN-like discriminator (vqgan/discriminator.py,
// NLayerDiscriminator with n_layers 3, no ActNorm), under their names:
//
//	main.0  Conv2d(3, ndf, k3, s2, p1) + LeakyReLU(0.2)
//	main.1..n  pre-activation ResnetBlocks: GN32 -> LeakyReLU(0.2) -> Conv(k3, stride, p1);
//	           shortcut = 1x1 conv of x bilinearly resized to the block's output size
//	           channels ndf·min(2^i, 8); stride 2, the last (i = n) stride 1
//	main.n+1  Conv2d(ndf·min(2^n, 8), 1, k3, s1, p1) -> patch logits
//
// Weights init N(0, 0.02) (weights_init), biases torch's default.

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/conv"
)

// DiscConfig sizes the discriminator.
type DiscConfig struct {
	NDF     int `json:"ndf"`      // base channels (64 in the paper); multiples of 32 (GroupNorm 32)
	NLayers int `json:"n_layers"` // strided blocks + 1 (3)
	InCh    int `json:"in_ch"`    // image channels (3)
}

// DefaultDiscConfig is the authors' (ndf 64, 3 layers).
func DefaultDiscConfig() DiscConfig { return DiscConfig{NDF: 64, NLayers: 3, InCh: 3} }

// discBlock is one ResnetBlock: name, channels in/out, stride.
type discBlock struct {
	name    string
	in, out int
	stride  int
}

func (d DiscConfig) blocks() []discBlock {
	var bs []discBlock
	mult := 1
	for n := 1; n < d.NLayers; n++ {
		prev := mult
		mult = min(1<<n, 8)
		bs = append(bs, discBlock{fmt.Sprintf("main.%d", n+1), d.NDF * prev, d.NDF * mult, 2})
	}
	prev := mult
	mult = min(1<<d.NLayers, 8)
	bs = append(bs, discBlock{fmt.Sprintf("main.%d", d.NLayers+1), d.NDF * prev, d.NDF * mult, 1})
	return bs
}

// DiscParams lists the discriminator's tensors by the authors' names.
func DiscParams(d DiscConfig) []Param {
	var ps []Param
	add := func(name string, shape ...int) { ps = append(ps, Param{name, shape, KindParam}) }
	add("main.0.weight", d.NDF, d.InCh, 3, 3)
	add("main.0.bias", d.NDF)
	bs := d.blocks()
	for _, b := range bs {
		add(b.name+".norm1.weight", b.in)
		add(b.name+".norm1.bias", b.in)
		add(b.name+".conv1.weight", b.out, b.in, 3, 3)
		add(b.name+".conv1.bias", b.out)
		add(b.name+".nin_shortcut.weight", b.out, b.in, 1, 1)
		add(b.name+".nin_shortcut.bias", b.out)
	}
	last := fmt.Sprintf("main.%d", d.NLayers+2)
	add(last+".weight", 1, bs[len(bs)-1].out, 3, 3)
	add(last+".bias", 1)
	return ps
}

// InitDiscriminator creates the discriminator's variables under scope:
// conv weights N(0, 0.02), conv biases U(±1/sqrt(fan_in)), GroupNorm 1 and 0.
func InitDiscriminator(scope *model.Scope, d DiscConfig, seed uint64) error {
	if d.NDF%32 != 0 || d.NDF <= 0 || d.NLayers < 1 {
		return fmt.Errorf("dualtoken: discriminator ndf = %d, n_layers = %d: ndf must be a positive multiple of 32 (GroupNorm 32), n_layers >= 1", d.NDF, d.NLayers)
	}
	rng := rand.New(rand.NewPCG(seed, 0xd15c))
	ps := DiscParams(d)
	fan := map[string]int{}
	for _, p := range ps {
		if len(p.Shape) == 4 {
			fan[p.Name[:len(p.Name)-len("weight")]] = p.Shape[1] * p.Shape[2] * p.Shape[3]
		}
	}
	for _, p := range ps {
		n := 1
		for _, x := range p.Shape {
			n *= x
		}
		v := make([]float32, n)
		switch {
		case len(p.Shape) == 4:
			for i := range v {
				v[i] = float32(0.02 * rng.NormFloat64())
			}
		case hasSuffix(p.Name, "norm1.weight"):
			for i := range v {
				v[i] = 1
			}
		case hasSuffix(p.Name, "norm1.bias"):
		default: // conv bias
			bound := 1 / math.Sqrt(float64(fan[p.Name[:len(p.Name)-len("bias")]]))
			for i := range v {
				v[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		if err := SetValue(scope, p.Name, tensors.FromFlatDataAndDimensions(v, p.Shape...)); err != nil {
			return err
		}
		Variable(scope, p.Name).SetTrainable(true)
	}
	return nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// Discriminator returns the patch logits [B,h,w,1] of images x [B,C,H,W].
// With constWeights the weights are read through StopGradient, so a loss
// on the logits trains only what produced x (the generator side).
func Discriminator(p Parts, x *Node, constWeights bool) *Node {
	w := func(q Parts, leaf string) *Node {
		n := q.W(leaf)
		if constWeights {
			n = StopGradient(n)
		}
		return n
	}
	convS := func(q Parts, h *Node, stride, pad int) *Node {
		k := TransposeAllAxes(w(q, "weight"), 2, 3, 1, 0) // OIHW -> HWIO
		y := conv.Conv2D(h, k, stride, stride, conv.Sym(pad))
		return Add(y, trailing(w(q, "bias"), 4))
	}
	gn := func(q Parts, h *Node) *Node {
		d := h.Shape().Dimensions
		c := d[3]
		r := Reshape(h, d[0], d[1]*d[2], 32, c/32)
		mean := ReduceAndKeep(r, ReduceMean, 1, 3)
		rc := Sub(r, mean)
		variance := ReduceAndKeep(Square(rc), ReduceMean, 1, 3)
		y := Reshape(Div(rc, Sqrt(AddScalar(variance, 1e-6))), d...)
		return Add(Mul(y, trailing(w(q, "weight"), 4)), trailing(w(q, "bias"), 4))
	}
	h := nhwc(x)
	h = leakyReLU(convS(p.At("main.0"), h, 2, 1), 0.2)
	nBlocks := 0
	for {
		q := p.At(fmt.Sprintf("main.%d", nBlocks+2))
		if Variable(p.Scope, q.Name()+".norm1.weight") == nil {
			break
		}
		stride := 2
		if Variable(p.Scope, p.At(fmt.Sprintf("main.%d", nBlocks+3)).Name()+".norm1.weight") == nil {
			stride = 1 // the last block
		}
		y := convS(q.At("conv1"), leakyReLU(gn(q.At("norm1"), h), 0.2), stride, 1)
		sd := y.Shape().Dimensions
		s := h
		if hd := h.Shape().Dimensions; hd[1] != sd[1] || hd[2] != sd[2] {
			s = resizeBilinear(h, sd[1], sd[2])
		}
		h = Add(convS(q.At("nin_shortcut"), s, 1, 0), y)
		nBlocks++
	}
	return convS(p.At(fmt.Sprintf("main.%d", nBlocks+2)), h, 1, 1)
}
