package dualtoken

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/weights"
)

// Param kinds: how a checkpoint tensor is used.
const (
	KindParam    = "param"    // trained by gradient descent
	KindBuffer   = "buffer"   // fixed (the attention's zero_k_bias)
	KindCodebook = "codebook" // quantiser state, updated by the EMA in the graph
)

// Param is one tensor of the tokenizer's parts, by the authors' state-dict
// name (without the "rqvaesiglip." / tower prefixes).
type Param struct {
	Name  string
	Shape []int
	Kind  string
}

// Params lists every tensor of the parts around the tower that cfg implies:
// this is the name table between the authors' checkpoint and our variables.
func Params(cfg *Config) []Param {
	var ps []Param
	add := func(kind, name string, shape ...int) { ps = append(ps, Param{name, shape, kind}) }
	norm := func(name string, c int) {
		add(KindParam, name+".weight", c)
		add(KindParam, name+".bias", c)
	}
	linear := func(name string, in, out int) {
		add(KindParam, name+".weight", out, in)
		add(KindParam, name+".bias", out)
	}
	conv := func(name string, in, out, k int) {
		add(KindParam, name+".weight", out, in, k, k)
		add(KindParam, name+".bias", out)
	}
	attnProj := func(name string, in, out int) {
		inner := max(in, out)
		norm(name+".norm1", in)
		norm(name+".norm3", in)
		norm(name+".norm2", out)
		linear(name+".proj", in, out)
		add(KindParam, name+".attn.qkv.weight", 3*inner, in)
		add(KindParam, name+".attn.q_bias", inner)
		add(KindBuffer, name+".attn.zero_k_bias", inner)
		add(KindParam, name+".attn.v_bias", inner)
		linear(name+".attn.proj", out, out)
		norm(name+".mlp.norm", out)
		linear(name+".mlp.w0", out, 2*out)
		linear(name+".mlp.w1", out, 2*out)
		linear(name+".mlp.w2", 2*out, out)
	}
	// ProjectResnetBlock / PostQuantResnetBlock: 1x1 then 3x3 conv.
	projBlock := func(name string, in, out int) {
		norm(name+".norm1", in)
		conv(name+".conv1", in, out, 1)
		norm(name+".norm2", out)
		conv(name+".conv2", out, out, 3)
		if in != out {
			conv(name+".nin_shortcut", in, out, 1)
		}
	}
	resBlock := func(name string, in, out int) {
		norm(name+".norm1", in)
		conv(name+".conv1", in, out, 3)
		norm(name+".norm2", out)
		conv(name+".conv2", out, out, 3)
		if in != out {
			conv(name+".nin_shortcut", in, out, 1)
		}
	}
	attnBlock := func(name string, c int) {
		norm(name+".norm", c)
		for _, n := range []string{"q", "k", "v", "proj_out"} {
			conv(name+"."+n, c, c, 1)
		}
	}
	down, up := attnProj, attnProj
	if cfg.Projection == ProjectionConv {
		down, up = projBlock, projBlock
	}
	C := cfg.HiddenSize
	down("prequant_pix", C, cfg.Pix.EmbedDim)
	if cfg.HasShortcut() {
		down("prequant_shortcut", C, cfg.Pix.EmbedDim)
	}
	down("prequant_sem", C, cfg.Sem.EmbedDim)
	for _, q := range []struct {
		name string
		v    VQConfig
	}{{"quantizer_pix", cfg.Pix}, {"quantizer_sem", cfg.Sem}} {
		for d := range q.v.NumCodebooks() {
			n := fmt.Sprintf("%s.codebooks.%d.", q.name, d)
			add(KindCodebook, n+"weight", q.v.NEmbed+1, q.v.CodeDim())
			add(KindCodebook, n+"cluster_size_ema", q.v.NEmbed)
			add(KindCodebook, n+"embed_ema", q.v.NEmbed, q.v.CodeDim())
		}
	}
	up("postquant_pix", cfg.Pix.EmbedDim, C)
	up("postquant_sem", cfg.Sem.EmbedDim, C)
	projBlock("post_quant_conv", C, cfg.Decoder.DecoderInChannels)

	d := cfg.Decoder
	blockIn := d.BlockIn()
	conv("decoder.conv_in", d.DecoderInChannels, blockIn, 3)
	resBlock("decoder.mid.block_1", blockIn, blockIn)
	attnBlock("decoder.mid.attn_1", blockIn)
	resBlock("decoder.mid.block_2", blockIn, blockIn)
	res := d.LatentSide()
	for level := len(d.ChMult) - 1; level >= 0; level-- {
		out := d.Ch * d.ChMult[level]
		for b := 0; b <= d.NumResBlocks; b++ {
			resBlock(fmt.Sprintf("decoder.up.%d.block.%d", level, b), blockIn, out)
			blockIn = out
			if hasAttn(d, res) {
				attnBlock(fmt.Sprintf("decoder.up.%d.attn.%d", level, b), blockIn)
			}
		}
		if level != 0 {
			if d.ResampWithConv {
				conv(fmt.Sprintf("decoder.up.%d.upsample.conv", level), blockIn, blockIn, 3)
			}
			res *= 2
		}
	}
	// Held even with give_pre_end (then unused), as in the authors' module.
	norm("decoder.norm_out", blockIn)
	conv("decoder.conv_out", blockIn, d.OutCh, 3)
	for _, b := range cfg.ConvBlocks {
		projBlock(b.Name, b.In, b.Out)
	}
	return ps
}

func hasAttn(d DecoderConfig, res int) bool {
	for _, r := range d.AttnResolutions {
		if r == res {
			return true
		}
	}
	return false
}

// varPath is the variable path of checkpoint name n under scope: dots become
// scope separators ("decoder.up.1.block.0.conv1.weight" ->
// <scope>/decoder/up/1/block/0/conv1/weight).
func varPath(scope *model.Scope, name string) string {
	return model.JoinPath(scope.Scope(), strings.ReplaceAll(name, ".", model.ScopeSeparator))
}

// Variable returns the variable holding checkpoint tensor name under scope,
// or nil.
func Variable(scope *model.Scope, name string) *model.Variable {
	return scope.Store().GetVariable(varPath(scope, name))
}

// DetectPrefix finds the prefix under which set holds the tokenizer parts:
// "" for the parts alone, "rqvaesiglip." for the outer RQVAESIGLIPTransformer,
// "state_dict.rqvaesiglip." for the authors' torch-saved {"state_dict": ...}.
func DetectPrefix(set weights.Set) (string, error) {
	for _, anchor := range []string{"quantizer_pix.codebooks.0.weight", "quantizer_pixel.codebooks.0.weight"} {
		for _, n := range set.Names() {
			if strings.HasSuffix(n, anchor) && (len(n) == len(anchor) || n[len(n)-len(anchor)-1] == '.') {
				return strings.TrimSuffix(n, anchor), nil
			}
		}
	}
	return "", fmt.Errorf("checkpoint holds no DualToken quantiser (no tensor named [<prefix>.]quantizer_pix.codebooks.0.weight)")
}

// oldNames maps the 2026 module names to those of the authors' checkpoints
// before their rename (commit b28505c): "pixel"/"semantic".
var oldNames = strings.NewReplacer("_pix.", "_pixel.", "_sem.", "_semantic.")

// LoadWeights copies every tensor of Params(cfg) from l's checkpoint into variables
// under scope (see Variable), shape-checked, accepting the authors' layouts:
// any prefix found by DetectPrefix, the pre-rename "pixel"/"semantic" names,
// and a shared codebook stored once (codebooks.0) or repeated per depth
// (codebooks.0..D-1, as torch saves a module repeated in a ModuleList; the
// repeats must equal codebooks.0). The tower ("siglip_model.*") is declared
// ignored here: it belongs to model/siglip. It returns the prefix found.
func LoadWeights(l *weights.Loader, scope *model.Scope, cfg *Config) (string, error) {
	prefix, err := DetectPrefix(l.Set)
	if err != nil {
		return "", err
	}
	l.Ignore(prefix + "siglip_model.*")
	for _, p := range Params(cfg) {
		name := prefix + p.Name
		if !l.Has(name) {
			if old := prefix + oldNames.Replace(p.Name); l.Has(old) {
				name = old
			}
		}
		t, err := l.Take(name, p.Shape...)
		if err != nil {
			return "", err
		}
		v, err := t.ToGoMLX(false)
		if err != nil {
			return "", err
		}
		if err := SetValue(scope, p.Name, v); err != nil {
			return "", err
		}
		Variable(scope, p.Name).SetTrainable(p.Kind == KindParam)
	}
	for _, q := range []struct {
		name string
		v    VQConfig
	}{{"quantizer_pix", cfg.Pix}, {"quantizer_sem", cfg.Sem}} {
		if !q.v.SharedCodebook {
			continue
		}
		for _, field := range []string{"weight", "cluster_size_ema", "embed_ema"} {
			first := fmt.Sprintf("%s.codebooks.0.%s", q.name, field)
			for d := 1; d < q.v.Depth(); d++ {
				name := fmt.Sprintf("%s%s.codebooks.%d.%s", prefix, q.name, d, field)
				if !l.Has(name) {
					continue
				}
				t, err := l.Take(name)
				if err != nil {
					return "", err
				}
				t0, _ := l.Set.Get(prefix + first)
				if !bytes.Equal(t.Data, t0.Data) || fmt.Sprint(t.Shape) != fmt.Sprint(t0.Shape) {
					return "", fmt.Errorf("tensor %q in %s: the codebook is shared (shared_codebook true) but this repeat differs from %s", name, t.Source, prefix+first)
				}
			}
		}
	}
	return prefix, nil
}

// Export returns the variables under scope as checkpoint tensors by the
// authors' names (shared codebooks once, as codebooks.0), ready for
// weights.WriteSafetensors.
func Export(scope *model.Scope, cfg *Config) ([]*weights.Tensor, error) {
	var out []*weights.Tensor
	for _, p := range Params(cfg) {
		v := Variable(scope, p.Name)
		if v == nil {
			return nil, fmt.Errorf("dualtoken: no variable for %q under %s", p.Name, scope.Scope())
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("dualtoken: variable %q: %w", p.Name, err)
		}
		t, err := weights.FromGoMLX(p.Name, val)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// SetValue stores t as the variable for checkpoint name under scope (created
// when missing), e.g. to feed a golden state into the quantiser.
func SetValue(scope *model.Scope, name string, t *tensors.Tensor) error {
	if v := Variable(scope, name); v != nil {
		return v.SetValue(t)
	}
	_, err := scope.Store().CreateVariable(varPath(scope, name), t)
	return err
}

// InitParams creates every variable of Params(cfg) under scope with torch's
// default initialisation, deterministically from seed: Linear and Conv2d
// weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), norms 1 and 0, the
// attention's q/v/zero-k biases 0, codebooks N(0, 1) with a zero padding
// row, cluster_size_ema 0 and embed_ema = the codebook (as VQEmbedding).
func InitParams(scope *model.Scope, cfg *Config, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var lastCodebook []float32
	params := Params(cfg)
	shapes := map[string][]int{}
	for _, p := range params {
		shapes[p.Name] = p.Shape
	}
	for _, p := range params {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		vals := make([]float32, n)
		leaf := p.Name[strings.LastIndex(p.Name, ".")+1:]
		module := p.Name[:strings.LastIndex(p.Name, ".")]
		isNorm := strings.Contains(module, "norm")
		switch {
		case p.Kind == KindCodebook && leaf == "weight":
			e := p.Shape[1]
			for i := range vals[:n-e] { // last row: padding, zero
				vals[i] = float32(rng.NormFloat64())
			}
			lastCodebook = vals
		case p.Kind == KindCodebook && leaf == "embed_ema":
			copy(vals, lastCodebook)
		case p.Kind == KindCodebook, p.Kind == KindBuffer, leaf == "q_bias", leaf == "v_bias":
		case isNorm && leaf == "weight":
			for i := range vals {
				vals[i] = 1
			}
		case isNorm:
		default:
			bound := 1 / math.Sqrt(float64(fanIn(shapes, p)))
			for i := range vals {
				vals[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		if err := SetValue(scope, p.Name, tensors.FromFlatDataAndDimensions(vals, p.Shape...)); err != nil {
			return err
		}
		Variable(scope, p.Name).SetTrainable(p.Kind == KindParam)
	}
	return nil
}

// fanIn of a Linear/Conv2d tensor: its weight's size over the output axis
// (for a bias, that of the weight beside it).
func fanIn(shapes map[string][]int, p Param) int {
	shape := p.Shape
	if len(shape) < 2 {
		if w, ok := shapes[strings.TrimSuffix(p.Name, "bias")+"weight"]; ok {
			shape = w
		}
	}
	n := 1
	for _, d := range shape[min(1, len(shape)-1):] {
		n *= d
	}
	return n
}
