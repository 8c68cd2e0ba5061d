//go:build goexperiment.simd && amd64

package imageio

import "simd/archsimd"

var hasResizeFSIMD = archsimd.X86.AVX512()

// weightedRowsSIMD is weightedRows on AVX-512, eight columns at a time with
// every tap applied in registers. Each column's arithmetic is the scalar
// loop's: widen to float64, multiply by the tap, then add (never fused), in
// tap order from +0, and one rounding to float32 at the end; so the output
// is bit-identical. It returns the columns it wrote (a multiple of 8).
func weightedRowsSIMD(dst []float32, rows [][]float32, c []float64) int {
	if !hasResizeFSIMD {
		return 0
	}
	var taps [maxFloatTaps]archsimd.Float64x8
	if len(c) == 0 || len(c) > len(taps) {
		return 0
	}
	for j, cv := range c {
		taps[j] = archsimd.BroadcastFloat64x8(cv)
	}
	// +0 in every lane, made once: a zero constant in the loop would be
	// materialised with a legacy-SSE XORPS, which stalls on every chunk while
	// the upper halves of the vector registers are in use (3× slower than
	// the scalar loop, measured).
	zero := taps[0].Sub(taps[0])
	n := len(dst) &^ 7
	for i := 0; i < n; i += 8 {
		acc := zero
		for j, r := range rows {
			acc = acc.Add(archsimd.LoadFloat32x8(r[i : i+8]).ConvertToFloat64().Mul(taps[j]))
		}
		acc.ConvertToFloat32().Store(dst[i : i+8])
	}
	archsimd.ClearAVXUpperBits()
	return n
}
