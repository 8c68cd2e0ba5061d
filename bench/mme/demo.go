package mme

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// DemoFirst is the world index of the first MME demo image.
const DemoFirst = 4_000_000

// DemoSubtasks are the subtasks the demo writes: four with image and .txt
// side by side, and artwork in the images/ + questions_answers_YN/ layout.
var DemoSubtasks = []string{"existence", "count", "position", "color", "artwork"}

func init() {
	// n questions: two per image, n/10 images in each of five subtasks.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir, Extra: map[string]string{"subtasks": strings.Join(DemoSubtasks, ",")}},
			WriteDemo(dir, seed, DemoFirst, max(1, n/10), 64)
	})
}

// demoPair is the yes and the no question MME asks about scene s in subtask
// (position uses single-object scenes only; ok=false skips s).
func demoPair(s world.Scene, subtask string) (yes, no string, ok bool) {
	other := func(list []string, v string) string {
		for i, x := range list {
			if x == v {
				return list[(i+1)%len(list)]
			}
		}
		return list[0]
	}
	noun := func(shape string, n int) string {
		if n == 1 {
			return shape
		}
		if shape == "cross" {
			return "crosses"
		}
		return shape + "s"
	}
	switch subtask {
	case "existence":
		f := "Is there a %s in this image?"
		yes, no = fmt.Sprintf(f, s.Shape), fmt.Sprintf(f, other(world.Shapes, s.Shape))
	case "count":
		f := "Is there a total of %s %s in the image?"
		wrong := s.Count%3 + 1
		yes, no = fmt.Sprintf(f, world.Numbers[s.Count], noun(s.Shape, s.Count)), fmt.Sprintf(f, world.Numbers[wrong], noun(s.Shape, wrong))
	case "position":
		if s.Count != 1 {
			return "", "", false
		}
		f := "Is the %s at the %s of the image?"
		pos := world.Positions[s.Objects[0].Cell]
		yes, no = fmt.Sprintf(f, s.Shape, pos), fmt.Sprintf(f, s.Shape, other(world.Positions, pos))
	case "color":
		f := "Is there a %s %s in the image?"
		yes, no = fmt.Sprintf(f, s.Color, s.Shape), fmt.Sprintf(f, other(world.Colors, s.Color), s.Shape)
	case "artwork":
		f := "Is this artwork made of %s shapes?"
		yes, no = fmt.Sprintf(f, s.Texture), fmt.Sprintf(f, other(world.Textures, s.Texture))
	default:
		panic("mme demo: no questions for " + subtask)
	}
	return yes + YesNoSuffix, no + YesNoSuffix, true
}

// WriteDemo writes perImage images per demo subtask under
// MME_Benchmark_release_version/, each with its Yes and No question.
func WriteDemo(dir string, seed uint64, first, perImage, size int) error {
	for si, sub := range DemoSubtasks {
		imgDir, qaDir, ext := filepath.Join(dir, RootName, sub), filepath.Join(dir, RootName, sub), ".png"
		if sub == "artwork" {
			imgDir, qaDir, ext = filepath.Join(imgDir, "images"), filepath.Join(qaDir, "questions_answers_YN"), ".jpg"
		}
		for _, d := range []string{imgDir, qaDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		for k, idx := 0, first+si*100_000; k < perImage; idx++ {
			s := world.Generate(seed, idx)
			yes, no, ok := demoPair(s, sub)
			if !ok {
				continue
			}
			stem := fmt.Sprintf("%08d", idx)
			var err error
			if ext == ".png" {
				err = imageio.SavePNG(filepath.Join(imgDir, stem+ext), s.Image(size))
			} else {
				err = imageio.SaveJPEG(filepath.Join(imgDir, stem+ext), s.Image(size), 95)
			}
			if err != nil {
				return err
			}
			body := yes + "\tYes\n" + no + "\tNo\n"
			if err := os.WriteFile(filepath.Join(qaDir, stem+".txt"), []byte(body), 0o644); err != nil {
				return err
			}
			k++
		}
	}
	return nil
}
