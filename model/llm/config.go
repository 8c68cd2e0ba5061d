package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
)

// Model types this package understands (config.json "model_type").
const (
	ModelTypeQwen2 = "qwen2" // Qwen2ForCausalLM (also Qwen2.5)
	ModelTypeLlama = "llama" // LlamaForCausalLM (LLaMA-2, Vicuna)
)

// Config sizes a decoder. Every field comes from config.json (HF names in the
// comments); missing optional fields take transformers' defaults.
type Config struct {
	Path      string // the config file, for error messages
	ModelType string // model_type

	VocabSize    int     // vocab_size: rows of the embedding table and of lm_head
	HiddenSize   int     // hidden_size: residual width H
	Intermediate int     // intermediate_size: SwiGLU hidden width
	NumLayers    int     // num_hidden_layers
	NumHeads     int     // num_attention_heads (query heads)
	NumKVHeads   int     // num_key_value_heads (GQA; = NumHeads for MHA)
	HeadDim      int     // head_dim, default hidden_size / num_attention_heads
	RMSNormEps   float64 // rms_norm_eps
	RopeTheta    float64 // rope_theta or rope_parameters.rope_theta
	Rope         RopeScaling
	MaxPositions int // max_position_embeddings: the context length

	QKVBias       bool // biases on q/k/v_proj: always for Qwen2, attention_bias for LLaMA
	OutBias       bool // bias on o_proj: attention_bias for LLaMA, never for Qwen2
	MLPBias       bool // mlp_bias (LLaMA)
	TieEmbeddings bool // tie_word_embeddings: lm_head reuses embed_tokens (no lm_head.weight in the file)

	BOS int   // bos_token_id, -1 when absent
	EOS []int // eos_token_id (an integer or a list)
	Pad int   // pad_token_id, -1 when absent

	// DType is the compute dtype, a run-time setting (not read from
	// config.json's torch_dtype): float32 when unset, or bfloat16 (see the
	// package comment for what stays float32). Model.SetDType sets it and
	// stores the weight matrices in it.
	DType dtypes.DType
	// ScanLayers runs the decoder layers as one loop (a While over the layer
	// weights stacked in the graph, package scan) instead of unrolling them:
	// one layer body to compile whatever the depth. The KV cache is then two
	// tensors [N,B,nKV,L,hd] carried through the loop, and Forward returns
	// only the first and the last hidden state. For inference (no gradients
	// through the loop); Model.SetScanLayers switches it, drops the compiled
	// graphs and keeps a stacked copy of the layer weights for the loop (New
	// makes it when the config has ScanLayers set). A run-time setting, not
	// read from config.json.
	ScanLayers bool
}

// ComputeDType is DType, float32 when unset.
func (c *Config) ComputeDType() dtypes.DType { return precision.Compute(c.DType) }

// LoadConfig reads config.json from a model directory (or the file itself).
func LoadConfig(dirOrFile string) (*Config, error) {
	raw, err := config.Load(dirOrFile)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig interprets a raw config.json of a Qwen2 or LLaMA model.
func ParseConfig(raw *config.Raw) (*Config, error) {
	mt, err := raw.ModelType()
	if err != nil {
		return nil, err
	}
	if mt != ModelTypeQwen2 && mt != ModelTypeLlama {
		return nil, raw.UnknownModelType(ModelTypeQwen2, ModelTypeLlama)
	}
	c := &Config{Path: raw.Path, ModelType: mt}
	ints := []struct {
		dst  *int
		def  int // 0: required
		keys []string
	}{
		{&c.VocabSize, 0, []string{"vocab_size"}},
		{&c.HiddenSize, 0, []string{"hidden_size"}},
		{&c.Intermediate, 0, []string{"intermediate_size"}},
		{&c.NumLayers, 0, []string{"num_hidden_layers"}},
		{&c.NumHeads, 0, []string{"num_attention_heads"}},
	}
	for _, f := range ints {
		if *f.dst, err = raw.Int(f.keys...); err != nil {
			return nil, err
		}
		if *f.dst <= 0 {
			return nil, fmt.Errorf("%s: field %q = %d, expected a positive integer", raw.Path, f.keys[0], *f.dst)
		}
	}
	if c.NumKVHeads, err = raw.IntOr(c.NumHeads, "num_key_value_heads"); err != nil {
		return nil, err
	}
	if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("%s: field \"num_key_value_heads\" = %d must divide num_attention_heads = %d", raw.Path, c.NumKVHeads, c.NumHeads)
	}
	if raw.Has("head_dim") {
		if c.HeadDim, err = raw.Int("head_dim"); err != nil {
			return nil, err
		}
	} else {
		// transformers' default, a floor division: the projections are
		// heads·head_dim wide, which need not be hidden_size.
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s: head_dim = %d, expected a positive even number (RoPE rotates pairs)", raw.Path, c.HeadDim)
	}
	if c.RMSNormEps, err = raw.FloatOr(1e-6, "rms_norm_eps"); err != nil {
		return nil, err
	}
	if c.RopeTheta, err = raw.FloatOr(10000, "rope_theta", "rope_parameters.rope_theta"); err != nil {
		return nil, err
	}
	if c.Rope, err = parseRopeScaling(raw); err != nil {
		return nil, err
	}
	defCtx := 2048
	if mt == ModelTypeQwen2 {
		defCtx = 32768
	}
	if c.MaxPositions, err = raw.IntOr(defCtx, "max_position_embeddings"); err != nil {
		return nil, err
	}
	if act, err := raw.StringOr("silu", "hidden_act"); err != nil {
		return nil, err
	} else if act != "silu" {
		return nil, fmt.Errorf("%s: field \"hidden_act\" = %q, only \"silu\" is supported", raw.Path, act)
	}
	if sw, err := raw.BoolOr(false, "use_sliding_window"); err != nil {
		return nil, err
	} else if sw {
		return nil, fmt.Errorf("%s: field \"use_sliding_window\" = true: sliding-window attention is not supported", raw.Path)
	}
	if mt == ModelTypeQwen2 {
		c.QKVBias = true
	} else {
		if c.QKVBias, err = raw.BoolOr(false, "attention_bias"); err != nil {
			return nil, err
		}
		c.OutBias = c.QKVBias
		if c.MLPBias, err = raw.BoolOr(false, "mlp_bias"); err != nil {
			return nil, err
		}
	}
	if c.TieEmbeddings, err = raw.BoolOr(false, "tie_word_embeddings"); err != nil {
		return nil, err
	}
	if c.BOS, err = raw.IntOr(-1, "bos_token_id"); err != nil {
		return nil, err
	}
	if c.Pad, err = raw.IntOr(-1, "pad_token_id"); err != nil {
		return nil, err
	}
	if c.EOS, err = intOrList(raw, "eos_token_id"); err != nil {
		return nil, err
	}
	return c, nil
}

// intOrList reads a field that HF writes either as one integer or a list.
func intOrList(raw *config.Raw, key string) ([]int, error) {
	if !raw.Has(key) {
		return nil, nil
	}
	if v, err := raw.Int(key); err == nil {
		return []int{v}, nil
	}
	return raw.Ints(key)
}

// NumParameters counts the decoder's weights (lm_head counted once when tied).
func (c *Config) NumParameters() int {
	H, I, hd := c.HiddenSize, c.Intermediate, c.HeadDim
	q, kv := c.NumHeads*hd, c.NumKVHeads*hd
	perLayer := 2*H + H*q + 2*H*kv + q*H + 3*H*I
	if c.QKVBias {
		perLayer += q + 2*kv
	}
	if c.OutBias {
		perLayer += H
	}
	if c.MLPBias {
		perLayer += 2*I + H
	}
	n := c.NumLayers*perLayer + c.VocabSize*H + H
	if !c.TieEmbeddings {
		n += c.VocabSize * H
	}
	return n
}

// GenerationConfig holds the decoding defaults of generation_config.json.
// Zero values mean "not set in the file".
type GenerationConfig struct {
	Path              string
	EOS               []int   // eos_token_id
	BOS, Pad          int     // bos_token_id, pad_token_id (-1 when absent)
	DoSample          bool    // do_sample
	Temperature       float64 // temperature
	TopK              int     // top_k
	TopP              float64 // top_p
	RepetitionPenalty float64 // repetition_penalty
	MaxNewTokens      int     // max_new_tokens
}

// LoadGenerationConfig reads dir/generation_config.json. A missing file is
// not an error: it returns (nil, nil).
func LoadGenerationConfig(dir string) (*GenerationConfig, error) {
	path := filepath.Join(dir, "generation_config.json")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	raw, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	g := &GenerationConfig{Path: path}
	if g.EOS, err = intOrList(raw, "eos_token_id"); err != nil {
		return nil, err
	}
	if g.BOS, err = raw.IntOr(-1, "bos_token_id"); err != nil {
		return nil, err
	}
	if g.Pad, err = raw.IntOr(-1, "pad_token_id"); err != nil {
		return nil, err
	}
	if g.DoSample, err = raw.BoolOr(false, "do_sample"); err != nil {
		return nil, err
	}
	if g.Temperature, err = raw.FloatOr(0, "temperature"); err != nil {
		return nil, err
	}
	if g.TopK, err = raw.IntOr(0, "top_k"); err != nil {
		return nil, err
	}
	if g.TopP, err = raw.FloatOr(0, "top_p"); err != nil {
		return nil, err
	}
	if g.RepetitionPenalty, err = raw.FloatOr(0, "repetition_penalty"); err != nil {
		return nil, err
	}
	if g.MaxNewTokens, err = raw.IntOr(0, "max_new_tokens"); err != nil {
		return nil, err
	}
	return g, nil
}

// String summarises the sizes, for logs.
func (c *Config) String() string {
	b, _ := json.Marshal(map[string]any{
		"model_type": c.ModelType, "vocab": c.VocabSize, "hidden": c.HiddenSize, "mlp": c.Intermediate,
		"layers": c.NumLayers, "heads": c.NumHeads, "kv_heads": c.NumKVHeads, "head_dim": c.HeadDim,
		"rope_theta": c.RopeTheta, "tied": c.TieEmbeddings,
	})
	return string(b)
}

// RopeScaling is config.json's rope_scaling (transformers 5: the same keys
// in rope_parameters): how the RoPE frequencies theta^(-2i/hd) are changed.
type RopeScaling struct {
	// Type is "default" (unchanged), "linear" (every frequency / Factor) or
	// "llama3" (LLaMA-3.1's: frequencies whose wavelength exceeds
	// OriginalMaxPositions/LowFreqFactor / Factor, those under
	// OriginalMaxPositions/HighFreqFactor kept, a blend between).
	Type                          string
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
}

// parseRopeScaling reads rope_scaling (or rope_parameters). The variants
// whose frequencies depend on the sequence length or that also scale the
// attention (dynamic, yarn, longrope) are refused rather than computed
// differently.
func parseRopeScaling(raw *config.Raw) (RopeScaling, error) {
	r := RopeScaling{Type: "default"}
	block := "rope_scaling."
	if !raw.Has("rope_scaling") {
		block = "rope_parameters."
	}
	t, err := raw.StringOr("default", block+"rope_type", block+"type")
	if err != nil {
		return r, err
	}
	switch t {
	case "default":
		return r, nil
	case "linear", "llama3":
	default:
		return r, fmt.Errorf("%s: field %q = %q: RoPE scaling %q is not supported (default, linear, llama3)", raw.Path, block+"rope_type", t, t)
	}
	r.Type = t
	if r.Factor, err = raw.Float(block + "factor"); err != nil {
		return r, err
	}
	if r.Factor <= 0 {
		return r, fmt.Errorf("%s: field %q = %g, expected a positive factor", raw.Path, block+"factor", r.Factor)
	}
	if t == "linear" {
		return r, nil
	}
	if r.LowFreqFactor, err = raw.Float(block + "low_freq_factor"); err != nil {
		return r, err
	}
	if r.HighFreqFactor, err = raw.Float(block + "high_freq_factor"); err != nil {
		return r, err
	}
	if r.OriginalMaxPositions, err = raw.Int(block + "original_max_position_embeddings"); err != nil {
		return r, err
	}
	if r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor || r.OriginalMaxPositions <= 0 {
		return r, fmt.Errorf("%s: %slow_freq_factor %g, high_freq_factor %g, original_max_position_embeddings %d: expected 0 < low < high and a positive length", raw.Path, block, r.LowFreqFactor, r.HighFreqFactor, r.OriginalMaxPositions)
	}
	return r, nil
}

// ropeInvFreq are the RoPE frequencies [hd/2] in float32, computed as
// transformers computes them in float32: theta^(-2i/hd), then the scaling.
func ropeInvFreq(c *Config) []float32 {
	hd := c.HeadDim
	inv := make([]float32, hd/2)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(c.RopeTheta, float64(float32(2*i)/float32(hd))))
	}
	r := c.Rope
	factor := float32(r.Factor)
	switch r.Type {
	case "linear":
		for i := range inv {
			inv[i] /= factor
		}
	case "llama3":
		old := float32(r.OriginalMaxPositions)
		low, high := float32(r.LowFreqFactor), float32(r.HighFreqFactor)
		lowWavelen, highWavelen := old/low, old/high
		for i, f := range inv {
			wavelen := float32(2*math.Pi) / f
			switch {
			case wavelen > lowWavelen: // low frequencies: scaled
				inv[i] = f / factor
			case wavelen >= highWavelen: // between: a blend
				smooth := (old/wavelen - low) / (high - low)
				inv[i] = (1-smooth)*f/factor + smooth*f
			}
		}
	}
	return inv
}
