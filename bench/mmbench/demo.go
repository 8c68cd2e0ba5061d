package mmbench

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/world"
)

// DemoFirst is the world index of the first MMBench demo image.
const DemoFirst = 5_000_000

// DemoFile is the demo TSV's name (VLMEvalKit's dev file).
const DemoFile = "MMBench_DEV_EN.tsv"

// Columns are the TSV columns, in the released files' order.
var Columns = []string{"index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "l2-category", "comment", "split"}

func init() {
	// n items: n/4 questions, each asked in 3 or 4 circular passes.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, DemoFirst, max(1, n/4), 64, true)
	})
}

// demoRow is question q about scene s: kind q%3 asks the shape (4 options,
// a hint, coarse perception), the colour (4 options, fine-grained
// single-instance perception) or the texture (3 options, so C is the last
// and D is empty). The right option sits at letter q mod k, so the answers
// are spread over the letters.
func demoRow(s world.Scene, q int) metrics.MMBenchRow {
	r := metrics.MMBenchRow{Index: int64(q), Split: "dev"}
	var answer string
	var others []string
	pick := func(list []string, v string, n int) []string { // n-1 others after v, cyclically
		var out []string
		for i := range list {
			if list[i] == v {
				for k := 1; k < n; k++ {
					out = append(out, list[(i+k)%len(list)])
				}
			}
		}
		return out
	}
	switch q % 3 {
	case 0:
		r.Question, r.Hint = "What shape are the objects in the image?", "The image shows simple geometric shapes."
		r.Category, r.L2Category = "image_topic", "coarse_perception"
		answer, others = s.Shape, pick(world.Shapes, s.Shape, 4)
	case 1:
		r.Question = "What color are the shapes?"
		r.Category, r.L2Category = "attribute_recognition", "finegrained_perception (instance-level)"
		answer, others = s.Color, pick(world.Colors, s.Color, 4)
	default:
		r.Question = "What texture do the shapes have?"
		r.Category, r.L2Category = "image_style", "coarse_perception"
		answer, others = s.Texture, pick(world.Textures, s.Texture, 3)
	}
	k := len(others) + 1
	at := q % k
	opts := append(append(append([]string(nil), others[:at]...), answer), others[at:]...)
	for j, o := range opts {
		r.Choices = append(r.Choices, metrics.MMBenchChoice{Letter: string(rune('A' + j)), Text: o})
	}
	r.Answer = string(rune('A' + at))
	return r
}

// WriteDemo writes nq questions about world scenes [first, first+nq) as an
// MMBench dev TSV (DemoFile) with base64 JPEG images. withPasses also writes
// the circular passes as VLMEvalKit's files hold them: index + i·1e6, options
// rotated, the image cell naming the main row's index.
func WriteDemo(dir string, seed uint64, first, nq, size int, withPasses bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(strings.Join(Columns, "\t") + "\n")
	var main []metrics.MMBenchRow
	images := map[int64]string{}
	for q := 0; q < nq; q++ {
		s := world.Generate(seed, first+q)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, s.Image(size).ToNRGBA(), &jpeg.Options{Quality: 95}); err != nil {
			return err
		}
		r := demoRow(s, q)
		main = append(main, r)
		images[r.Index] = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	rows := main
	if withPasses {
		rows = metrics.MMBenchCircularize(main)
	}
	for _, r := range rows {
		img, ok := images[r.Index]
		if !ok {
			img = strconv.FormatInt(r.Group(), 10)
		}
		cell := map[string]string{"index": strconv.FormatInt(r.Index, 10), "question": r.Question, "hint": r.Hint,
			"answer": r.Answer, "category": r.Category, "image": img, "source": "world", "l2-category": r.L2Category, "split": r.Split}
		for _, c := range r.Choices {
			cell[c.Letter] = c.Text
		}
		vals := make([]string, len(Columns))
		for i, c := range Columns {
			vals[i] = cell[c]
		}
		b.WriteString(strings.Join(vals, "\t") + "\n")
	}
	return os.WriteFile(filepath.Join(dir, DemoFile), []byte(b.String()), 0o644)
}
