package models

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/world"
)

// shippedMinPSNR is a floor under the shipped tokenizer's reconstruction
// PSNR on held-out world scenes at its 48 px input: it measured 18.41 dB on
// the 240 scenes of its Table-3 study and 19.18 dB on the 6 below; an
// untrained decoder gives about 7 dB.
const shippedMinPSNR = 15.0

// TestShippedTinyDualToken loads the shipped tiny-dualtoken through
// bench.NewModel, reconstructs held-out world scenes (uint8 images at the
// input size, codes of 4x4 positions x depth), checks the PSNR floor, and
// embeds images (quantised path) and texts into one normalised space.
func TestShippedTinyDualToken(t *testing.T) {
	if !assets.Has("tiny-dualtoken") {
		t.Fatal("assets/models/tiny-dualtoken is not shipped (evalrun ablation writes it as models/d)")
	}
	dir, err := assets.Extract("tiny-dualtoken", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bench.NewModel(bench.ModelSpec{Name: "tiny-dualtoken", Kind: "dualtoken", Path: dir}, b)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.(bench.Reconstructor)
	if !ok {
		t.Fatal("not a Reconstructor")
	}
	e, ok := m.(bench.Embedder)
	if !ok {
		t.Fatal("not an Embedder")
	}
	size := r.InputSize()
	var imgs []*imageio.Image
	for i := range 6 {
		imgs = append(imgs, world.Generate(2026, 2_000_000+i).Image(size))
	}
	recs, err := r.Reconstruct(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	psnr := 0.0
	for i, rec := range recs {
		if rec.Image.H != size || rec.Image.W != size || rec.Depth < 1 || len(rec.Codes)%rec.Depth != 0 {
			t.Fatalf("reconstruction %d: %dx%d, %d codes at depth %d", i, rec.Image.H, rec.Image.W, len(rec.Codes), rec.Depth)
		}
		for _, c := range rec.Codes {
			if c < 0 || int(c) >= r.CodebookSize() {
				t.Fatalf("code %d outside [0, %d)", c, r.CodebookSize())
			}
		}
		p, err := metrics.PSNRUint8(imgs[i].Pix, rec.Image.Pix, size, size, 3)
		if err != nil {
			t.Fatal(err)
		}
		psnr += p / float64(len(recs))
	}
	t.Logf("shipped tiny-dualtoken: PSNR %.2f dB on %d held-out scenes", psnr, len(recs))
	if psnr < shippedMinPSNR {
		t.Errorf("PSNR %.2f dB, below the floor %.1f", psnr, shippedMinPSNR)
	}
	iv, err := e.EmbedImages(context.Background(), imgs[:2])
	if err != nil {
		t.Fatal(err)
	}
	tv, err := e.EmbedTexts(context.Background(), []string{"a photo of a red circle.", "a blue square"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(iv, tv...) {
		n := 0.0
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if len(v) != len(iv[0]) || math.Abs(n-1) > 1e-4 {
			t.Fatalf("embedding of size %d and norm² %g, want %d and 1", len(v), n, len(iv[0]))
		}
	}
	if _, err := r.Reconstruct(context.Background(), []*imageio.Image{world.Generate(1, 0).Image(2 * size)}); err == nil || !strings.Contains(err.Error(), "the tokenizer takes") {
		t.Errorf("wrong-size image: error %v", err)
	}
}
