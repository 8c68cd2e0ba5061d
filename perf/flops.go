package perf

// Analytic FLOP counts of the benchmarked components.
//
// Convention (the one MFU figures use): a multiply-add is 2 FLOPs, and only
// the products are counted — dense layers, convolutions, attention's q·kᵀ and
// p·v, the quantisers' distance matmuls. Norms, activations, softmax,
// residual adds, resizes, gathers and pooling are left out (they are memory
// bound and a few percent of the total at the preset sizes). Counts are the
// useful work of the algorithm: causal attention counts the key positions a
// query may see, not the masked square an implementation may compute.

import (
	"slices"
	"strings"

	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
)

// Matmul is the FLOP count of an [m,k]·[k,n] product: 2·m·n·k.
func Matmul(m, n, k int) float64 { return 2 * float64(m) * float64(n) * float64(k) }

// conv is a k×k convolution producing an h×w map of cout channels from cin.
func conv(h, w, cin, cout, k int) float64 { return Matmul(h*w, cout, cin*k*k) }

// encoderLayer is one pre-LN transformer block on n tokens of width d with
// MLP width m: q, k, v, o projections (8·n·d²), q·kᵀ and p·v (4·n²·d) and the
// two MLP matmuls (4·n·d·m).
func encoderLayer(n, d, m int) float64 {
	return 4*Matmul(n, d, d) + 2*Matmul(n, n, d) + 2*Matmul(n, m, d)
}

// SiglipVision is the FLOPs of one image through the vision tower: patch
// embedding (a matmul over C·p² values per patch), the encoder layers and the
// MAP head (probe query projection, k/v projections of the N tokens, one
// query's attention, output projection, MLP).
func SiglipVision(c *siglip.VisionConfig) float64 {
	n, d := c.NumPatches(), c.HiddenSize
	f := Matmul(n, d, c.NumChannels*c.PatchSize*c.PatchSize)
	f += float64(c.NumLayers) * encoderLayer(n, d, c.IntermediateSize)
	if c.UseHead {
		f += Matmul(1, d, d) + 2*Matmul(n, d, d) + 2*Matmul(1, n, d) + Matmul(1, d, d) + 2*Matmul(1, c.IntermediateSize, d)
	}
	return f
}

// SiglipText is the FLOPs of one sequence of seqLen tokens through the text
// tower: the encoder layers (bidirectional) and the head projection of the
// last token. The embedding lookup is a gather.
func SiglipText(c *siglip.TextConfig, seqLen int) float64 {
	return float64(c.NumLayers)*encoderLayer(seqLen, c.HiddenSize, c.IntermediateSize) +
		Matmul(1, c.ProjectionSize, c.HiddenSize)
}

// llmTokenLinear is one token's projections through every decoder layer:
// q (H→nH·hd), k and v (H→nKV·hd), o (nH·hd→H) and SwiGLU's gate, up, down.
func llmTokenLinear(c *llm.Config) float64 {
	q, kv := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	per := Matmul(1, q, c.HiddenSize) + 2*Matmul(1, kv, c.HiddenSize) + Matmul(1, c.HiddenSize, q) +
		3*Matmul(1, c.Intermediate, c.HiddenSize)
	return float64(c.NumLayers) * per
}

// llmAttendPairs is the attention FLOPs of `pairs` (query, key) pairs through
// every layer: q·k and p·v for each query head, 4·nH·hd per pair.
func llmAttendPairs(c *llm.Config, pairs int) float64 {
	return float64(c.NumLayers) * 2 * Matmul(1, pairs, c.NumHeads*c.HeadDim)
}

// LLMPrefill is the FLOPs of one prompt of promptLen tokens into an empty
// cache: every token's projections, causal attention (token i sees i
// positions) and the logits of the last position only (the harness asks for
// one output position).
func LLMPrefill(c *llm.Config, promptLen int) float64 {
	return float64(promptLen)*llmTokenLinear(c) + llmAttendPairs(c, promptLen*(promptLen+1)/2) +
		Matmul(1, c.VocabSize, c.HiddenSize)
}

// LLMDecodeToken is the FLOPs of one new token that attends to context
// positions (itself included): projections, attention over the context, and
// its logits.
func LLMDecodeToken(c *llm.Config, context int) float64 {
	return llmTokenLinear(c) + llmAttendPairs(c, context) + Matmul(1, c.VocabSize, c.HiddenSize)
}

// attnProjection is the 2026 AttnProjection from width in to out on n tokens
// (dualtoken/projection.go): proj of LN3(x), qkv (in→3·inner), attention of
// inner width (causal: n(n+1)/2 pairs), the down-projection's adaptive pool
// when the head width differs from out, attn.proj (out→out) and the GeGLU MLP
// (w0, w1: out→2·out; w2: 2·out→out).
func attnProjection(n, in, out, heads int, causal bool) float64 {
	inner := max(in, out)
	pairs := n * n
	if causal {
		pairs = n * (n + 1) / 2
	}
	f := Matmul(n, out, in) + Matmul(n, 3*inner, in) + 2*Matmul(1, pairs, inner)
	if hd := inner / heads; in > out && hd != out {
		f += Matmul(n, out, hd)
	}
	return f + Matmul(n, out, out) + 2*Matmul(n, 2*out, out) + Matmul(n, out, 2*out)
}

// resnetBlock is the VQGAN ResnetBlock on an h×w map: 3×3 conv1 and conv2,
// and the 1×1 nin_shortcut when the width changes. k1 is conv1's kernel (1
// for the projection blocks).
func resnetBlock(h, w, in, out, k1 int) float64 {
	f := conv(h, w, in, out, k1) + conv(h, w, out, out, 3)
	if in != out {
		f += conv(h, w, in, out, 1)
	}
	return f
}

// spatialAttention is the VQGAN single-head attention block on an h×w map of
// c channels: four 1×1 convs and (hw)² attention of width c.
func spatialAttention(h, w, c int) float64 {
	return 4*conv(h, w, c, c, 1) + 2*Matmul(h*w, h*w, c)
}

// projection is one of the branch projections (down: tower width to code
// width; up: back) on the g×g token grid.
func projection(cfg *dualtoken.Config, v dualtoken.VQConfig, in, out int, causal bool) float64 {
	g := cfg.Grid()
	if cfg.Projection == dualtoken.ProjectionConv {
		return resnetBlock(g, g, in, out, 1)
	}
	return attnProjection(g*g, in, out, cfg.HiddenSize/v.EmbedDim, causal)
}

// quantizer is the nearest-code search of a residual quantiser: per depth a
// [M,E]·[E,K] distance matmul over the M = h·w code positions.
func quantizer(v dualtoken.VQConfig) float64 {
	return float64(v.Depth()) * Matmul(v.CodeShape[0]*v.CodeShape[1], v.NEmbed, v.CodeDim())
}

// DualTokenEncode is the FLOPs of one image through Model.Encode: the whole
// tower (every layer runs once: up to the taps, then from layer_sem on with
// the semantic state replaced, then post-LN and head), the prequant
// projections, both quantisers and postquant_sem.
func DualTokenEncode(fc *dualtoken.FullConfig) float64 {
	c := fc.Config
	f := SiglipVision(&fc.Tower.Vision)
	C := c.HiddenSize
	if fc.SemanticBranch {
		f += projection(c, c.Sem, C, c.Sem.EmbedDim, false) + quantizer(c.Sem) +
			projection(c, c.Sem, c.Sem.EmbedDim, C, c.CausalUp)
	}
	if !fc.ReconFromSemantic {
		f += projection(c, c.Pix, C, c.Pix.EmbedDim, false) + quantizer(c.Pix)
		if c.HasShortcut() {
			f += projection(c, c.Pix, C, c.Pix.EmbedDim, false)
		}
	}
	return f
}

// DualTokenDecode is the FLOPs of decoding one image's codes (Model.DecodePixels):
// postquant_pix (code width to tower width), post_quant_conv at the decoder
// latent size, then the VQGAN decoder: conv_in, mid (block, attention,
// block), per level num_res_blocks+1 blocks (attention at attn_resolutions),
// the upsample convs, conv_out. The code lookup and resize are not counted.
func DualTokenDecode(fc *dualtoken.FullConfig) float64 {
	c := fc.Config
	_, v := fc.PixelQuantizer()
	d := c.Decoder
	f := projection(c, v, v.EmbedDim, c.HiddenSize, c.CausalUp)
	h, w := c.DecoderLatent()
	f += resnetBlock(h, w, c.HiddenSize, d.DecoderInChannels, 1)
	blockIn := d.BlockIn()
	f += conv(h, w, d.DecoderInChannels, blockIn, 3)
	f += 2*resnetBlock(h, w, blockIn, blockIn, 3) + spatialAttention(h, w, blockIn)
	res := d.LatentSide()
	for level := len(d.ChMult) - 1; level >= 0; level-- {
		out := d.Ch * d.ChMult[level]
		for range d.NumResBlocks + 1 {
			f += resnetBlock(h, w, blockIn, out, 3)
			blockIn = out
			if slices.Contains(d.AttnResolutions, res) {
				f += spatialAttention(h, w, blockIn)
			}
		}
		if level != 0 {
			h, w, res = 2*h, 2*w, 2*res
			if d.ResampWithConv {
				f += conv(h, w, blockIn, blockIn, 3)
			}
		}
	}
	if !d.GivePreEnd {
		f += conv(h, w, blockIn, d.OutCh, 3)
	}
	return f
}

// Inception is the FLOPs of one image through pytorch-fid's InceptionV3 up to
// pool3 (the fc layer does not run) at the given input side (299 for FID).
// Every conv of the state dict (inception.StateDictSpecs: [cout,cin,kh,kw])
// runs at the output size of its stage: the stem's valid 3×3 convs and pools
// shrink 299 → 149 → 147 → 73 → 71 → 35; Mixed_6a and Mixed_7a's stride-2
// branches take 35 → 17 → 8.
func Inception(side int) float64 {
	s1 := (side-3)/2 + 1 // Conv2d_1a_3x3, stride 2, valid
	s2 := s1 - 2         // Conv2d_2a_3x3 valid; 2b keeps it
	s3 := (s2-3)/2 + 1   // max pool 3×3/2; Conv2d_3b_1x1
	s4 := s3 - 2         // Conv2d_4a_3x3 valid
	s5 := (s4-3)/2 + 1   // max pool: Mixed_5*
	s6 := (s5-3)/2 + 1   // Mixed_6a's stride-2 branches: Mixed_6*
	s7 := (s6-3)/2 + 1   // Mixed_7a's stride-2 branches: Mixed_7*
	sizes := map[string]int{
		"Conv2d_1a_3x3": s1, "Conv2d_2a_3x3": s2, "Conv2d_2b_3x3": s2, "Conv2d_3b_1x1": s3, "Conv2d_4a_3x3": s4,
		"Mixed_5b": s5, "Mixed_5c": s5, "Mixed_5d": s5,
		"Mixed_6a": s5, "Mixed_6a.branch3x3": s6, "Mixed_6a.branch3x3dbl_3": s6,
		"Mixed_6b": s6, "Mixed_6c": s6, "Mixed_6d": s6, "Mixed_6e": s6,
		"Mixed_7a": s6, "Mixed_7a.branch3x3_2": s7, "Mixed_7a.branch7x7x3_4": s7,
		"Mixed_7b": s7, "Mixed_7c": s7,
	}
	var f float64
	for _, t := range inception.StateDictSpecs() {
		name, ok := strings.CutSuffix(t.Name, ".conv.weight")
		if !ok {
			continue
		}
		block, _, _ := strings.Cut(name, ".")
		s, ok := sizes[name]
		if !ok {
			if s, ok = sizes[block]; !ok {
				panic("perf: no output size for Inception conv " + name) // the network changed: update the table
			}
		}
		f += Matmul(s*s, t.Shape[0], t.Shape[1]*t.Shape[2]*t.Shape[3])
	}
	return f
}
