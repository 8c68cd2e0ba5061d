package imageio

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestRandomResizedCropParamsBounds: over many draws and image shapes, every
// accepted window lies inside the image, its area is within the scale range
// (up to the rounding of each side to an integer) and its aspect ratio
// within the ratio range (likewise), and the placement covers both ends of
// its range (randint bounds inclusive).
func TestRandomResizedCropParamsBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		w, h  int
		scale [2]float64
	}{{384, 384, [2]float64{0.9, 1}}, {640, 480, [2]float64{0.08, 1}}, {53, 41, [2]float64{0.5, 0.7}}, {48, 48, [2]float64{0.9, 1}}} {
		sawTop0, sawTopMax := false, false
		for range 4000 {
			top, left, ch, cw := RandomResizedCropParams(c.w, c.h, c.scale, DefaultCropRatio, rng)
			if top < 0 || left < 0 || ch < 1 || cw < 1 || top+ch > c.h || left+cw > c.w {
				t.Fatalf("%dx%d: window %dx%d at (%d,%d) outside the image", c.w, c.h, cw, ch, left, top)
			}
			if top == 0 {
				sawTop0 = true
			}
			if top == c.h-ch && ch < c.h {
				sawTopMax = true
			}
			// Each side is sqrt(area·r) or sqrt(area/r) rounded: some real
			// sides within 0.5 px of the window's must satisfy both ranges.
			area := float64(c.w * c.h)
			fw, fh := float64(cw), float64(ch)
			if (fw+0.5)*(fh+0.5) < c.scale[0]*area || (fw-0.5)*(fh-0.5) > c.scale[1]*area {
				t.Fatalf("%dx%d scale %v: window %dx%d has area fraction %.4f", c.w, c.h, c.scale, cw, ch, fw*fh/area)
			}
			if (fw+0.5)/(fh-0.5) < DefaultCropRatio[0] || (fw-0.5)/(fh+0.5) > DefaultCropRatio[1] {
				t.Fatalf("%dx%d: window %dx%d has aspect %.4f outside [3/4, 4/3]", c.w, c.h, cw, ch, fw/fh)
			}
		}
		if !sawTop0 || !sawTopMax {
			t.Errorf("%dx%d scale %v: top never reached 0 (%v) or its maximum (%v)", c.w, c.h, c.scale, sawTop0, sawTopMax)
		}
	}
}

// TestRandomResizedCropParamsStrictArea: with scale and ratio fixed to
// single values the window is exactly torchvision's rounding of
// sqrt(area·r) × sqrt(area/r), half to even.
func TestRandomResizedCropParamsStrictArea(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// 100×100, scale 0.5, ratio 2: w = round(sqrt(5000·2)) = 100, h = round(sqrt(2500)) = 50.
	top, left, ch, cw := RandomResizedCropParams(100, 100, [2]float64{0.5, 0.5}, [2]float64{2, 2}, rng)
	if cw != 100 || ch != 50 || left != 0 || top < 0 || top > 50 {
		t.Errorf("window %dx%d at (%d,%d), want 100x50 at (0, 0..50)", cw, ch, left, top)
	}
	// 5×5, scale 0.25, ratio 1: sides sqrt(6.25) = 2.5, which rounds to 2 (half to even).
	_, _, ch, cw = RandomResizedCropParams(5, 5, [2]float64{0.25, 0.25}, [2]float64{1, 1}, rng)
	if cw != 2 || ch != 2 {
		t.Errorf("5x5 at scale 0.25: window %dx%d, want 2x2 (round(2.5) = 2 as Python rounds)", cw, ch)
	}
}

// TestRandomResizedCropParamsFallback: when no attempt can fit (a ratio
// range far from the image's shape and areas above it), the window is the
// centre crop clamped to the ratio range, as torchvision's fallback.
func TestRandomResizedCropParamsFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		w, h              int
		scale, ratio      [2]float64
		top, left, ch, cw int
	}{
		// Wide image, narrow ratios: in_ratio 4 > 4/3: h = 40, w = round(40·4/3) = 53, centred.
		{160, 40, [2]float64{2, 3}, DefaultCropRatio, 0, 53, 40, 53},
		// Tall image: in_ratio 0.25 < 3/4: w = 40, h = round(40/(3/4)) = 53.
		{40, 160, [2]float64{2, 3}, DefaultCropRatio, 53, 0, 53, 40},
		// Shape within the ratios, areas too large: the whole image.
		{50, 60, [2]float64{1.5, 2}, DefaultCropRatio, 0, 0, 60, 50},
	} {
		top, left, ch, cw := RandomResizedCropParams(c.w, c.h, c.scale, c.ratio, rng)
		if top != c.top || left != c.left || ch != c.ch || cw != c.cw {
			t.Errorf("%dx%d scale %v: window %dx%d at (%d,%d), want %dx%d at (%d,%d)", c.w, c.h, c.scale, cw, ch, left, top, c.cw, c.ch, c.left, c.top)
		}
	}
}

// TestRandomResizedCropDeterministic: the same RNG state gives the same
// window and image; another state gives another window (over a few draws).
func TestRandomResizedCropDeterministic(t *testing.T) {
	img := New(57, 61)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	a := RandomResizedCrop(img, 24, [2]float64{0.5, 1}, DefaultCropRatio, rand.New(rand.NewPCG(9, 1)))
	b := RandomResizedCrop(img, 24, [2]float64{0.5, 1}, DefaultCropRatio, rand.New(rand.NewPCG(9, 1)))
	if a.H != 24 || a.W != 24 || len(a.Pix) != 24*24*3 {
		t.Fatalf("output %dx%d (%d bytes), want 24x24", a.W, a.H, len(a.Pix))
	}
	if string(a.Pix) != string(b.Pix) {
		t.Error("same seed, different crops")
	}
	differs := false
	p0 := [4]int{}
	p0[0], p0[1], p0[2], p0[3] = RandomResizedCropParams(61, 57, [2]float64{0.5, 1}, DefaultCropRatio, rand.New(rand.NewPCG(9, 1)))
	for s := uint64(2); s < 6; s++ {
		var p [4]int
		p[0], p[1], p[2], p[3] = RandomResizedCropParams(61, 57, [2]float64{0.5, 1}, DefaultCropRatio, rand.New(rand.NewPCG(9, s)))
		differs = differs || p != p0
	}
	if !differs {
		t.Error("other seeds gave the same window every time")
	}
}

// TestResizedCropMatchesTorchvision compares ResizedCrop with torchvision's
// resized_crop(PIL image, top, left, h, w, [S, S], BICUBIC) on the windows
// of testdata/rrc_cases.json (made by scripts/fixtures/rrc.py): uint8, exact.
func TestResizedCropMatchesTorchvision(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "rrc_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Input string `json:"input"`
		Cases []struct {
			Top, Left, H, W, Size int
			RGB                   string `json:"rgb"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	img, err := Load(filepath.Join("testdata", f.Input))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range f.Cases {
		want, err := base64.StdEncoding.DecodeString(c.RGB)
		if err != nil || len(want) != c.Size*c.Size*3 {
			t.Fatalf("case %+v: %d bytes (%v), want %d", c, len(want), err, c.Size*c.Size*3)
		}
		got := ResizedCrop(img, c.Top, c.Left, c.H, c.W, c.Size, c.Size, Bicubic)
		worst, at := 0, -1
		for i := range want {
			if d := int(got.Pix[i]) - int(want[i]); d*d > worst*worst {
				worst, at = d, i
			}
		}
		if worst != 0 {
			t.Errorf("window %dx%d at (%d,%d) -> %d: max |Δ| %d at byte %d", c.W, c.H, c.Left, c.Top, c.Size, max(worst, -worst), at)
		}
	}
}
