// Package depthhead is the depth transformer (the "RQ transformer" head) of
// a unified model that writes residual-quantised image tokens: from the
// LLM's hidden state at a visual position it predicts that position's D
// codes, depth by depth. It follows VILA-U's RQTransformer
// (vila_u/.../rqtransformer, the module DualToken's pixel and semantic
// generation heads are described as), checked against it by
// fixtures/depth_transformer.
//
//	body h [B,L,H]  --in_mlp_2-->                      s  [B,L,W]
//	codes c [B,L,D] --codebook--> e [B,L,D,E]
//	                --cumulative sum over depth, in_mlp_1--> t  [B,L,D,W]
//	per position:   [s, t_0, …, t_{D-2}] + pos_emb_d         [B·L,D,W]
//	n_layer pre-LN causal blocks (attention, 4×-wide GELU MLP)
//	LayerNorm, Linear                                    --> logits [B,L,D,V]
//
// Depth d's logits see the body state and the cumulative embeddings of the
// codes before d (teacher forcing in Forward). Generation (Model.Generate)
// runs depth by depth on [conditional; unconditional] body states with
// classifier-free guidance u + s·(c − u) on every depth's logits.
//
// Checkpoint names are VILA-U's (`in_mlp_1`, `head_transformer.blocks.N.*`,
// `pos_emb_d`, `classifier_mlp.*`; Params is the table), alone or under
// `rqtransformer.` in a tower checkpoint; the codebook the codes index
// ([V,E], the tokenizer's shared codebook without its padding row) is the
// tensor `codebook` beside them or is set with Model.SetCodebook.
//
// Everything runs in float32: the head is small next to the LLM that feeds it.
// One codebook serves every depth (VILA-U's and DualToken's shared_codebook);
// Forward takes all D depths' codes.
package depthhead

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/weights"
)

// ModelType is VILA-U's config model_type for the head.
const ModelType = "rqtransformer_model"

// lnEps is torch's nn.LayerNorm default, which every norm of the head uses.
const lnEps = 1e-5

// Config sizes a head; every field comes from config.json (VILA-U's keys in
// the comments).
type Config struct {
	Path      string  // the config file, for error messages
	CodeDim   int     // input_embed_dim_1: E, the codebook's width
	BodyDim   int     // input_embed_dim_2: H, the LLM hidden state's width
	Width     int     // embed_dim: W, the head's width
	VocabSize int     // vocab_size: V, codes per depth
	Grid      [2]int  // block_size[0:2]: the code grid (positions per image)
	Depth     int     // block_size[2]: D, codes per position
	Layers    int     // head.n_layer
	Heads     int     // head.block.n_head
	CFGScale  float64 // cfg_scale: default guidance (VILA-U's generate: 3)
}

// TowerPrefix is where a tower checkpoint (VILA-U's RQVAESIGLIPTransformer,
// config section "rqtransformer") keeps the head's tensors.
const TowerPrefix = "rqtransformer."

// inTower says whether raw is a tower config holding the head's.
func inTower(raw *config.Raw) bool {
	return raw.Has("rqtransformer") && !raw.Has("input_embed_dim_1")
}

// ParseConfig reads a head's config: the object itself, or a tower config
// holding it as "rqtransformer" (VILA-U's RQVAESIGLIPTransformer).
func ParseConfig(raw *config.Raw) (*Config, error) {
	if inTower(raw) {
		sub, err := raw.Sub("rqtransformer")
		if err != nil {
			return nil, err
		}
		raw = sub
	}
	c := &Config{Path: raw.Path}
	var err error
	get := func(dst *int, key string) {
		if err == nil {
			*dst, err = raw.Int(key)
		}
	}
	get(&c.CodeDim, "input_embed_dim_1")
	get(&c.BodyDim, "input_embed_dim_2")
	get(&c.Width, "embed_dim")
	get(&c.VocabSize, "vocab_size")
	get(&c.Layers, "head.n_layer")
	get(&c.Heads, "head.block.n_head")
	if err != nil {
		return nil, err
	}
	bs, err := raw.Ints("block_size")
	if err != nil {
		return nil, err
	}
	if len(bs) != 3 {
		return nil, fmt.Errorf("%s: field \"block_size\" = %v, expected [rows, cols, depth]", raw.Path, bs)
	}
	c.Grid, c.Depth = [2]int{bs[0], bs[1]}, bs[2]
	if c.CFGScale, err = raw.FloatOr(3, "cfg_scale"); err != nil {
		return nil, err
	}
	return c, c.check()
}

func (c *Config) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"input_embed_dim_1", c.CodeDim}, {"input_embed_dim_2", c.BodyDim}, {"embed_dim", c.Width},
		{"vocab_size", c.VocabSize}, {"block_size[2] (depth)", c.Depth}, {"head.n_layer", c.Layers}, {"head.block.n_head", c.Heads}} {
		if f.v <= 0 {
			return fmt.Errorf("%s: %s = %d, expected > 0", c.Path, f.name, f.v)
		}
	}
	if c.Width%c.Heads != 0 {
		return fmt.Errorf("%s: embed_dim %d is not divisible by head.block.n_head %d", c.Path, c.Width, c.Heads)
	}
	return nil
}

// Param is one checkpoint tensor: VILA-U's state-dict name and shape.
type Param struct {
	Name  string
	Shape []int
}

// Params is the name table: every tensor a checkpoint of c holds (without
// the codebook, which belongs to the tokenizer).
func Params(c *Config) []Param {
	var ps []Param
	add := func(name string, shape ...int) { ps = append(ps, Param{name, shape}) }
	linear := func(name string, in, out int) {
		add(name+".weight", out, in)
		add(name+".bias", out)
	}
	norm := func(name string) {
		add(name+".weight", c.Width)
		add(name+".bias", c.Width)
	}
	linear("in_mlp_1", c.CodeDim, c.Width)
	linear("in_mlp_2", c.BodyDim, c.Width)
	add("pos_emb_d", 1, c.Depth, c.Width)
	for i := range c.Layers {
		b := fmt.Sprintf("head_transformer.blocks.%d.", i)
		norm(b + "ln1")
		norm(b + "ln2")
		for _, p := range []string{"key", "query", "value", "proj"} {
			linear(b+"attn."+p, c.Width, c.Width)
		}
		linear(b+"mlp.0", c.Width, 4*c.Width)
		linear(b+"mlp.2", 4*c.Width, c.Width)
	}
	norm("classifier_mlp.layer_norm")
	linear("classifier_mlp.linear", c.Width, c.VocabSize)
	return ps
}

// CodebookName is the tensor that holds the codebook beside the head's
// weights (fixtures/depth_transformer; VILA-U reads it from the tokenizer).
const CodebookName = "codebook"

// varPath splits a checkpoint name into its variable scope and name:
// "head_transformer.blocks.0.ln1.weight" -> ("head_transformer/blocks/0/ln1", "weight").
func varPath(name string) (scope, leaf string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return strings.ReplaceAll(name[:i], ".", "/"), name[i+1:]
}

// under is scope s/sub ("" is s itself).
func under(s *model.Scope, sub string) *model.Scope {
	if sub == "" {
		return s
	}
	return s.Store().Scope(model.JoinPath(s.Scope(), sub))
}

// LoadVariables takes every tensor of Params(c) (names under prefix) from l
// into variables below scope, and the codebook when l has one.
func LoadVariables(scope *model.Scope, c *Config, l *weights.Loader, prefix string) error {
	for _, p := range Params(c) {
		s, leaf := varPath(p.Name)
		if err := l.Variable(under(scope, s), leaf, prefix+p.Name, p.Shape...); err != nil {
			return fmt.Errorf("depth head: %w", err)
		}
	}
	if l.Has(prefix + CodebookName) {
		if err := l.Variable(scope, CodebookName, prefix+CodebookName, c.VocabSize, c.CodeDim); err != nil {
			return fmt.Errorf("depth head: %w", err)
		}
	}
	return nil
}

// ---- the graph ----

// w returns variable name of scope s (a checkpoint name, see varPath).
func w(s *model.Scope, g *Graph, name string) *Node {
	sub, leaf := varPath(name)
	v := under(s, sub).GetVariable(leaf)
	if v == nil {
		exceptions.Panicf("depth head: variable %s was not loaded", name)
	}
	return v.NodeValue(g)
}

// linear is torch's nn.Linear: x [..., in] -> [..., out], weight [out, in].
func linear(s *model.Scope, x *Node, name string) *Node {
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w(s, x.Graph(), name+".weight"), []int{1}, nil)
	return Add(y, ExpandLeftToRank(w(s, x.Graph(), name+".bias"), y.Rank()))
}

// layerNorm is torch's nn.LayerNorm over the last axis (biased variance).
func layerNorm(s *model.Scope, x *Node, name string) *Node {
	axis := x.Rank() - 1
	xc := Sub(x, ReduceAndKeep(x, ReduceMean, axis))
	v := ReduceAndKeep(Square(xc), ReduceMean, axis)
	y := Div(xc, Sqrt(AddScalar(v, lnEps)))
	y = Mul(y, ExpandLeftToRank(w(s, x.Graph(), name+".weight"), y.Rank()))
	return Add(y, ExpandLeftToRank(w(s, x.Graph(), name+".bias"), y.Rank()))
}

// attention is VILA-U's MultiSelfAttention, causal: x [N,T,W] -> [N,T,W].
func attention(s *model.Scope, c *Config, x *Node, name string) *Node {
	dims := x.Shape().Dimensions
	n, t, hd := dims[0], dims[1], c.Width/c.Heads
	heads := func(p string) *Node { // [N, heads, T, hd]
		return TransposeAllAxes(Reshape(linear(s, x, name+"."+p), n, t, c.Heads, hd), 0, 2, 1, 3)
	}
	q, k, v := heads("query"), heads("key"), heads("value")
	scores := MulScalar(DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}), 1/math.Sqrt(float64(hd))) // [N,heads,T,T]
	mask := BroadcastToDims(Reshape(LowerTriangular(x.Graph(), t), 1, 1, t, t), scores.Shape().Dimensions...)
	scores = Where(mask, scores, BroadcastToDims(Infinity(x.Graph(), scores.DType(), -1), scores.Shape().Dimensions...))
	y := DotGeneral(Softmax(scores, -1), []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1}) // [N,heads,T,hd]
	return linear(s, Reshape(TransposeAllAxes(y, 0, 2, 1, 3), n, t, c.Width), name+".proj")
}

// stack runs the pre-LN blocks and the classifier on x [N,T,W] -> logits [N,T,V].
func stack(s *model.Scope, c *Config, x *Node) *Node {
	for i := range c.Layers {
		b := fmt.Sprintf("head_transformer.blocks.%d.", i)
		x = Add(x, attention(s, c, layerNorm(s, x, b+"ln1"), b+"attn"))
		h := activation.Gelu(linear(s, layerNorm(s, x, b+"ln2"), b+"mlp.0")) // nn.GELU: exact (erf)
		x = Add(x, linear(s, h, b+"mlp.2"))
	}
	return linear(s, layerNorm(s, x, "classifier_mlp.layer_norm"), "classifier_mlp.linear")
}

// Embed returns the cumulative code embeddings of codes [B,L,n] (any
// integer dtype): [B,L,n,E], entry d the sum of codebook rows of codes
// 0..d, added in depth order as torch.cumsum does.
func Embed(s *model.Scope, codes *Node) *Node {
	cb := s.GetVariable(CodebookName)
	if cb == nil {
		exceptions.Panicf("depth head: no codebook (load one with the head or call Model.SetCodebook)")
	}
	dims := codes.Shape().Dimensions
	e := Gather(cb.NodeValue(codes.Graph()), Reshape(ConvertDType(codes, dtypes.Int64), append(dims, 1)...)) // [B,L,n,E]
	parts := make([]*Node, dims[2])
	for d := range parts {
		parts[d] = SliceAxis(e, 2, AxisElem(d))
		if d > 0 {
			parts[d] = Add(parts[d-1], parts[d])
		}
	}
	return Concatenate(parts, 2)
}

// sequence builds the head's input for depths 0..n: the body state, then
// the projected cumulative embeddings of codes [B,L,>=n] before depth n, plus
// the depth positions. body [B,L,H] -> [B·L, n+1, W].
func sequence(s *model.Scope, c *Config, body, codes *Node, n int) *Node {
	dims := body.Shape().Dimensions
	b, l := dims[0], dims[1]
	x := Reshape(linear(s, body, "in_mlp_2"), b, l, 1, c.Width)
	if n > 0 {
		t := linear(s, Embed(s, SliceAxis(codes, 2, AxisRange(0, n))), "in_mlp_1") // [B,L,n,W]
		x = Concatenate([]*Node{x, t}, 2)
	}
	x = Reshape(x, b*l, n+1, c.Width)
	pos := SliceAxis(w(s, body.Graph(), "pos_emb_d"), 1, AxisRange(0, n+1))
	return Add(x, pos)
}

// Forward is the teacher-forced head: body [B,L,H] float32 and codes
// [B,L,D] -> logits [B,L,D,V]; depth d's logits depend on codes < d only.
func Forward(s *model.Scope, c *Config, body, codes *Node) *Node {
	checkInputs(c, body, codes)
	dims := body.Shape().Dimensions
	logits := stack(s, c, sequence(s, c, body, codes, c.Depth-1)) // [B·L, D, V]
	return Reshape(logits, dims[0], dims[1], c.Depth, c.VocabSize)
}

// GuidedLogits are the logits of depth d for body [2N,L,H] (rows
// [conditional; unconditional]) given codes [2N,L,>=d] of the depths
// before it, with guidance u + scale·(c − u): [N,L,V]. scale is a float32
// scalar node.
func GuidedLogits(s *model.Scope, c *Config, body, codes *Node, d int, scale *Node) *Node {
	dims := body.Shape().Dimensions
	b, l := dims[0], dims[1]
	if b%2 != 0 {
		exceptions.Panicf("depth head: guided generation needs [conditional; unconditional] rows, got %d rows", b)
	}
	logits := stack(s, c, sequence(s, c, body, codes, d))                                        // [B·L, d+1, V]
	last := Reshape(SliceAxis(logits, 1, AxisElem(d)), b, l, c.VocabSize)                        // [B,L,V]
	cond, uncond := SliceAxis(last, 0, AxisRange(0, b/2)), SliceAxis(last, 0, AxisRange(b/2, b)) // [N,L,V]
	return Add(uncond, Mul(scale, Sub(cond, uncond)))
}

// checkInputs panics when body or codes do not fit c.
func checkInputs(c *Config, body, codes *Node) {
	bd, cd := body.Shape().Dimensions, codes.Shape().Dimensions
	if len(bd) != 3 || bd[2] != c.BodyDim {
		exceptions.Panicf("depth head: body is %s, expected [B,L,%d]", body.Shape(), c.BodyDim)
	}
	if len(cd) != 3 || cd[0] != bd[0] || cd[1] != bd[1] || cd[2] != c.Depth {
		exceptions.Panicf("depth head: codes are %s, expected [%d,%d,%d]", codes.Shape(), bd[0], bd[1], c.Depth)
	}
}
