package tinysiglip

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
)

// ConfigJSON is config.json of an HF SiglipModel with cfg's sizes (the keys
// transformers' SiglipConfig, SiglipTextConfig and SiglipVisionConfig read).
func ConfigJSON(cfg *siglip.Config) ([]byte, error) {
	if cfg.Text == nil {
		return nil, fmt.Errorf("tinysiglip: %s is vision-only; the tiny model has both towers", cfg.Path)
	}
	v, t := cfg.Vision, cfg.Text
	doc := map[string]any{
		"architectures":      []string{"SiglipModel"},
		"model_type":         siglip.ModelTypeSiglip,
		"initializer_factor": 1.0,
		"torch_dtype":        "float32",
		"vision_config": map[string]any{
			"model_type":          "siglip_vision_model",
			"hidden_size":         v.HiddenSize,
			"intermediate_size":   v.IntermediateSize,
			"num_hidden_layers":   v.NumLayers,
			"num_attention_heads": v.NumHeads,
			"num_channels":        v.NumChannels,
			"image_size":          v.ImageSize,
			"patch_size":          v.PatchSize,
			"hidden_act":          v.HiddenAct,
			"layer_norm_eps":      v.LayerNormEps,
			"vision_use_head":     v.UseHead,
		},
		"text_config": map[string]any{
			"model_type":              "siglip_text_model",
			"vocab_size":              t.VocabSize,
			"hidden_size":             t.HiddenSize,
			"intermediate_size":       t.IntermediateSize,
			"num_hidden_layers":       t.NumLayers,
			"num_attention_heads":     t.NumHeads,
			"max_position_embeddings": t.MaxPositions,
			"projection_size":         t.ProjectionSize,
			"hidden_act":              t.HiddenAct,
			"layer_norm_eps":          t.LayerNormEps,
			"pad_token_id":            t.PadTokenID,
			"eos_token_id":            t.EOSTokenID,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// HFWeights returns the model's tensors under their HF names (the reverse of
// model/siglip's name table): each siglip.Table entry is read from the store
// variable its scope path names ("vision_model.head.probe" from
// /vision_model/head/probe), with the table's shape.
func HFWeights(store *model.Store, cfg *siglip.Config) ([]*weights.Tensor, error) {
	var out []*weights.Tensor
	for _, e := range siglip.Table(cfg) {
		path := "/" + strings.ReplaceAll(e.Name, ".", "/")
		v := store.GetVariable(path)
		if v == nil {
			return nil, fmt.Errorf("tinysiglip: the model has no variable %s for %s", path, e.Name)
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("tinysiglip: %s: %w", path, err)
		}
		t, err := weights.FromGoMLX(e.Name, val)
		if err != nil {
			return nil, err
		}
		if err := t.ExpectShape(e.Shape...); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Export writes an HF-format SigLIP directory: config.json,
// model.safetensors (HF names), spiece.model and the tokenizer/processor
// configs transformers' SiglipProcessor reads. extra files (name -> bytes,
// e.g. a training record) are written beside them.
func Export(dir string, store *model.Store, cfg *siglip.Config, spModel []byte, extra map[string][]byte) error {
	ts, err := HFWeights(store, cfg)
	if err != nil {
		return err
	}
	cj, err := ConfigJSON(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	size := cfg.Vision.ImageSize
	files := map[string][]byte{
		"config.json":  cj,
		"spiece.model": spModel,
		"tokenizer_config.json": mustJSON(map[string]any{
			"tokenizer_class": "SiglipTokenizer", "model_max_length": cfg.Text.MaxPositions,
			"do_lower_case": true, "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>",
		}),
		"special_tokens_map.json": mustJSON(map[string]any{"eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}),
		"preprocessor_config.json": mustJSON(map[string]any{
			"image_processor_type": "SiglipImageProcessor", "processor_class": "SiglipProcessor",
			"do_resize": true, "size": map[string]int{"height": size, "width": size}, "resample": 3,
			"do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": true,
			"image_mean": []float64{0.5, 0.5, 0.5}, "image_std": []float64{0.5, 0.5, 0.5},
		}),
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
