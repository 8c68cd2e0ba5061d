package tinyllava

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/tokenizer"
)

// Special ids of the tiny tokenizer (Qwen's special tokens at toy scale).
const (
	UnkID       = 0 // <unk>
	EndOfTextID = 1 // <|endoftext|>: control piece, an eos id
	ImStartID   = 2 // <|im_start|>: user-defined, matched whole in text
	ImEndID     = 3 // <|im_end|>: user-defined; ends the assistant turn
)

// fallbackChars spell anything outside the whole-word pieces.
const fallbackChars = "\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// TokenizerSpec builds the tiny unigram SentencePiece model: the specials,
// then each word twice ("▁word" after a space, "word" after a newline or at
// the start: like Qwen's tokenizer there is no dummy prefix), then "▁" and
// single characters scored below every word, so known words stay whole.
func TokenizerSpec(words []string) *tokenizer.UnigramSpec {
	spec := &tokenizer.UnigramSpec{
		Pieces: []tokenizer.PieceSpec{
			{Piece: "<unk>", Type: tokenizer.PieceUnknown},
			{Piece: "<|endoftext|>", Type: tokenizer.PieceControl},
			{Piece: "<|im_start|>", Type: tokenizer.PieceUserDefined},
			{Piece: "<|im_end|>", Type: tokenizer.PieceUserDefined},
		},
		UnkID: UnkID, BOSID: -1, EOSID: EndOfTextID, PadID: -1,
		ModelPrefix: "tiny-llava-world", NormalizerName: "identity",
		AddDummyPrefix: false, RemoveExtraWhitespaces: false, EscapeWhitespaces: true,
	}
	seen := map[string]bool{}
	add := func(p string, score float32) {
		if !seen[p] {
			seen[p] = true
			spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: p, Score: score})
		}
	}
	for _, p := range spec.Pieces {
		seen[p.Piece] = true
	}
	for i, w := range words {
		score := -1 - float32(i)*1e-3
		add("▁"+w, score)
		add(w, score)
	}
	add("▁", -30)
	for _, c := range fallbackChars {
		add(string(c), -30)
	}
	return spec
}

// Sizes of the tiny model.
type Sizes struct {
	Tower *siglip.Config
	LM    *llm.Config
	LLaVA *llava.Config
}

// Preset returns the tiny model's sizes for a vocabulary of vocab pieces:
// a 48 px SigLIP tower in 8 px patches (36 visual tokens, a 6×6 grid that
// the world's 3×3 positions align with; at 32 px the shapes were not
// learned), 64 wide, 3 layers, no pooling head, all layers used (mm_vision_select_layer −1: the
// tower is trained with the rest, so its last layer is not the contrastive
// head's input LLaVA skips); an mlp2x_gelu projector; a Qwen2 decoder 64
// wide, 2 layers, 4 query / 2 key-value heads, SwiGLU 192, tied embeddings.
func Preset(vocab int) Sizes {
	tc := siglip.BaseConfig(64, 3, 4, 128, 8, 48)
	tc.Path = "(tiny-llava tower preset)"
	tc.Vision.UseHead = false
	lc := llm.TestConfig(vocab, 64, 2, 4, 2, 192, true)
	lc.Path = "(tiny-llava decoder preset)"
	lc.RopeTheta = 10000
	lc.MaxPositions = 256
	lc.EOS = []int{ImEndID, EndOfTextID}
	return Sizes{
		Tower: tc,
		LM:    lc,
		LLaVA: &llava.Config{
			Path:           "(tiny-llava preset)",
			ProjectorType:  "mlp2x_gelu",
			ProjectorDepth: 2,
			SelectLayer:    -1,
			SelectFeature:  "patch",
			ImageAspect:    llava.AspectPad,
			ChatTemplate:   llava.TemplateQwen,
			ImageToken:     "<image>",
		},
	}
}

// Layer is the tower hidden-state index the projector reads.
func (s Sizes) Layer() int {
	l := s.LLaVA.SelectLayer
	if l < 0 {
		l += s.Tower.Vision.NumLayers + 1
	}
	return l
}

// LMScope is where the decoder's variables live in the training store.
func LMScope(root *model.Scope) *model.Scope { return root.At("llm") }

// NewStore creates the model's variables with deterministic random values:
// the tower as siglip.RandomVariables, the decoder as llm.RandomWeights
// (normal 0.02), the projector N(0, 1/fan_in) weights and zero biases.
func NewStore(s Sizes, seed uint64) (*model.Store, error) {
	store := model.NewStore()
	root := store.RootScope()
	if err := siglip.RandomVariables(root, s.Tower, seed); err != nil {
		return nil, err
	}
	l := weights.NewLoader(llm.RandomWeights(s.LM, seed))
	if err := llm.LoadVariables(LMScope(root), s.LM, l, ""); err != nil {
		return nil, err
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e0))
	in, out := s.Tower.Vision.HiddenSize, s.LM.HiddenSize
	for i := range s.LLaVA.ProjectorDepth {
		fan := out
		if i == 0 {
			fan = in
		}
		w := make([]float32, out*fan)
		for j := range w {
			w[j] = float32(rng.NormFloat64() / math.Sqrt(float64(fan)))
		}
		ps := llava.ProjectorScope(root).At("%d", 2*i)
		if _, err := ps.CreateVariable("weight", tensors.FromFlatDataAndDimensions(w, out, fan)); err != nil {
			return nil, err
		}
		if _, err := ps.CreateVariable("bias", tensors.FromFlatDataAndDimensions(make([]float32, out), out)); err != nil {
			return nil, err
		}
	}
	return store, nil
}

// shell is a llava.Model holding only what prompt building needs, so that
// training tokenizes exactly as inference will.
func shell(s Sizes, tok tokenizer.Tokenizer) *llava.Model {
	return &llava.Model{Config: s.LLaVA, Tower: s.Tower, Tok: tok}
}

// checkTokenizer verifies that the tokenizer keeps the turn markers whole.
func checkTokenizer(tok tokenizer.Tokenizer) error {
	ids, err := tok.Encode("<|im_start|>assistant\nyes<|im_end|>")
	if err != nil {
		return err
	}
	if len(ids) < 3 || ids[0] != ImStartID || ids[len(ids)-1] != ImEndID {
		return fmt.Errorf("tinyllava: the tokenizer splits the turn markers: %v", ids)
	}
	return nil
}
