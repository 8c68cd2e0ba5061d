package seed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/world"
)

// DemoFirst is the world index of the first SEED-Bench demo image.
const DemoFirst = 6_000_000

func init() {
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, DemoFirst, n, 64)
	})
}

// demoQuestion is question q about scene s. Kinds cycle through the
// dimensions the world can ask: Instance Identity (2), Instance Attributes
// (4), Instances Counting (5), Instance Location (3). The right choice sits
// at letter (q + q/4) mod 4, so every dimension sees several letters.
func demoQuestion(s world.Scene, q int) (dim int, question string, choices [4]string, answer string) {
	others := func(list []string, v string) []string {
		var out []string
		for i := range list {
			if list[i] == v {
				for k := 1; k < 4; k++ {
					out = append(out, list[(i+k)%len(list)])
				}
			}
		}
		return out
	}
	var right string
	var wrong []string
	switch q % 4 {
	case 0:
		dim, question = 2, "What kind of object is shown in the image?"
		right, wrong = s.Shape, others(world.Shapes, s.Shape)
	case 1:
		dim, question = 4, fmt.Sprintf("What is the color of the %s in the image?", s.Shape)
		right, wrong = s.Color, others(world.Colors, s.Color)
	case 2:
		dim, question = 5, fmt.Sprintf("How many objects of shape %s are in the image?", s.Shape)
		right, wrong = strconv.Itoa(s.Count), others([]string{"1", "2", "3", "4"}, strconv.Itoa(s.Count))
	default:
		dim, question = 3, fmt.Sprintf("Where is the %s located in the image?", s.Shape)
		var places []string
		for _, p := range world.Positions {
			places = append(places, "at the "+p)
		}
		places = append(places, "spread across the image")
		right = s.Where()
		wrong = others(places, right)
	}
	at := (q + q/4) % 4
	list := append(append(append([]string(nil), wrong[:at]...), right), wrong[at:]...)
	copy(choices[:], list)
	return dim, question, choices, string(rune('A' + at))
}

// WriteDemo writes n image questions about world scenes [first, first+n) in
// SEED-Bench's layout (SEED-Bench.json, SEED-Bench-image/<data_id>), plus one
// video question that the image part must skip.
func WriteDemo(dir string, seed uint64, first, n, size int) error {
	imgDir := filepath.Join(dir, "SEED-Bench-image")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	var qs []map[string]any
	for q := 0; q < n; q++ {
		s := world.Generate(seed, first+q)
		dataID := fmt.Sprintf("%08d.jpg", first+q)
		if err := imageio.SaveJPEG(filepath.Join(imgDir, dataID), s.Image(size), 95); err != nil {
			return err
		}
		dim, text, c, answer := demoQuestion(s, q)
		qs = append(qs, map[string]any{"answer": answer, "choice_a": c[0], "choice_b": c[1], "choice_c": c[2], "choice_d": c[3],
			"data_id": dataID, "data_type": "image", "question": text, "question_id": strconv.Itoa(q + 1), "question_type_id": dim})
	}
	qs = append(qs, map[string]any{"answer": "A", "choice_a": "waving", "choice_b": "running", "choice_c": "sitting", "choice_d": "jumping",
		"data_id": "video/0001.mp4", "data_type": "video", "question": "What is the person doing?", "question_id": "v1",
		"question_type_id": 10, "segment": []float64{0, 1}})
	types := map[string]int{}
	for id, name := range metrics.SEEDImageDimensions {
		types[name] = id
	}
	types["Action Recognition"], types["Action Prediction"], types["Procedure Understanding"] = 10, 11, 12
	b, err := json.Marshal(map[string]any{"questions": qs, "question_type": types})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, FileName), b, 0o644)
}
