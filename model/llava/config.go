package llava

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/dualtoken/evalharness/internal/hfcache"
	"github.com/dualtoken/evalharness/model/config"
)

// ModelType is config.json's model_type for this composition.
const ModelType = "llava"

// Chat templates (config "chat_template", alias LLaVA's "conv_mode").
const (
	TemplateVicunaV1 = "vicuna_v1" // LLaVA-1.5: "{system} USER: <image>\n{q} ASSISTANT:"
	TemplateQwen     = "qwen"      // Qwen2/2.5 ChatML with the default system turn
)

// Image aspect handling (config "image_aspect_ratio", LLaVA's values).
const (
	AspectPad    = "pad"    // LLaVA-1.5: pad to a square with the processor mean colour, then resize
	AspectSquare = "square" // the tower's processor only (SigLIP: resize to a square, no crop)
)

// Config is a parsed LLaVA config.json: where the three pieces live and how
// prompts and images are prepared. Paths are resolved against the folder of
// config.json unless absolute.
//
//	{
//	  "model_type": "llava",
//	  "vision_tower": "vision_tower",          // HF SigLIP dir (alias mm_vision_tower)
//	  "language_model": "language_model",      // HF Qwen2/LLaMA dir
//	  "mm_projector": "mm_projector.safetensors", // model.mm_projector.{0,2}.{weight,bias}
//	  "tokenizer": "language_model",           // default: the language model's dir
//	  "mm_projector_type": "mlp2x_gelu",       // or "linear", "mlp3x_gelu", ...
//	  "mm_vision_select_layer": -2,            // index into the tower's hidden states
//	  "mm_vision_select_feature": "patch",
//	  "image_aspect_ratio": "pad",
//	  "chat_template": "vicuna_v1",            // or "qwen" (alias conv_mode)
//	  "image_token": "<image>",
//	  "add_bos_token": true                    // default: true for vicuna_v1, false for qwen
//	}
type Config struct {
	Path string // the config file, for error messages

	VisionTower   string // resolved path of the vision tower directory
	LanguageModel string // resolved path of the language model directory
	Projector     string // resolved path of the projector checkpoint (file or directory)
	Tokenizer     string // resolved path of the tokenizer (file or directory)

	ProjectorType  string // mm_projector_type
	ProjectorDepth int    // Linear layers of the projector: 1 for "linear", N for "mlpNx_gelu"
	// SelectLayer indexes the tower's hidden states as LLaVA does
	// (hidden_states[SelectLayer]; negative counts from the end): 0 is the
	// patch embeddings, i the output of layer i, before the post-LayerNorm.
	SelectLayer   int
	SelectFeature string // "patch": every patch position (SigLIP has no CLS token)
	ImageAspect   string // AspectPad or AspectSquare
	ChatTemplate  string // TemplateVicunaV1 or TemplateQwen
	SystemPrompt  string // "" = the template's default system prompt
	ImageToken    string // the placeholder the prompt marks images with
	AddBOS        bool   // prepend the language model's bos id to every prompt
}

var mlpGelu = regexp.MustCompile(`^mlp(\d+)x_gelu$`)

// LoadConfig reads a LLaVA config.json (or the folder holding it).
func LoadConfig(dirOrFile string) (*Config, error) {
	raw, err := config.Load(dirOrFile)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig interprets a raw LLaVA config; relative paths are resolved
// against the folder of raw.Path, or, when nothing is there, as Hub repo ids
// in the local Hugging Face cache (package hfcache).
func ParseConfig(raw *config.Raw) (*Config, error) {
	mt, err := raw.ModelType()
	if err != nil {
		return nil, err
	}
	if mt != ModelType {
		return nil, raw.UnknownModelType(ModelType)
	}
	c := &Config{Path: raw.Path}
	base := filepath.Dir(raw.Path)
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		local := filepath.Join(base, p)
		if _, err := os.Stat(local); err != nil {
			// Not beside the config: a Hub repo id ("Qwen/Qwen2.5-3B-Instruct")
			// that transformers has downloaded.
			if snap, ok := hfcache.Snapshot(p); ok {
				return snap
			}
		}
		return local
	}
	str := func(dst *string, def string, keys ...string) error {
		v, err := raw.StringOr(def, keys...)
		*dst = v
		return err
	}
	for _, f := range []struct {
		dst  *string
		def  string
		keys []string
	}{
		{&c.VisionTower, "vision_tower", []string{"vision_tower", "mm_vision_tower"}},
		{&c.LanguageModel, "language_model", []string{"language_model"}},
		{&c.Projector, "mm_projector.safetensors", []string{"mm_projector"}},
		{&c.Tokenizer, "", []string{"tokenizer"}},
		{&c.ProjectorType, "mlp2x_gelu", []string{"mm_projector_type"}},
		{&c.SelectFeature, "patch", []string{"mm_vision_select_feature"}},
		{&c.ImageAspect, AspectPad, []string{"image_aspect_ratio"}},
		{&c.ChatTemplate, TemplateVicunaV1, []string{"chat_template", "conv_mode"}},
		{&c.SystemPrompt, "", []string{"system_prompt"}},
		{&c.ImageToken, "<image>", []string{"image_token"}},
	} {
		if err := str(f.dst, f.def, f.keys...); err != nil {
			return nil, err
		}
	}
	c.VisionTower, c.LanguageModel, c.Projector = resolve(c.VisionTower), resolve(c.LanguageModel), resolve(c.Projector)
	if c.Tokenizer == "" {
		c.Tokenizer = c.LanguageModel
	} else {
		c.Tokenizer = resolve(c.Tokenizer)
	}

	switch {
	case c.ProjectorType == "linear":
		c.ProjectorDepth = 1
	case mlpGelu.MatchString(c.ProjectorType):
		c.ProjectorDepth, _ = strconv.Atoi(mlpGelu.FindStringSubmatch(c.ProjectorType)[1])
		if c.ProjectorDepth < 1 {
			return nil, fmt.Errorf("%s: field \"mm_projector_type\" = %q: an MLP needs at least one layer", raw.Path, c.ProjectorType)
		}
	default:
		return nil, fmt.Errorf("%s: field \"mm_projector_type\" = %q, expected \"linear\" or \"mlp<N>x_gelu\" (LLaVA-1.5: \"mlp2x_gelu\")", raw.Path, c.ProjectorType)
	}
	if c.SelectLayer, err = raw.IntOr(-2, "mm_vision_select_layer"); err != nil {
		return nil, err
	}
	if c.SelectFeature != "patch" {
		return nil, fmt.Errorf("%s: field \"mm_vision_select_feature\" = %q: only \"patch\" is supported (a SigLIP tower has no CLS token to keep or drop)", raw.Path, c.SelectFeature)
	}
	if c.ImageAspect != AspectPad && c.ImageAspect != AspectSquare {
		return nil, fmt.Errorf("%s: field \"image_aspect_ratio\" = %q, expected %q or %q", raw.Path, c.ImageAspect, AspectPad, AspectSquare)
	}
	if c.ChatTemplate != TemplateVicunaV1 && c.ChatTemplate != TemplateQwen {
		return nil, fmt.Errorf("%s: field \"chat_template\" = %q, expected %q or %q", raw.Path, c.ChatTemplate, TemplateVicunaV1, TemplateQwen)
	}
	if c.ImageToken == "" {
		return nil, fmt.Errorf("%s: field \"image_token\" is empty", raw.Path)
	}
	if se, err := raw.BoolOr(false, "mm_use_im_start_end"); err != nil {
		return nil, err
	} else if se {
		return nil, fmt.Errorf("%s: field \"mm_use_im_start_end\" = true: image start/end tokens are not supported (LLaVA-1.5 does not use them)", raw.Path)
	}
	if c.AddBOS, err = raw.BoolOr(c.ChatTemplate == TemplateVicunaV1, "add_bos_token"); err != nil {
		return nil, err
	}
	return c, nil
}
