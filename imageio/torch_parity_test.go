package imageio

import (
	"math"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

func getF32(t *testing.T, g *weights.SafetensorsFile, name string) ([]float32, []int) {
	t.Helper()
	ten, err := g.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ten.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, ten.Shape
}

// allClose checks |got−want| ≤ atol + rtol·|want| and returns the max |Δ|.
func allClose(t *testing.T, what string, got, want []float32, atol, rtol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	maxd, bad := 0.0, 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		maxd = math.Max(maxd, d)
		if !(d <= atol+rtol*math.Abs(float64(want[i]))) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values outside atol %g rtol %g (max |Δ| %g)", what, bad, len(got), atol, rtol, maxd)
	}
	return maxd
}

// TestParityTorchBilinear checks TorchBilinear against torch's
// F.interpolate(bilinear, align_corners=False) in two fixtures: pytorch-fid's
// resize of x/255 (fid_inception/resized_299) and DualToken's latent resize
// (dualtoken_parts: postquant_pix as [B,C,G,G] → latent_resized).
func TestParityTorchBilinear(t *testing.T) {
	dir := fixtures.Dir(t, "fid_inception")
	g := openGolden(t, dir)
	ten, err := g.Get("images_uint8")
	if err != nil {
		t.Fatal(err)
	}
	if err := ten.ExpectShape(-1, -1, -1, 3); err != nil {
		t.Fatal(err)
	}
	imgs, _ := ten.Uint8()
	n, h, w := ten.Shape[0], ten.Shape[1], ten.Shape[2]
	want, shape := getF32(t, g, "resized_299")
	if len(shape) != 4 || shape[0] != n || shape[1] != 3 {
		t.Fatalf("resized_299 shape %v, want [%d,3,H,W]", shape, n)
	}
	oh, ow := shape[2], shape[3]
	var got []float32
	for b := 0; b < n; b++ {
		chw := make([]float32, 3*h*w)
		for i := 0; i < h*w; i++ {
			for c := 0; c < 3; c++ {
				chw[c*h*w+i] = float32(imgs[(b*h*w+i)*3+c]) / 255
			}
		}
		got = append(got, TorchBilinear(chw, 3, h, w, oh, ow)...)
	}
	d := allClose(t, "fid_inception/resized_299", got, want, 1e-4, 1e-4)
	t.Logf("pytorch-fid resize %dx%d→%dx%d: max |Δ| %.3g", h, w, oh, ow, d)

	dir = fixtures.Dir(t, "dualtoken_parts")
	g = openGolden(t, dir)
	pq, pshape := getF32(t, g, "postquant_pix")
	want, shape = getF32(t, g, "latent_resized")
	if len(pshape) != 3 || len(shape) != 4 {
		t.Fatalf("postquant_pix %v / latent_resized %v: unexpected ranks", pshape, shape)
	}
	bsz, l, c := pshape[0], pshape[1], pshape[2]
	gs := int(math.Round(math.Sqrt(float64(l))))
	if gs*gs != l || shape[0] != bsz || shape[1] != c {
		t.Fatalf("postquant_pix %v does not match latent_resized %v", pshape, shape)
	}
	got = got[:0]
	for b := 0; b < bsz; b++ {
		chw := make([]float32, c*l)
		for p := 0; p < l; p++ {
			for ch := 0; ch < c; ch++ {
				chw[ch*l+p] = pq[(b*l+p)*c+ch]
			}
		}
		got = append(got, TorchBilinear(chw, c, gs, gs, shape[2], shape[3])...)
	}
	d = allClose(t, "dualtoken_parts/latent_resized", got, want, 1e-4, 1e-4)
	t.Logf("latent resize %dx%d→%dx%d over %d channels: max |Δ| %.3g", gs, gs, shape[2], shape[3], c, d)
}

// TestParityCleanFIDResize checks ResizeFloatPlane (PIL mode "F" bicubic)
// against clean-fid's resize in fid_inception/cleanfid_resized_299 (each
// channel as float32, clipped to [0, 255] afterwards).
func TestParityCleanFIDResize(t *testing.T) {
	dir := fixtures.Dir(t, "fid_inception")
	g := openGolden(t, dir)
	ten, err := g.Get("images_uint8")
	if err != nil {
		t.Fatal(err)
	}
	imgs, _ := ten.Uint8()
	n, h, w := ten.Shape[0], ten.Shape[1], ten.Shape[2]
	want, shape := getF32(t, g, "cleanfid_resized_299")
	if len(shape) != 4 || shape[0] != n || shape[1] != 3 {
		t.Fatalf("cleanfid_resized_299 shape %v, want [%d,3,H,W]", shape, n)
	}
	oh, ow := shape[2], shape[3]
	var got []float32
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			p := make([]float32, h*w)
			for i := range p {
				p[i] = float32(imgs[(b*h*w+i)*3+c])
			}
			r := ResizeFloatPlane(p, h, w, oh, ow, Bicubic)
			for i, v := range r {
				r[i] = min(max(v, 0), 255)
			}
			got = append(got, r...)
		}
	}
	d := allClose(t, "fid_inception/cleanfid_resized_299", got, want, 1e-4, 1e-4)
	t.Logf("clean-fid resize %dx%d→%dx%d: max |Δ| %.3g", h, w, oh, ow, d)
	if d != 0 {
		t.Logf("note: not bit-exact (max |Δ| %g)", d)
	}
}
