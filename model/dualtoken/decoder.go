package dualtoken

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/dualtoken/evalharness/model/precision"
)

// resnetBlock is the VQGAN ResnetBlock without time embedding, and equally
// the PostQuantResnetBlock / ProjectResnetBlock (their conv1 is 1x1 instead
// of 3x3, which conv2d reads from the weight): GN32 -> SiLU -> conv1 ->
// GN32 -> SiLU -> conv2, plus x, or nin_shortcut(x) when the width changes.
// x [B, H, W, Cin] -> [B, H, W, Cout].
func resnetBlock(p Parts, x *Node) *Node {
	h := conv2d(p.At("conv1"), silu(normalize(p.At("norm1"), x)))
	h = conv2d(p.At("conv2"), silu(normalize(p.At("norm2"), h)))
	if x.Shape().Dimensions[3] != h.Shape().Dimensions[3] {
		x = conv2d(p.At("nin_shortcut"), x)
	}
	return Add(x, h)
}

// attnBlock is the VQGAN single-head spatial self-attention with 1x1 conv
// q/k/v/proj_out and a residual: x [B, H, W, C] -> same.
func attnBlock(p Parts, x *Node) *Node {
	d := x.Shape().Dimensions
	b, hw, c := d[0], d[1]*d[2], d[3]
	h := normalize(p.At("norm"), x)
	q := Reshape(conv2d(p.At("q"), h), b, hw, c)
	k := Reshape(conv2d(p.At("k"), h), b, hw, c)
	v := Reshape(conv2d(p.At("v"), h), b, hw, c)
	w := MulScalar(precision.DotF32(q, []int{2}, []int{0}, k, []int{2}, []int{0}), 1/math.Sqrt(float64(c))) // [B, HW(q), HW(k)] float32
	w = precision.As(Softmax(w, -1), x.DType())
	out := DotGeneral(w, []int{2}, []int{0}, v, []int{1}, []int{0}) // [B, HW(q), C]
	return Add(x, conv2d(p.At("proj_out"), Reshape(out, d...)))
}

// Decoder is the taming-VQGAN decoder: conv_in, mid (block, attn, block),
// then from the lowest level up num_res_blocks+1 res blocks per level (each
// followed by attention at the attn_resolutions), nearest x2 upsample (+3x3
// conv) between levels, then GN -> SiLU -> conv_out (no tanh).
// z [B, h, w, decoder_in_channels] -> [B, h*2^(L-1), w*2^(L-1), out_ch]
// (channels-last), in p's compute dtype.
func Decoder(p Parts, d DecoderConfig, z *Node) *Node {
	h := conv2d(p.At("conv_in"), precision.As(z, p.dt()))
	h = resnetBlock(p.At("mid.block_1"), h)
	h = attnBlock(p.At("mid.attn_1"), h)
	h = resnetBlock(p.At("mid.block_2"), h)
	res := d.LatentSide() // attention placement follows the config, as the authors'
	for level := len(d.ChMult) - 1; level >= 0; level-- {
		up := p.At(fmt.Sprintf("up.%d", level))
		for b := 0; b <= d.NumResBlocks; b++ {
			h = resnetBlock(up.At(fmt.Sprintf("block.%d", b)), h)
			if hasAttn(d, res) {
				h = attnBlock(up.At(fmt.Sprintf("attn.%d", b)), h)
			}
		}
		if level != 0 {
			// Phases only outside training: GoMLX v0.28.16 cannot build the
			// gradient of a low-padded 2x2 Convolve (XLA's path).
			if d.ResampWithConv && upsampleConvForm() == UpsamplePhases && !p.Scope.IsTraining(p.G) {
				h = upsampleConv2d(up.At("upsample.conv"), h)
			} else {
				h = upsampleNearest2x(h)
				if d.ResampWithConv {
					h = conv2d(up.At("upsample.conv"), h)
				}
			}
			res *= 2
		}
	}
	if d.GivePreEnd {
		return h
	}
	h = silu(normalize(p.At("norm_out"), h))
	return conv2d(p.At("conv_out"), h)
}
