package tinysiglip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/siglip"
)

// InitVariables creates the model's variables under root with SigLIP's
// training initialisation (transformers' SiglipPreTrainedModel._init_weights)
// rather than siglip.RandomVariables' uniform N(0, 0.02²), which starts a
// 64-wide tower so close to linear that the world's shapes were not learned
// in our budget:
//   - attention q/k/v/out and MLP fc1/fc2 weights: Xavier uniform; MLP biases
//     N(0, 1e-12), other biases zero;
//   - patch embedding (a conv) and the other Linear layers (text head, the
//     pooling head's out_proj): LeCun normal, std 1/√fan_in (truncated at 2σ);
//   - vision position embeddings N(0, 1/width); token and text position
//     embeddings as flax's default embed init, std 1/√width (truncated);
//   - pooling-head probe and in_proj_weight: Xavier uniform;
//   - LayerNorms ones and zeros;
//   - logit_scale log 10 and logit_bias −10 (the SigLIP paper's values; HF's
//     own init of 0 and 0 is for fine-tuning code paths).
//
// Every tensor draws from its own PCG stream (seed, table index), so the
// weights are the same on every machine.
func InitVariables(root *model.Scope, cfg *siglip.Config, seed uint64) error {
	for i, t := range siglip.Table(cfg) {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		vals := make([]float32, n)
		fill, err := initFor(t.Name, t.Shape, cfg)
		if err != nil {
			return err
		}
		for j := range vals {
			vals[j] = float32(fill(rng))
		}
		s := root
		parts := strings.Split(t.Name, ".")
		for _, p := range parts[:len(parts)-1] {
			s = s.At("%s", p)
		}
		if _, err := s.CreateVariable(parts[len(parts)-1], tensors.FromFlatDataAndDimensions(vals, t.Shape...)); err != nil {
			return fmt.Errorf("tinysiglip: init %s: %w", t.Name, err)
		}
	}
	return nil
}

// initFor returns the sampler of one tensor by its HF name.
func initFor(name string, shape []int, cfg *siglip.Config) (func(*rand.Rand) float64, error) {
	constant := func(v float64) func(*rand.Rand) float64 { return func(*rand.Rand) float64 { return v } }
	normal := func(std float64) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 { return std * r.NormFloat64() }
	}
	truncNormal := func(std float64) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 {
			for {
				if x := r.NormFloat64(); math.Abs(x) <= 2 {
					return std * x / 0.87962566103423978 // the std of N(0,1) truncated at ±2
				}
			}
		}
	}
	xavier := func(fanIn, fanOut int) func(*rand.Rand) float64 {
		a := math.Sqrt(6 / float64(fanIn+fanOut))
		return func(r *rand.Rand) float64 { return a * (2*r.Float64() - 1) }
	}
	// torch's fans: fan_in = size(1)·receptive field, fan_out = size(0)·receptive field.
	fans := func() (int, int) {
		rf := 1
		for _, d := range shape[2:] {
			rf *= d
		}
		return shape[1] * rf, shape[0] * rf
	}
	last := name[strings.LastIndex(name, ".")+1:]
	switch {
	case name == "logit_scale":
		return constant(math.Log(10)), nil
	case name == "logit_bias":
		return constant(-10), nil
	case strings.Contains(name, "layer_norm") || strings.Contains(name, "layernorm") || strings.Contains(name, "final_layer_norm"):
		if last == "weight" {
			return constant(1), nil
		}
		return constant(0), nil
	case name == "vision_model.embeddings.position_embedding.weight":
		return normal(1 / math.Sqrt(float64(cfg.Vision.HiddenSize))), nil
	case strings.HasPrefix(name, "text_model.embeddings."):
		return truncNormal(1 / math.Sqrt(float64(shape[1]))), nil
	case strings.Contains(name, ".mlp.fc") && last == "bias":
		return normal(1e-6), nil
	case last == "bias" || last == "in_proj_bias":
		return constant(0), nil
	case strings.Contains(name, ".self_attn.") || strings.Contains(name, ".mlp.fc") ||
		last == "probe" || last == "in_proj_weight":
		return xavier(fans()), nil
	case len(shape) >= 2: // patch embedding conv, text head, pooling head out_proj
		fanIn, _ := fans()
		return truncNormal(1 / math.Sqrt(float64(fanIn))), nil
	}
	return nil, fmt.Errorf("tinysiglip: no initialiser for %s %v", name, shape)
}
