package imageio

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestFancyRowMatchesUpsampleRow checks the fused upsampling and colour
// conversion of the fast output stage (SIMD or not, as built) against the
// row-by-row path of output(): plane.upsampleRow for Cb and Cr, then yccRow.
// Widths cover the scalar-only sizes, the SIMD chunks and their overlapping
// last chunk; the sample values are random, so clamping is exercised.
func TestFancyRowMatchesUpsampleRow(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, w := range []int{5, 6, 33, 34, 35, 36, 37, 64, 67, 100, 129, 250, 500, 501} {
		for _, vs := range []int{1, 2} {
			h := 7
			cw, ch := (w+1)/2, (h+vs-1)/vs
			chroma := func() *plane {
				p := &plane{pix: make([]uint8, (cw+3)*ch), stride: cw + 3, w: cw, h: ch, hs: 2, vs: vs}
				rng.Read(p.pix)
				return p
			}
			pb, pr := chroma(), chroma()
			y := make([]uint8, w)
			got, want := make([]uint8, 3*w), make([]uint8, 3*w)
			ub, ur := make([]uint8, w), make([]uint8, w)
			colsum := make([]int32, w)
			for r := 0; r < h; r++ {
				rng.Read(y)
				pb.upsampleRow(ub, r, w, colsum)
				pr.upsampleRow(ur, r, w, colsum)
				yccRow(want, y, ub, ur)
				if vs == 1 {
					fancyRow(got, y, pb.row(r), pb.row(r), pr.row(r), pr.row(r), fancyH2V1)
				} else {
					near, far := r/2, r/2+1
					if r%2 == 0 {
						far = r/2 - 1
					}
					fancyRow(got, y, pb.row(near), pb.row(far), pr.row(near), pr.row(far), fancyH2V2)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("width %d, vertical factor %d, row %d: fused RGB differs from upsampleRow+yccRow", w, vs, r)
				}
			}
		}
	}
}

// TestYCCRowSIMDMatchesScalar checks the full-resolution (4:4:4) colour
// conversion, SIMD where built, against yccRow for every Cb, Cr pair.
func TestYCCRowSIMDMatchesScalar(t *testing.T) {
	const n = 256 * 256
	y, cb, cr := make([]uint8, n), make([]uint8, n), make([]uint8, n)
	for i := range y {
		y[i], cb[i], cr[i] = uint8(i*7), uint8(i), uint8(i>>8)
	}
	for _, w := range []int{1, 15, 16, 17, 47, n} {
		got, want := make([]uint8, 3*w), make([]uint8, 3*w)
		yccRow(want, y[:w], cb[:w], cr[:w])
		x := yccRowSIMD(got, y[:w], cb[:w], cr[:w])
		yccRow(got[3*x:], y[x:w], cb[x:w], cr[x:w])
		if !bytes.Equal(got, want) {
			t.Fatalf("width %d: SIMD colour conversion differs from yccRow", w)
		}
	}
}
