//go:build !goexperiment.simd

package metrics

// Without GOEXPERIMENT=simd the SSIM filters run the scalar loops.

func ssimHPass(dst, src, k []float64) { ssimHPassScalar(dst, src, k) }

func ssimVPass(dst, h []float64, oi, ow int, k []float64) { ssimVPassScalar(dst, h, oi, ow, k) }

func ssimRow(ux, uy, uxx, uyy, uxy []float64, c1, c2 float64, clamp bool) float64 {
	return ssimRowScalar(ux, uy, uxx, uyy, uxy, c1, c2, clamp)
}

func hpass11x5(hx, hy, hxx, hyy, hxy, xr, yr []float64, k []float64) int { return 0 }

func ssimRowBoth(ux, uy, uxx, uyy, uxy []float64, c1, c2 float64, j0, j1 int) (full, inner float64, ok bool) {
	return 0, 0, false
}
