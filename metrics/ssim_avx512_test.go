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
		src := make([]float64, ow+10)
		for i := range src {
			src[i] = r.Float64() * 65025
		}
		dst := make([]float64, ow)
		n := hpass11(dst, src, k)
		if n != ow&^7 {
			t.Fatalf("hpass11 wrote %d of %d", n, ow)
		}
		for j := range n {
			if want := ref(func(t int) float64 { return src[j+t] }); dst[j] != want {
				t.Fatalf("hpass11 ow %d [%d] = %v, want %v", ow, j, dst[j], want)
			}
		}
		const oi = 2
		h := make([]float64, (oi+11)*ow)
		for i := range h {
			h[i] = r.Float64() * 65025
		}
		n = vpass11(dst, h, oi, ow, k)
		if n != ow&^7 {
			t.Fatalf("vpass11 wrote %d of %d", n, ow)
		}
		for j := range n {
			if want := ref(func(t int) float64 { return h[(oi+t)*ow+j] }); dst[j] != want {
				t.Fatalf("vpass11 ow %d [%d] = %v, want %v", ow, j, dst[j], want)
			}
		}
	}
	// The five-moment pass equals hpass11 on the rows of products.
	for _, ow := range []int{8, 21, 384} {
		xr, yr := make([]float64, ow+10), make([]float64, ow+10)
		xx, yy, xy := make([]float64, ow+10), make([]float64, ow+10), make([]float64, ow+10)
		for i := range xr {
			xr[i], yr[i] = float64(r.IntN(256)), r.Float64()*255
			xx[i], yy[i], xy[i] = xr[i]*xr[i], yr[i]*yr[i], xr[i]*yr[i]
		}
		var got, want [5][]float64
		for m := range 5 {
			got[m], want[m] = make([]float64, ow), make([]float64, ow)
		}
		n := hpass11x5(got[0], got[1], got[2], got[3], got[4], xr, yr, k)
		if n != ow&^7 {
			t.Fatalf("hpass11x5 wrote %d of %d", n, ow)
		}
		for m, src := range [][]float64{xr, yr, xx, yy, xy} {
			hpass11(want[m], src, k)
			for j := range n {
				if got[m][j] != want[m][j] {
					t.Fatalf("hpass11x5 ow %d moment %d [%d] = %v, want %v", ow, m, j, got[m][j], want[m][j])
				}
			}
		}
	}
	if hpass11(make([]float64, 8), make([]float64, 16), make([]float64, 9)) != 0 {
		t.Error("hpass11 took a 9-tap kernel")
	}
}
