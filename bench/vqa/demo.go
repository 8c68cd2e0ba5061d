package vqa

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// DemoFirst is the world index of the first VQAv2 demo image.
const DemoFirst = 2_000_000

func init() {
	// n questions: three per image.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, DemoFirst, max(1, n/3), 64)
	})
}

// Kinds of demo questions, in the order each image asks them.
const (
	kindCount = iota // "How many circles are there?"   answer_type number
	kindColor        // "What color is the circle?"     answer_type other
	kindYesNo        // "Is there a circle in the image?" answer_type yes/no
	numKinds
)

// DemoQuestion returns the question, question_type, answer_type and the ten
// answers that demo image k (scene s) gets for kind. The answers vary the way
// VQA's do, so both scorer paths run: all ten identical (compared after strip
// only) and mixed (normalised: case, articles, number words), with one
// dissenting answer that the leave-one-out average absorbs.
func DemoQuestion(s world.Scene, k, kind int) (q, qtype, atype string, answers []string) {
	rep := func(a string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = a
		}
		return out
	}
	noun := s.Shape
	if s.Count > 1 {
		noun = pluralShape(s.Shape)
	}
	switch kind {
	case kindCount:
		d := strconv.Itoa(s.Count)
		answers = rep(d, 10)
		if k%2 == 1 {
			answers = append(append(rep(d, 8), world.Numbers[s.Count]), strconv.Itoa(s.Count+1))
		}
		return fmt.Sprintf("How many %s are there?", pluralShape(s.Shape)), "how many", "number", answers
	case kindColor:
		answers = rep(s.Color, 10)
		if k%2 == 1 {
			answers = append(append(rep(s.Color, 7), "the "+s.Color, "The "+s.Color), "dark "+s.Color)
		}
		verb := "is"
		if s.Count > 1 {
			verb = "are"
		}
		return fmt.Sprintf("What color %s the %s?", verb, noun), "what color " + verb + " the", "other", answers
	default:
		shape := s.Shape
		if k%2 == 1 { // ask about a shape that is not there
			for _, sh := range world.Shapes {
				if sh != s.Shape {
					shape = sh
					break
				}
			}
			return fmt.Sprintf("Is there a %s in the image?", shape), "is there a", "yes/no", rep("no", 10)
		}
		return fmt.Sprintf("Is there a %s in the image?", shape), "is there a", "yes/no", append(rep("yes", 9), "Yes")
	}
}

func pluralShape(s string) string {
	if s == "cross" {
		return "crosses"
	}
	return s + "s"
}

// WriteDemo writes world scenes [first, first+nImages) in VQAv2's val2014
// layout, three questions per image (count, colour, yes/no).
func WriteDemo(dir string, seed uint64, first, nImages, size int) error {
	imgDir := filepath.Join(dir, "val2014")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	type ans struct {
		Answer     string `json:"answer"`
		Confidence string `json:"answer_confidence"`
		ID         int    `json:"answer_id"`
	}
	var qs, anns []map[string]any
	for k := 0; k < nImages; k++ {
		id := first + k
		s := world.Generate(seed, id)
		if err := imageio.SaveJPEG(filepath.Join(imgDir, fmt.Sprintf("COCO_val2014_%012d.jpg", id)), s.Image(size), 95); err != nil {
			return err
		}
		for kind := 0; kind < numKinds; kind++ {
			q, qtype, atype, answers := DemoQuestion(s, k, kind)
			qid := int64(id)*10 + int64(kind)
			qs = append(qs, map[string]any{"image_id": id, "question": q, "question_id": qid})
			list := make([]ans, len(answers))
			for i, a := range answers {
				list[i] = ans{a, "yes", i + 1}
			}
			anns = append(anns, map[string]any{"question_id": qid, "image_id": id, "question_type": qtype,
				"answer_type": atype, "multiple_choice_answer": answers[0], "answers": list})
		}
	}
	info := map[string]any{"description": "procedural world demo in the VQAv2 layout", "version": "2.0"}
	for name, doc := range map[string]any{
		QuestionsFile("val2014"): map[string]any{"info": info, "task_type": "Open-Ended", "data_type": "mscoco",
			"data_subtype": "val2014", "license": map[string]any{}, "questions": qs},
		AnnotationsFile("val2014"): map[string]any{"info": info, "data_type": "mscoco", "data_subtype": "val2014",
			"license": map[string]any{}, "annotations": anns},
	} {
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
