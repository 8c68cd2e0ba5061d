//go:build goexperiment.simd

package metrics

// SIMD versions of the SSIM filter loops (portable simd package: AVX2/AVX-512
// or NEON as the CPU has). Same arithmetic as the scalar loops, except that
// multiply-adds may fuse, which moves results by ~1e−16.

import "simd"

// ssimHPass correlates src with the symmetric kernel k into dst (valid).
func ssimHPass(dst, src, k []float64) {
	r := len(k) / 2
	n := simd.BroadcastFloat64s(0).Len()
	j := 0
	if len(dst) >= n {
		kc := simd.BroadcastFloat64s(k[r])
		var kt [16]simd.Float64s
		for t := range r {
			kt[t] = simd.BroadcastFloat64s(k[t])
		}
		for ; j+n <= len(dst); j += n {
			acc := kc.Mul(simd.LoadFloat64s(src[j+r:]))
			for t := range r {
				pair := simd.LoadFloat64s(src[j+t:]).Add(simd.LoadFloat64s(src[j+2*r-t:]))
				acc = kt[t].MulAdd(pair, acc)
			}
			acc.Store(dst[j:])
		}
	}
	if j < len(dst) {
		ssimHPassScalar(dst[j:], src[j:], k)
	}
}

// ssimVPass writes output row oi of the vertical correlation of the rows of h (width ow) into dst.
func ssimVPass(dst, h []float64, oi, ow int, k []float64) {
	r := len(k) / 2
	if r > 16 {
		ssimVPassScalar(dst, h, oi, ow, k)
		return
	}
	n := simd.BroadcastFloat64s(0).Len()
	var rows [33][]float64
	for t := range 2*r + 1 {
		rows[t] = h[(oi+t)*ow : (oi+t+1)*ow]
	}
	kc := simd.BroadcastFloat64s(k[r])
	var kt [16]simd.Float64s
	for t := range r {
		kt[t] = simd.BroadcastFloat64s(k[t])
	}
	j := vpass11(dst, h, oi, ow, k)
	for ; j+n <= len(dst); j += n {
		acc := kc.Mul(simd.LoadFloat64s(rows[r][j:]))
		for t := range r {
			pair := simd.LoadFloat64s(rows[t][j:]).Add(simd.LoadFloat64s(rows[2*r-t][j:]))
			acc = kt[t].MulAdd(pair, acc)
		}
		acc.Store(dst[j:])
	}
	for ; j < len(dst); j++ {
		acc := k[r] * rows[r][j]
		for t := range r {
			acc += k[t] * (rows[t][j] + rows[2*r-t][j])
		}
		dst[j] = acc
	}
}

// ssimRow returns the sum over one output row of the SSIM formula from the five local moments.
func ssimRow(ux, uy, uxx, uyy, uxy []float64, c1, c2 float64, clamp bool) float64 {
	n := simd.BroadcastFloat64s(0).Len()
	vc1, vc2 := simd.BroadcastFloat64s(c1), simd.BroadcastFloat64s(c2)
	two, zero := simd.BroadcastFloat64s(2), simd.BroadcastFloat64s(0)
	acc := zero
	j := 0
	for ; j+n <= len(ux); j += n {
		mx, my := simd.LoadFloat64s(ux[j:]), simd.LoadFloat64s(uy[j:])
		mxx, myy, mxy := mx.Mul(mx), my.Mul(my), mx.Mul(my)
		vx := simd.LoadFloat64s(uxx[j:]).Sub(mxx)
		vy := simd.LoadFloat64s(uyy[j:]).Sub(myy)
		vxy := simd.LoadFloat64s(uxy[j:]).Sub(mxy)
		if clamp {
			vx, vy = vx.Max(zero), vy.Max(zero)
		}
		a1 := two.MulAdd(mxy, vc1)
		a2 := two.MulAdd(vxy, vc2)
		b1 := mxx.Add(myy).Add(vc1)
		b2 := vx.Add(vy).Add(vc2)
		acc = acc.Add(a1.Mul(a2).Div(b1.Mul(b2)))
	}
	var lanes [16]float64
	acc.Store(lanes[:n])
	sum := 0.0
	for _, v := range lanes[:n] {
		sum += v
	}
	if j < len(ux) {
		sum += ssimRowScalar(ux[j:], uy[j:], uxx[j:], uyy[j:], uxy[j:], c1, c2, clamp)
	}
	return sum
}
