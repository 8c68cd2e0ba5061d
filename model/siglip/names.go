package siglip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/weights"
)

// Tensor is one entry of the checkpoint name table: the HF name (relative to
// the SigLIP root, e.g. "vision_model.head.probe"), its shape from the config,
// and how NewRandom initialises it. Its scope variable mirrors the name:
// scope "vision_model/head", variable "probe".
type Tensor struct {
	Name  string
	Shape []int
	Init  Init
}

// Init says how a random model fills a tensor.
type Init int

const (
	InitNormal     Init = iota // N(0, 0.02²): projection and embedding matrices
	InitZeros                  // biases
	InitOnes                   // LayerNorm gains
	InitLogitScale             // log(10), SigLIP's initial temperature
	InitLogitBias              // -10, SigLIP's initial bias
)

// Table lists every tensor a model with config c reads, in a stable order.
func Table(c *Config) []Tensor {
	var t []Tensor
	add := func(name string, init Init, shape ...int) {
		t = append(t, Tensor{Name: name, Shape: shape, Init: init})
	}
	linear := func(name string, out, in int) {
		add(name+".weight", InitNormal, out, in)
		add(name+".bias", InitZeros, out)
	}
	norm := func(name string, d int) {
		add(name+".weight", InitOnes, d)
		add(name+".bias", InitZeros, d)
	}
	layers := func(prefix string, n, d, inter int) {
		for i := range n {
			l := fmt.Sprintf("%s.encoder.layers.%d.", prefix, i)
			norm(l+"layer_norm1", d)
			for _, p := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
				linear(l+"self_attn."+p, d, d)
			}
			norm(l+"layer_norm2", d)
			linear(l+"mlp.fc1", inter, d)
			linear(l+"mlp.fc2", d, inter)
		}
	}

	v := &c.Vision
	d := v.HiddenSize
	add("vision_model.embeddings.patch_embedding.weight", InitNormal, d, v.NumChannels, v.PatchSize, v.PatchSize)
	add("vision_model.embeddings.patch_embedding.bias", InitZeros, d)
	add("vision_model.embeddings.position_embedding.weight", InitNormal, v.NumPatches(), d)
	layers("vision_model", v.NumLayers, d, v.IntermediateSize)
	norm("vision_model.post_layernorm", d)
	if v.UseHead {
		add("vision_model.head.probe", InitNormal, 1, 1, d)
		add("vision_model.head.attention.in_proj_weight", InitNormal, 3*d, d)
		add("vision_model.head.attention.in_proj_bias", InitZeros, 3*d)
		linear("vision_model.head.attention.out_proj", d, d)
		norm("vision_model.head.layernorm", d)
		linear("vision_model.head.mlp.fc1", v.IntermediateSize, d)
		linear("vision_model.head.mlp.fc2", d, v.IntermediateSize)
	}

	if tc := c.Text; tc != nil {
		d := tc.HiddenSize
		add("text_model.embeddings.token_embedding.weight", InitNormal, tc.VocabSize, d)
		add("text_model.embeddings.position_embedding.weight", InitNormal, tc.MaxPositions, d)
		layers("text_model", tc.NumLayers, d, tc.IntermediateSize)
		norm("text_model.final_layer_norm", d)
		linear("text_model.head", tc.ProjectionSize, d)
		add("logit_scale", InitLogitScale, 1)
		add("logit_bias", InitLogitBias, 1)
	}
	return t
}

// Ignored lists checkpoint names (path.Match patterns) that a model with
// config c deliberately does not read: position_ids buffers that older
// transformers versions saved, and, for a vision-only model, the text tower
// and logit parameters of a full SiglipModel checkpoint.
func Ignored(c *Config) []string {
	ign := []string{"vision_model.embeddings.position_ids", "text_model.embeddings.position_ids"}
	if c.Text == nil {
		ign = append(ign, "text_model.*", "logit_scale", "logit_bias")
	}
	return ign
}

// varScope maps an HF name to its scope (under root) and variable name.
func varScope(root *model.Scope, name string) (*model.Scope, string) {
	parts := strings.Split(name, ".")
	s := root
	for _, p := range parts[:len(parts)-1] {
		s = s.At("%s", p)
	}
	return s, parts[len(parts)-1]
}

// DetectPrefix returns the prefix in front of the SigLIP names of a
// checkpoint: "" for HF files, "siglip_model." or "rqvaesiglip.siglip_model."
// for DualToken's. It returns "" when no vision tower is found (loading then
// reports the first missing tensor).
func DetectPrefix(set weights.Set) string {
	const anchor = "vision_model.embeddings.patch_embedding.weight"
	best := ""
	found := false
	for _, n := range set.Names() {
		if strings.HasSuffix(n, anchor) {
			p := strings.TrimSuffix(n, anchor)
			if !found || len(p) < len(best) {
				best, found = p, true
			}
		}
	}
	return best
}

// LoadVariables creates every variable of the table under root from the
// checkpoint names prefix+name, checking each shape against the config, and
// declares Ignored(c) (prefixed) on the loader. Call l.CheckConsumed() after
// loading everything else the checkpoint holds.
func LoadVariables(root *model.Scope, c *Config, l *weights.Loader, prefix string) error {
	for _, t := range Table(c) {
		s, v := varScope(root, t.Name)
		name := prefix + t.Name
		if !l.Has(name) {
			return fmt.Errorf("siglip: checkpoint %s has no tensor %q (expected shape %v, from %s)", source(l), name, t.Shape, c.Path)
		}
		if err := l.Variable(s, v, name, t.Shape...); err != nil {
			return fmt.Errorf("siglip: %w (sizes from %s)", err, c.Path)
		}
	}
	for _, p := range Ignored(c) {
		l.Ignore(prefix + p)
	}
	return nil
}

// source names the checkpoint file for error messages.
func source(l *weights.Loader) string {
	switch s := l.Set.(type) {
	case *weights.SafetensorsFile:
		return s.Path
	case *weights.Sharded:
		return s.Index
	case *weights.MemSet:
		return s.Source
	}
	if names := l.Set.Names(); len(names) > 0 {
		if t, err := l.Set.Get(names[0]); err == nil && t.Source != "" {
			return t.Source
		}
	}
	return "(checkpoint)"
}

// RandomVariables fills root with a deterministic random model for config c
// (tests, and the tiny models' training start): N(0, 0.02²) matrices and
// biases; the same seed gives the same weights on every machine.
func RandomVariables(root *model.Scope, c *Config, seed uint64) error {
	return randomVariables(root, c, func(vals []float32, i int) {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		for j := range vals {
			vals[j] = float32(0.02 * rng.NormFloat64())
		}
	})
}

// randomVariables creates c's variables under root: normal draws
// normal(vals, i) for the i-th table entry's InitNormal values, the
// constants of the other inits.
func randomVariables(root *model.Scope, c *Config, normal func(vals []float32, i int)) error {
	for i, t := range Table(c) {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		vals := make([]float32, n)
		if t.Init == InitNormal {
			normal(vals, i)
		}
		for j := range vals {
			switch t.Init {
			case InitOnes:
				vals[j] = 1
			case InitLogitScale:
				vals[j] = float32(math.Log(10))
			case InitLogitBias:
				vals[j] = -10
			}
		}
		s, v := varScope(root, t.Name)
		if _, err := s.CreateVariable(v, tensors.FromFlatDataAndDimensions(vals, t.Shape...)); err != nil {
			return fmt.Errorf("siglip: random %s: %w", t.Name, err)
		}
	}
	return nil
}
