package perf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
)

// Components are the benchmarkable components, in the order of the CLI help.
var Components = []string{
	"siglip-vision", "siglip-text", "dualtoken-encode", "dualtoken-decode", TokenizerComponent, ReconstructComponent,
	"llm-prefill", "llm-decode", "inception", ReconEvalComponent,
}

// Presets lists the preset names of a component (nil for an unknown one).
func Presets(component string) []string {
	switch component {
	case "siglip-vision", "siglip-text":
		return []string{"so400m-384", "b16-224", "tiny"}
	case "dualtoken-encode", "dualtoken-decode", TokenizerComponent, ReconstructComponent, ReconEvalComponent:
		return dualtoken.PresetNames()
	case "llm-prefill", "llm-decode":
		return []string{"qwen2.5-3b", "100m", "tiny"}
	case "inception":
		return []string{"fid-299"}
	}
	return nil
}

// CheckComponent validates a component and preset name.
func CheckComponent(component, preset string) error {
	ps := Presets(component)
	if ps == nil {
		return fmt.Errorf("unknown component %q (known: %s)", component, strings.Join(Components, ", "))
	}
	if !slices.Contains(ps, preset) {
		return fmt.Errorf("component %s has no preset %q (known: %s)", component, preset, strings.Join(ps, ", "))
	}
	return nil
}

// SiglipVisionConfig returns the vision tower of a SigLIP preset:
// so400m-384 (27 layers, width 1152, 16 heads, MLP 4304, patch 14, 384 px),
// b16-224 (ViT-B/16: 12 layers, 768, 12 heads, 3072, patch 16, 224 px) and
// tiny (4 layers, 64, 4 heads, 256, patch 4, 32 px).
func SiglipVisionConfig(preset string) (*siglip.Config, error) {
	switch preset {
	case "so400m-384":
		return siglip.BaseConfig(1152, 27, 16, 4304, 14, 384), nil
	case "b16-224":
		return siglip.ViTB16(), nil
	case "tiny":
		return siglip.BaseConfig(64, 4, 4, 256, 4, 32), nil
	}
	return nil, fmt.Errorf("unknown SigLIP preset %q (known: so400m-384, b16-224, tiny)", preset)
}

// SiglipTextConfig returns a SigLIP config whose text tower is the preset's
// (so400m-384: siglip-so400m-patch14-384's, 27 layers of 1152; b16-224:
// siglip-base-patch16-224's, 12 layers of 768; both vocab 32000 and 64
// positions; tiny: 2 layers of 64, vocab 1000, 16 positions). Its vision tower
// is a placeholder of a few weights: NewRandom always builds one, and the
// text benchmark never reads it.
func SiglipTextConfig(preset string) (*siglip.Config, error) {
	text := func(vocab, width, layers, heads, mlp, positions int) *siglip.TextConfig {
		return &siglip.TextConfig{
			VocabSize: vocab, HiddenSize: width, IntermediateSize: mlp, NumLayers: layers, NumHeads: heads,
			MaxPositions: positions, ProjectionSize: width, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh",
			PadTokenID: 1, EOSTokenID: 1,
		}
	}
	var t *siglip.TextConfig
	switch preset {
	case "so400m-384":
		t = text(32000, 1152, 27, 16, 4304, 64)
	case "b16-224":
		t = text(32000, 768, 12, 12, 3072, 64)
	case "tiny":
		t = text(1000, 64, 2, 4, 256, 16)
	default:
		return nil, fmt.Errorf("unknown SigLIP preset %q (known: so400m-384, b16-224, tiny)", preset)
	}
	return &siglip.Config{
		Path: "(built-in config)", ModelType: siglip.ModelTypeSiglip,
		Vision: siglip.VisionConfig{HiddenSize: 8, IntermediateSize: 8, NumHeads: 1, NumChannels: 3,
			ImageSize: 8, PatchSize: 8, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh"},
		Text: t,
	}, nil
}

// LLMConfig returns a Qwen2-shaped decoder preset: qwen2.5-3b (Qwen2.5-3B's
// shape: vocab 151936, width 2048, 36 layers, 16 query / 2 KV heads of 128,
// MLP 11008, tied embeddings, 3.09B parameters), 100m (vocab 32000, 768, 12
// layers, 12/2 heads, MLP 2048, tied; the llm package's benchmark model) and
// tiny (vocab 1000, 64, 2 layers, 4/2 heads, MLP 128).
func LLMConfig(preset string) (*llm.Config, error) {
	var c *llm.Config
	switch preset {
	case "qwen2.5-3b":
		c = llm.TestConfig(151936, 2048, 36, 16, 2, 11008, true)
	case "100m":
		c = llm.TestConfig(32000, 768, 12, 12, 2, 2048, true)
	case "tiny":
		c = llm.TestConfig(1000, 64, 2, 4, 2, 128, true)
	default:
		return nil, fmt.Errorf("unknown LLM preset %q (known: qwen2.5-3b, 100m, tiny)", preset)
	}
	c.MaxPositions = 32768 // Qwen2.5's context
	return c, nil
}

// DualTokenConfig returns a DualToken preset (dualtoken.Preset) with the
// tower it is built on: so400m-384 and so400m-256 on SigLIP-SO400M (27
// layers of 1152, 16 heads, MLP 4304; patch 14 at 384 px, patch 16 at 256),
// l16-256 on SigLIP-L/16-256 (24 layers of 1024, 16 heads, MLP 4096), tiny on
// a 6-layer, 64-wide, 4-head tower (MLP 256) with patch 4 at 32 px.
func DualTokenConfig(preset string) (*dualtoken.FullConfig, error) {
	parts, err := dualtoken.Preset(preset)
	if err != nil {
		return nil, err
	}
	var tower *siglip.Config
	switch preset {
	case "so400m-384":
		tower = siglip.BaseConfig(1152, 27, 16, 4304, 14, 384)
	case "so400m-256":
		tower = siglip.BaseConfig(1152, 27, 16, 4304, 16, 256)
	case "l16-256":
		tower = siglip.BaseConfig(1024, 24, 16, 4096, 16, 256)
	case "tiny":
		tower = siglip.BaseConfig(64, 6, 4, 256, 4, 32)
	default:
		return nil, fmt.Errorf("DualToken preset %q has no tower size here", preset)
	}
	fc := &dualtoken.FullConfig{Config: parts, Tower: tower, SemanticBranch: true}
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	return fc, nil
}
