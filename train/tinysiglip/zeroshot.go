package tinysiglip

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/imagenet"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// EvalSeed is the world seed of the held-out scenes. It is `evalrun demo`'s
// default seed, so the accuracy reported after training is what the demo's
// ImageNet-style suite measures on its first items; training refuses it.
const EvalSeed = 2026

// ZeroShotResult is a held-out zero-shot measurement.
type ZeroShotResult struct {
	Top1      float64 `json:"top1"`    // percent correct
	Correct   int     `json:"correct"` // images classified correctly
	N         int     `json:"n"`       // images
	Chance    float64 `json:"chance"`  // percent, 100 / classes
	Seed      uint64  `json:"world_seed"`
	Templates string  `json:"templates"`
}

func (r ZeroShotResult) String() string {
	return fmt.Sprintf("zero-shot top-1 %.1f%% (%d/%d held-out scenes, world seed %d, %s templates; chance %.1f%%)",
		r.Top1, r.Correct, r.N, r.Seed, r.Templates, r.Chance)
}

// HeldOutImages renders world scenes 0..n-1 of seed exactly as `evalrun demo`
// ships them to the ImageNet-style suite: 64 px, JPEG quality 95, decoded by
// imageio. It returns the images and their class indices.
func HeldOutImages(seed uint64, n int) ([]*imageio.Image, []int, error) {
	imgs := make([]*imageio.Image, n)
	labels := make([]int, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		s := world.Generate(seed, i)
		labels[i] = s.Class
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, s.Image(imagenet.DemoImageSize).ToNRGBA(), &jpeg.Options{Quality: 95}); err != nil {
			errs[i] = err
			return
		}
		imgs[i], errs[i] = imageio.DecodeBytes(buf.Bytes(), fmt.Sprintf("scene%d.jpg", i))
	})
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return imgs, labels, nil
}

// ZeroShot classifies n held-out scenes of world seed `seed` among the
// world's shape×colour classes with e: class embeddings from the 80 OpenAI
// templates filled with world.ClassName (imagenet.ClassEmbeddings: normalise,
// average, renormalise), top-1 by cosine, ties to the lowest class — the
// harness's ImageNet zero-shot protocol.
func ZeroShot(ctx context.Context, e bench.Embedder, seed uint64, n int) (ZeroShotResult, error) {
	const tplSet = "openai80"
	res := ZeroShotResult{N: n, Seed: seed, Templates: tplSet, Chance: 100 / float64(world.NumClasses())}
	if n < 1 {
		return res, fmt.Errorf("tinysiglip: zero-shot needs at least one image, got n=%d", n)
	}
	tpls, err := imagenet.Templates(tplSet)
	if err != nil {
		return res, err
	}
	names := make([]string, world.NumClasses())
	for c := range names {
		names[c] = world.ClassName(c)
	}
	classEmb, d, err := imagenet.ClassEmbeddings(ctx, e, names, tpls)
	if err != nil {
		return res, err
	}
	imgs, labels, err := HeldOutImages(seed, n)
	if err != nil {
		return res, err
	}
	embs, err := e.EmbedImages(ctx, imgs)
	if err != nil {
		return res, err
	}
	for i, v := range embs {
		if len(v) != d {
			return res, fmt.Errorf("tinysiglip: image embedding of size %d, class embeddings of size %d", len(v), d)
		}
		best, bestScore := 0, float32(0)
		for c := range names {
			var dot float32
			for k, x := range v {
				dot += x * classEmb[c*d+k]
			}
			if c == 0 || dot > bestScore {
				best, bestScore = c, dot
			}
		}
		if best == labels[i] {
			res.Correct++
		}
	}
	res.Top1 = 100 * float64(res.Correct) / float64(n)
	return res, nil
}
