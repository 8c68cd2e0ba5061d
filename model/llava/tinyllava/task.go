package tinyllava

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/world"
)

// RenderSize is the side the world scenes are drawn at before the model's
// own preprocessing resizes them (the demo's suites write 64 px images).
const RenderSize = 64

// Task is next-token prediction of the answers (and the closing
// <|im_end|>) given image and templated question, for train.Trainer. The
// batch of step s holds examples s·B … s·B+B−1 of world seed Seed, laid out
// right-padded to SeqLen positions; the image always sits at positions
// VisualAt … VisualAt+P−1 (the Qwen template's fixed system/user header
// comes first).
type Task struct {
	Sizes    Sizes
	Tok      tokenizer.Tokenizer
	Seed     uint64
	Batch_   int
	SeqLen   int
	VisualAt int
	// AuxWeight scales the auxiliary scene-classifier loss (0: off).
	AuxWeight float64

	shell *llava.Model
	lm    *llm.Model // graph builder only (its Config)
}

// NewTask prepares the task; it finds the visual offset and checks that the
// longest example fits seqLen.
func NewTask(s Sizes, tok tokenizer.Tokenizer, seed uint64, batch, seqLen int) (*Task, error) {
	if err := checkTokenizer(tok); err != nil {
		return nil, err
	}
	t := &Task{Sizes: s, Tok: tok, Seed: seed, Batch_: batch, SeqLen: seqLen, shell: shell(s, tok), lm: &llm.Model{Config: s.LM}}
	ids, err := t.shell.PromptIDs("x", 1)
	if err != nil {
		return nil, err
	}
	t.VisualAt = slices.Index(ids, llava.ImagePlaceholder)
	if t.VisualAt+s.Tower.Vision.NumPatches() >= seqLen {
		return nil, fmt.Errorf("tinyllava: sequence length %d leaves no room after the image at %d", seqLen, t.VisualAt)
	}
	return t, nil
}

// Encode returns example e's ids (visual positions ImagePlaceholder) and the
// index of the first answer id.
func (t *Task) Encode(e Example) (ids []int, answerAt int, err error) {
	p, err := t.shell.PromptIDs(e.Question, 1)
	if err != nil {
		return nil, 0, err
	}
	ids = t.shell.ExpandImages(p)
	if at := slices.Index(ids, llava.ImagePlaceholder); at != t.VisualAt {
		return nil, 0, fmt.Errorf("tinyllava: image at position %d, expected %d", at, t.VisualAt)
	}
	ans, err := t.Tok.Encode(e.Answer)
	if err != nil {
		return nil, 0, err
	}
	answerAt = len(ids)
	ids = append(append(ids, ans...), ImEndID)
	if len(ids) > t.SeqLen {
		return nil, 0, fmt.Errorf("tinyllava: %q + %q takes %d positions, more than the sequence length %d", e.Question, e.Answer, len(ids), t.SeqLen)
	}
	return ids, answerAt, nil
}

// Batch returns step's pixels [B,3,S,S] f32, ids [B,T] i32 (0 at visual
// and padding positions), valid [B,T] bool, targets [B,T] i32 (the next id)
// and weights [B,T] f32 (1 where the target is an answer id or the closing
// <|im_end|>).
func (t *Task) Batch(step int) ([]*tensors.Tensor, error) {
	B, T := t.Batch_, t.SeqLen
	S := t.Sizes.Tower.Vision.ImageSize
	per := 3 * S * S
	pixels := make([]float32, B*per)
	ids := make([]int32, B*T)
	valid := make([]bool, B*T)
	targets := make([]int32, B*T)
	w := make([]float32, B*T)
	labels := make([][]int32, len(auxHeads)) // [head][B]
	for h := range labels {
		labels[h] = make([]int32, B)
	}
	errs := make([]error, B)
	parallel(B, func(i int) {
		e := MakeExample(t.Seed, step*B+i)
		for h, head := range auxHeads {
			labels[h][i] = int32(head.label(e.Scene))
		}
		copy(pixels[i*per:], imageio.SiglipPixels(e.Scene.Image(RenderSize), S))
		row, answerAt, err := t.Encode(e)
		if err != nil {
			errs[i] = err
			return
		}
		for j, id := range row {
			valid[i*T+j] = true
			if id != llava.ImagePlaceholder {
				ids[i*T+j] = int32(id)
			}
			if j+1 < len(row) {
				targets[i*T+j] = int32(max(row[j+1], 0))
				if j+1 >= answerAt {
					w[i*T+j] = 1
				}
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(pixels, B, 3, S, S),
		tensors.FromFlatDataAndDimensions(ids, B, T),
		tensors.FromFlatDataAndDimensions(valid, B, T),
		tensors.FromFlatDataAndDimensions(targets, B, T),
		tensors.FromFlatDataAndDimensions(w, B, T),
	}
	for _, l := range labels {
		out = append(out, tensors.FromFlatDataAndDimensions(l, B))
	}
	return out, nil
}

// auxHeads are the training-only classifiers on the tower's pooled features
// (scene colour, shape, count, texture). They give the tower a direct
// signal, as LLaVA's tower comes pretrained; they are not exported.
var auxHeads = []struct {
	name    string
	classes int
	label   func(s world.Scene) int
}{
	{"color", len(world.Colors), func(s world.Scene) int { return slices.Index(world.Colors, s.Color) }},
	{"shape", len(world.Shapes), func(s world.Scene) int { return slices.Index(world.Shapes, s.Shape) }},
	{"count", 3, func(s world.Scene) int { return s.Count - 1 }},
	{"texture", len(world.Textures), func(s world.Scene) int { return slices.Index(world.Textures, s.Texture) }},
}

// Loss is the weighted mean cross-entropy of the answer positions plus
// AuxWeight times the mean cross-entropy of the auxiliary scene classifiers;
// metrics: the share of answer ids predicted exactly (argmax), the
// auxiliary loss.
func (t *Task) Loss(root *model.Scope, in []*Node) (*Node, []*Node) {
	logits, tower := t.forward(root, in[0], in[1], in[2])
	targets, w := in[3], in[4]
	V := t.Sizes.LM.VocabSize
	ce := Neg(ReduceSum(Mul(OneHot(targets, V, dtypes.Float32), LogSoftmax(logits, -1)), -1)) // [B,T]
	total := ReduceAllSum(w)
	loss := Div(ReduceAllSum(Mul(ce, w)), total)
	hit := ConvertDType(Equal(ArgMax(logits, -1, dtypes.Int32), targets), dtypes.Float32)

	pooled := ReduceMean(tower, 1) // [B,Dv]
	var aux []*Node
	for h, head := range auxHeads {
		hs := root.At("aux").At("%s", head.name)
		Dv := pooled.Shape().Dimensions[1]
		wv := hs.VariableWithValue("weight", tensors.FromFlatDataAndDimensions(make([]float32, head.classes*Dv), head.classes, Dv)).NodeValue(pooled.Graph())
		bv := hs.VariableWithValue("bias", tensors.FromFlatDataAndDimensions(make([]float32, head.classes), head.classes)).NodeValue(pooled.Graph())
		lg := nn.Dense(pooled, wv, bv, compute.DenseLayoutOutputsInput) // [B,C]
		aux = append(aux, ReduceAllMean(Neg(ReduceSum(Mul(OneHot(in[5+h], head.classes, dtypes.Float32), LogSoftmax(lg, -1)), -1))))
	}
	auxLoss := aux[0]
	for _, a := range aux[1:] {
		auxLoss = Add(auxLoss, a)
	}
	auxLoss = DivScalar(auxLoss, float64(len(aux)))
	if t.AuxWeight > 0 {
		loss = Add(loss, MulScalar(auxLoss, t.AuxWeight))
	}
	return loss, []*Node{Div(ReduceAllSum(Mul(hit, w)), total), auxLoss}
}

// Logits runs the whole model on pixels [B,3,S,S], ids and valid [B,T]:
// image features at the visual positions, logits [B,T,V].
func (t *Task) Logits(root *model.Scope, pixels, ids, valid *Node) *Node {
	logits, _ := t.forward(root, pixels, ids, valid)
	return logits
}

// forward returns the logits and the tower's hidden state the projector reads [B,P,Dv].
func (t *Task) forward(root *model.Scope, pixels, ids, valid *Node) (logits, tower *Node) {
	g := ids.Graph()
	s := t.Sizes
	B, T := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	P, H := s.Tower.Vision.NumPatches(), s.LM.HiddenSize
	vs := siglip.VisionScope(root)
	tower = siglip.VisionEmbeddings(vs, &s.Tower.Vision, pixels)
	for i := range s.Layer() {
		tower = siglip.VisionLayer(vs, &s.Tower.Vision, i, tower)
	}
	feats := llava.Projector(llava.ProjectorScope(root), s.LLaVA.ProjectorDepth, tower) // [B,P,H]
	embeds := Concatenate([]*Node{
		Zeros(g, shapes.Make(dtypes.Float32, B, t.VisualAt, H)),
		feats,
		Zeros(g, shapes.Make(dtypes.Float32, B, T-t.VisualAt-P, H)),
	}, 1)
	pos := Iota(g, shapes.Make(dtypes.Int32, B, T), 1)
	use := LogicalAnd(GreaterOrEqual(pos, Scalar(g, dtypes.Int32, t.VisualAt)), LessThan(pos, Scalar(g, dtypes.Int32, t.VisualAt+P)))
	logits, _ = t.lm.ForwardGraph(LMScope(root), ids, pos, valid, embeds, use)
	return logits, tower
}

// MetricNames names Loss's metrics.
func (t *Task) MetricNames() []string { return []string{"answer_acc", "aux_loss"} }

// Fingerprint covers sizes, tokenizer size, seed, batch and layout.
func (t *Task) Fingerprint() string {
	b, _ := json.Marshal([]any{t.Sizes.Tower.Vision, t.Sizes.LM.String(), t.Sizes.LLaVA.ProjectorType, t.Sizes.LLaVA.SelectLayer,
		t.Tok.VocabSize(), t.Seed, t.Batch_, t.SeqLen, t.VisualAt, t.AuxWeight})
	h := sha256.Sum256(b)
	return "tinyllava:" + hex.EncodeToString(h[:8])
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	w := min(n, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += w {
				f(i)
			}
		}()
	}
	wg.Wait()
}
