package bench

import (
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

func TestPrefetchedImagesAreUsedOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	want := world.Generate(1, 0).Image(16)
	if err := imageio.SavePNG(p, want); err != nil {
		t.Fatal(err)
	}
	prefetchImages([]string{p, filepath.Join(dir, "missing.png")})
	imgs, errs := LoadImages([]Item{{ID: "a", Payload: p}, {ID: "m", Payload: filepath.Join(dir, "missing.png")}}, func(it Item) string { return it.Payload.(string) })
	if errs[0] != nil || string(imgs[0].Pix) != string(want.Pix) {
		t.Fatalf("prefetched image: %v", errs[0])
	}
	if errs[1] == nil {
		t.Errorf("a prefetched decode error must reach the item")
	}
	prefetchMu.Lock()
	left := len(prefetch)
	prefetchMu.Unlock()
	if left != 0 {
		t.Errorf("%d prefetched entries left after use", left)
	}
}
