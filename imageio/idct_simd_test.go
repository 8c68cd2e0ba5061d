//go:build goexperiment.simd && amd64

package imageio

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestIDCTSIMDMatchesScalar checks the AVX-512 islow IDCT against the scalar
// one on random blocks: sparse and dense, small and extreme coefficients
// (the int32 workspace wrap and range-limit wrap of damaged files), 8- and
// 16-bit quantisation tables, DC-only blocks, and blocks at the bound of
// the int32 fast path.
func TestIDCTSIMDMatchesScalar(t *testing.T) {
	if !hasIDCTSIMD {
		t.Skip("CPU without AVX-512")
	}
	rng := rand.New(rand.NewSource(1))
	const stride = 13 // not 8: rows must land at their stride
	for it := 0; it < 20000; it++ {
		var coef [64]int16
		var q [64]uint16
		qmax := []int{1, 2, 255, 65535}[it%4]
		cmax := []int{2, 64, 2048, 65536}[(it/4)%4]
		density := []int{0, 1, 8, 64}[(it/16)%4]
		for i := range q {
			q[i] = uint16(1 + rng.Intn(qmax))
		}
		coef[0] = int16(rng.Intn(cmax) - cmax/2)
		for i := 0; i < density; i++ {
			coef[rng.Intn(64)] = int16(rng.Intn(cmax) - cmax/2)
		}
		if it%5 == 0 { // every coefficient near the int32 path's bound (q = 2: |coef·q| up to 2^16)
			lo, hi := idct32Bound/2-1, idct32Bound/2+1
			if it%10 == 0 {
				lo, hi = 1<<14, 1<<15-1
			}
			for i := range coef {
				coef[i] = int16(lo + rng.Intn(hi-lo+1))
				if rng.Intn(2) == 0 {
					coef[i] = -coef[i]
				}
				q[i] = 2
			}
		}
		got := make([]uint8, 8*stride)
		want := make([]uint8, 8*stride)
		if !idctSIMD(coef[:], &q, got, stride) {
			t.Fatal("idctSIMD declined")
		}
		idctIslowScalar(coef[:], &q, want, stride)
		if !bytes.Equal(got, want) {
			t.Fatalf("block %d (q≤%d, |c|≤%d, %d nonzero): SIMD %v, scalar %v", it, qmax, cmax/2, density, got, want)
		}
	}
}

// TestIDCTPlaneSIMDMatchesScalar checks idctPlane's AVX-512 loop (pairs of
// blocks in 16 lanes, single blocks where a pair declines or at an odd end)
// against the scalar IDCT block by block.
func TestIDCTPlaneSIMDMatchesScalar(t *testing.T) {
	if !hasIDCTSIMD {
		t.Skip("CPU without AVX-512")
	}
	rng := rand.New(rand.NewSource(2))
	for it := 0; it < 300; it++ {
		cbw, cbh := 1+rng.Intn(9), 1+rng.Intn(3)
		bw := cbw + rng.Intn(2)
		var q [64]uint16
		qmax := []int{1, 2, 16, 255, 65535}[it%5]
		for i := range q {
			q[i] = uint16(1 + rng.Intn(qmax))
		}
		coef := make([]int16, bw*cbh*64)
		for b := 0; b < bw*cbh; b++ {
			blk := coef[64*b : 64*b+64]
			cmax := []int{2, 256, 4096, 65536}[rng.Intn(4)]
			switch rng.Intn(5) {
			case 4: // near and beyond the int32 path's bound (q = 2 below)
				for i := range blk {
					blk[i] = int16(idct32Bound/2 - 4 + rng.Intn(1<<15-idct32Bound/2+4))
					if rng.Intn(2) == 0 {
						blk[i] = -blk[i]
					}
				}
			case 0: // DC only
				blk[0] = int16(rng.Intn(cmax) - cmax/2)
			case 1: // sparse
				for i := 0; i < 6; i++ {
					blk[rng.Intn(64)] = int16(rng.Intn(cmax) - cmax/2)
				}
			default: // dense
				for i := range blk {
					blk[i] = int16(rng.Intn(cmax) - cmax/2)
				}
			}
		}
		stride := cbw*8 + rng.Intn(3)
		got := make([]uint8, stride*cbh*8)
		want := make([]uint8, stride*cbh*8)
		idctPlane(coef, &q, bw, cbw, cbh, got, stride)
		for by := 0; by < cbh; by++ {
			for bx := 0; bx < cbw; bx++ {
				off := (by*bw + bx) * 64
				idctIslowScalar(coef[off:off+64], &q, want[by*8*stride+bx*8:], stride)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (%dx%d blocks, q≤%d): SIMD plane differs from scalar", it, cbw, cbh, qmax)
		}
	}
}
