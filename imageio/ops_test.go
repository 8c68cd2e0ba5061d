package imageio

import (
	"math"
	"testing"
)

// TestTorchBilinearHand: 2×2 → 4×4 with align_corners=False. Per axis the
// source positions are -0.25 (clamped to 0), 0.25, 0.75, 1.25, so [a, b]
// becomes [a, .75a+.25b, .25a+.75b, b]; for [[0,1],[2,3]] out = 2·v[i] + v[j]
// with v = [0, .25, .75, 1].
func TestTorchBilinearHand(t *testing.T) {
	got := TorchBilinear([]float32{0, 1, 2, 3}, 1, 2, 2, 4, 4)
	want := []float32{
		0, 0.25, 0.75, 1,
		0.5, 0.75, 1.25, 1.5,
		1.5, 1.75, 2.25, 2.5,
		2, 2.25, 2.75, 3,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Downscale 4→2 without antialiasing samples at 0.5 and 2.5: the mean of
	// neighbours, not of the whole block.
	got = TorchBilinear([]float32{0, 10, 20, 30}, 1, 1, 4, 1, 2)
	if got[0] != 5 || got[1] != 25 {
		t.Errorf("4→2: got %v, want [5 25]", got)
	}
	// Same size is the identity, channel by channel.
	in := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	got = TorchBilinear(in, 2, 2, 3, 2, 3)
	for i := range in {
		if got[i] != in[i] {
			t.Fatalf("identity: got %v", got)
		}
	}
}

func TestResizeIdentityAndConstant(t *testing.T) {
	img := synthetic(23, 31)
	for _, f := range []Filter{Bicubic, Bilinear} {
		r := Resize(img, img.H, img.W, f)
		if _, maxd, _ := diffStats(r.Pix, img.Pix); maxd != 0 || &r.Pix[0] == &img.Pix[0] {
			t.Errorf("%v identity resize changed the image or aliased it", f)
		}
		// A constant image stays constant at any size (normalised kernels).
		c := New(19, 7)
		for i := range c.Pix {
			c.Pix[i] = 173
		}
		for _, sz := range [][2]int{{1, 1}, {5, 30}, {40, 3}, {19, 14}} {
			r := Resize(c, sz[0], sz[1], f)
			for _, v := range r.Pix {
				if v != 173 {
					t.Fatalf("%v %v: constant 173 became %d", f, sz, v)
				}
			}
		}
		p := make([]float32, 19*7)
		for i := range p {
			p[i] = -3.5
		}
		for _, v := range ResizeFloatPlane(p, 19, 7, 11, 23, f) {
			if math.Abs(float64(v)+3.5) > 1e-6 {
				t.Fatalf("%v float constant -3.5 became %g", f, v)
			}
		}
	}
}

// TestKernelCoefficients: PIL's bicubic at a 2× downscale uses support 4,
// centre (xx+0.5)·2 and taps w((x − centre + 0.5)/2); check one output
// against the formula evaluated here, and that fixed-point taps sum to ~1.
func TestKernelCoefficients(t *testing.T) {
	k := precompute(10, 5, Bicubic)
	if k.ksize != 9 {
		t.Fatalf("ksize %d, want 9", k.ksize)
	}
	cubic := func(x float64) float64 {
		x = math.Abs(x)
		if x < 1 {
			return (1.5*x-2.5)*x*x + 1
		}
		if x < 2 {
			return ((-0.5*x+2.5)*x-4)*x + 2
		}
		return 0
	}
	xx := 2
	center := (float64(xx) + 0.5) * 2
	xmin, n := k.bounds[2*xx], k.bounds[2*xx+1]
	if xmin != 1 || n != 8 {
		t.Fatalf("bounds %d,%d; want 1,8", xmin, n)
	}
	sum := 0.0
	for i := 0; i < n; i++ {
		sum += cubic((float64(xmin+i) - center + 0.5) / 2)
	}
	fixed := int32(0)
	for i := 0; i < n; i++ {
		w := cubic((float64(xmin+i)-center+0.5)/2) / sum
		if math.Abs(k.kd[xx*k.ksize+i]-w) > 1e-15 {
			t.Errorf("tap %d: %g, want %g", i, k.kd[xx*k.ksize+i], w)
		}
		fixed += k.ki[xx*k.ksize+i]
	}
	if d := fixed - 1<<precisionBits; d < -8 || d > 8 {
		t.Errorf("fixed-point taps sum to %d, want ≈ %d", fixed, 1<<precisionBits)
	}
}

func TestShortSideCenterCropSizes(t *testing.T) {
	// 37×50 to 32: s = 32/37, W' = round(50·32/37 = 43.24) = 43, crop left
	// (43−32)//2 = 5. A 45×30 image: H' = round(48.0) = 48, top 8.
	img := synthetic(37, 50)
	got := ShortSideCenterCrop(img, 32)
	full := Resize(img, 32, 43, Bicubic)
	if got.H != 32 || got.W != 32 {
		t.Fatalf("size %dx%d", got.H, got.W)
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			for c := 0; c < 3; c++ {
				if got.Pix[(y*32+x)*3+c] != full.Pix[(y*43+x+5)*3+c] {
					t.Fatalf("crop is not the centre window at left 5")
				}
			}
		}
	}
	// round-half-even: 2.5 → 2 would shrink below size, so max() keeps size;
	// a 3×5 image to 2: s = 2/3, W' = round(3.333) = 3.
	if r := ShortSideCenterCrop(synthetic(3, 5), 2); r.H != 2 || r.W != 2 {
		t.Errorf("3x5→2: got %dx%d", r.H, r.W)
	}
}

func TestFromFloatCHW(t *testing.T) {
	// (x+1)·127.5, clamped, truncated: -1→0, 1→255, 0→127 (127.5 truncated),
	// 0.999→254 (254.87), -2→0, NaN→0, 5→255.
	in := []float32{-1, 1, 0, 0.999, -2, float32(math.NaN()), 5, 0.5, -0.5}
	chw := make([]float32, 27)
	for i, v := range in {
		chw[i], chw[9+i], chw[18+i] = v, v, v
	}
	img := FromFloatCHW(chw, 3, 3)
	want := []uint8{0, 255, 127, 254, 0, 0, 255, 191, 63}
	for i, w := range want {
		if img.Pix[3*i] != w || img.Pix[3*i+1] != w || img.Pix[3*i+2] != w {
			t.Errorf("value %g → %d, want %d", in[i], img.Pix[3*i], w)
		}
	}
}

func TestSiglipPixelsRange(t *testing.T) {
	img := New(2, 2)
	copy(img.Pix, []uint8{0, 255, 128, 0, 255, 128, 0, 255, 128, 0, 255, 128})
	got := SiglipPixels(img, 2)
	// Channel planes: R = 0 → -1, G = 255 → 1, B = 128 → 128/255·2−1.
	for i := 0; i < 4; i++ {
		if got[i] != -1 || got[4+i] != 1 || math.Abs(float64(got[8+i])-(128.0/255*2-1)) > 1e-6 {
			t.Fatalf("got %v", got)
		}
	}
}
