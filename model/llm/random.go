package llm

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/dualtoken/evalharness/model/randfill"
	"github.com/dualtoken/evalharness/model/weights"
)

// RandomWeights returns a checkpoint for cfg with HF names and deterministic
// random values (normal, std 0.02 for matrices and biases; norm gains around
// 1), for tests and benchmarks of models with no released weights here.
func RandomWeights(cfg *Config, seed uint64) *weights.MemSet {
	rng := rand.New(rand.NewPCG(seed, 0x11f))
	set := weights.NewMemSet("random(" + cfg.ModelType + ")")
	_ = eachParam(cfg, func(hf, _, _ string, shape []int) error {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		isNorm := strings.HasSuffix(hf, "norm.weight")
		for i := range v {
			x := rng.NormFloat64()
			if isNorm {
				v[i] = float32(1 + 0.1*x)
			} else {
				v[i] = float32(0.02 * x)
			}
		}
		set.Add(weights.FromFloat32(hf, shape, v))
		return nil
	})
	return set
}

// BenchWeights is RandomWeights' checkpoint drawn by package randfill:
// the same names, shapes and scales, approximately normal values, and fast
// enough for billions of parameters (a Qwen2.5-3B-shaped benchmark model).
func BenchWeights(cfg *Config, seed uint64) *weights.MemSet {
	set := weights.NewMemSet("random(" + cfg.ModelType + ")")
	i := uint64(0)
	_ = eachParam(cfg, func(hf, _, _ string, shape []int) error {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		randfill.Normal(v, 0.02, seed, i)
		if strings.HasSuffix(hf, "norm.weight") {
			for j := range v {
				v[j] = 1 + 5*v[j] // 1 + 0.1·N(0, 1)
			}
		}
		i++
		set.Add(weights.WrapFloat32(hf, shape, v))
		return nil
	})
	return set
}

// TestConfig returns a Qwen2-shaped config (GQA, QKV bias, SwiGLU) of the
// given sizes with head_dim = hidden/heads, for tests and benchmarks.
func TestConfig(vocab, hidden, layers, heads, kvHeads, mlp int, tied bool) *Config {
	return &Config{
		Path: "(built-in config)", ModelType: ModelTypeQwen2,
		VocabSize: vocab, HiddenSize: hidden, Intermediate: mlp, NumLayers: layers,
		NumHeads: heads, NumKVHeads: kvHeads, HeadDim: hidden / heads,
		RMSNormEps: 1e-6, RopeTheta: 1e6, MaxPositions: math.MaxInt32,
		QKVBias: true, TieEmbeddings: tied, BOS: -1, Pad: -1,
	}
}
