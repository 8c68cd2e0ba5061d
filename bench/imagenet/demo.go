package imagenet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

func init() {
	bench.RegisterDemo(Name, func(dir string, seed uint64, n int) (bench.Options, error) {
		return bench.Options{Data: dir}, WriteDemo(dir, seed, n, DemoImageSize)
	})
}

// DemoImageSize is the side of generated demo images.
const DemoImageSize = 64

// WriteDemo writes n world scenes in ImageNet's flat val layout under dir:
// val/ILSVRC2012_val_NNNNNNNN.JPEG (JPEG q95), the ground-truth file of
// ILSVRC IDs, synsets.txt (ID -> WNID, deliberately not in sorted-WNID order,
// as meta.mat is not) and classnames.txt (sorted-WNID order).
func WriteDemo(dir string, seed uint64, n, size int) error {
	if err := os.MkdirAll(filepath.Join(dir, "val"), 0o755); err != nil {
		return err
	}
	k := world.NumClasses()
	// ID order: a fixed permutation of the classes.
	perm := rand.New(rand.NewPCG(seed, 99)).Perm(k)
	idOf := make([]int, k) // class -> ILSVRC ID (1-based)
	var syn, names strings.Builder
	for id, c := range perm {
		idOf[c] = id + 1
		fmt.Fprintf(&syn, "%s %s\n", world.WNID(c), world.ClassName(c))
	}
	for c := 0; c < k; c++ { // WNIDs sort in class order by construction
		fmt.Fprintln(&names, world.ClassName(c))
	}
	var gt strings.Builder
	for i := 0; i < n; i++ {
		s := world.Generate(seed, i)
		p := filepath.Join(dir, "val", fmt.Sprintf("ILSVRC2012_val_%08d.JPEG", i+1))
		if err := imageio.SaveJPEG(p, s.Image(size), 95); err != nil {
			return err
		}
		fmt.Fprintln(&gt, idOf[s.Class])
	}
	for name, body := range map[string]string{
		"synsets.txt": syn.String(), "classnames.txt": names.String(),
		"ILSVRC2012_validation_ground_truth.txt": gt.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
