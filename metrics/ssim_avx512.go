//go:build goexperiment.simd && amd64

package metrics

import "simd/archsimd"

// AVX-512 forms of the SSIM filter passes for the 11-tap window (radius 5,
// the only one SSIM uses here), fully unrolled with constant-offset loads:
// the generic vector loops spend most of their time on loop and slice
// bookkeeping. Same operations in the same order as those loops (a fused
// multiply-add per symmetric pair), so the results are identical.

var hasSSIMAVX512 = archsimd.X86.AVX512()

func load8(p *[8]float64) archsimd.Float64x8 { return archsimd.LoadFloat64x8Array(p) }

// vpass11 is ssimVPass for an 11-tap kernel over the first multiple of 8
// columns; it returns how many it wrote.
func vpass11(dst, h []float64, oi, ow int, k []float64) int {
	if !hasSSIMAVX512 || len(k) != 11 {
		return 0
	}
	n := len(dst) &^ 7
	if n == 0 {
		return 0
	}
	row := func(t int) []float64 { return h[(oi+t)*ow : (oi+t)*ow+n] }
	r0, r1, r2, r3, r4, r5 := row(0), row(1), row(2), row(3), row(4), row(5)
	r6, r7, r8, r9, r10 := row(6), row(7), row(8), row(9), row(10)
	k0, k1, k2, k3, k4 := archsimd.BroadcastFloat64x8(k[0]), archsimd.BroadcastFloat64x8(k[1]),
		archsimd.BroadcastFloat64x8(k[2]), archsimd.BroadcastFloat64x8(k[3]), archsimd.BroadcastFloat64x8(k[4])
	k5 := archsimd.BroadcastFloat64x8(k[5])
	at := func(r []float64, j int) archsimd.Float64x8 { return load8((*[8]float64)(r[j : j+8])) }
	for j := 0; j < n; j += 8 {
		acc := k5.Mul(at(r5, j))
		acc = k0.MulAdd(at(r0, j).Add(at(r10, j)), acc)
		acc = k1.MulAdd(at(r1, j).Add(at(r9, j)), acc)
		acc = k2.MulAdd(at(r2, j).Add(at(r8, j)), acc)
		acc = k3.MulAdd(at(r3, j).Add(at(r7, j)), acc)
		acc = k4.MulAdd(at(r4, j).Add(at(r6, j)), acc)
		acc.StoreArray((*[8]float64)(dst[j : j+8]))
	}
	archsimd.ClearAVXUpperBits()
	return n
}

// hpass11x5 is the horizontal pass of all five moments (x, y, x², y², xy)
// of one row pair over the first multiple of 8 outputs, each product formed
// where it is used; it returns how many outputs it wrote. Each moment gets
// the arithmetic ssimHPass applies to its precomputed row (the products are
// rounded before they are added), so the results are identical.
func hpass11x5(hx, hy, hxx, hyy, hxy, xr, yr []float64, k []float64) int {
	if !hasSSIMAVX512 || len(k) != 11 {
		return 0
	}
	n := len(hx) &^ 7
	if n == 0 || len(xr) < n+10 || len(yr) < n+10 || len(hy) < n || len(hxx) < n || len(hyy) < n || len(hxy) < n {
		return 0
	}
	var kt [6]archsimd.Float64x8
	for t := range kt {
		kt[t] = archsimd.BroadcastFloat64x8(k[t])
	}
	for j := 0; j < n; j += 8 {
		xs := (*[18]float64)(xr[j : j+18])
		ys := (*[18]float64)(yr[j : j+18])
		xc, yc := load8((*[8]float64)(xs[5:13])), load8((*[8]float64)(ys[5:13]))
		ax, ay := kt[5].Mul(xc), kt[5].Mul(yc)
		axx, ayy, axy := kt[5].Mul(xc.Mul(xc)), kt[5].Mul(yc.Mul(yc)), kt[5].Mul(xc.Mul(yc))
		for t := range 5 {
			xa, xb := load8((*[8]float64)(xs[t:t+8])), load8((*[8]float64)(xs[10-t:18-t]))
			ya, yb := load8((*[8]float64)(ys[t:t+8])), load8((*[8]float64)(ys[10-t:18-t]))
			ax = kt[t].MulAdd(xa.Add(xb), ax)
			ay = kt[t].MulAdd(ya.Add(yb), ay)
			axx = kt[t].MulAdd(xa.Mul(xa).Add(xb.Mul(xb)), axx)
			ayy = kt[t].MulAdd(ya.Mul(ya).Add(yb.Mul(yb)), ayy)
			axy = kt[t].MulAdd(xa.Mul(ya).Add(xb.Mul(yb)), axy)
		}
		ax.StoreArray((*[8]float64)(hx[j : j+8]))
		ay.StoreArray((*[8]float64)(hy[j : j+8]))
		axx.StoreArray((*[8]float64)(hxx[j : j+8]))
		ayy.StoreArray((*[8]float64)(hyy[j : j+8]))
		axy.StoreArray((*[8]float64)(hxy[j : j+8]))
	}
	archsimd.ClearAVXUpperBits()
	return n
}

// ssimRowBoth returns, for one output row, torchmetrics' sum (variances
// clamped) over all columns and Wang's (unclamped) over [j0, j1), sharing
// the moments' arithmetic; Wang's own division is made only for lanes where
// a variance is negative, the only place the two formulas differ. ok is
// false where the row is too short for the vector loop.
func ssimRowBoth(ux, uy, uxx, uyy, uxy []float64, c1, c2 float64, j0, j1 int) (full, inner float64, ok bool) {
	if !hasSSIMAVX512 {
		return 0, 0, false
	}
	n := len(ux)
	a, b := (j0+7)&^7, j1&^7 // whole chunks inside [j0, j1)
	if b <= a || j1 > n || len(uy) < n || len(uxx) < n || len(uyy) < n || len(uxy) < n {
		return 0, 0, false
	}
	vc1, vc2 := archsimd.BroadcastFloat64x8(c1), archsimd.BroadcastFloat64x8(c2)
	two := archsimd.BroadcastFloat64x8(2)
	zero := two.Sub(two) // made once: see weightedRowsSIMD in imageio
	accF, accI := zero, zero
	for j := a; j < b; j += 8 {
		mx, my := load8((*[8]float64)(ux[j:j+8])), load8((*[8]float64)(uy[j:j+8]))
		mxx, myy, mxy := mx.Mul(mx), my.Mul(my), mx.Mul(my)
		vx := load8((*[8]float64)(uxx[j : j+8])).Sub(mxx)
		vy := load8((*[8]float64)(uyy[j : j+8])).Sub(myy)
		vxy := load8((*[8]float64)(uxy[j : j+8])).Sub(mxy)
		num := two.MulAdd(mxy, vc1).Mul(two.MulAdd(vxy, vc2))
		b1 := mxx.Add(myy).Add(vc1)
		q := num.Div(b1.Mul(vx.Max(zero).Add(vy.Max(zero)).Add(vc2)))
		accF = accF.Add(q)
		if vx.Less(zero).Or(vy.Less(zero)).ToBits() != 0 {
			q = num.Div(b1.Mul(vx.Add(vy).Add(vc2)))
		}
		accI = accI.Add(q)
	}
	var lf, li [8]float64
	accF.StoreArray(&lf)
	accI.StoreArray(&li)
	archsimd.ClearAVXUpperBits()
	for t := range 8 {
		full += lf[t]
		inner += li[t]
	}
	full += ssimRowScalar(ux[:a], uy[:a], uxx[:a], uyy[:a], uxy[:a], c1, c2, true)
	full += ssimRowScalar(ux[b:n], uy[b:n], uxx[b:n], uyy[b:n], uxy[b:n], c1, c2, true)
	inner += ssimRowScalar(ux[j0:a], uy[j0:a], uxx[j0:a], uyy[j0:a], uxy[j0:a], c1, c2, false)
	inner += ssimRowScalar(ux[b:j1], uy[b:j1], uxx[b:j1], uyy[b:j1], uxy[b:j1], c1, c2, false)
	return full, inner, true
}
