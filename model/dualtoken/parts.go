package dualtoken

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/precision"
)

// heads is the attention projections' head count: hidden / code width.
func heads(cfg *Config, v VQConfig) int { return cfg.HiddenSize / v.EmbedDim }

// tokensToMap turns tokens [B, L, C] (raster order) into a torch-layout map
// [B, C, G, G], as the fixtures feed the 2025 blocks.
func tokensToMap(x *Node) *Node { return nchw(tokensToGrid(x)) }

func gridSide(l int) int {
	g := 0
	for g*g < l {
		g++
	}
	if g*g != l {
		exceptions.Panicf("dualtoken: %d tokens do not form a square grid", l)
	}
	return g
}

// Prequant projects tower states h [B, L, C] to codes' width [B, L, E] with
// module name ("prequant_pix", "prequant_shortcut", "prequant_sem"), in p's
// compute dtype.
func Prequant(p Parts, cfg *Config, v VQConfig, name string, h *Node) *Node {
	m := p.At(name)
	h = precision.As(h, p.dt())
	if cfg.Projection == ProjectionConv {
		return gridToTokens(resnetBlock(m, tokensToGrid(h)))
	}
	return AttnProjection(m, h, heads(cfg, v), false)
}

// Postquant projects quantised tokens z [B, L, E] back to the tower width
// [B, L, C] with module name ("postquant_pix", "postquant_sem"), in p's
// compute dtype.
func Postquant(p Parts, cfg *Config, v VQConfig, name string, z *Node) *Node {
	m := p.At(name)
	z = precision.As(z, p.dt())
	if cfg.Projection == ProjectionConv {
		return gridToTokens(resnetBlock(m, tokensToGrid(z)))
	}
	return AttnProjection(m, z, heads(cfg, v), cfg.CausalUp)
}

// PixelLatent is the pixel branch's quantiser input [B, G, G, E]:
// prequant_pix(h_recon) + weight_shortcut * prequant_shortcut(h_shortcut)
// (hShortcut is ignored, and may be nil, without a shortcut layer).
func PixelLatent(p Parts, cfg *Config, hRecon, hShortcut *Node) *Node {
	z := Prequant(p, cfg, cfg.Pix, "prequant_pix", hRecon)
	if cfg.HasShortcut() {
		z = Add(z, MulScalar(Prequant(p, cfg, cfg.Pix, "prequant_shortcut", hShortcut), cfg.WeightShortcut))
	}
	return tokensToGrid(z)
}

// SemanticLatent is the semantic quantiser input [B, G, G, E] = prequant_sem(h_sem).
func SemanticLatent(p Parts, cfg *Config, hSem *Node) *Node {
	return tokensToGrid(Prequant(p, cfg, cfg.Sem, "prequant_sem", hSem))
}

// tokensToGrid reshapes [B, L, E] to [B, G, G, E].
func tokensToGrid(z *Node) *Node {
	d := z.Shape().Dimensions
	g := gridSide(d[1])
	return Reshape(z, d[0], g, g, d[2])
}

// gridToTokens reshapes [B, G, G, E] to [B, G*G, E].
func gridToTokens(z *Node) *Node {
	d := z.Shape().Dimensions
	return Reshape(z, d[0], d[1]*d[2], d[3])
}

// QuantizePixels / QuantizeSemantic run the branch quantisers (see Quantize).
func QuantizePixels(p Parts, cfg *Config, z *Node, train bool) QuantOutput {
	return Quantize(p.At("quantizer_pix"), cfg.Pix, z, train)
}

// QuantizeSemantic runs the semantic quantiser (see Quantize).
func QuantizeSemantic(p Parts, cfg *Config, z *Node, train bool) QuantOutput {
	return Quantize(p.At("quantizer_sem"), cfg.Sem, z, train)
}

// SemanticPostquant maps the quantised semantic latent zq [B, G, G, E] back
// to tower states [B, L, C]; they replace the layer_sem hidden state.
func SemanticPostquant(p Parts, cfg *Config, zq *Node) *Node {
	d := zq.Shape().Dimensions
	return Postquant(p, cfg, cfg.Sem, "postquant_sem", Reshape(zq, d[0], d[1]*d[2], d[3]))
}

// Decoded holds the pixel decoder's intermediate and final values, maps in
// torch's channels-first layout, in the parts' compute dtype.
type Decoded struct {
	Postquant     *Node // [B, L, C] postquant_pix output
	LatentResized *Node // [B, C, h, w] bilinear to decoder_latent_shape
	PostQuantConv *Node // [B, decoder_in_channels, h, w]
	Images        *Node // [B, out_ch, H, W], compared with inputs in [-1, 1]
}

// DecodePixels decodes the quantised pixel latent zq [B, G, G, E]:
// postquant_pix -> [B, C, G, G] -> bilinear resize (align_corners False, no
// antialias) to decoder_latent_shape -> post_quant_conv -> decoder.
func DecodePixels(p Parts, cfg *Config, zq *Node) Decoded {
	d := zq.Shape().Dimensions
	var out Decoded
	out.Postquant = Postquant(p, cfg, cfg.Pix, "postquant_pix", Reshape(zq, d[0], d[1]*d[2], d[3]))
	oh, ow := cfg.DecoderLatent()
	x := resizeBilinear(Reshape(out.Postquant, d[0], d[1], d[2], -1), oh, ow) // [B, h, w, C]
	y := resnetBlock(p.At("post_quant_conv"), x)
	out.LatentResized, out.PostQuantConv = nchw(x), nchw(y)
	out.Images = nchw(Decoder(p.At("decoder"), cfg.Decoder, y))
	return out
}

// ConvBlockForward runs a standalone ProjectResnetBlock (Config.ConvBlocks) on x [B, C, H, W].
func ConvBlockForward(p Parts, name string, x *Node) *Node {
	return ProjectResnetBlock(p.At(name), x)
}
