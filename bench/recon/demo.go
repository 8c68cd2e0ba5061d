package recon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

func init() {
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir, Extra: map[string]string{"jpeg": "none"}}, WriteDemo(dir, seed, n, 64)
	})
}

// WriteDemo writes n world scenes as PNG files (lossless ground truth).
func WriteDemo(dir string, seed uint64, n, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		s := world.Generate(seed, 2_000_000+i)
		if err := imageio.SavePNG(filepath.Join(dir, fmt.Sprintf("%06d.png", i)), s.Image(size)); err != nil {
			return err
		}
	}
	return nil
}
