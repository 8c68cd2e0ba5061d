package tinysiglip

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/dualtoken/evalharness/bench/imagenet"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/world"
)

// Corpus returns every text the tiny model's tokenizer must cover: each
// distinct caption and one-line description the world can produce (all
// shapes, colours, textures, counts and positions), the world's yes/no
// questions, and each OpenAI
// ImageNet template filled with each world class name.
func Corpus() ([]string, error) {
	var out []string
	for c := 0; c < world.NumClasses(); c++ {
		shape, col := world.Shapes[c/len(world.Colors)], world.Colors[c%len(world.Colors)]
		for _, tex := range world.Textures {
			for count := 1; count <= 3; count++ {
				cells := []int{0}
				if count == 1 { // only a single object's caption names its cell
					cells = make([]int, len(world.Positions))
					for i := range cells {
						cells[i] = i
					}
				}
				for _, cell := range cells {
					s := world.Scene{Class: c, Shape: shape, Color: col, Texture: tex, Count: count}
					for range count {
						s.Objects = append(s.Objects, world.Object{Shape: shape, Color: col, Texture: tex, Cell: cell})
					}
					out = append(out, s.Captions()...)
					out = append(out, s.Describe())
				}
			}
		}
		out = append(out, world.ObjectQuestion(col, shape))
	}
	out = append(out, classPrompts()...)
	return out, nil
}

// classPrompts fills the openai80 templates with every class name.
func classPrompts() []string {
	tpls, err := imagenet.Templates("openai80")
	if err != nil {
		panic(err) // a built-in set
	}
	var out []string
	for c := 0; c < world.NumClasses(); c++ {
		for _, t := range tpls {
			out = append(out, strings.ReplaceAll(t, "{}", world.ClassName(c)))
		}
	}
	return out
}

// words splits text as SiglipTokenizer sees it: lower-cased, ASCII
// punctuation removed (not replaced: "close-up" is "closeup"), split on
// whitespace.
func words(text string) []string {
	text = strings.Map(func(r rune) rune {
		if r < 0x80 && unicode.IsPunct(r) || r < 0x80 && unicode.IsSymbol(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, text)
	return strings.Fields(text)
}

// fallbackChars are single-character pieces so that any lower-case ASCII
// text encodes without <unk>: letters, digits and punctuation.
const fallbackChars = "abcdefghijklmnopqrstuvwxyz0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// SentencePieceSpec builds the tiny unigram model: SigLIP's specials (pad 0,
// eos 1, unk 2, no bos), then one "▁word" piece per corpus word scored by
// its log relative frequency (most frequent first, as sentencepiece orders
// them), then "▁" and single characters scored below every word so that
// Viterbi always prefers whole words and spells anything else.
func SentencePieceSpec() (*tokenizer.UnigramSpec, error) {
	corpus, err := Corpus()
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	total := 0
	for _, t := range corpus {
		for _, w := range words(t) {
			counts[w]++
			total++
		}
	}
	vocab := make([]string, 0, len(counts))
	for w := range counts {
		vocab = append(vocab, w)
	}
	sort.Slice(vocab, func(i, j int) bool {
		if counts[vocab[i]] != counts[vocab[j]] {
			return counts[vocab[i]] > counts[vocab[j]]
		}
		return vocab[i] < vocab[j]
	})
	spec := tokenizer.NewUnigramSpec()
	spec.ModelPrefix = "tiny-siglip-world"
	minScore := float32(0)
	for _, w := range vocab {
		score := float32(math.Log(float64(counts[w]) / float64(total)))
		minScore = min(minScore, score)
		spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: "▁" + w, Score: score})
	}
	// A character costs more than any word, so a word is never split.
	charScore := minScore - 10
	spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: "▁", Score: charScore})
	for _, c := range fallbackChars { // a one-letter word is "▁x": no clash
		spec.Pieces = append(spec.Pieces, tokenizer.PieceSpec{Piece: string(c), Score: charScore})
	}
	return spec, nil
}

// SentencePiece returns the serialized tiny model (spiece.model's bytes) and
// the parsed model.
func SentencePiece() ([]byte, *tokenizer.SentencePiece, error) {
	spec, err := SentencePieceSpec()
	if err != nil {
		return nil, nil, err
	}
	data, err := spec.Marshal()
	if err != nil {
		return nil, nil, err
	}
	sp, err := tokenizer.ParseSentencePiece(data)
	if err != nil {
		return nil, nil, fmt.Errorf("tinysiglip: the generated spiece.model does not parse: %w", err)
	}
	return data, sp, nil
}

// CheckCoverage encodes every corpus text with SiglipTokenizer (no padding)
// and returns the longest id sequence (eos included); it fails on the first
// text that needs <unk>.
func CheckCoverage(sp *tokenizer.SentencePiece) (maxLen int, err error) {
	corpus, err := Corpus()
	if err != nil {
		return 0, err
	}
	tok := tokenizer.NewSiglip(sp, 0)
	for _, t := range corpus {
		ids, err := tok.Encode(t)
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			if id == sp.UnkID() {
				return 0, fmt.Errorf("tinysiglip: %q encodes to %v with <unk>", t, ids)
			}
		}
		maxLen = max(maxLen, len(ids))
	}
	return maxLen, nil
}
