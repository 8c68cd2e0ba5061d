package siglip

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/randfill"
	"github.com/dualtoken/evalharness/model/weights"
)

// Model is a loaded SigLIP: its config and a Store holding the variables at
// the root scope (vision_model/..., text_model/..., logit_scale, logit_bias).
type Model struct {
	Config *Config
	Store  *model.Store
}

// Root is the scope the graph functions start from.
func (m *Model) Root() *model.Scope { return m.Store.RootScope() }

// Load reads an HF model directory: config.json and its checkpoint
// (model.safetensors, a sharded index or a .pth), with or without DualToken's
// "siglip_model." prefix. Every checkpoint tensor must be consumed or
// deliberately ignored.
func Load(dir string) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	return LoadFrom(cfg, set)
}

// LoadFrom builds a model for cfg from the tensors of set (prefix detected).
func LoadFrom(cfg *Config, set weights.Set) (*Model, error) {
	m := &Model{Config: cfg, Store: model.NewStore()}
	l := weights.NewLoader(set)
	prefix := DetectPrefix(set)
	if err := LoadVariables(m.Root(), cfg, l, prefix); err != nil {
		return nil, err
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, fmt.Errorf("siglip: %s: %w", source(l), err)
	}
	return m, nil
}

// SetDType prepares m for inference in dt: both towers compute in dt and
// every weight matrix (rank >= 2: projections, patch kernel, embedding
// tables, the MAP probe) is stored in dt — half the memory in bfloat16.
// Biases, LayerNorm gains and the logit scale/bias stay float32 (read by the
// float32 islands or negligible). Compiled graphs (an Encoder's) must be made
// after it. For training, leave the variables float32 and set
// Config.Vision.DType / Config.Text.DType instead: weights are then converted
// where they are used and the gradients land on the float32 variables.
func (m *Model) SetDType(dt dtypes.DType) error {
	stacked := m.StackedBytes() > 0
	if err := m.dropStacked(); err != nil { // remade below from the converted variables
		return err
	}
	if _, _, err := precision.StoreAs(m.Store.IterVariables(), dt, nil); err != nil {
		return fmt.Errorf("siglip: %w", err)
	}
	m.Config.Vision.DType = dt
	if m.Config.Text != nil {
		m.Config.Text.DType = dt
	}
	if stacked {
		return m.stackWeights()
	}
	return nil
}

// NewRandom builds a model with deterministic random weights (see
// RandomVariables) for tests.
func NewRandom(cfg *Config, seed uint64) (*Model, error) {
	m := &Model{Config: cfg, Store: model.NewStore()}
	if err := RandomVariables(m.Root(), cfg, seed); err != nil {
		return nil, err
	}
	return m, nil
}

// NewBenchRandom is NewRandom for benchmarks: RandomVariables' layout and
// scales drawn by package randfill (approximately normal, other values),
// fast enough for SO400M-sized towers.
func NewBenchRandom(cfg *Config, seed uint64) (*Model, error) {
	m := &Model{Config: cfg, Store: model.NewStore()}
	err := randomVariables(m.Root(), cfg, func(vals []float32, i int) {
		randfill.Normal(vals, 0.02, seed, uint64(i))
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// BaseConfig returns a vision-only config of the given sizes with SigLIP's
// defaults elsewhere (gelu-tanh, LayerNorm eps 1e-6, MAP head, 3 channels).
func BaseConfig(width, layers, heads, mlp, patch, image int) *Config {
	return &Config{
		Path:      "(built-in config)",
		ModelType: ModelTypeVisionOnly,
		Vision: VisionConfig{
			HiddenSize: width, IntermediateSize: mlp, NumLayers: layers, NumHeads: heads,
			NumChannels: 3, ImageSize: image, PatchSize: patch,
			LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh", UseHead: true,
		},
	}
}

// ViTB16 is the ViT-B/16-224 vision tower size (width 768, 12 layers, 12
// heads, MLP 3072, patch 16, 224 px): siglip-base-patch16-224's.
func ViTB16() *Config { return BaseConfig(768, 12, 12, 3072, 16, 224) }

// LogitScaleBias returns exp(logit_scale) and logit_bias; ok is false for a
// vision-only model.
func (m *Model) LogitScaleBias() (scale, bias float64, ok bool) {
	if m.Config.Text == nil {
		return 0, 0, false
	}
	get := func(name string) float64 {
		v := m.Root().GetVariable(name)
		if v == nil {
			return math.NaN()
		}
		t, err := v.Value()
		if err != nil {
			return math.NaN()
		}
		vals, err := tensors.CopyFlatData[float32](t)
		if err != nil || len(vals) == 0 {
			return math.NaN()
		}
		return float64(vals[0])
	}
	return math.Exp(get("logit_scale")), get("logit_bias"), true
}
