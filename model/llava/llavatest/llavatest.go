// Package llavatest builds tiny LLaVA folders for tests: a config.json that
// points at a SigLIP tower and a Qwen2/LLaMA decoder (the fixture models), a
// random projector of the right shapes, and a word-level SentencePiece
// tokenizer sized to fit the decoder's vocabulary.
package llavatest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/tokenizer"
)

// Options describes the folder to build.
type Options struct {
	Tower, LM string // HF SigLIP and decoder directories (absolute)
	Template  string // "vicuna_v1" or "qwen"
	Seed      uint64 // projector weights
	// Texts the tokenizer should cover with whole words (anything else is
	// spelled with the characters of Texts).
	Texts []string
	// Extra config.json fields (override the defaults).
	Extra map[string]any
}

// Build writes the folder into dir and returns dir.
func Build(dir string, o Options) (string, error) {
	tc, err := siglip.LoadConfig(o.Tower)
	if err != nil {
		return "", err
	}
	lc, err := llm.LoadConfig(o.LM)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := WriteProjector(filepath.Join(dir, "mm_projector.safetensors"), tc.Vision.HiddenSize, lc.HiddenSize, o.Seed); err != nil {
		return "", err
	}
	if err := WriteTokenizer(filepath.Join(dir, "tokenizer.model"), o.Texts, lc.VocabSize); err != nil {
		return "", err
	}
	cfg := map[string]any{
		"model_type":             "llava",
		"vision_tower":           o.Tower,
		"language_model":         o.LM,
		"mm_projector":           "mm_projector.safetensors",
		"tokenizer":              "tokenizer.model",
		"mm_projector_type":      "mlp2x_gelu",
		"mm_vision_select_layer": -2,
		"chat_template":          o.Template,
	}
	for k, v := range o.Extra {
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

// WriteProjector writes an mlp2x_gelu projector with LLaVA's names
// (model.mm_projector.{0,2}.{weight,bias}), weights N(0, 1/fan_in), biases
// N(0, 0.1²).
func WriteProjector(path string, in, out int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x11a7a))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(std * rng.NormFloat64())
		}
		return v
	}
	ts := []*weights.Tensor{
		weights.FromFloat32("model.mm_projector.0.weight", []int{out, in}, normal(out*in, 1/math.Sqrt(float64(in)))),
		weights.FromFloat32("model.mm_projector.0.bias", []int{out}, normal(out, 0.1)),
		weights.FromFloat32("model.mm_projector.2.weight", []int{out, out}, normal(out*out, 1/math.Sqrt(float64(out)))),
		weights.FromFloat32("model.mm_projector.2.bias", []int{out}, normal(out, 0.1)),
	}
	return weights.WriteSafetensors(path, ts, map[string]string{"format": "pt"})
}

// Special pieces of the test tokenizer, by id.
const (
	UnkID     = 0 // <unk>
	BOSID     = 1 // <s>
	EOSID     = 2 // </s>
	ImStartID = 3 // <|im_start|> (user-defined: matched whole)
	ImEndID   = 4 // <|im_end|>
)

// WriteTokenizer writes a unigram SentencePiece model with LLaMA's special
// layout (<unk> 0, <s> 1, </s> 2), Qwen's turn markers as user-defined
// pieces, one piece per character of texts and then "▁word" pieces, most
// frequent first, while the total stays within vocab. Normalizer as LLaMA's:
// dummy prefix, spaces kept.
func WriteTokenizer(path string, texts []string, vocab int) error {
	spec := &tokenizer.UnigramSpec{
		Pieces: []tokenizer.PieceSpec{
			{Piece: "<unk>", Type: tokenizer.PieceUnknown},
			{Piece: "<s>", Type: tokenizer.PieceControl},
			{Piece: "</s>", Type: tokenizer.PieceControl},
			{Piece: "<|im_start|>", Type: tokenizer.PieceUserDefined},
			{Piece: "<|im_end|>", Type: tokenizer.PieceUserDefined},
		},
		UnkID: UnkID, BOSID: BOSID, EOSID: EOSID, PadID: -1,
		ModelPrefix: "llavatest", NormalizerName: "identity",
		AddDummyPrefix: true, EscapeWhitespaces: true,
	}
	chars := map[string]bool{"▁": true}
	counts := map[string]int{}
	for _, t := range texts {
		t = strings.NewReplacer("<|im_start|>", " ", "<|im_end|>", " ").Replace(t)
		for _, r := range t {
			if r != ' ' {
				chars[string(r)] = true
			}
		}
		for _, w := range strings.Fields(t) {
			counts["▁"+w]++
		}
	}
	charList := make([]string, 0, len(chars))
	for c := range chars {
		charList = append(charList, c)
	}
	sort.Strings(charList)
	if len(spec.Pieces)+len(charList) > vocab {
		return fmt.Errorf("llavatest: %d special and character pieces do not fit a vocabulary of %d", len(spec.Pieces)+len(charList), vocab)
	}
	for _, c := range charList {
		spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: c, Score: -30})
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		if !chars[w] {
			words = append(words, w)
		}
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	for i, w := range words {
		if len(spec.Pieces) >= vocab {
			break
		}
		spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: w, Score: -1 - float32(i)*0.01})
	}
	return spec.WriteFile(path)
}
