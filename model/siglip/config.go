package siglip

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
)

// Model types this package understands (config.json "model_type").
const (
	ModelTypeSiglip     = "siglip"              // SiglipModel: both towers + logit scale/bias
	ModelTypeVisionOnly = "siglip_vision_model" // SiglipVisionModel: vision tower only
)

// VisionConfig sizes the vision tower (HF SiglipVisionConfig).
type VisionConfig struct {
	HiddenSize       int     // width D
	IntermediateSize int     // MLP hidden size
	NumLayers        int     // encoder blocks
	NumHeads         int     // attention heads (also of the MAP head)
	NumChannels      int     // input channels, 3
	ImageSize        int     // input side in pixels
	PatchSize        int     // patch side = conv stride
	LayerNormEps     float64 // every LayerNorm of the tower
	HiddenAct        string  // MLP activation, HF name
	UseHead          bool    // MAP attention-pooling head present (vision_use_head)

	// Run-time settings, not read from config.json:

	// DType is the compute dtype of matmuls and activations: float32 (also
	// the zero value) or bfloat16. LayerNorm statistics and softmax run in
	// float32 whatever it is. Weights are converted at use, so float32
	// variables (training) and bfloat16 ones (Model.SetDType) both work.
	DType dtypes.DType
	// Checkpoint makes each encoder layer a gradient-checkpointing block: the
	// backward pass recomputes a layer's activations from its saved input
	// instead of keeping them (one more forward for a fraction of the
	// memory). It changes no value and costs nothing without gradients.
	Checkpoint bool
	// ScanLayers runs consecutive encoder layers as one loop (a While over
	// the layer weights stacked along a new axis, package scan) instead of
	// unrolling them: one layer body to compile whatever the depth.
	// Model.SetScanLayers sets it and keeps the stacked copy the loops read
	// (set here alone, the loops stack the weights in the graph on every
	// call). For inference only (no gradients through the loop, no
	// Checkpoint); the hidden states inside a looped run are not available
	// (see Vision).
	ScanLayers bool
}

// ComputeDType is DType, float32 when unset.
func (c *VisionConfig) ComputeDType() dtypes.DType { return precision.Compute(c.DType) }

// GridSize is the number of patches along each side.
func (c *VisionConfig) GridSize() int { return c.ImageSize / c.PatchSize }

// NumPatches is the token count of an image: GridSize².
func (c *VisionConfig) NumPatches() int { return c.GridSize() * c.GridSize() }

// TextConfig sizes the text tower (HF SiglipTextConfig).
type TextConfig struct {
	VocabSize        int
	HiddenSize       int
	IntermediateSize int
	NumLayers        int
	NumHeads         int
	MaxPositions     int // max_position_embeddings: longest input_ids row
	ProjectionSize   int // output size of the head Linear
	LayerNormEps     float64
	HiddenAct        string
	PadTokenID       int
	EOSTokenID       int

	// DType is the text tower's compute dtype (see VisionConfig.DType); a
	// run-time setting, not read from config.json.
	DType dtypes.DType
	// ScanLayers loops over the encoder layers (see VisionConfig.ScanLayers).
	ScanLayers bool
}

// ComputeDType is DType, float32 when unset.
func (c *TextConfig) ComputeDType() dtypes.DType { return precision.Compute(c.DType) }

// Config is a parsed SigLIP config.json. Text is nil for a vision-only model.
type Config struct {
	Path      string // the config file, for error messages
	ModelType string
	Vision    VisionConfig
	Text      *TextConfig
}

// LoadConfig reads config.json from a model directory (or the file itself).
func LoadConfig(dirOrFile string) (*Config, error) {
	raw, err := config.Load(dirOrFile)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig interprets a raw config. Missing fields take HF's defaults (the
// released checkpoints omit many of them); aliases cover other spellings.
func ParseConfig(raw *config.Raw) (*Config, error) {
	mt, err := raw.ModelType()
	if err != nil {
		return nil, err
	}
	c := &Config{Path: raw.Path, ModelType: mt}
	switch mt {
	case ModelTypeSiglip:
		vr, err := subOrEmpty(raw, "vision_config")
		if err != nil {
			return nil, err
		}
		if c.Vision, err = parseVision(vr); err != nil {
			return nil, err
		}
		tr, err := subOrEmpty(raw, "text_config")
		if err != nil {
			return nil, err
		}
		t, err := parseText(tr)
		if err != nil {
			return nil, err
		}
		c.Text = &t
	case ModelTypeVisionOnly:
		// A SiglipVisionModel's config.json is the vision config itself; some
		// writers nest it under vision_config.
		vr := raw
		if raw.Has("vision_config") {
			if vr, err = raw.Sub("vision_config"); err != nil {
				return nil, err
			}
		}
		if c.Vision, err = parseVision(vr); err != nil {
			return nil, err
		}
	default:
		return nil, raw.UnknownModelType(ModelTypeSiglip, ModelTypeVisionOnly)
	}
	return c, nil
}

func subOrEmpty(raw *config.Raw, key string) (*config.Raw, error) {
	if !raw.Has(key) {
		return &config.Raw{Path: raw.Path + "#" + key, Data: map[string]any{}}, nil
	}
	return raw.Sub(key)
}

// field reads one integer with HF's default, requiring it to be positive.
func positive(r *config.Raw, def int, keys ...string) (int, error) {
	v, err := r.IntOr(def, keys...)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("%s: field %q = %d, expected a positive integer", r.Path, keys[0], v)
	}
	return v, nil
}

func parseVision(r *config.Raw) (VisionConfig, error) {
	var c VisionConfig
	var err error
	ints := []struct {
		dst  *int
		def  int
		keys []string
	}{
		{&c.HiddenSize, 768, []string{"hidden_size", "width"}},
		{&c.IntermediateSize, 3072, []string{"intermediate_size", "mlp_dim"}},
		{&c.NumLayers, 12, []string{"num_hidden_layers", "num_layers"}},
		{&c.NumHeads, 12, []string{"num_attention_heads", "num_heads"}},
		{&c.NumChannels, 3, []string{"num_channels"}},
		{&c.ImageSize, 224, []string{"image_size"}},
		{&c.PatchSize, 16, []string{"patch_size"}},
	}
	for _, f := range ints {
		if *f.dst, err = positive(r, f.def, f.keys...); err != nil {
			return c, err
		}
	}
	if c.LayerNormEps, err = r.FloatOr(1e-6, "layer_norm_eps", "layer_norm_epsilon"); err != nil {
		return c, err
	}
	if c.HiddenAct, err = r.StringOr("gelu_pytorch_tanh", "hidden_act", "hidden_activation"); err != nil {
		return c, err
	}
	if c.UseHead, err = r.BoolOr(true, "vision_use_head"); err != nil {
		return c, err
	}
	if err := checkCommon(r, c.HiddenSize, c.NumHeads, c.HiddenAct); err != nil {
		return c, err
	}
	if c.ImageSize < c.PatchSize {
		return c, fmt.Errorf("%s: image_size %d is smaller than patch_size %d", r.Path, c.ImageSize, c.PatchSize)
	}
	return c, nil
}

func parseText(r *config.Raw) (TextConfig, error) {
	var c TextConfig
	var err error
	ints := []struct {
		dst  *int
		def  int
		keys []string
	}{
		{&c.VocabSize, 32000, []string{"vocab_size"}},
		{&c.HiddenSize, 768, []string{"hidden_size", "width"}},
		{&c.IntermediateSize, 3072, []string{"intermediate_size", "mlp_dim"}},
		{&c.NumLayers, 12, []string{"num_hidden_layers", "num_layers"}},
		{&c.NumHeads, 12, []string{"num_attention_heads", "num_heads"}},
		{&c.MaxPositions, 64, []string{"max_position_embeddings", "context_length"}},
	}
	for _, f := range ints {
		if *f.dst, err = positive(r, f.def, f.keys...); err != nil {
			return c, err
		}
	}
	if c.ProjectionSize, err = positive(r, c.HiddenSize, "projection_size"); err != nil {
		return c, err
	}
	if c.LayerNormEps, err = r.FloatOr(1e-6, "layer_norm_eps", "layer_norm_epsilon"); err != nil {
		return c, err
	}
	if c.HiddenAct, err = r.StringOr("gelu_pytorch_tanh", "hidden_act", "hidden_activation"); err != nil {
		return c, err
	}
	if c.PadTokenID, err = r.IntOr(1, "pad_token_id"); err != nil {
		return c, err
	}
	if c.EOSTokenID, err = r.IntOr(49407, "eos_token_id"); err != nil {
		return c, err
	}
	if err := checkCommon(r, c.HiddenSize, c.NumHeads, c.HiddenAct); err != nil {
		return c, err
	}
	return c, nil
}

func checkCommon(r *config.Raw, hidden, heads int, act string) error {
	if hidden%heads != 0 {
		return fmt.Errorf("%s: hidden_size %d is not divisible by num_attention_heads %d", r.Path, hidden, heads)
	}
	if _, err := activationFor(act); err != nil {
		return fmt.Errorf("%s: field \"hidden_act\": %v", r.Path, err)
	}
	return nil
}
