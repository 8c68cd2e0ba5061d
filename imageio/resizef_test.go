package imageio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// resizeFloatPlaneDirect is PIL's mode "F" resampling written as PIL's C
// loops are: a horizontal pass over each needed input row, each output a
// float64 sum over its taps in order, stored as float32; then the vertical
// pass the same way over columns.
func resizeFloatPlaneDirect(p []float32, h, w, outH, outW int, f Filter) []float32 {
	kv, kh := kernelFor(h, outH, f), kernelFor(w, outW, f)
	tmp := p
	if outW != w {
		tmp = make([]float32, h*outW)
		for y := range h {
			for xx := range outW {
				xmin, n := kh.bounds[2*xx], kh.bounds[2*xx+1]
				s := 0.0
				for i := range n {
					s += float64(float64(p[y*w+xmin+i]) * kh.kd[xx*kh.ksize+i])
				}
				tmp[y*outW+xx] = float32(s)
			}
		}
	}
	if outH == h {
		return tmp
	}
	out := make([]float32, outH*outW)
	for yy := range outH {
		ymin, n := kv.bounds[2*yy], kv.bounds[2*yy+1]
		for x := range outW {
			s := 0.0
			for j := range n {
				s += float64(float64(tmp[(ymin+j)*outW+x]) * kv.kd[yy*kv.ksize+j])
			}
			out[yy*outW+x] = float32(s)
		}
	}
	return out
}

// TestResizeFloatPlaneMatchesDirect: the transposed, vectorised passes give
// bit-identical planes to the direct loops, for down- and upscales, widths
// that are not a multiple of 8, one axis unchanged, and downscales with more
// taps than the vector path keeps in registers (its scalar fallback).
func TestResizeFloatPlaneMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sizes := [][4]int{
		{384, 384, 299, 299}, {37, 53, 19, 29}, {17, 9, 40, 33}, {25, 31, 25, 12},
		{25, 31, 7, 31}, {300, 20, 9, 5}, {8, 8, 8, 3}, {1, 50, 1, 7},
	}
	for _, f := range []Filter{Bicubic, Bilinear} {
		for _, sz := range sizes {
			h, w, oh, ow := sz[0], sz[1], sz[2], sz[3]
			p := make([]float32, h*w)
			for i := range p {
				p[i] = float32(r.NormFloat64() * 100)
			}
			p[0] = float32(math.Copysign(0, -1)) // −0 stays as PIL leaves it
			got := ResizeFloatPlane(p, h, w, oh, ow, f)
			want := resizeFloatPlaneDirect(p, h, w, oh, ow, f)
			if len(got) != len(want) {
				t.Fatalf("%v %v: %d values, want %d", f, sz, len(got), len(want))
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %v: [%d] = %g, direct %g", f, sz, i, got[i], want[i])
				}
			}
		}
	}
}

// TestTransposeF32 checks the transpose on sizes around its eight-row step.
func TestTransposeF32(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {3, 70}, {33, 32}, {64, 65}} {
		h, w := sz[0], sz[1]
		p := make([]float32, h*w)
		for i := range p {
			p[i] = float32(i)
		}
		q := transposeF32(make([]float32, len(p)), p, h, w)
		for i := range h {
			for j := range w {
				if q[j*h+i] != p[i*w+j] {
					t.Fatalf("%v: [%d,%d] = %g, want %g", sz, j, i, q[j*h+i], p[i*w+j])
				}
			}
		}
	}
}

// BenchmarkResizeFloatPlane times clean-fid's per-channel resize, 384² → 299²,
// against the direct loops.
func BenchmarkResizeFloatPlane(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]float32, 384*384)
	for i := range p {
		p[i] = float32(r.IntN(256))
	}
	for _, v := range []struct {
		name string
		f    func(p []float32, h, w, outH, outW int, f Filter) []float32
	}{{"vector", ResizeFloatPlane}, {"direct", resizeFloatPlaneDirect}} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				v.f(p, 384, 384, 299, 299, Bicubic)
			}
		})
	}
}
