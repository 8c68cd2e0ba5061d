package dualtoken

import (
	"fmt"
	"sort"
	"strings"
)

// vq2026 is the authors' 2026 quantiser block: embed 32, 16384 codes, one
// shared codebook, EMA decay 0.99, restarts on.
func vq2026(grid, depth int, bottleneck string) VQConfig {
	return VQConfig{
		BottleneckType: bottleneck, LatentShape: [3]int{grid, grid, 32}, CodeShape: [3]int{grid, grid, depth},
		EmbedDim: 32, NEmbed: 16384, Decay: 0.99, Eps: 1e-5, RestartUnusedCodes: true, SharedCodebook: true,
	}
}

func decoder2026(resolution, attnRes int) DecoderConfig {
	return DecoderConfig{
		Ch: 128, ChMult: []int{1, 1, 4, 4, 8}, NumResBlocks: 2, AttnResolutions: []int{attnRes},
		Resolution: resolution, OutCh: 3, InChannels: 3, DecoderInChannels: 1024, ResampWithConv: true,
	}
}

// PresetSO400M384 is the paper's main tokenizer, as the authors' released
// model_config_siglip_384_rvq8/config.json gives it: SigLIP2 so400m/14-384
// (27 layers, width 1152, 27x27 tokens), taps 4 (x0.6) + 6 and 26, D = 8,
// decoder latent 24x24 up to 384x384.
func PresetSO400M384() *Config {
	return &Config{
		HiddenSize: 1152, LayerRecon: 6, LayerSem: 26, LayerShortcut: 4, WeightShortcut: 0.6,
		Projection: ProjectionAttn, CausalUp: true,
		Pix: vq2026(27, 8, BottleneckRQ), Sem: vq2026(27, 8, BottleneckRQEMA),
		Decoder: decoder2026(384, 24), DecoderLatentShape: []int{24, 24},
		PretrainedModel: "google/siglip2-so400m-patch14-384", Source: "preset so400m-384",
	}
}

// PresetSO400M256 is the authors' released model_config_siglip_256_rvq4:
// SigLIP2 so400m/16-256 (width 1152, 16x16 tokens), D = 4, output 256x256.
func PresetSO400M256() *Config {
	return &Config{
		HiddenSize: 1152, LayerRecon: 6, LayerSem: 26, LayerShortcut: 4, WeightShortcut: 0.6,
		Projection: ProjectionAttn, CausalUp: true,
		Pix: vq2026(16, 4, BottleneckRQ), Sem: vq2026(16, 4, BottleneckRQEMA),
		Decoder: decoder2026(256, 16), DecoderLatentShape: []int{16, 16},
		PretrainedModel: "google/siglip2-so400m-patch16-256", Source: "preset so400m-256",
	}
}

// PresetL16256 is the paper's smaller variant on SigLIP-L/16-256 (24 layers,
// width 1024, 16x16 tokens), D = 4. The authors released no config for it:
// the semantic tap is the second-to-last layer (23 of 24, as 26 of 27 on
// so400m) and the rest follows the released 256 config; an assumption.
func PresetL16256() *Config {
	c := PresetSO400M256()
	c.HiddenSize, c.LayerSem = 1024, 23
	c.PretrainedModel, c.Source = "google/siglip-large-patch16-256", "preset l16-256"
	return c
}

// PresetTiny trains on CPU: a 6-layer, 64-wide tower on 32x32 images with
// patch 4 (8x8 tokens), taps 1 (x0.6) + 2 and 5, code dim 8 (8 heads),
// 256 shared codes, D = 4, decoder ch 32 from an 8x8 latent to 32x32.
func PresetTiny() *Config {
	vq := func(b string) VQConfig {
		return VQConfig{BottleneckType: b, LatentShape: [3]int{8, 8, 8}, CodeShape: [3]int{8, 8, 4}, EmbedDim: 8,
			NEmbed: 256, Decay: 0.99, Eps: 1e-5, RestartUnusedCodes: true, SharedCodebook: true}
	}
	return &Config{
		HiddenSize: 64, LayerRecon: 2, LayerSem: 5, LayerShortcut: 1, WeightShortcut: 0.6,
		Projection: ProjectionAttn, CausalUp: true,
		Pix: vq(BottleneckRQ), Sem: vq(BottleneckRQEMA),
		Decoder: DecoderConfig{Ch: 32, ChMult: []int{1, 1, 2}, NumResBlocks: 1, AttnResolutions: []int{8},
			Resolution: 32, OutCh: 3, InChannels: 3, DecoderInChannels: 64, ResampWithConv: true},
		DecoderLatentShape: []int{8, 8},
		Source:             "preset tiny",
	}
}

var presets = map[string]func() *Config{
	"so400m-384": PresetSO400M384,
	"so400m-256": PresetSO400M256,
	"l16-256":    PresetL16256,
	"tiny":       PresetTiny,
}

// Preset returns the named preset (so400m-384, so400m-256, l16-256, tiny).
func Preset(name string) (*Config, error) {
	f, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown DualToken preset %q (known: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return f(), nil
}

// PresetNames lists the presets.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for k := range presets {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
