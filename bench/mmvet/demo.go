package mmvet

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

// DemoFirst is the world index of the first MM-Vet demo image.
const DemoFirst = 7_000_000

func init() {
	// n/4 questions (open answers run long). The demo grades with a judge
	// when one is configured, else offline with the substring stand-in.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		opts := bench.Options{Data: dir, Extra: map[string]string{"grader": GraderSubstring}}
		if os.Getenv(metrics.JudgeEnvURL) != "" {
			opts.Extra["grader"] = GraderLLM
		}
		return opts, WriteDemo(dir, seed, DemoFirst, max(2, n/4), 64)
	})
}

// demoItem is open question q about scene s, MM-Vet style: ground truths use
// <OR> for accepted alternatives and <AND> for required parts.
func demoItem(s world.Scene, q int) (question, answer string, caps []string) {
	switch q % 4 {
	case 0:
		return "How many shapes are there in the image?", strconv.Itoa(s.Count) + "<OR>" + world.Numbers[s.Count], []string{"rec", "math"}
	case 1:
		return "What color are the shapes in this image?", s.Color, []string{"rec"}
	case 2:
		return "Describe the objects in the image: what color and what shape are they?", s.Color + "<AND>" + s.Shape, []string{"rec", "gen"}
	}
	alt := s.Texture
	if alt == "plain" {
		alt += "<OR>solid"
	}
	return "What pattern fills the shapes?", alt, []string{"rec", "know"}
}

// WriteDemo writes n questions about world scenes [first, first+n) in
// MM-Vet's layout: mm-vet.json and images/v1_<k>.png.
func WriteDemo(dir string, seed uint64, first, n, size int) error {
	imgDir := filepath.Join(dir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	// json.Marshal sorts map keys; MM-Vet's order is v1_0, v1_1, ... (the
	// aggregation names capability sets in first-seen order), so write the
	// object by hand.
	buf := []byte("{")
	for q := 0; q < n; q++ {
		s := world.Generate(seed, first+q)
		id := fmt.Sprintf("v1_%d", q)
		if err := imageio.SavePNG(filepath.Join(imgDir, id+".png"), s.Image(size)); err != nil {
			return err
		}
		question, answer, caps := demoItem(s, q)
		key, _ := json.Marshal(id)
		val, err := json.Marshal(map[string]any{"imagename": id + ".png", "capability": caps, "question": question, "answer": answer})
		if err != nil {
			return err
		}
		if q > 0 {
			buf = append(buf, ',')
		}
		buf = append(append(append(append(buf, "\n  "...), key...), ": "...), val...)
	}
	buf = append(buf, "\n}\n"...)
	return os.WriteFile(filepath.Join(dir, FileName), buf, 0o644)
}
