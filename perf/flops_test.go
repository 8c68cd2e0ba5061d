package perf

import (
	"math"
	"testing"

	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
)

// The small cases below are worked by hand, product by product, in the comments.

func TestFLOPsSiglipVisionByHand(t *testing.T) {
	// width 4, 1 layer, MLP 8, patch 2 on 4 px: N = 4 patches of 3·2·2 = 12 values.
	c := siglip.BaseConfig(4, 1, 2, 8, 2, 4).Vision
	// embed 2·4·12·4 = 384
	// layer: q,k,v,o 4·(2·4·4·4) = 512; q·kᵀ, p·v 2·(2·4·4·4) = 256; MLP 2·(2·4·8·4) = 512 → 1280
	// head: probe q 2·1·4·4 = 32; k,v 2·(2·4·4·4) = 256; attention 2·(2·1·4·4) = 64;
	//       out 32; MLP 2·(2·1·8·4) = 128 → 512
	if got, want := SiglipVision(&c), 384.0+1280+512; got != want {
		t.Errorf("SiglipVision = %v, want %v", got, want)
	}
	c.UseHead = false
	if got, want := SiglipVision(&c), 384.0+1280; got != want {
		t.Errorf("SiglipVision without head = %v, want %v", got, want)
	}
}

func TestFLOPsSiglipTextByHand(t *testing.T) {
	c := &siglip.TextConfig{HiddenSize: 4, IntermediateSize: 8, NumLayers: 1, NumHeads: 2, ProjectionSize: 5}
	// 3 tokens: q,k,v,o 4·(2·3·4·4) = 384; attention 2·(2·3·3·4) = 144; MLP 2·(2·3·8·4) = 384;
	// head 2·1·5·4 = 40.
	if got, want := SiglipText(c, 3), 384.0+144+384+40; got != want {
		t.Errorf("SiglipText = %v, want %v", got, want)
	}
}

func TestFLOPsLLMByHand(t *testing.T) {
	// vocab 10, width 4, 2 query heads and 1 KV head of 2, MLP 8.
	c := llm.TestConfig(10, 4, 1, 2, 1, 8, true)
	// per token and layer: q 2·4·4 = 32; k, v 2·(2·4·2) = 32; o 32; gate, up, down 3·(2·4·8) = 192 → 288
	// attention per (query, key): 2 heads · 2 · (2·2) = 16; logits 2·4·10 = 80.
	if got, want := LLMDecodeToken(c, 3), 288.0+3*16+80; got != want {
		t.Errorf("LLMDecodeToken(context 3) = %v, want %v", got, want)
	}
	// prompt of 2: 2·288, causal pairs 1+2 = 3, one logits row.
	if got, want := LLMPrefill(c, 2), 2*288.0+3*16+80; got != want {
		t.Errorf("LLMPrefill(2) = %v, want %v", got, want)
	}
	c.NumLayers = 2
	if got, want := LLMDecodeToken(c, 3), 2*(288.0+3*16)+80; got != want {
		t.Errorf("LLMDecodeToken(2 layers) = %v, want %v", got, want)
	}
}

// Away from attention, a decoder's token costs 2 FLOPs per weight it
// multiplies by (the tied embedding used once, as lm_head); only norms and
// biases are not products.
func TestFLOPsLLMQwen3BIsTwicePerParameter(t *testing.T) {
	c, err := LLMConfig("qwen2.5-3b")
	if err != nil {
		t.Fatal(err)
	}
	if p := float64(c.NumParameters()); math.Abs(p-3.086e9) > 0.01e9 {
		t.Errorf("qwen2.5-3b preset has %.4g parameters, Qwen2.5-3B has 3.09e9", p)
	}
	got, want := LLMDecodeToken(c, 0), 2*float64(c.NumParameters())
	if math.Abs(got/want-1) > 1e-3 {
		t.Errorf("LLMDecodeToken(qwen2.5-3b, 0) = %.5g, want 2·params = %.5g within 0.1%%", got, want)
	}
}

// The SO400M/14-384 tower: issue 7 puts a bf16 peak of ≈790 TFLOP/s at
// ≈1,190 img/s, i.e. ≈6.64e11 FLOP per image.
func TestFLOPsSO400MMatchesIssueFigure(t *testing.T) {
	cfg, err := SiglipVisionConfig("so400m-384")
	if err != nil {
		t.Fatal(err)
	}
	got := SiglipVision(&cfg.Vision)
	if want := 790e12 / 1190; math.Abs(got/want-1) > 0.03 {
		t.Errorf("SiglipVision(so400m-384) = %.4g FLOP, issue 7 implies %.4g", got, want)
	}
}

// torchvision lists Inception v3 at 5.71 GFLOPS, counting multiply-adds (its
// fc adds 2M of them); ours counts 2 per multiply-add and stops at pool3.
func TestFLOPsInceptionMatchesTorchvision(t *testing.T) {
	got := Inception(inception.InputSize)
	if want := 2 * (5.71e9 - 2.05e6); math.Abs(got/want-1) > 0.01 {
		t.Errorf("Inception(299) = %.4g FLOP, torchvision's count implies %.4g", got, want)
	}
}

// tinyDualToken is a hand-sized tokenizer: tower width 8 (2 layers, MLP 16,
// patch 2 on 4 px: 2×2 tokens), code width 4 (2 heads), 3 codes, depth 2, no
// shortcut; decoder ch 4, mult [1,2], one res block, attention at 2, from a
// 2×2 latent of 6 channels to 4×4×3.
func tinyDualToken() *dualtoken.FullConfig {
	vq := func(b string) dualtoken.VQConfig {
		return dualtoken.VQConfig{BottleneckType: b, LatentShape: [3]int{2, 2, 4}, CodeShape: [3]int{2, 2, 2}, EmbedDim: 4,
			NEmbed: 3, SharedCodebook: true}
	}
	parts := &dualtoken.Config{HiddenSize: 8, LayerRecon: 1, LayerSem: 1, Projection: dualtoken.ProjectionAttn, CausalUp: true,
		Pix: vq(dualtoken.BottleneckRQ), Sem: vq(dualtoken.BottleneckRQEMA),
		Decoder: dualtoken.DecoderConfig{Ch: 4, ChMult: []int{1, 2}, NumResBlocks: 1, AttnResolutions: []int{2},
			Resolution: 4, OutCh: 3, InChannels: 3, DecoderInChannels: 6, ResampWithConv: true},
		DecoderLatentShape: []int{2, 2}}
	return &dualtoken.FullConfig{Config: parts, Tower: siglip.BaseConfig(8, 2, 2, 16, 2, 4), SemanticBranch: true}
}

func TestFLOPsDualTokenByHand(t *testing.T) {
	fc := tinyDualToken()
	// Tower (N 4, D 8, MLP 16): embed 2·4·12·8 = 768; per layer 4·(2·4·8·8) + 2·(2·4·4·8) +
	// 2·(2·4·16·8) = 2048 + 512 + 2048 = 4608, two of them 9216; head 128 + 1024 + 128 + 128 + 512
	// = 1920 → 11904.
	// Down projection 8→4 on 4 tokens (inner 8, 2 heads of 4 = out: no pool): proj 2·4·4·8 = 256,
	// qkv 2·4·24·8 = 1536, attention 2·(2·16·8) = 512, attn.proj 2·4·4·4 = 128,
	// MLP 2·(2·4·8·4) + 2·4·4·8 = 768 → 3200.
	// Up projection 4→8, causal (10 pairs): proj 2·4·8·4 = 256, qkv 2·4·24·4 = 768,
	// attention 2·(2·10·8) = 320, attn.proj 2·4·8·8 = 512, MLP 2·(2·4·16·8) + 2·4·8·16 = 3072 → 4928.
	// Quantiser: 2 depths · 2·4·3·4 = 192.
	const tower, down, up, quant = 11904.0, 3200.0, 4928.0, 192.0
	if got, want := DualTokenEncode(fc), tower+down+quant+up+down+quant; got != want {
		t.Errorf("DualTokenEncode = %v, want %v", got, want)
	}
	// Decode: postquant_pix (up) 4928; post_quant_conv 8→6 at 2×2: 1×1 2·4·6·8 = 384,
	// 3×3 2·4·6·54 = 2592, nin 384 → 3360; conv_in 6→8: 2·4·8·54 = 3456; mid: two res blocks of
	// 2·(2·4·8·72) = 9216 and attention 4·(2·4·8·8) + 2·(2·4·4·8) = 2560; level 1 (8 ch, at 2,
	// attention): 2·9216 + 2·2560, upsample conv at 4×4 2·16·8·72 = 18432; level 0 (4 ch at 4×4):
	// 8→4 block 2·16·4·72 + 2·16·4·36 + 2·16·4·8 = 14848, 4→4 block 2·(2·16·4·36) = 9216;
	// conv_out 2·16·3·36 = 3456.
	want := 4928.0 + 3360 + 3456 + 2*9216 + 2560 + 2*9216 + 2*2560 + 18432 + 14848 + 9216 + 3456
	if got := DualTokenDecode(fc); got != want {
		t.Errorf("DualTokenDecode = %v, want %v", got, want)
	}
	// Without the semantic branch: tower and the pixel branch only.
	fc.SemanticBranch = false
	if got, want := DualTokenEncode(fc), tower+down+quant; got != want {
		t.Errorf("DualTokenEncode without semantic branch = %v, want %v", got, want)
	}
}

func TestMatmul(t *testing.T) {
	if got := Matmul(2, 3, 4); got != 48 {
		t.Errorf("Matmul(2,3,4) = %v, want 48", got)
	}
}
