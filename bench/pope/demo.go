package pope

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// DemoFirst is the world index of the first POPE demo image (each suite
// draws from its own part of the world, as the real sets are disjoint).
const DemoFirst = 3_000_000

func init() {
	// n questions in all: n/6 images, two questions each in three splits.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, DemoFirst, max(1, n/6), 64)
	})
}

// WriteDemo writes world scenes [first, first+nImages) in POPE's layout:
// val2014/COCO_val2014_<id>.jpg and coco_pope_<split>.json with, per image
// and split, a "yes" question about the scene's object and a "no" question
// about an absent one, sampled as the split says: random (any other
// colour–shape pair), popular (the most frequent other object in the set),
// adversarial (the most frequent object of the same shape in another colour,
// the closest confusion the world has).
func WriteDemo(dir string, seed uint64, first, nImages, size int) error {
	imgDir := filepath.Join(dir, "val2014")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	scenes := make([]world.Scene, nImages)
	freq := make([]int, world.NumClasses())
	for k := range scenes {
		scenes[k] = world.Generate(seed, first+k)
		freq[scenes[k].Class]++
		if err := imageio.SaveJPEG(filepath.Join(imgDir, ImageName(first+k)), scenes[k].Image(size), 95); err != nil {
			return err
		}
	}
	// most returns the most frequent class other than c that ok accepts
	// (ties: lowest index).
	most := func(c int, ok func(int) bool) int {
		best := -1
		for k := range freq {
			if k != c && ok(k) && (best < 0 || freq[k] > freq[best]) {
				best = k
			}
		}
		return best
	}
	nColors := len(world.Colors)
	for si, split := range Splits {
		rng := rand.New(rand.NewPCG(seed, uint64(si)+17))
		f, err := os.Create(filepath.Join(dir, "coco_pope_"+split+".json"))
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		qid := 1
		for k, s := range scenes {
			var neg int
			switch split {
			case "random":
				neg = (s.Class + 1 + rng.IntN(world.NumClasses()-1)) % world.NumClasses()
			case "popular":
				neg = most(s.Class, func(int) bool { return true })
			case "adversarial":
				neg = most(s.Class, func(c int) bool { return c/nColors == s.Class/nColors })
			}
			for _, q := range []struct {
				class int
				label string
			}{{s.Class, "yes"}, {neg, "no"}} {
				col, shape := world.Colors[q.class%nColors], world.Shapes[q.class/nColors]
				if err := enc.Encode(map[string]any{"question_id": qid, "image": ImageName(first + k),
					"text": world.ObjectQuestion(col, shape), "label": q.label}); err != nil {
					f.Close()
					return err
				}
				qid++
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// ImageName is the COCO val2014 file name of image id.
func ImageName(id int) string { return fmt.Sprintf("COCO_val2014_%012d.jpg", id) }
