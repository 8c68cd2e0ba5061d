// Package llm is the decoder-only language model of the harness: Qwen2 /
// Qwen2.5 and LLaMA (LLaMA-2, Vicuna) as transformers computes them, with a
// fixed-size KV cache for generation.
//
// The block, top to bottom (shapes: B batch, S new positions, T attended
// positions, H hidden, nH/nKV query/key-value heads, hd head dim, I MLP):
//
//	x [B,S,H] = embed_tokens(ids), or precomputed input embeddings
//	per layer:  h = RMSNorm(x); q,k,v = Linear(h) (biases for Qwen2)
//	            q,k = RoPE(q,k, positions)            // rotate_half convention
//	            k,v -> written into the cache at the current slot (when cached)
//	            x = x + o_proj(softmax(q·kᵀ/√hd + mask)·v)   // GQA: nH/nKV queries share a kv head
//	            x = x + down(silu(gate(RMSNorm(x))) * up(RMSNorm(x)))
//	out = RMSNorm(x); logits = out · lm_headᵀ (lm_head = embed_tokens when tied)
//
// GoMLX pieces used as they are: norm.RMSNorm (x/√(mean x²+eps)·g),
// pos.RoPEWithCosSin (non-interleaved halves = HF's rotate_half; pos.RoPE
// itself only takes positions shared by the whole batch), attention.Core (GQA,
// boolean mask), layers.Embedding and
// layers.DenseWithLayout (PyTorch [out,in] weights). zoo/transformer does not
// fit (its "standard" block is post-norm; Gemma's adds norms LLaMA lacks), nor
// does its kvcache (one write per prompt token, one position for the whole
// batch): the cache here is DynamicUpdateSlice at a slot given as a tensor,
// with per-row key masks and positions so left-padded batches are exact.
//
// Graph builders for models that embed this decoder (the unified model):
// LoadVariables, ForwardGraph, StepGraph. Runtime API: Load/New, Forward,
// NewState + State.Append (prefill and incremental decoding, hooks for
// precomputed input embeddings and hidden states at chosen positions),
// Generate/GenerateFrom.
//
// Config.ScanLayers (scan.go, for XLA's compile time) runs the N layers as
// one While loop over a stacked copy of their weights, the KV cache as two
// tensors [N,B,nKV,L,hd] carried through it; prefill, decode and the
// uncached forward all loop.
//
// Precision (Config.DType, Model.SetDType): in bfloat16 the residual stream,
// projections, SwiGLU and the KV cache are bfloat16; these stay float32:
// RMSNorm statistics (a mean of H squares), the RoPE angles, their cos/sin
// and the rotation itself (positions times frequencies need float32's 24
// bits), attention scores and softmax (scores are float32 products of
// bfloat16 q and k), and the logits (a float32 product of the bfloat16 final
// state and lm_head, so argmax and sampling see float32 logits). Outputs —
// logits and hidden states — are float32.
package llm

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/layers/attention/pos"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/scan"
	"github.com/dualtoken/evalharness/model/weights"
)

// Model is a loaded decoder: its config, its weights as variables of Store
// (at the root scope) and the graphs compiled so far.
type Model struct {
	Config  *Config
	Gen     *GenerationConfig // generation_config.json, nil when absent
	Store   *model.Store
	Backend compute.Backend

	mu     sync.Mutex
	execs  map[string]*model.Exec
	builds atomic.Int64
}

// Root is the scope holding the decoder's variables.
func (m *Model) Root() *model.Scope { return m.Store.RootScope() }

// Load reads an HF model directory: config.json, the checkpoint
// (model.safetensors, a sharded index, or a .pth/.bin) and, if present,
// generation_config.json. Every checkpoint tensor must be consumed or
// deliberately ignored.
func Load(b compute.Backend, dir string) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	m, err := New(b, cfg, set)
	if err != nil {
		return nil, err
	}
	if m.Gen, err = LoadGenerationConfig(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// New builds a model for cfg from the tensors of set (HF names, no prefix),
// checking that the set holds nothing the model does not use.
func New(b compute.Backend, cfg *Config, set weights.Set) (*Model, error) {
	m := &Model{Config: cfg, Store: model.NewStore(), Backend: b, execs: map[string]*model.Exec{}}
	l := weights.NewLoader(set)
	if err := LoadVariables(m.Root(), cfg, l, ""); err != nil {
		return nil, err
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if cfg.ScanLayers {
		if err := m.stackWeights(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SetDType prepares m for inference in dt: it computes in dt
// (Config.DType) and every weight matrix (projections, embed_tokens,
// lm_head) is stored in dt — half the memory in bfloat16; RMSNorm gains and
// biases stay float32. Compiled graphs are dropped. For training keep the
// float32 variables and set Config.DType only: weights are converted at use.
func (m *Model) SetDType(dt dtypes.DType) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.dropStacked(); err != nil { // remade below from the converted variables
		return err
	}
	if _, _, err := precision.StoreAs(m.Store.IterVariables(), dt, nil); err != nil {
		return fmt.Errorf("llm: %w", err)
	}
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = map[string]*model.Exec{}
	m.Config.DType = dt
	if m.Config.ScanLayers {
		return m.stackWeights()
	}
	return nil
}

// param maps one HF checkpoint tensor onto a GoMLX variable. In hf and scope,
// "%d" stands for the layer index.
type param struct {
	hf    string                // checkpoint name
	scope string                // variable scope below the model root
	name  string                // variable name (what the GoMLX layer creates)
	shape func(c *Config) []int // expected shape
	when  func(c *Config) bool  // nil: always present
}

// globalParams and layerParams are the whole name table: LoadVariables takes
// exactly these, and the coverage test checks that a checkpoint holds nothing else.
var globalParams = []param{
	{"model.embed_tokens.weight", "embed_tokens", "embeddings", func(c *Config) []int { return []int{c.VocabSize, c.HiddenSize} }, nil},
	{"model.norm.weight", "norm/rms_norm", "scale", func(c *Config) []int { return []int{c.HiddenSize} }, nil},
	{"lm_head.weight", "lm_head/dense", "weights", func(c *Config) []int { return []int{c.VocabSize, c.HiddenSize} }, func(c *Config) bool { return !c.TieEmbeddings }},
}

var layerParams = []param{
	{"model.layers.%d.input_layernorm.weight", "layers/%d/input_layernorm/rms_norm", "scale", hidden, nil},
	{"model.layers.%d.self_attn.q_proj.weight", "layers/%d/self_attn/q_proj/dense", "weights", func(c *Config) []int { return []int{c.NumHeads * c.HeadDim, c.HiddenSize} }, nil},
	{"model.layers.%d.self_attn.q_proj.bias", "layers/%d/self_attn/q_proj/dense", "biases", func(c *Config) []int { return []int{c.NumHeads * c.HeadDim} }, qkvBias},
	{"model.layers.%d.self_attn.k_proj.weight", "layers/%d/self_attn/k_proj/dense", "weights", kvProj, nil},
	{"model.layers.%d.self_attn.k_proj.bias", "layers/%d/self_attn/k_proj/dense", "biases", kvWidth, qkvBias},
	{"model.layers.%d.self_attn.v_proj.weight", "layers/%d/self_attn/v_proj/dense", "weights", kvProj, nil},
	{"model.layers.%d.self_attn.v_proj.bias", "layers/%d/self_attn/v_proj/dense", "biases", kvWidth, qkvBias},
	{"model.layers.%d.self_attn.o_proj.weight", "layers/%d/self_attn/o_proj/dense", "weights", func(c *Config) []int { return []int{c.HiddenSize, c.NumHeads * c.HeadDim} }, nil},
	{"model.layers.%d.self_attn.o_proj.bias", "layers/%d/self_attn/o_proj/dense", "biases", hidden, func(c *Config) bool { return c.OutBias }},
	{"model.layers.%d.post_attention_layernorm.weight", "layers/%d/post_attention_layernorm/rms_norm", "scale", hidden, nil},
	{"model.layers.%d.mlp.gate_proj.weight", "layers/%d/mlp/gate_proj/dense", "weights", mlpIn, nil},
	{"model.layers.%d.mlp.gate_proj.bias", "layers/%d/mlp/gate_proj/dense", "biases", mlpWidth, mlpBias},
	{"model.layers.%d.mlp.up_proj.weight", "layers/%d/mlp/up_proj/dense", "weights", mlpIn, nil},
	{"model.layers.%d.mlp.up_proj.bias", "layers/%d/mlp/up_proj/dense", "biases", mlpWidth, mlpBias},
	{"model.layers.%d.mlp.down_proj.weight", "layers/%d/mlp/down_proj/dense", "weights", func(c *Config) []int { return []int{c.HiddenSize, c.Intermediate} }, nil},
	{"model.layers.%d.mlp.down_proj.bias", "layers/%d/mlp/down_proj/dense", "biases", hidden, mlpBias},
}

// ignoredParams are checkpoint entries that carry no weights we need:
// precomputed RoPE frequencies in older LLaMA checkpoints.
var ignoredParams = []string{"model.layers.*.self_attn.rotary_emb.inv_freq"}

func hidden(c *Config) []int   { return []int{c.HiddenSize} }
func kvProj(c *Config) []int   { return []int{c.NumKVHeads * c.HeadDim, c.HiddenSize} }
func kvWidth(c *Config) []int  { return []int{c.NumKVHeads * c.HeadDim} }
func mlpIn(c *Config) []int    { return []int{c.Intermediate, c.HiddenSize} }
func mlpWidth(c *Config) []int { return []int{c.Intermediate} }
func qkvBias(c *Config) bool   { return c.QKVBias }
func mlpBias(c *Config) bool   { return c.MLPBias }

// eachParam calls fn for every checkpoint tensor cfg's model has, with the
// layer index substituted.
func eachParam(cfg *Config, fn func(hf, scope, name string, shape []int) error) error {
	for _, p := range globalParams {
		if p.when == nil || p.when(cfg) {
			if err := fn(p.hf, p.scope, p.name, p.shape(cfg)); err != nil {
				return err
			}
		}
	}
	for i := range cfg.NumLayers {
		for _, p := range layerParams {
			if p.when == nil || p.when(cfg) {
				if err := fn(fmt.Sprintf(p.hf, i), fmt.Sprintf(p.scope, i), p.name, p.shape(cfg)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// LoadVariables reads every weight of cfg's model from l (names under prefix,
// e.g. "" or "language_model.") into variables below scope. A tied model's
// checkpoint may still carry lm_head.weight: it is ignored. The caller runs
// l.CheckConsumed once all parts sharing the checkpoint are loaded.
//
// Linear weights keep PyTorch's [out,in] layout: the Go backend's
// matrix-vector product (decoding) is several times faster that way than with
// [in,out] (measured on the 100M benchmark model).
func LoadVariables(scope *model.Scope, cfg *Config, l *weights.Loader, prefix string) error {
	for _, p := range ignoredParams {
		l.Ignore(prefix + p)
	}
	if cfg.TieEmbeddings {
		l.Ignore(prefix + "lm_head.weight")
	} else if !l.Has(prefix + "lm_head.weight") {
		return fmt.Errorf("%s: tie_word_embeddings is false but the checkpoint has no %q (set tie_word_embeddings to true if the head shares embed_tokens)", cfg.Path, prefix+"lm_head.weight")
	}
	store := scope.Store()
	return eachParam(cfg, func(hf, sub, name string, shape []int) error {
		return l.Variable(store.Scope(model.JoinPath(scope.Scope(), sub)), name, prefix+hf, shape...)
	})
}

// Attention inputs shared by all layers of one graph.
type attnInputs struct {
	cos, sin *Node // [B,S,hd/2] RoPE rotation of each position
	mask     *Node // [B,1,S,T] bool: query i may attend key slot t
	empty    *Node // [B,1,S,1] bool: rows with no key at all (padding before any token); their output is zero
	start    *Node // int32 scalar: cache slot of the first new position; nil without a cache
	// chunkOnly: the cache was empty, so attend within the chunk only (exact
	// for a prefill, and it avoids the cost of all L slots); the cache is still written.
	chunkOnly bool
}

// nodes lists a's graph values (nil where absent), in a fixed order.
func (a *attnInputs) nodes() []**Node { return []**Node{&a.cos, &a.sin, &a.mask, &a.empty, &a.start} }

// buildMask derives the attention mask from per-slot key validity [B,T]
// (false = padding or unused slot) for queries at slots start..start+S-1:
// causal, padding-aware. A query with no valid key (left padding) gets its own
// slot so the softmax stays finite, and empty marks it so its output can be
// zeroed, as torch's SDPA does for fully masked rows.
func buildMask(valid *Node, start *Node, S int) (mask, empty *Node) {
	g := valid.Graph()
	B, T := valid.Shape().Dimensions[0], valid.Shape().Dimensions[1]
	qSlot := Iota(g, shapes.Make(dtypes.Int32, S, 1), 0)
	if start != nil {
		qSlot = Add(qSlot, start)
	}
	kSlot := Iota(g, shapes.Make(dtypes.Int32, 1, T), 1)
	causal := LessOrEqual(kSlot, qSlot) // [S,T]
	m := LogicalAnd(Reshape(causal, 1, S, T), Reshape(valid, B, 1, T))
	emptyRow := LogicalNot(ReduceLogicalOr(m, -1))                 // [B,S]
	self := Reshape(Equal(kSlot, qSlot), 1, S, T)                  // [1,S,T]
	m = LogicalOr(m, LogicalAnd(self, Reshape(emptyRow, B, S, 1))) // [B,S,T]
	return Reshape(m, B, 1, S, T), Reshape(emptyRow, B, 1, S, 1)
}

// ropeCosSin returns cos and sin of the rotation angles [B,S,hd/2] for
// positions [B,S] (per row, so left-padded rows get their own positions).
// Frequencies are theta^(-2i/hd) rounded to float32 (then scaled, see
// RopeScaling) and angles are float32 products, as transformers computes
// them, in every compute dtype (a
// bfloat16 angle would be off by up to 2⁻⁸ of itself: radians at position
// 256). (pos.RoPE itself accepts only
// positions shared by the batch; its rotation, pos.RoPEWithCosSin, is used.)
func (m *Model) ropeCosSin(positions *Node) (cos, sin *Node) {
	inv := ropeInvFreq(m.Config)
	B, S := positions.Shape().Dimensions[0], positions.Shape().Dimensions[1]
	p := Reshape(ConvertDType(positions, dtypes.Float32), B, S, 1)
	angles := Mul(p, Const(positions.Graph(), [][][]float32{{inv}}))
	return Cos(angles), Sin(angles)
}

// embed returns the input embeddings [B,S,H] in the compute dtype:
// embed_tokens(ids) [B,S], with the rows of embeds [B,S,H] substituted where
// useEmbeds [B,S] is true (the unified model's visual positions). embeds and
// useEmbeds may be nil.
func (m *Model) embed(scope *model.Scope, ids, embeds, useEmbeds *Node) *Node {
	c := m.Config
	dt := c.ComputeDType()
	table := scope.At("embed_tokens").GetVariable("embeddings")
	if table == nil {
		panic(fmt.Errorf("llm: embed_tokens was not loaded"))
	}
	// Explicit index axis: Embedding would take a [B,1] input as [B] indices.
	// Rows are gathered in the stored dtype, then converted.
	x := layers.Embedding(scope.In("embed_tokens"), InsertAxes(ids, -1), table.Shape().DType, c.VocabSize, c.HiddenSize)
	x = precision.As(x, dt)
	if embeds != nil {
		x = Where(useEmbeds, precision.As(embeds, dt), x)
	}
	return x
}

// rmsNorm is norm.RMSNorm computed in float32 and returned in x's dtype.
func rmsNorm(scope *model.Scope, x *Node, eps float64) *Node {
	return precision.As(norm.RMSNorm(scope, precision.ToF32(x)).WithEpsilon(eps).Done(), x.DType())
}

// layer runs one decoder layer, whose weights w gives, on x [B,S,H]. With a
// cache (cacheK, cacheV [B,nKV,L,hd]) the new keys/values are written at slot
// a.start and attention runs over all L slots; it returns the updated cache
// tensors. Inside a layer loop (idx, the layer's index, not nil) the caches
// are all layers' [N,B,nKV,L,hd] and layer idx's part is written and read.
func (m *Model) layer(w layerWeights, x *Node, a *attnInputs, cacheK, cacheV, idx *Node) (out, newK, newV *Node) {
	c := m.Config
	B, S := x.Shape().Dimensions[0], x.Shape().Dimensions[1]

	// Self-attention.
	h := w.norm("input_layernorm", x, c.RMSNormEps)
	q := w.linear("self_attn", "q_proj", h, c.QKVBias, c.NumHeads*c.HeadDim)
	k := w.linear("self_attn", "k_proj", h, c.QKVBias, c.NumKVHeads*c.HeadDim)
	v := w.linear("self_attn", "v_proj", h, c.QKVBias, c.NumKVHeads*c.HeadDim)
	q = Reshape(q, B, S, c.NumHeads, c.HeadDim)
	k = Reshape(k, B, S, c.NumKVHeads, c.HeadDim)
	v = Reshape(v, B, S, c.NumKVHeads, c.HeadDim)
	// The rotation runs in float32. Inside a layer loop (idx set) the same
	// arithmetic without explicit broadcasts (see loopRoPE).
	if idx == nil {
		rope := pos.NewRoPEWithCosSin(a.cos, a.sin)
		q = precision.As(rope.Encode(precision.ToF32(q), 1), x.DType())
		k = precision.As(rope.Encode(precision.ToF32(k), 1), x.DType())
	} else {
		q = precision.As(loopRoPE(precision.ToF32(q), a.cos, a.sin), x.DType())
		k = precision.As(loopRoPE(precision.ToF32(k), a.cos, a.sin), x.DType())
	}
	q = TransposeAllAxes(q, 0, 2, 1, 3) // [B,nH,S,hd]
	k = TransposeAllAxes(k, 0, 2, 1, 3) // [B,nKV,S,hd]
	v = TransposeAllAxes(v, 0, 2, 1, 3)
	switch {
	case cacheK != nil && idx == nil:
		zero := Const(x.Graph(), int32(0))
		newK = DynamicUpdateSlice(cacheK, k, []*Node{zero, zero, a.start, zero}) // [B,nKV,L,hd]
		newV = DynamicUpdateSlice(cacheV, v, []*Node{zero, zero, a.start, zero})
		if !a.chunkOnly {
			k, v = newK, newV
		}
	case cacheK != nil:
		zero := Const(x.Graph(), int32(0))
		at := []*Node{idx, zero, zero, a.start, zero}
		newK = DynamicUpdateSlice(cacheK, InsertAxes(k, 0), at) // [N,B,nKV,L,hd]
		newV = DynamicUpdateSlice(cacheV, InsertAxes(v, 0), at)
		if !a.chunkOnly {
			k, v = scan.Pick(newK, idx), scan.Pick(newV, idx) // [B,nKV,L,hd]
		}
	}
	var o *Node
	if x.DType() == dtypes.Float32 {
		// The Go backend's fused attention is ~4x slower here than the decomposed
		// einsum/softmax path (100M benchmark prefill: 117 vs 495 tokens/s).
		o, _ = attention.Core(q, k, v, attention.LayoutBHSD, attention.CoreOptions{AttentionMask: a.mask, DisableFusion: isGoBackend(x)})
	} else {
		o = attendLowPrecision(q, k, v, a.mask, idx != nil)
	}
	if idx == nil {
		o = Where(a.empty, ZerosLike(o), o) // [B,nH,S,hd]
	} else {
		o = Where(a.empty, ScalarZero(o.Graph(), o.DType()), o) // the same, no explicit broadcast (loopRoPE)
	}
	o = Reshape(TransposeAllAxes(o, 0, 2, 1, 3), B, S, c.NumHeads*c.HeadDim)
	x = Add(x, w.linear("self_attn", "o_proj", o, c.OutBias, c.HiddenSize))

	// SwiGLU MLP.
	h = w.norm("post_attention_layernorm", x, c.RMSNormEps)
	gate := w.linear("mlp", "gate_proj", h, c.MLPBias, c.Intermediate)
	up := w.linear("mlp", "up_proj", h, c.MLPBias, c.Intermediate)
	ff := Mul(activation.Swish(gate), up)
	x = Add(x, w.linear("mlp", "down_proj", ff, c.MLPBias, c.HiddenSize))
	return x, newK, newV
}

// layerWeights gives a decoder layer its RMSNorms and projections by their
// HF module names: the variables of the layer's scope (unrolled) or one
// loop iteration's slices of the stacked weights (Config.ScanLayers, scan.go).
type layerWeights interface {
	norm(name string, x *Node, eps float64) *Node                   // name: "input_layernorm"
	linear(block, name string, x *Node, bias bool, width int) *Node // block "self_attn", name "q_proj"
}

// scopeLayer reads the variables of one layer's scope.
type scopeLayer struct {
	scope  *model.Scope
	blocks map[string]*model.Scope // sub-scopes opened so far (Scope.In refuses a second visit)
}

func newScopeLayer(scope *model.Scope) *scopeLayer {
	return &scopeLayer{scope: scope, blocks: map[string]*model.Scope{}}
}

func (w *scopeLayer) norm(name string, x *Node, eps float64) *Node {
	return rmsNorm(w.scope.In("%s", name), x, eps)
}

func (w *scopeLayer) linear(block, name string, x *Node, bias bool, width int) *Node {
	s, ok := w.blocks[block]
	if !ok {
		s = w.scope.In("%s", block)
		w.blocks[block] = s
	}
	return linear(s.In("%s", name), x, bias, width)
}

// attendLowPrecision is the attention of a lower-precision compute dtype:
// q [B,nH,S,hd], k and v [B,nKV,T,hd], mask [B,1,S,T] -> [B,nH,S,hd]. The
// scores are float32 products and the masked softmax runs in float32; the
// weights are rounded to v's dtype for the product with v. Query heads are
// grouped by KV head (GQA) without copying k or v.
//
// It does not ask for XLA's fused attention: go-xla v0.4.13's cuDNN call
// declines a materialised mask (padding and cache slots need one) and takes
// the key length from the query (a decoding step has 1 query, L keys), so
// attention.Core would fall back to its decomposed graph, whose scores and
// softmax are bfloat16.
//
// inLoop leaves the mask's broadcast to the masked softmax's Where (the same
// values) instead of an explicit BroadcastToDims; see loopRoPE.
func attendLowPrecision(q, k, v, mask *Node, inLoop bool) *Node {
	d := q.Shape().Dimensions
	B, nH, S, hd := d[0], d[1], d[2], d[3]
	nKV, T := k.Shape().Dimensions[1], k.Shape().Dimensions[2]
	G := nH / nKV
	qg := Reshape(q, B, nKV, G*S, hd)                                               // heads h = kv·G + g
	scores := precision.DotF32(qg, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}) // [B,nKV,G·S,T]
	scores = MulScalar(Reshape(scores, B, nKV, G, S, T), 1/math.Sqrt(float64(hd)))
	m := Reshape(mask, B, 1, 1, S, T)
	if !inLoop {
		m = BroadcastToDims(m, B, nKV, G, S, T)
	}
	w := precision.As(MaskedSoftmax(scores, m, -1), v.DType())
	o := DotGeneral(Reshape(w, B, nKV, G*S, T), []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1}) // [B,nKV,G·S,hd]
	return Reshape(o, B, nH, S, hd)
}

// linear is an HF Linear layer: weights [out,in] (see LoadVariables), x
// [...,in], computed in x's dtype (weights converted when stored otherwise).
// It reads the variables layers.DenseWithLayout creates ("dense/weights",
// "dense/biases") and builds the same nn.Dense.
//
// The Go backend's small matrix product vectorises 4-row tiles and runs the
// rows left over in scalar code, so a decoding step (one row per sequence)
// takes the slow path; padding the rows to 4 is faster overall.
func linear(s *model.Scope, x *Node, bias bool, width int) *Node {
	return withMinRows(x, func(x *Node) *Node {
		ds := s.In("dense")
		w := variable(ds, x.Graph(), "weights", x.DType())
		if d := w.Shape().Dimensions; d[0] != width {
			panic(fmt.Errorf("llm: %s/weights is %v, expected %d outputs", ds.Scope(), d, width))
		}
		var b *Node
		if bias {
			b = variable(ds, x.Graph(), "biases", x.DType())
		}
		return nn.Dense(x, w, b, compute.DenseLayoutOutputsInput)
	})
}

// variable returns the value of variable name in s converted to dt.
func variable(s *model.Scope, g *Graph, name string, dt dtypes.DType) *Node {
	v := s.GetVariable(name)
	if v == nil {
		panic(fmt.Errorf("llm: variable %s/%s was not loaded", s.Scope(), name))
	}
	return precision.As(v.NodeValue(g), dt)
}

// withMinRows applies f to x [...,K] flattened to at least 4 rows on the Go
// backend (see linear) and restores the leading axes of the result.
func withMinRows(x *Node, f func(x *Node) *Node) *Node {
	dims := x.Shape().Dimensions
	lead, K := dims[:len(dims)-1], dims[len(dims)-1]
	rows := 1
	for _, d := range lead {
		rows *= d
	}
	const minRows = 4
	if rows >= minRows || !isGoBackend(x) {
		return f(x)
	}
	pad := Zeros(x.Graph(), shapes.Make(x.DType(), minRows-rows, K))
	y := f(Concatenate([]*Node{Reshape(x, rows, K), pad}, 0))
	y = Slice(y, AxisRange(0, rows))
	return Reshape(y, append(slices.Clone(lead), y.Shape().Dimensions[1])...)
}

// isGoBackend reports whether x's graph runs on GoMLX's pure-Go backend,
// whose kernels some choices here work around.
func isGoBackend(x *Node) bool { return x.Graph().Backend().String() == "go" }

// decoder runs all layers on x [B,S,H]. It returns the final hidden state
// (after the last RMSNorm) and, as transformers' output_hidden_states, the
// N+1 states: the input embeddings, the output of layers 1..N-1, and the
// final normed state. caches ([K0,V0,K1,V1,...]) may be nil; when given the
// updated caches are returned in the same order.
//
// With Config.ScanLayers the layers run as one loop (scanDecoder): caches
// are then [K,V], all layers' [N,B,nKV,L,hd], and of the states only the
// first and the last are returned (the others are nil).
func (m *Model) decoder(scope *model.Scope, x *Node, a *attnInputs, caches []*Node) (final *Node, states, newCaches []*Node) {
	if m.Config.ScanLayers {
		return m.scanDecoder(scope, x, a, caches)
	}
	states = append(states, x)
	ls := scope.In("layers")
	for i := range m.Config.NumLayers {
		var ck, cv *Node
		if caches != nil {
			ck, cv = caches[2*i], caches[2*i+1]
		}
		var nk, nv *Node
		x, nk, nv = m.layer(newScopeLayer(ls.In("%d", i)), x, a, ck, cv, nil)
		if caches != nil {
			newCaches = append(newCaches, nk, nv)
		}
		states = append(states, x)
	}
	final = rmsNorm(scope.In("norm"), x, m.Config.RMSNormEps)
	states[len(states)-1] = final
	return final, states, newCaches
}

// logits projects hidden states [...,H] onto the vocabulary: float32 [...,V].
func (m *Model) logits(scope *model.Scope, h *Node) *Node {
	c := m.Config
	if h.DType() != dtypes.Float32 {
		// A float32 product of the low-precision state and table.
		var table *Node
		if c.TieEmbeddings {
			table = variable(scope.At("embed_tokens"), h.Graph(), "embeddings", h.DType()) // [V,H]
		} else {
			table = variable(scope.In("lm_head").In("dense"), h.Graph(), "weights", h.DType())
		}
		return withMinRows(h, func(h *Node) *Node {
			return precision.DotF32(h, []int{h.Rank() - 1}, nil, table, []int{1}, nil)
		})
	}
	if c.TieEmbeddings {
		table := scope.At("embed_tokens").GetVariable("embeddings") // [V,H] = [out,in]
		return withMinRows(h, func(h *Node) *Node {
			return nn.Dense(h, table.NodeValue(h.Graph()), nil, compute.DenseLayoutOutputsInput)
		})
	}
	return linear(scope.In("lm_head"), h, false, c.VocabSize)
}

// gatherPositions picks x[b, idx[b,p]] → [B,P,H] from x [B,S,H] and idx [B,P] int32.
func gatherPositions(x, idx *Node) *Node {
	g := x.Graph()
	B, P := idx.Shape().Dimensions[0], idx.Shape().Dimensions[1]
	rows := Iota(g, shapes.Make(dtypes.Int32, B, P, 1), 0)
	return Gather(x, Concatenate([]*Node{rows, Reshape(idx, B, P, 1)}, -1))
}

// ForwardGraph is the uncached forward pass as a graph, for models that embed
// this decoder in a larger graph (the unified model). scope holds the
// decoder's variables (see LoadVariables). ids, positions, valid: [B,S]
// (int32, int32, bool: false = padding); embeds [B,S,H] and useEmbeds [B,S]
// may be nil. It returns logits [B,S,V] and the N+1 hidden states [B,S,H],
// float32 whatever the compute dtype.
func (m *Model) ForwardGraph(scope *model.Scope, ids, positions, valid, embeds, useEmbeds *Node) (logits *Node, states []*Node) {
	S := ids.Shape().Dimensions[1]
	mask, empty := buildMask(valid, nil, S)
	x := m.embed(scope, ids, embeds, useEmbeds)
	cos, sin := m.ropeCosSin(positions)
	final, states, _ := m.decoder(scope, x, &attnInputs{cos: cos, sin: sin, mask: mask, empty: empty}, nil)
	for i, s := range states {
		if s != nil {
			states[i] = precision.ToF32(s)
		}
	}
	return m.logits(scope, final), states
}

// StepGraph is one cached step as a graph: S new positions written at cache
// slot start (int32 scalar). valid [B,L] marks the slots that may be attended
// (already including the new ones), outIdx [B,P] picks the chunk positions
// whose logits [B,P,V] and final hidden states [B,P,H] are returned (float32).
// caches are [K0,V0,...] each [B,nKV,L,hd] in the compute dtype — with
// Config.ScanLayers [K,V] each [N,B,nKV,L,hd] — or nil to start from an
// empty cache of L slots (start must then be 0).
func (m *Model) StepGraph(scope *model.Scope, ids, positions, start, valid, outIdx, embeds, useEmbeds *Node, caches []*Node) (logits, hidden *Node, newCaches []*Node) {
	c := m.Config
	B, S := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	L := valid.Shape().Dimensions[1]
	a := &attnInputs{start: start}
	if caches == nil {
		if c.ScanLayers {
			all := Zeros(ids.Graph(), shapes.Make(c.ComputeDType(), c.NumLayers, B, c.NumKVHeads, L, c.HeadDim))
			caches = []*Node{all, all}
		} else {
			zeros := Zeros(ids.Graph(), shapes.Make(c.ComputeDType(), B, c.NumKVHeads, L, c.HeadDim))
			for range c.NumLayers {
				caches = append(caches, zeros, zeros)
			}
		}
		a.chunkOnly = true
		a.mask, a.empty = buildMask(Slice(valid, AxisRange(), AxisRange(0, S)), nil, S)
	} else {
		a.mask, a.empty = buildMask(valid, start, S)
	}
	x := m.embed(scope, ids, embeds, useEmbeds)
	a.cos, a.sin = m.ropeCosSin(positions)
	final, _, newCaches := m.decoder(scope, x, a, caches)
	hidden = gatherPositions(final, outIdx)
	return m.logits(scope, hidden), precision.ToF32(hidden), newCaches
}
