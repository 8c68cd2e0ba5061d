package imageio

import (
	"bytes"
	"image/jpeg"
	"io"
	"testing"
)

// runBench runs f b.N times and also reports CPU time per op.
func runBench(b *testing.B, f func()) {
	b.ResetTimer()
	t0 := cpuNanos()
	for i := 0; i < b.N; i++ {
		f()
	}
	if t0 != 0 {
		b.ReportMetric(float64(cpuNanos()-t0)/float64(b.N), "cpu-ns/op")
	}
}

// benchJPEG is a 375×500 (H×W, ImageNet's typical size) 4:2:0 q90 JPEG.
func benchJPEG(b *testing.B) []byte {
	b.Helper()
	return encodeJPEG(b, synthetic(375, 500), false)
}

// BenchmarkSiglipPixels384: decode a 500×375 JPEG and run the SigLIP
// processor to 384×384 (one image per op; images/s = 1e9 / ns/op).
func BenchmarkSiglipPixels384(b *testing.B) {
	data := benchJPEG(b)
	runBench(b, func() {
		img, err := DecodeBytes(data, "bench.jpg")
		if err != nil {
			b.Fatal(err)
		}
		_ = SiglipPixels(img, 384)
	})
}

// BenchmarkDecodeJPEG: our libjpeg-exact decoder alone.
func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchJPEG(b)
	runBench(b, func() {
		if _, err := DecodeBytes(data, "bench.jpg"); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkDecodeJPEGGoStdlib: Go's image/jpeg on the same file, for scale.
func BenchmarkDecodeJPEGGoStdlib(b *testing.B) {
	data := benchJPEG(b)
	runBench(b, func() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkResize384: the PIL-exact bicubic resize 375×500 → 384×384 alone.
func BenchmarkResize384(b *testing.B) {
	img := synthetic(375, 500)
	runBench(b, func() { _ = Resize(img, 384, 384, Bicubic) })
}

// BenchmarkShortSideCenterCrop384: the reconstruction-eval preprocessing.
func BenchmarkShortSideCenterCrop384(b *testing.B) {
	img := synthetic(375, 500)
	runBench(b, func() { _ = ShortSideCenterCrop(img, 384) })
}

// BenchmarkEncodeJPEG384: libjpeg-exact q95 encoding of a 384×384 image
// (the reconstruction eval writes two per image).
func BenchmarkEncodeJPEG384(b *testing.B) {
	img := synthetic(384, 384)
	runBench(b, func() {
		if err := EncodeJPEG(io.Discard, img, 95); err != nil {
			b.Fatal(err)
		}
	})
}
