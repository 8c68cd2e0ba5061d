// Package tinyllava trains a tiny LLaVA (SigLIP tower → GELU MLP projector →
// Qwen2 decoder, Qwen chat template) from scratch on question–answer pairs
// about the procedural world (package world), with the generic loop of
// package train, and exports it as a LLaVA folder that model/llava and the
// bench adapter load. It then measures answer accuracy on held-out world
// scenes through that exported folder, per question kind, beside chance.
//
// The questions are the kinds the demo's understanding suites ask (POPE's
// object questions, MME's existence/count/position/colour/artwork yes–no
// pairs, VQAv2's how-many / what-colour / is-there, MMBench-style lettered
// choices), with the LLaVA-1.5 answer-format suffixes; the training scenes
// come from another world seed than the demo's, so no demo image is seen.
package tinyllava

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench/mme"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/world"
)

// Question kinds, in the order Kinds lists them.
const (
	KindExists      = "exists"       // Is there a {shape} in this image?          (MME existence, VQA yes/no)
	KindColorObject = "color_object" // Is there a {color} {shape} in the image?   (POPE, MME color)
	KindCountTotal  = "count_total"  // Is there a total of {n} {shapes} ...?      (MME count)
	KindPosition    = "position"     // Is the {shape} at the {pos} of the image?  (MME position; one object)
	KindTexture     = "texture"      // Is this artwork made of {texture} shapes?  (MME artwork)
	KindHowMany     = "how_many"     // How many {shapes} are there? → digit       (VQA number)
	KindWhatColor   = "what_color"   // What color is the {shape}? → colour        (VQA other)
	KindWhatShape   = "what_shape"   // What shape is in the image? → shape
	KindChoice      = "choice"       // lettered options → letter                  (MMBench-style)
)

// Kinds lists every question kind.
var Kinds = []string{KindExists, KindColorObject, KindCountTotal, KindPosition, KindTexture, KindHowMany, KindWhatColor, KindWhatShape, KindChoice}

// Chance is the accuracy of guessing uniformly among a kind's answers.
func Chance(kind string) float64 {
	switch kind {
	case KindHowMany:
		return 1.0 / 3
	case KindWhatColor:
		return 1.0 / float64(len(world.Colors))
	case KindWhatShape:
		return 1.0 / float64(len(world.Shapes))
	case KindChoice:
		return 1.0 / 4
	}
	return 0.5 // yes/no
}

// Example is one question about a world scene and its reference answer.
type Example struct {
	Scene    world.Scene
	Kind     string
	Question string // the user prompt, answer-format suffix included
	Answer   string
}

// exampleSalt separates the question stream from the world's own streams.
const exampleSalt = 0x11a7a_0_9a

// MakeExample returns example i of world seed: scene i and a question of a
// kind drawn uniformly from Kinds, both by a PCG seeded by (seed, i). Yes/no
// kinds are true half the time; a position question drawn for a scene of
// several objects becomes an existence one.
func MakeExample(seed uint64, i int) Example {
	s := world.Generate(seed, i)
	r := rand.New(rand.NewPCG(seed^exampleSalt, uint64(i)))
	kind := Kinds[r.IntN(len(Kinds))]
	if kind == KindPosition && s.Count != 1 {
		kind = KindExists
	}
	return makeExample(s, kind, r)
}

// MakeExampleOfKind is example i of world seed with the kind fixed
// (held-out evaluation per kind); ok is false when the scene cannot have
// that kind.
func MakeExampleOfKind(seed uint64, i int, kind string) (Example, bool) {
	s := world.Generate(seed, i)
	if kind == KindPosition && s.Count != 1 {
		return Example{}, false
	}
	r := rand.New(rand.NewPCG(seed^exampleSalt, uint64(i)))
	r.IntN(len(Kinds)) // the draw MakeExample spends on the kind
	return makeExample(s, kind, r), true
}

func makeExample(s world.Scene, kind string, r *rand.Rand) Example {
	e := Example{Scene: s, Kind: kind}
	truth := r.IntN(2) == 0
	other := func(list []string, v string) string {
		for {
			if x := list[r.IntN(len(list))]; x != v {
				return x
			}
		}
	}
	var yn string // a yes/no question's text, without suffix
	switch kind {
	case KindExists:
		shape := s.Shape
		if !truth {
			shape = other(world.Shapes, s.Shape)
		}
		place := []string{"this image", "the image"}[r.IntN(2)]
		yn = fmt.Sprintf("Is there a %s in %s?", shape, place)
	case KindColorObject:
		col, shape := s.Color, s.Shape
		if !truth {
			switch r.IntN(3) { // adversarial (other colour), other shape, or anything else
			case 0:
				col = other(world.Colors, s.Color)
			case 1:
				shape = other(world.Shapes, s.Shape)
			default:
				for col == s.Color && shape == s.Shape {
					col, shape = world.Colors[r.IntN(len(world.Colors))], world.Shapes[r.IntN(len(world.Shapes))]
				}
			}
		}
		yn = world.ObjectQuestion(col, shape)
	case KindCountTotal:
		n := s.Count
		if !truth {
			n = 1 + (s.Count-1+1+r.IntN(2))%3
		}
		yn = fmt.Sprintf("Is there a total of %s %s in the image?", world.Numbers[n], noun(s.Shape, n))
	case KindPosition:
		pos := world.Positions[s.Objects[0].Cell]
		if !truth {
			pos = other(world.Positions, pos)
		}
		yn = fmt.Sprintf("Is the %s at the %s of the image?", s.Shape, pos)
	case KindTexture:
		tex := s.Texture
		if !truth {
			tex = other(world.Textures, tex)
		}
		yn = fmt.Sprintf("Is this artwork made of %s shapes?", tex)
	case KindHowMany:
		e.Question = fmt.Sprintf("How many %s are there?", noun(s.Shape, 2)) + qa.ShortAnswerSuffix
		e.Answer = strconv.Itoa(s.Count)
	case KindWhatColor:
		if s.Count == 1 {
			e.Question = fmt.Sprintf("What color is the %s?", s.Shape)
		} else {
			e.Question = fmt.Sprintf("What color are the %s?", noun(s.Shape, s.Count))
		}
		e.Question += qa.ShortAnswerSuffix
		e.Answer = s.Color
	case KindWhatShape:
		e.Question = "What shape is in the image?" + qa.ShortAnswerSuffix
		e.Answer = s.Shape
	case KindChoice:
		var q, right string
		var pool []string
		switch r.IntN(3) {
		case 0:
			q, right, pool = "What color are the shapes in the image?", s.Color, world.Colors
		case 1:
			q, right, pool = "Which shape is shown in the image?", s.Shape, world.Shapes
		default:
			q, right, pool = "How many shapes are in the image?", strconv.Itoa(s.Count), []string{"1", "2", "3", "4"}
		}
		opts := []string{right}
		for _, k := range r.Perm(len(pool)) {
			if len(opts) < 4 && pool[k] != right {
				opts = append(opts, pool[k])
			}
		}
		r.Shuffle(len(opts), func(a, b int) { opts[a], opts[b] = opts[b], opts[a] })
		at := 0
		for k, o := range opts {
			if o == right {
				at = k
			}
		}
		e.Question = q + qa.OptionLines(opts) + qa.MultipleChoiceSuffix
		e.Answer = string(qa.Letters[at])
	default:
		panic("tinyllava: unknown kind " + kind)
	}
	if yn != "" {
		// The suites' suffixes: VQAv2/POPE's short answer (LLaVA answers
		// in lower case there), MME's "Please answer yes or no.", or none.
		yes, no := "Yes", "No"
		switch r.IntN(3) {
		case 0:
			yn += qa.ShortAnswerSuffix
			yes, no = "yes", "no"
		case 1:
			yn += mme.YesNoSuffix
		}
		e.Question, e.Answer = yn, no
		if truth {
			e.Answer = yes
		}
	}
	return e
}

func noun(shape string, n int) string {
	switch {
	case n == 1:
		return shape
	case shape == "cross":
		return "crosses"
	}
	return shape + "s"
}

// Correct compares an answer with the reference as the suites' parsers
// would: case, surrounding space and a final period ignored.
func Correct(got, want string) bool {
	norm := func(s string) string {
		return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	}
	return norm(got) == norm(want)
}

// Words returns the distinct whitespace-separated words of many examples of
// every kind (the tokenizer's whole-word pieces), sorted by frequency.
func Words(seed uint64, n int) []string {
	counts := map[string]int{}
	markers := strings.NewReplacer("<|im_start|>", " ", "<|im_end|>", " ")
	add := func(text string) {
		for _, w := range strings.Fields(markers.Replace(text)) {
			counts[w]++
		}
	}
	for i := range n {
		e := MakeExample(seed, i)
		add(e.Question)
		add(e.Answer)
	}
	// The chat template's own words (system turn, roles).
	add(tokenizer.QwenChat([]tokenizer.Message{{Role: "user", Content: "x"}, {Role: "assistant", Content: "x"}}, tokenizer.QwenDefaultSystem, true))
	for _, list := range [][]string{world.Shapes, world.Colors, world.Textures, world.Positions, world.Numbers} {
		for _, w := range list {
			add(w)
			add(noun(w, 2))
		}
	}
	out := make([]string, 0, len(counts))
	for w := range counts {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if counts[out[i]] != counts[out[j]] {
			return counts[out[i]] > counts[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
