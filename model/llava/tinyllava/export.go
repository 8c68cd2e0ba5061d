package tinyllava

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
)

// Export writes the trained model as a LLaVA folder:
//
//	config.json                   model_type "llava", Qwen template, paths below
//	tokenizer.model               the unigram SentencePiece model
//	mm_projector.safetensors      model.mm_projector.{0,2}.{weight,bias}
//	vision_tower/                 HF SiglipVisionModel: config.json, model.safetensors
//	language_model/               HF Qwen2ForCausalLM: config.json, model.safetensors
func Export(dir string, store *model.Store, s Sizes, spModel []byte) error {
	for _, d := range []string{dir, filepath.Join(dir, "vision_tower"), filepath.Join(dir, "language_model")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	tower, err := towerWeights(store, s)
	if err != nil {
		return err
	}
	lm, err := LMWeights(store, s.LM)
	if err != nil {
		return err
	}
	var proj []*weights.Tensor
	for _, e := range llava.ProjectorTable(s.LLaVA, s.Tower.Vision.HiddenSize, s.LM.HiddenSize) {
		v := "weight"
		if e.Bias {
			v = "bias"
		}
		t, err := variable(store, fmt.Sprintf("/mm_projector/%d/%s", 2*e.Layer, v), "model."+e.Name, e.Shape)
		if err != nil {
			return err
		}
		proj = append(proj, t)
	}
	meta := map[string]string{"format": "pt"}
	for _, f := range []struct {
		path string
		ts   []*weights.Tensor
	}{
		{filepath.Join(dir, "vision_tower", "model.safetensors"), tower},
		{filepath.Join(dir, "language_model", "model.safetensors"), lm},
		{filepath.Join(dir, "mm_projector.safetensors"), proj},
	} {
		if err := weights.WriteSafetensors(f.path, f.ts, meta); err != nil {
			return err
		}
	}
	v, c := s.Tower.Vision, s.LM
	files := map[string]any{
		"config.json": map[string]any{
			"model_type":               llava.ModelType,
			"vision_tower":             "vision_tower",
			"language_model":           "language_model",
			"mm_projector":             "mm_projector.safetensors",
			"tokenizer":                "tokenizer.model",
			"mm_projector_type":        s.LLaVA.ProjectorType,
			"mm_vision_select_layer":   s.LLaVA.SelectLayer,
			"mm_vision_select_feature": s.LLaVA.SelectFeature,
			"image_aspect_ratio":       s.LLaVA.ImageAspect,
			"chat_template":            s.LLaVA.ChatTemplate,
			"image_token":              s.LLaVA.ImageToken,
			"add_bos_token":            false,
		},
		"vision_tower/config.json": map[string]any{
			"architectures": []string{"SiglipVisionModel"}, "model_type": siglip.ModelTypeVisionOnly,
			"hidden_size": v.HiddenSize, "intermediate_size": v.IntermediateSize, "num_hidden_layers": v.NumLayers,
			"num_attention_heads": v.NumHeads, "num_channels": v.NumChannels, "image_size": v.ImageSize,
			"patch_size": v.PatchSize, "hidden_act": v.HiddenAct, "layer_norm_eps": v.LayerNormEps,
			"vision_use_head": v.UseHead, "torch_dtype": "float32",
		},
		"language_model/config.json": map[string]any{
			"architectures": []string{"Qwen2ForCausalLM"}, "model_type": llm.ModelTypeQwen2,
			"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.Intermediate,
			"num_hidden_layers": c.NumLayers, "num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads,
			"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "max_position_embeddings": c.MaxPositions,
			"hidden_act": "silu", "tie_word_embeddings": c.TieEmbeddings, "use_sliding_window": false,
			"eos_token_id": c.EOS, "torch_dtype": "float32",
		},
	}
	for name, doc := range files {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "tokenizer.model"), spModel, 0o644)
}

// variable reads store variable path as checkpoint tensor name, checking its shape.
func variable(store *model.Store, path, name string, shape []int) (*weights.Tensor, error) {
	v := store.GetVariable(path)
	if v == nil {
		return nil, fmt.Errorf("tinyllava: the model has no variable %s for %s", path, name)
	}
	val, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("tinyllava: %s: %w", path, err)
	}
	t, err := weights.FromGoMLX(name, val)
	if err != nil {
		return nil, err
	}
	if err := t.ExpectShape(shape...); err != nil {
		return nil, err
	}
	return t, nil
}

// towerWeights reads the tower under its HF names (siglip's table; the
// variable of "vision_model.a.b.weight" is /vision_model/a/b/weight).
func towerWeights(store *model.Store, s Sizes) ([]*weights.Tensor, error) {
	var out []*weights.Tensor
	for _, e := range siglip.Table(s.Tower) {
		t, err := variable(store, "/"+strings.ReplaceAll(e.Name, ".", "/"), e.Name, e.Shape)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// LMWeights reads the decoder's variables (under LMScope) back under their HF
// names. model/llm's loader places "model.layers.3.mlp.up_proj.weight" at
// layers/3/mlp/up_proj/dense/weights, norms' gains at .../rms_norm/scale and
// the embedding table at embed_tokens/embeddings; the names produced are
// checked against the full list llm.RandomWeights gives for the config.
func LMWeights(store *model.Store, c *llm.Config) ([]*weights.Tensor, error) {
	want := llm.RandomWeights(c, 0)
	var out []*weights.Tensor
	var got []string
	prefix := "/llm/"
	for v := range store.IterVariables() {
		path := model.JoinPath(v.Scope(), v.Name())
		if !strings.HasPrefix(path, prefix) {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(path, prefix), "/")
		leaf := parts[len(parts)-1]
		mod := slices.DeleteFunc(slices.Clone(parts[:len(parts)-1]), func(p string) bool { return p == "dense" || p == "rms_norm" })
		suffix := "weight"
		if leaf == "biases" {
			suffix = "bias"
		}
		name := strings.Join(mod, ".") + "." + suffix
		if mod[0] != "lm_head" {
			name = "model." + name
		}
		ref, err := want.Get(name)
		if err != nil {
			return nil, fmt.Errorf("tinyllava: decoder variable %s maps to %q, which a %s checkpoint does not have", path, name, c.ModelType)
		}
		t, err := variable(store, path, name, ref.Shape)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		got = append(got, name)
	}
	slices.Sort(got)
	names := want.Names()
	slices.Sort(names)
	if !slices.Equal(got, names) {
		return nil, fmt.Errorf("tinyllava: exported decoder tensors %v, a %s checkpoint has %v", got, c.ModelType, names)
	}
	return out, nil
}
