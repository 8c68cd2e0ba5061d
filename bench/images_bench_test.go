package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// BenchmarkLoadPreprocess measures the runner's input side alone: parallel
// JPEG decoding (500×375, like ImageNet val) plus the SigLIP preprocessing to
// 384×384, in batches of 32 on all cores. Report images/s = 32 / (ns/op).
func BenchmarkLoadPreprocess(b *testing.B) {
	dir := b.TempDir()
	var items []Item
	for i := 0; i < 32; i++ {
		s := world.Generate(9, i)
		img := imageio.Resize(s.Image(375), 375, 500, imageio.Bicubic)
		p := filepath.Join(dir, fmt.Sprintf("%02d.jpg", i))
		if err := imageio.SaveJPEG(p, img, 90); err != nil {
			b.Fatal(err)
		}
		items = append(items, Item{ID: p, Payload: p})
	}
	out := make([][]float32, len(items))
	b.ResetTimer()
	for range b.N {
		imgs, errs := LoadImages(items, func(it Item) string { return it.Payload.(string) })
		ParallelFor(len(imgs), func(i int) {
			if errs[i] != nil {
				panic(errs[i])
			}
			out[i] = imageio.SiglipPixels(imgs[i], 384)
		})
	}
	b.ReportMetric(float64(32*b.N)/b.Elapsed().Seconds(), "images/s")
	_ = os.Remove(dir)
}
