package dualtoken

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
)

// Checking the tokenizer in bfloat16 (`evalrun verify --dtype bfloat16`,
// TestParityBF16DualTokenParts, TestModelSetDTypeBF16). A quantiser's argmin
// flips wherever two codes are nearly equidistant, and everything after it
// then differs by a codebook step, not by rounding. So each stage after a
// quantiser is fed the golden value of its input, and its comparison
// measures that stage's own bfloat16 error: precision.CompareBF16 at the
// stage count below. The codes verify reports are those of the bfloat16
// path end to end, compared by their share equal to the golden codes, not
// required equal.
//
// Stage counts (see precision.PerStage): an attention projection is two
// stages (attention with the parallel projection, then the MLP), a ResNet
// block two (its two convolutions), the bilinear resize one, a decoder
// attention block one, an upsampling convolution one, conv_in and conv_out
// one each; the tower as in siglip.BF16Stages. The quantisers are float32
// islands: fed a golden latent they add no error (stage count 0: compared
// with the float32 tolerance).
const projStages = 2

// decoderStages counts the stages of Decoder.
func decoderStages(d DecoderConfig) int {
	n := 1 + 2 + 1 + 2 // conv_in, mid block, attention, block
	res := d.LatentSide()
	for level := len(d.ChMult) - 1; level >= 0; level-- {
		per := 2
		if hasAttn(d, res) {
			per++
		}
		n += (d.NumResBlocks + 1) * per
		if level != 0 {
			if d.ResampWithConv {
				n++
			}
			res *= 2
		}
	}
	if !d.GivePreEnd {
		n++ // GroupNorm (float32) + SiLU + conv_out
	}
	return n
}

// decodeStages counts DecodePixels from a quantised latent to the images:
// postquant_pix, the resize, post_quant_conv, the decoder.
func decodeStages(c *Config) int { return projStages + 1 + 2 + decoderStages(c.Decoder) }

// Staged is one output of a bfloat16 check graph: its golden name, its
// value (float32, or int64 codes) and its bfloat16 stage count: > 0 for
// precision.CompareBF16, 0 for a float32 island, -1 for integers.
type Staged struct {
	Name   string
	Stages int
	Value  *Node
}

// PartsFed are the golden keys the bfloat16 parts check feeds to later
// stages, after the tower states PartsInputs: the pre-quantisation latents
// and the quantised latents (and prequant_shortcut with a shortcut layer).
func PartsFed(cfg *Config) []string {
	fed := []string{"prequant_pix", "prequant_sem", "zq_pix", "zq_sem"}
	if cfg.HasShortcut() {
		fed = append(fed, "prequant_shortcut")
	}
	return fed
}

// hasConvBlock reports whether cfg has the named 2025 conv block.
func hasConvBlock(cfg *Config, name string) bool {
	for _, blk := range cfg.ConvBlocks {
		if blk.Name == name {
			return true
		}
	}
	return false
}

// BF16PartsInputs lists, in order, the golden keys BF16Parts reads:
// PartsInputs, PartsFed, and proj_down_2025's output when cfg has that block
// and has(it) (proj_up_2025 is fed it).
func BF16PartsInputs(cfg *Config, has func(name string) bool) []string {
	in := append(append([]string{}, PartsInputs...), PartsFed(cfg)...)
	if hasConvBlock(cfg, "proj_down_2025") && has("proj_down_2025") {
		in = append(in, "proj_down_2025")
	}
	return in
}

// BF16Parts builds the bfloat16 parts check in p (p.DType set): in holds
// the golden values of BF16PartsInputs by name. Every stage is fed its
// golden input: the projections take the tower states, the quantisers the
// golden latents (float32 islands: quantised latents, commitment losses and
// code embeddings at 0 stages, codes), the pixel decoder and postquant_sem
// the golden quantised latents, proj_up_2025 the golden proj_down_2025.
// Float values come back float32.
func BF16Parts(p Parts, cfg *Config, in map[string]*Node) []Staged {
	var outs []Staged
	emit := func(name string, stages int, n *Node) {
		if n.DType().IsFloat() {
			n = precision.ToF32(n)
		}
		outs = append(outs, Staged{name, stages, n})
	}
	emit("prequant_pix", projStages, Prequant(p, cfg, cfg.Pix, "prequant_pix", in["h6"]))
	if cfg.HasShortcut() {
		emit("prequant_shortcut", projStages, Prequant(p, cfg, cfg.Pix, "prequant_shortcut", in["h4"]))
	}
	emit("prequant_sem", projStages, Prequant(p, cfg, cfg.Sem, "prequant_sem", in["h26"]))

	zp := in["prequant_pix"]
	if cfg.HasShortcut() {
		zp = Add(zp, MulScalar(in["prequant_shortcut"], cfg.WeightShortcut))
	}
	qp := QuantizePixels(p, cfg, tokensToGrid(zp), false)
	emit("zq_pix", 0, qp.ZQ)
	emit("codes_pix", -1, qp.Codes)
	emit("commit_pix", 0, Reshape(qp.Commit, 1))
	emit("code_emb_pix", 0, CodeEmbeddings(p.At("quantizer_pix"), cfg.Pix, qp.Codes))
	emit("embed_code_pix", 0, EmbedCodes(p.At("quantizer_pix"), cfg.Pix, qp.Codes))
	qs := QuantizeSemantic(p, cfg, tokensToGrid(in["prequant_sem"]), false)
	emit("zq_sem", 0, qs.ZQ)
	emit("codes_sem", -1, qs.Codes)
	emit("commit_sem", 0, Reshape(qs.Commit, 1))
	emit("code_emb_sem", 0, CodeEmbeddings(p.At("quantizer_sem"), cfg.Sem, qs.Codes))
	emit("embed_code_sem", 0, EmbedCodes(p.At("quantizer_sem"), cfg.Sem, qs.Codes))

	dec := DecodePixels(p, cfg, in["zq_pix"])
	emit("postquant_pix", projStages, dec.Postquant)
	emit("latent_resized", projStages+1, dec.LatentResized)
	emit("post_quant_conv", projStages+1+2, dec.PostQuantConv)
	emit("images", decodeStages(cfg), dec.Images)
	emit("postquant_sem", projStages, SemanticPostquant(p, cfg, in["zq_sem"]))
	if hasConvBlock(cfg, "proj_down_2025") {
		emit("proj_down_2025", 2, ConvBlockForward(p, "proj_down_2025", tokensToMap(in["h6"])))
		if in["proj_down_2025"] != nil && hasConvBlock(cfg, "proj_up_2025") {
			emit("proj_up_2025", 2, ConvBlockForward(p, "proj_up_2025", in["proj_down_2025"]))
		}
	}
	return outs
}

// BF16PartsCodes are the codes the quantisers pick end to end from the
// tower states in in (h4, h6, h26) through p's projections: in bfloat16 the
// codes a bfloat16 tokenizer would emit, to be compared by their share
// equal to the golden ones ([B,G,G,D] int64, pixel and semantic).
func BF16PartsCodes(p Parts, cfg *Config, in map[string]*Node) (pix, sem *Node) {
	zPix, zSem := BF16PartsLatents(p, cfg, in)
	return QuantizePixels(p, cfg, zPix, false).Codes, QuantizeSemantic(p, cfg, zSem, false).Codes
}

// BF16PartsLatents are the quantiser inputs BF16PartsCodes picks codes
// from: the pixel and semantic latents [B,G,G,E] projected from the tower
// states in in (h4, h6, h26) in p's dtype.
func BF16PartsLatents(p Parts, cfg *Config, in map[string]*Node) (pix, sem *Node) {
	return PixelLatent(p, cfg, in["h6"], in["h4"]), SemanticLatent(p, cfg, in["h26"])
}

// FullFed are the golden keys the bfloat16 check of a whole tokenizer feeds
// to later stages when the golden file has them.
var FullFed = []string{"semantic_latent", "pixel_latent", "zq_sem", "zq_pix", "postquant_sem"}

// FullBF16Stages gives the bfloat16 stage count of every float output of
// VerifyFull's bfloat16 check, by golden name. fed(name) says whether the
// golden value of name (one of FullFed) is fed to the stages after it (nil:
// none is; the counts then run end to end from the pixels). A quantiser fed
// a golden latent is a float32 island (0); fed a computed one, its outputs
// carry the latent's count, and a flipped code shows as a mismatch there and
// downstream.
func FullBF16Stages(fc *FullConfig, fed func(name string) bool) map[string]int {
	if fed == nil {
		fed = func(string) bool { return false }
	}
	from := func(name string, stages int) int { // the count a later stage starts from
		if fed(name) {
			return 0
		}
		return stages
	}
	top := fullTop(fc)
	st := map[string]int{}
	for i := 0; i <= top; i++ {
		st[fmt.Sprintf(siglip.OutVisionHidden, i)] = 1 + 2*i
	}
	if fc.SemanticBranch {
		st["semantic_latent"] = 1 + 2*fc.LayerSem + projStages
		z := from("semantic_latent", st["semantic_latent"])
		st["zq_sem"], st["commit_sem"] = z, z
		st["postquant_sem"] = from("zq_sem", z) + projStages
	}
	zq := "zq_sem"
	if !fc.ReconFromSemantic {
		h := fc.LayerRecon
		if fc.HasShortcut() {
			h = max(h, fc.LayerShortcut)
		}
		st["pixel_latent"] = 1 + 2*h + projStages
		z := from("pixel_latent", st["pixel_latent"])
		st["zq_pix"], st["commit_pix"] = z, z
		zq = "zq_pix"
	}
	st["images"] = from(zq, st[zq]) + decodeStages(fc.Config)
	state, layer := 1+2*top, top // what the rest of the tower starts from
	if fc.SemanticBranch {
		state, layer = from("postquant_sem", st["postquant_sem"]), fc.LayerSem
	}
	st[siglip.OutVisionLast] = state + 2*(fc.Tower.Vision.NumLayers-layer) + 1
	if fc.Tower.Vision.UseHead {
		st[siglip.OutVisionPooled] = st[siglip.OutVisionLast] + 2
		st[siglip.OutImageEmbeds] = st[siglip.OutVisionPooled]
	}
	return st
}

// fullTop is the last tower layer Forward runs before the branches.
func fullTop(fc *FullConfig) int {
	top := fc.LayerRecon
	if fc.HasShortcut() && !fc.ReconFromSemantic {
		top = max(top, fc.LayerShortcut)
	}
	if fc.SemanticBranch {
		top = max(top, fc.LayerSem)
	}
	return top
}

// fullStaged builds VerifyFull's bfloat16 check: Forward's outputs (Options
// Decode and Pooled, eval mode) by golden name, the tower and the latents
// run from the pixels, and each quantiser, postquant_sem, the rest of the
// tower and the decoder fed the golden value of its input where fed holds
// it (see FullBF16Stages for the counts). Float values come back float32.
func fullStaged(root *model.Scope, fc *FullConfig, pixels *Node, fed map[string]*Node) []Staged {
	st := FullBF16Stages(fc, func(name string) bool { return fed[name] != nil })
	p := NewParts(root, pixels.Graph())
	p.DType = fc.DType
	vs, vc := siglip.VisionScope(root), fc.TowerVision()
	var outs []Staged
	emit := func(name string, n *Node) {
		if n == nil {
			return
		}
		stages := -1
		if n.DType().IsFloat() {
			n, stages = precision.ToF32(n), st[name]
		}
		outs = append(outs, Staged{name, stages, n})
	}
	pick := func(name string, computed *Node) *Node {
		if v := fed[name]; v != nil {
			return v
		}
		return computed
	}
	x := siglip.VisionEmbeddings(vs, vc, pixels)
	hidden := []*Node{x}
	for i := range fullTop(fc) {
		x = siglip.VisionLayer(vs, vc, i, x)
		hidden = append(hidden, x)
	}
	for i, h := range hidden {
		emit(fmt.Sprintf(siglip.OutVisionHidden, i), h)
	}
	var semZQ, semState *Node
	if fc.SemanticBranch {
		z := SemanticLatent(p, fc.Config, hidden[fc.LayerSem])
		emit("semantic_latent", z)
		q := QuantizeSemantic(p, fc.Config, pick("semantic_latent", z), false)
		emit("zq_sem", q.ZQ)
		codes := q.Codes // reported: the bfloat16 path's codes, not the float32 island's
		if fed["semantic_latent"] != nil {
			codes = QuantizeSemantic(p, fc.Config, z, false).Codes
		}
		emit("codes_sem", codes)
		emit("commit_sem", Reshape(q.Commit, 1))
		semZQ = pick("zq_sem", q.ZQ)
		semState = SemanticPostquant(p, fc.Config, semZQ)
		emit("postquant_sem", semState)
	}
	zq := semZQ
	if !fc.ReconFromSemantic {
		var hs *Node
		if fc.HasShortcut() {
			hs = hidden[fc.LayerShortcut]
		}
		z := PixelLatent(p, fc.Config, hidden[fc.LayerRecon], hs)
		emit("pixel_latent", z)
		q := QuantizePixels(p, fc.Config, pick("pixel_latent", z), false)
		emit("zq_pix", q.ZQ)
		codes := q.Codes
		if fed["pixel_latent"] != nil {
			codes = QuantizePixels(p, fc.Config, z, false).Codes
		}
		emit("codes_pix", codes)
		emit("commit_pix", Reshape(q.Commit, 1))
		zq = pick("zq_pix", q.ZQ)
	}
	layer, h := fullTop(fc), x
	if fc.SemanticBranch {
		layer, h = fc.LayerSem, pick("postquant_sem", semState)
	}
	last, pooled := siglip.VisionFrom(vs, vc, h, layer)
	emit(siglip.OutVisionLast, last)
	emit(siglip.OutVisionPooled, pooled)
	if pooled != nil {
		emit(siglip.OutImageEmbeds, siglip.Normalize(precision.ToF32(pooled)))
	}
	emit("images", DecodePixels(p, fc.Config, zq).Images)
	return outs
}
