package imageio

import (
	"fmt"
	"math"
)

// SiglipPixels is SiglipImageProcessor's pipeline: PIL bicubic resize of the
// uint8 image to size×size (no crop, aspect ratio not kept), then x/255 and
// (x−0.5)/0.5. Returns CHW float32 [3, size, size] in [-1, 1].
func SiglipPixels(img *Image, size int) []float32 {
	out := make([]float32, 3*size*size)
	SiglipPixelsInto(out, img, size)
	return out
}

// SiglipPixelsInto is SiglipPixels writing into dst (len 3·size·size), e.g.
// a batch tensor's own buffer.
func SiglipPixelsInto(dst []float32, img *Image, size int) {
	NormalizeInto(dst, Resize(img, size, size, Bicubic), 0.5, 0.5)
}

// NormalizeLUT is NormalizeInto's value of each byte: (v/255 − mean)/std,
// rescaled in float64 and stored as float32, normalised in float32 (HF's
// arithmetic). Graphs that take uint8 pixels look their values up in it, so
// they match the host's to the bit.
func NormalizeLUT(mean, std float32) [256]float32 {
	var lut [256]float32
	for v := range lut {
		x := float32(float64(v) * (1.0 / 255.0))
		lut[v] = (x - mean) / std
	}
	return lut
}

// NormalizeInto writes img as CHW float32 into dst (len 3·H·W):
// (x/255 − mean)/std per channel, with HF's arithmetic (rescale in float64,
// stored as float32; normalise in float32).
func NormalizeInto(dst []float32, img *Image, mean, std float32) {
	n := img.H * img.W
	if len(dst) != 3*n {
		panic(fmt.Sprintf("imageio: NormalizeInto dst has %d values, want %d", len(dst), 3*n))
	}
	lut := NormalizeLUT(mean, std)
	for i := 0; i < n; i++ {
		p := img.Pix[3*i : 3*i+3]
		dst[i] = lut[p[0]]
		dst[n+i] = lut[p[1]]
		dst[2*n+i] = lut[p[2]]
	}
}

// ShortSideCenterCrop resizes img (PIL bicubic) so that its shorter side is
// size, then crops the central size×size window: s = size/min(H,W), new
// sides max(size, round_half_even(side·s)), crop at top = (H'−size)//2,
// left = (W'−size)//2. This is the reconstruction-eval preprocessing.
func ShortSideCenterCrop(img *Image, size int) *Image {
	s := float64(size) / float64(min(img.H, img.W))
	nh := max(size, int(math.RoundToEven(float64(img.H)*s)))
	nw := max(size, int(math.RoundToEven(float64(img.W)*s)))
	r := Resize(img, nh, nw, Bicubic)
	return r.Crop((nh-size)/2, (nw-size)/2, size, size)
}
