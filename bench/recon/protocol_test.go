package recon

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

// TestJPEGRoundTripMatchesLibjpeg: the q95 round trip before rFID must give
// the pixels of the file cv2.imwrite(..., [IMWRITE_JPEG_QUALITY, 95]) writes
// (libjpeg-turbo defaults: baseline, 4:2:0, islow DCT; PIL at quality 95
// writes the same bytes) decoded as clean-fid reads it (PIL, libjpeg-turbo).
// The reference is PIL's own q95 file of the same PNG (imageio/testdata, not
// made by this project); Go's image/jpeg encoder misses it.
func TestJPEGRoundTripMatchesLibjpeg(t *testing.T) {
	td := filepath.Join("..", "..", "imageio", "testdata")
	src, err := imageio.Load(filepath.Join(td, "seed_24x21.png"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join(td, "seed_24x21_q95_pil.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := imageio.DecodeBytes(ref, "seed_24x21_q95_pil.jpg")
	if err != nil {
		t.Fatal(err)
	}
	got, err := jpegRoundTrip(src)
	if err != nil {
		t.Fatal(err)
	}
	if got.W != want.W || got.H != want.H {
		t.Fatalf("round trip is %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
	}
	diff, maxd := 0, 0
	for i := range want.Pix {
		d := int(got.Pix[i]) - int(want.Pix[i])
		if d != 0 {
			diff++
			maxd = max(maxd, d, -d)
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d values differ from libjpeg-turbo's q95 round trip (max %d levels)", diff, len(want.Pix), maxd)
	}
}

// TestPSNRIsPyiqas: DualToken's PSNR is pyiqa's psnr — per image on RGB in
// [0,1], 10·log10(1/(MSE+1e-8)), averaged — so a set with one exact
// reconstruction has a finite mean (an exact image scores 80 dB).
func TestPSNRIsPyiqas(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 1, 4, 40); err != nil {
		t.Fatal(err)
	}
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Items 0 and 2 exact, 1 and 3 one level off everywhere (MSE 1/255²).
	res, err := bench.Run(context.Background(), task, everyOther{plusOne{k: 16}}, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	off := 10 * math.Log10(1/(1.0/(255*255)+1e-8))
	want := (80 + off) / 2
	if got := res.Metrics["psnr"]; math.IsInf(got, 0) || math.Abs(got-want) > 1e-9 {
		t.Errorf("psnr %v, want pyiqa's mean %v (exact images 80 dB, the others %v)", got, want, off)
	}
	if p, _ := res.Protocol["psnr"].(string); p != psnrProtocol {
		t.Errorf("protocol psnr %q, want %q", p, psnrProtocol)
	}
}

// everyOther reconstructs even-numbered images of a batch exactly and adds
// one grey level to the others.
type everyOther struct{ plusOne }

func (e everyOther) Reconstruct(ctx context.Context, imgs []*imageio.Image) ([]bench.Reconstruction, error) {
	out, err := e.plusOne.Reconstruct(ctx, imgs)
	for i := 0; i < len(out); i += 2 {
		out[i].Image = imgs[i].Clone()
	}
	return out, err
}

// TestPSNRPyiqaSizeMismatch: a reconstruction of another size is an error
// giving both sizes, not a PSNR over part of the image.
func TestPSNRPyiqaSizeMismatch(t *testing.T) {
	_, err := psnrPyiqa(make([]uint8, 12), make([]uint8, 27), 2, 2, 3)
	if err == nil || !strings.Contains(err.Error(), "12 and 27 values, want 2×2×3") {
		t.Errorf("got %v", err)
	}
}
