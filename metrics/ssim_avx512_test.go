//go:build goexperiment.simd && amd64

package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSSIMPasses11 checks the unrolled AVX-512 passes bit for bit against
// their definition: the centre tap's product, then a fused multiply-add of
// each symmetric pair's sum, outer pair first (the generic vector loops'
// order).
func TestSSIMPasses11(t *testing.T) {
	if !hasSSIMAVX512 {
		t.Skip("no AVX-512")
	}
	k := ssimKernel
	if len(k) != 11 {
		t.Fatalf("SSIM kernel has %d taps, want 11", len(k))
	}
	ref := func(at func(t int) float64) float64 {
		acc := k[5] * at(5)
		for t := range 5 {
			acc = math.FMA(k[t], at(t)+at(10-t), acc)
		}
		return acc
	}
	r := rand.New(rand.NewPCG(3, 9))
	for _, ow := range []int{8, 13, 40, 384} {
		dst := make([]float64, ow)
		const oi = 2
		h := make([]float64, (oi+11)*ow)
		for i := range h {
			h[i] = r.Float64() * 65025
		}
		n := vpass11(dst, h, oi, ow, k)
		if n != ow&^7 {
			t.Fatalf("vpass11 wrote %d of %d", n, ow)
		}
		for j := range n {
			if want := ref(func(t int) float64 { return h[(oi+t)*ow+j] }); dst[j] != want {
				t.Fatalf("vpass11 ow %d [%d] = %v, want %v", ow, j, dst[j], want)
			}
		}
	}
	// The five-moment horizontal pass: each moment as the definition on its
	// row of products (each product rounded before it is added).
	for _, ow := range []int{8, 21, 384} {
		xr, yr := make([]float64, ow+10), make([]float64, ow+10)
		xx, yy, xy := make([]float64, ow+10), make([]float64, ow+10), make([]float64, ow+10)
		for i := range xr {
			xr[i], yr[i] = float64(r.IntN(256)), r.Float64()*255
			xx[i], yy[i], xy[i] = xr[i]*xr[i], yr[i]*yr[i], xr[i]*yr[i]
		}
		var got [5][]float64
		for m := range 5 {
			got[m] = make([]float64, ow)
		}
		n := hpass11x5(got[0], got[1], got[2], got[3], got[4], xr, yr, k)
		if n != ow&^7 {
			t.Fatalf("hpass11x5 wrote %d of %d", n, ow)
		}
		for m, src := range [][]float64{xr, yr, xx, yy, xy} {
			for j := range n {
				if want := ref(func(t int) float64 { return src[j+t] }); got[m][j] != want {
					t.Fatalf("hpass11x5 ow %d moment %d [%d] = %v, want %v", ow, m, j, got[m][j], want)
				}
			}
		}
	}
	if hpass11x5(make([]float64, 8), make([]float64, 8), make([]float64, 8), make([]float64, 8), make([]float64, 8),
		make([]float64, 18), make([]float64, 18), make([]float64, 9)) != 0 {
		t.Error("hpass11x5 took a 9-tap kernel")
	}
}

// TestSSIMRowBoth: the fused row sums equal the two single-formula sums
// (up to the order of the additions), also on lanes with negative
// variances, where the two formulas differ.
func TestSSIMRowBoth(t *testing.T) {
	if !hasSSIMAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(8, 1))
	c1, c2 := 6.5025, 58.5225
	for _, ow := range []int{24, 37, 384} {
		ux, uy, uxx, uyy, uxy := make([]float64, ow), make([]float64, ow), make([]float64, ow), make([]float64, ow), make([]float64, ow)
		for j := range ux {
			ux[j], uy[j] = r.Float64()*255, r.Float64()*255
			uxx[j] = ux[j]*ux[j] + r.Float64()*400 - 50 // some negative variances
			uyy[j] = uy[j]*uy[j] + r.Float64()*400 - 50
			uxy[j] = ux[j]*uy[j] + r.Float64()*100 - 50
		}
		j0, j1 := 5, ow-5
		full, inner, ok := ssimRowBoth(ux, uy, uxx, uyy, uxy, c1, c2, j0, j1)
		if !ok {
			t.Fatalf("ow %d: not taken", ow)
		}
		wantF := ssimRowScalar(ux, uy, uxx, uyy, uxy, c1, c2, true)
		wantI := ssimRowScalar(ux[j0:j1], uy[j0:j1], uxx[j0:j1], uyy[j0:j1], uxy[j0:j1], c1, c2, false)
		if math.Abs(full-wantF) > 1e-12*math.Abs(wantF) || math.Abs(inner-wantI) > 1e-12*math.Abs(wantI) || wantF == wantI {
			t.Errorf("ow %d: full %v inner %v, want %v %v", ow, full, inner, wantF, wantI)
		}
	}
	if _, _, ok := ssimRowBoth(make([]float64, 12), make([]float64, 12), make([]float64, 12), make([]float64, 12), make([]float64, 12), c1, c2, 5, 7); ok {
		t.Error("took a row with no whole chunk inside [j0, j1)")
	}
}
