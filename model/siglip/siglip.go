// Package siglip is the SigLIP image-text model (HF SiglipModel /
// SiglipVisionModel) as GoMLX graph functions: the vision tower (patch
// embedding, learned positions, pre-LN encoder blocks, post-LN, MAP
// attention-pooling head), the text tower (token + position embeddings,
// blocks, final LN, last-token pooling, head) and the sigmoid-loss logits
// exp(logit_scale)·cos + logit_bias.
//
// The towers are exposed a block at a time (VisionEmbeddings, VisionLayer,
// VisionPostLayerNorm, VisionHead, VisionFrom) so that callers can tap any
// layer's hidden state or replace one — DualToken reads layers 4, 6 and 26
// and runs the last layer, post-LN and head on quantised layer-26 features.
// VisionLayers/TextLayers run a range of layers; with ScanLayers (scan.go)
// a range is one While loop over stacked weights, for compile time on XLA.
//
// Variables live in a model.Store under scopes that mirror the HF module path
// ("vision_model/encoder/layers/3/self_attn/q_proj" holds "weight" and
// "bias"); see names.go for the table and the loader.
//
// Precision: each block converts its input to the config's compute dtype
// (VisionConfig.DType, TextConfig.DType; float32 unless set) and returns
// that dtype. In bfloat16 the matmuls and activations are bfloat16 and
// three places stay float32 (package precision): LayerNorm statistics (a
// mean and variance over D values lose ~D·2⁻⁸ relative in bfloat16), the
// attention softmax with its scores (computed as float32 products, so
// softmax sees logits at float32 resolution) and the joint head's
// normalisation and logits. Forward returns float32 tensors either way.
package siglip

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/precision"
)

// VisionScope is the scope of the vision tower under a SigLIP root scope.
func VisionScope(root *model.Scope) *model.Scope { return root.At("vision_model") }

// TextScope is the scope of the text tower under a SigLIP root scope.
func TextScope(root *model.Scope) *model.Scope { return root.At("text_model") }

// ---------------------------------------------------------------------------
// Vision tower (SiglipVisionTransformer)
//
//	pixels [B,C,H,W] -VisionEmbeddings-> hidden_states[0] [B,N,D]
//	  -VisionLayer(0..L-1)->   hidden_states[1..L] [B,N,D]
//	  -VisionPostLayerNorm->   last_hidden_state   [B,N,D]
//	  -VisionHead->            pooler_output       [B,D]
// ---------------------------------------------------------------------------

// VisionEmbeddings maps pixels [B,C,H,W] (already normalised) to patch
// embeddings plus learned positions [B,N,D], N = (H/p)·(W/p) = NumPatches.
// s is the vision tower scope.
func VisionEmbeddings(s *model.Scope, c *VisionConfig, pixels *Node) *Node {
	g := pixels.Graph()
	dt := c.ComputeDType()
	dims := pixels.Shape().Dimensions
	if len(dims) != 4 || dims[1] != c.NumChannels {
		panic(fmt.Errorf("siglip: pixel_values must be [batch, %d, H, W], got %s", c.NumChannels, pixels.Shape()))
	}
	b, ch, h, w, p, d := dims[0], dims[1], dims[2], dims[3], c.PatchSize, c.HiddenSize
	gh, gw := h/p, w/p
	if gh*gw != c.NumPatches() {
		panic(fmt.Errorf("siglip: a %dx%d image gives %dx%d patches of %d px; the position embeddings have %d (image_size %d)",
			h, w, gh, gw, p, c.NumPatches(), c.ImageSize))
	}
	if h != gh*p || w != gw*p { // the conv has no padding: drop the remainder
		pixels = Slice(pixels, AxisRange(), AxisRange(), AxisRange(0, gh*p), AxisRange(0, gw*p))
	}
	// A conv with stride = kernel = p is a matmul over non-overlapping patches:
	// [B,C,gh,p,gw,p] -> [B,gh,gw,C,p,p] -> [B,N,C·p·p], and the HF weight
	// [D,C,p,p] flattens to [D,C·p·p] in the same (C,p,p) order.
	x := Reshape(pixels, b, ch, gh, p, gw, p)
	x = TransposeAllAxes(x, 0, 2, 4, 1, 3, 5)
	x = precision.As(Reshape(x, b, gh*gw, ch*p*p), dt)
	emb := s.At("embeddings")
	pe := emb.At("patch_embedding")
	kernel := Reshape(param(pe, g, "weight", dt), d, ch*p*p)
	x = nn.Dense(x, kernel, param(pe, g, "bias", dt), compute.DenseLayoutOutputsInput)
	pos := param(emb.At("position_embedding"), g, "weight", dt) // [N,D]
	return Add(x, InsertAxes(pos, 0))
}

// VisionLayer applies encoder block i (0-based) to x [B,N,D]; its output is
// hidden_states[i+1].
//
// With c.Checkpoint the block is a gradient-checkpointing segment: its input
// is saved (Node.Checkpoint) and its output closes the segment
// (StopCheckpoint), so the backward pass recomputes the block's inner
// activations from the saved input. Closing every block keeps the
// recomputation inside it: states tapped between layers (DualToken's) are
// ordinary saved values and nothing downstream is ever recomputed.
func VisionLayer(s *model.Scope, c *VisionConfig, i int, x *Node) *Node {
	x = precision.As(x, c.ComputeDType())
	if c.Checkpoint {
		x = x.Checkpoint()
	}
	// No fused attention inside a checkpointed block: GoMLX v0.28.16
	// rematerialises the fused op wrongly (gradients off by ~8% in a test).
	y := encoderLayer(scoped(s.At("encoder").At("layers").At("%d", i), x.Graph()), c.NumHeads, c.LayerNormEps, c.HiddenAct, !c.Checkpoint, x)
	if c.Checkpoint {
		y = y.StopCheckpoint()
	}
	return y
}

// VisionPostLayerNorm is the LayerNorm after the last block: [B,N,D] -> [B,N,D].
func VisionPostLayerNorm(s *model.Scope, c *VisionConfig, x *Node) *Node {
	return layerNorm(scoped(s.At("post_layernorm"), x.Graph()), c.LayerNormEps, precision.As(x, c.ComputeDType()))
}

// VisionHead is the MAP (multihead attention pooling) head: a learned probe
// attends over the post-LN tokens x [B,N,D], then LayerNorm + MLP with a
// residual; returns the pooled embedding [B,D].
func VisionHead(s *model.Scope, c *VisionConfig, x *Node) *Node {
	g := x.Graph()
	dt := c.ComputeDType()
	x = precision.As(x, dt)
	hs := s.At("head")
	b, d := x.Shape().Dimensions[0], c.HiddenSize
	probe := BroadcastToDims(param(hs, g, "probe", dt), b, 1, d) // [B,1,D]

	// nn.MultiheadAttention: in_proj_weight [3D,D] stacks Wq, Wk, Wv.
	at := hs.At("attention")
	wIn, bIn := param(at, g, "in_proj_weight", dt), param(at, g, "in_proj_bias", dt)
	proj := func(k int, in *Node) *Node {
		w := Slice(wIn, AxisRange(k*d, (k+1)*d), AxisRange())
		bias := Slice(bIn, AxisRange(k*d, (k+1)*d))
		return nn.Dense(in, w, bias, compute.DenseLayoutOutputsInput)
	}
	q, k, v := proj(0, probe), proj(1, x), proj(2, x)
	// Not fused: the XLA flash call is written for self-attention (it takes
	// the key length from the query), and one query over N keys costs little.
	h := attend(q, k, v, c.NumHeads, false) // [B,1,D]
	h = linear(scoped(at.At("out_proj"), g), h)

	// residual = attention output; h = residual + mlp(layernorm(h)).
	head := scoped(hs, g)
	h = Add(h, mlp(head.at("mlp"), c.HiddenAct, layerNorm(head.at("layernorm"), c.LayerNormEps, h)))
	return Reshape(h, b, d)
}

// VisionOutputs holds a vision tower's results, in the compute dtype.
type VisionOutputs struct {
	// Hidden[0] = embeddings, Hidden[i] = after layer i (before post-LN).
	// With ScanLayers the layers run as one loop and only Hidden[0] and
	// Hidden[L] are kept; the others are nil.
	Hidden []*Node
	Last   *Node // last_hidden_state, after post-LN [B,N,D]
	Pooled *Node // MAP head output [B,D]; nil when the config has no head
}

// Vision runs the whole vision tower on pixels [B,C,H,W].
func Vision(s *model.Scope, c *VisionConfig, pixels *Node) VisionOutputs {
	out := VisionOutputs{Hidden: stack(c.NumLayers, c.ScanLayers, VisionEmbeddings(s, c, pixels),
		func(i int, x *Node) *Node { return VisionLayer(s, c, i, x) },
		func(from, to int, x *Node) *Node { return VisionLayers(s, c, from, to, x) })}
	out.Last, out.Pooled = VisionFrom(s, c, out.Hidden[c.NumLayers], c.NumLayers)
	return out
}

// stack runs a tower's n layers on x: unrolled, keeping every hidden state
// (hidden[i] = after layer i), or as one loop (loop), keeping only hidden[0]
// and hidden[n]. Returns hidden [n+1].
func stack(n int, loop bool, x *Node, layer func(i int, x *Node) *Node, layers func(from, to int, x *Node) *Node) []*Node {
	hidden := make([]*Node, n+1)
	hidden[0] = x
	if loop {
		hidden[n] = layers(0, n, x)
		return hidden
	}
	for i := range n {
		x = layer(i, x)
		hidden[i+1] = x
	}
	return hidden
}

// VisionFrom continues the tower from hidden_states[from] (the output of the
// first `from` layers, 1-indexed as DualToken counts them): it runs layers
// from..L-1, the post-LN and the head. It returns last_hidden_state and the
// pooled embedding (nil without a head).
func VisionFrom(s *model.Scope, c *VisionConfig, x *Node, from int) (last, pooled *Node) {
	if from < 0 || from > c.NumLayers {
		panic(fmt.Errorf("siglip: VisionFrom(%d): the tower has layers 0..%d", from, c.NumLayers))
	}
	x = VisionLayers(s, c, from, c.NumLayers, x)
	last = VisionPostLayerNorm(s, c, x)
	if c.UseHead {
		pooled = VisionHead(s, c, last)
	}
	return last, pooled
}

// ---------------------------------------------------------------------------
// Text tower (SiglipTextTransformer)
//
//	input_ids [B,L] -TextEmbeddings-> hidden_states[0] [B,L,D]
//	  -TextLayer(0..K-1)->   hidden_states[1..K]
//	  -TextFinalLayerNorm->  last_hidden_state [B,L,D]
//	  -TextHead->            pooler_output [B,P] (last token -> Linear)
//
// SigLIP's text encoder is bidirectional and uses no attention mask: inputs are
// padded to a fixed length and the last position is pooled.
// ---------------------------------------------------------------------------

// TextEmbeddings maps ids [B,L] (any integer type, L <= MaxPositions) to token
// plus position embeddings [B,L,D].
func TextEmbeddings(s *model.Scope, c *TextConfig, ids *Node) *Node {
	g := ids.Graph()
	dt := c.ComputeDType()
	if ids.Rank() != 2 || ids.Shape().Dimensions[1] > c.MaxPositions {
		panic(fmt.Errorf("siglip: input_ids must be [batch, L] with L <= max_position_embeddings %d, got %s", c.MaxPositions, ids.Shape()))
	}
	l := ids.Shape().Dimensions[1]
	emb := s.At("embeddings")
	// Rows are gathered, then converted: a float32 table is not converted whole.
	tok := Gather(stored(emb.At("token_embedding"), g, "weight"), InsertAxes(ids, -1)) // [B,L,D]
	pos := Slice(stored(emb.At("position_embedding"), g, "weight"), AxisRange(0, l))   // [L,D]
	return Add(precision.As(tok, dt), InsertAxes(precision.As(pos, dt), 0))
}

// TextLayer applies text encoder block i (0-based).
func TextLayer(s *model.Scope, c *TextConfig, i int, x *Node) *Node {
	return encoderLayer(scoped(s.At("encoder").At("layers").At("%d", i), x.Graph()), c.NumHeads, c.LayerNormEps, c.HiddenAct, true, precision.As(x, c.ComputeDType()))
}

// TextFinalLayerNorm is the LayerNorm after the last block.
func TextFinalLayerNorm(s *model.Scope, c *TextConfig, x *Node) *Node {
	return layerNorm(scoped(s.At("final_layer_norm"), x.Graph()), c.LayerNormEps, precision.As(x, c.ComputeDType()))
}

// TextHead pools the last position of x [B,L,D] and projects it: [B,P].
func TextHead(s *model.Scope, c *TextConfig, x *Node) *Node {
	x = precision.As(x, c.ComputeDType())
	dims := x.Shape().Dimensions
	last := Reshape(Slice(x, AxisRange(), AxisElem(dims[1]-1), AxisRange()), dims[0], dims[2])
	return linear(scoped(s.At("head"), x.Graph()), last)
}

// TextOutputs holds a text tower's results, in the compute dtype.
type TextOutputs struct {
	Hidden []*Node // Hidden[0] = embeddings, Hidden[i] = after layer i; with ScanLayers only Hidden[0] and Hidden[K] (others nil)
	Last   *Node   // after the final LayerNorm [B,L,D]
	Pooled *Node   // head(last token) [B,P]
}

// Text runs the whole text tower on ids [B,L].
func Text(s *model.Scope, c *TextConfig, ids *Node) TextOutputs {
	out := TextOutputs{Hidden: stack(c.NumLayers, c.ScanLayers, TextEmbeddings(s, c, ids),
		func(i int, x *Node) *Node { return TextLayer(s, c, i, x) },
		func(from, to int, x *Node) *Node { return TextLayers(s, c, from, to, x) })}
	out.Last = TextFinalLayerNorm(s, c, out.Hidden[c.NumLayers])
	out.Pooled = TextHead(s, c, out.Last)
	return out
}

// ---------------------------------------------------------------------------
// Joint head (SiglipModel.forward)
// ---------------------------------------------------------------------------

// Normalize L2-normalises embeddings [B,D] along the last axis, in float32
// (the result is float32 whatever x's dtype).
func Normalize(x *Node) *Node { return L2Normalize(precision.ToF32(x), -1) }

// Logits returns logits_per_image [Bi,Bt] = exp(logit_scale)·(img·txtᵀ) +
// logit_bias for normalised embeddings img [Bi,D] and txt [Bt,D]; root is the
// SigLIP root scope (holding logit_scale and logit_bias, each [1]). It runs
// in float32.
func Logits(root *model.Scope, img, txt *Node) *Node {
	g := img.Graph()
	cos := Einsum("id,td->it", precision.ToF32(img), precision.ToF32(txt))
	scale := Exp(Reshape(param(root, g, "logit_scale", precision.F32)))
	bias := Reshape(param(root, g, "logit_bias", precision.F32))
	return Add(Mul(cos, scale), bias)
}

// ---------------------------------------------------------------------------
// Shared blocks
// ---------------------------------------------------------------------------

// encoderLayer is SiglipEncoderLayer, pre-LN:
// x += attn(LN1(x)); x += mlp(LN2(x)). x: [B,S,D] -> [B,S,D], computed in
// x's dtype (the residual stream stays in it).
func encoderLayer(w weightSource, heads int, eps float64, act string, fused bool, x *Node) *Node {
	h := layerNorm(w.at("layer_norm1"), eps, x)
	x = Add(x, selfAttention(w.at("self_attn"), heads, fused, h))
	h = layerNorm(w.at("layer_norm2"), eps, x)
	return Add(x, mlp(w.at("mlp"), act, h))
}

// selfAttention is SiglipAttention: q/k/v/out projections with biases,
// softmax(q·kᵀ/√dh)·v per head, no mask. x: [B,S,D] -> [B,S,D].
func selfAttention(w weightSource, heads int, fused bool, x *Node) *Node {
	q := linear(w.at("q_proj"), x)
	k := linear(w.at("k_proj"), x)
	v := linear(w.at("v_proj"), x)
	return linear(w.at("out_proj"), attend(q, k, v, heads, fused))
}

// attend splits q [B,Sq,D], k and v [B,Sk,D] into heads, applies scaled
// dot-product attention and merges the heads back: [B,Sq,D]. fused allows
// the backend's fused kernel (see FusedAttention).
func attend(q, k, v *Node, heads int, fused bool) *Node {
	split := func(x *Node) *Node {
		dims := x.Shape().Dimensions
		return Reshape(x, dims[0], dims[1], heads, dims[2]/heads) // [B,S,H,dh]
	}
	return Reshape(sdpa(split(q), split(k), split(v), fused), q.Shape().Dimensions...)
}

// FusedAttention forces sdpa to ask for the backend's fused attention kernel
// (tests and benchmarks); otherwise backend.FusedAttention decides: fused on
// XLA (cuDNN flash attention in bf16), decomposed on the Go backend, where
// (compute v0.1.14, AVX-512) the fused kernel ran the ViT-B/16 tower 6x
// slower (BenchmarkVisionTower with SIGLIP_FUSED_ATTN=1).
var FusedAttention = false

// sdpa is softmax(q·kᵀ/√dh)·v for q [B,Sq,H,dh], k and v [B,Sk,H,dh],
// without a mask. In a lower precision the scores are float32 products and
// the softmax runs in float32; the weights are then rounded to q's dtype for
// the product with v.
func sdpa(q, k, v *Node, fused bool) *Node {
	decomposed := func() *Node {
		dh := q.Shape().Dimensions[3]
		if q.DType() == precision.F32 {
			scores := MulScalar(Einsum("bqhd,bkhd->bhqk", q, k), 1/math.Sqrt(float64(dh))) // [B,H,Sq,Sk]
			return Einsum("bhqk,bkhd->bqhd", Softmax(scores, -1), v)
		}
		scores := precision.DotF32(q, []int{3}, []int{0, 2}, k, []int{3}, []int{0, 2}) // [B,H,Sq,Sk] float32
		w := precision.As(Softmax(MulScalar(scores, 1/math.Sqrt(float64(dh))), -1), q.DType())
		o := DotGeneral(w, []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2}) // [B,H,Sq,dh]
		return TransposeAllAxes(o, 0, 2, 1, 3)
	}
	if !fused || !(FusedAttention || backend.FusedAttention(q.Graph().Backend())) {
		return decomposed()
	}
	out, _ := InternalFusedOpCaller(func() *Node {
		o, _ := BackendFusedScaledDotProductAttention(q, k, v, compute.AttentionAxesLayoutBSHD,
			&compute.ScaledDotProductAttentionConfig{})
		return o
	}, decomposed, true)
	return out
}

// mlp is SiglipMLP: fc2(act(fc1(x))).
func mlp(w weightSource, act string, x *Node) *Node {
	a, _ := activationFor(act) // validated when the config was parsed
	h := linear(w.at("fc1"), x, a.fused)
	if a.custom != nil {
		h = a.custom(h)
	}
	return linear(w.at("fc2"), h)
}

// linear is torch.nn.Linear with the HF weight layout [out,in] and a bias,
// in x's dtype.
func linear(w weightSource, x *Node, act ...activation.Type) *Node {
	return nn.Dense(x, w.get("weight", x.DType()), w.get("bias", x.DType()), compute.DenseLayoutOutputsInput, act...)
}

// layerNorm is torch.nn.LayerNorm over the last axis with weight and bias.
// It normalises in float32 and returns x's dtype.
func layerNorm(w weightSource, eps float64, x *Node) *Node {
	y := nn.LayerNorm(precision.ToF32(x), []int{-1}, eps, w.get("weight", precision.F32), w.get("bias", precision.F32), nil)
	return precision.As(y, x.DType())
}

// weightSource gives a block its weights by name below the block: the
// variables of a scope (unrolled layers, the heads) or one layer's slices of
// the stacked layer weights inside a scanned loop (see scan.go).
type weightSource interface {
	at(sub string) weightSource             // the sub-module sub
	get(name string, dt dtypes.DType) *Node // weight name, converted to dt
}

// scopeWeights reads the variables of a scope.
type scopeWeights struct {
	s *model.Scope
	g *Graph
}

func scoped(s *model.Scope, g *Graph) weightSource { return scopeWeights{s, g} }

func (w scopeWeights) at(sub string) weightSource { return scopeWeights{w.s.At("%s", sub), w.g} }
func (w scopeWeights) get(name string, dt dtypes.DType) *Node {
	return param(w.s, w.g, name, dt)
}

// param returns the graph value of variable name in scope s, converted to
// dt (a no-op when stored in it); a missing variable is a programming error
// (the loader checks every tensor).
func param(s *model.Scope, g *Graph, name string, dt dtypes.DType) *Node {
	return precision.As(stored(s, g, name), dt)
}

// stored returns the graph value of variable name in its stored dtype.
func stored(s *model.Scope, g *Graph, name string) *Node {
	v := s.GetVariable(name)
	if v == nil {
		panic(fmt.Errorf("siglip: variable %s/%s was not loaded", s.Scope(), name))
	}
	return v.NodeValue(g)
}

// act is an MLP activation: a fused one the Dense kernel applies, or a custom
// graph function after a plain Dense.
type act struct {
	fused  activation.Type
	custom func(*Node) *Node
}

// activationFor maps HF's hidden_act names.
func activationFor(name string) (act, error) {
	switch name {
	case "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_tanh":
		return act{fused: activation.TypeGeluApprox}, nil // all are 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
	case "gelu":
		return act{fused: activation.TypeGelu}, nil
	case "relu":
		return act{fused: activation.TypeRelu}, nil
	case "silu", "swish":
		return act{fused: activation.TypeSilu}, nil
	case "quick_gelu":
		return act{fused: activation.TypeNone, custom: func(x *Node) *Node {
			return Mul(x, Sigmoid(MulScalar(x, 1.702)))
		}}, nil
	}
	return act{}, fmt.Errorf("unsupported activation %q (supported: gelu_pytorch_tanh, gelu_new, gelu_fast, gelu, quick_gelu, relu, silu)", name)
}
