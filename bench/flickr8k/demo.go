package flickr8k

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

func init() {
	// Flickr-style images come from another part of the world than the
	// ImageNet-style ones (index offset), as the real sets are disjoint.
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, 1_000_000, n, 64)
	})
}

// WriteDemo writes world scenes [first, first+n) in the Flickr8K layout:
// five captions each, all listed as the test split, and the same captions in
// CLIP_benchmark's flickr8k_test_karpathy.txt layout ("image,caption" header,
// then one "<image>.jpg,<caption>" line per caption).
func WriteDemo(dir string, seed uint64, first, n, size int) error {
	imgDir := filepath.Join(dir, "Flicker8k_Dataset")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	var tok, test, karpathy strings.Builder
	karpathy.WriteString("image,caption\n")
	for i := first; i < first+n; i++ {
		s := world.Generate(seed, i)
		name := fmt.Sprintf("%08d_world.jpg", i)
		if err := imageio.SaveJPEG(filepath.Join(imgDir, name), s.Image(size), 95); err != nil {
			return err
		}
		for k, c := range s.Captions() {
			fmt.Fprintf(&tok, "%s#%d\t%s .\n", name, k, c)
			fmt.Fprintf(&karpathy, "%s,%s .\n", name, c)
		}
		fmt.Fprintln(&test, name)
	}
	for name, body := range map[string]string{
		"Flickr8k.token.txt": tok.String(), "Flickr_8k.testImages.txt": test.String(),
		"Flickr_8k.trainImages.txt": "", "Flickr_8k.devImages.txt": "",
		"flickr8k_test_karpathy.txt": karpathy.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
