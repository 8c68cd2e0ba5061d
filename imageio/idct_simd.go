//go:build goexperiment.simd && amd64

package imageio

import (
	"encoding/binary"
	"simd/archsimd"
)

// The islow IDCT on AVX-512: a block's eight columns (then rows) at a time,
// or two side-by-side blocks in 16 lanes. Each pass runs in int32 lanes when
// its inputs are within idct32Bound, where int32 arithmetic provably equals
// the scalar code's int64 (every real image), else in int64 lanes with the
// scalar code's widths (int64 products and sums, the wrapping int32
// workspace and range limit). So the samples are identical for every input,
// including the overflowing coefficients of damaged files.

var hasIDCTSIMD = archsimd.X86.AVX512()

// noDC masks the DC coefficient out of the first coefficient row.
var noDC = [8]int16{0, -1, -1, -1, -1, -1, -1, -1}

// idctSIMD runs idctIslow with AVX-512 and reports whether it could.
func idctSIMD(coef []int16, q *[64]uint16, dst []uint8, stride int) bool {
	if !hasIDCTSIMD {
		return false
	}
	idctBlockAVX512(coef, q, dst, stride)
	// VZEROUPPER: the scalar Go code around uses legacy SSE instructions,
	// which stall while the vector registers' upper halves are dirty.
	archsimd.ClearAVXUpperBits()
	return true
}

// idctPlaneSIMD is idctPlane with AVX-512, reporting whether it could.
func idctPlaneSIMD(coef []int16, q *[64]uint16, bw, cbw, cbh int, pix []uint8, stride int) bool {
	if !hasIDCTSIMD {
		return false
	}
	for by := 0; by < cbh; by++ {
		bx := 0
		// Horizontal pairs of blocks, 16 lanes at a time; single blocks
		// where the pair declines (large values) and at an odd end.
		for ; bx+2 <= cbw; bx += 2 {
			off := (by*bw + bx) * 64
			dst := pix[by*8*stride+bx*8:]
			if !idctPairAVX512(coef[off:off+128], q, dst, stride) {
				idctBlockAVX512(coef[off:off+64], q, dst, stride)
				idctBlockAVX512(coef[off+64:off+128], q, dst[8:], stride)
			}
		}
		if bx < cbw {
			off := (by*bw + bx) * 64
			idctBlockAVX512(coef[off:off+64], q, pix[by*8*stride+bx*8:], stride)
		}
	}
	archsimd.ClearAVXUpperBits()
	return true
}

// idctPairAVX512 is idctBlockAVX512 for two blocks side by side (coef: the
// two coefficient blocks, dst: 16 samples wide), both in one set of 16-lane
// vectors, lanes 0-7 the first block's columns (then rows), 8-15 the
// second's. It only takes the int32 path and reports false, writing
// nothing, where a block's values exceed its bound.
func idctPairAVX512(coef []int16, q *[64]uint16, dst []uint8, stride int) bool {
	coef = coef[:128]
	_ = dst[7*stride+15]
	row := func(r int) archsimd.Int16x16 {
		var v archsimd.Int16x16
		return v.SetLo(archsimd.LoadInt16x8(coef[8*r : 8*r+8])).SetHi(archsimd.LoadInt16x8(coef[64+8*r : 64+8*r+8]))
	}
	c0, c1, c2, c3, c4, c5, c6, c7 := row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)
	var nodc archsimd.Int16x16
	nodc = nodc.SetLo(archsimd.LoadInt16x8(noDC[:])).SetHi(archsimd.LoadInt16x8(noDC[:]))
	if c0.And(nodc).Or(c1).Or(c2).Or(c3).Or(c4).Or(c5).Or(c6).Or(c7).IsZero() {
		return false // both DC-only: the single-block shortcut is cheaper
	}
	deq := func(c archsimd.Int16x16, r int) archsimd.Int32x16 {
		qr := archsimd.LoadUint16x8(q[8*r : 8*r+8])
		var qq archsimd.Uint16x16
		return c.ExtendToInt32().Mul(qq.SetLo(qr).SetHi(qr).ExtendToUint32().AsInt32x16())
	}
	d0, d1, d2, d3 := deq(c0, 0), deq(c1, 1), deq(c2, 2), deq(c3, 3)
	d4, d5, d6, d7 := deq(c4, 4), deq(c5, 5), deq(c6, 6), deq(c7, 7)
	if !fitsIDCT32x16(d0, d1, d2, d3, d4, d5, d6, d7) {
		return false
	}
	o0, o1, o2, o3, o4, o5, o6, o7 := idctPass16x32(d0, d1, d2, d3, d4, d5, d6, d7)
	rnd1 := archsimd.BroadcastInt32x16(1 << (constBits - pass1Bits - 1))
	ds1 := func(x archsimd.Int32x16) archsimd.Int32x16 { return x.Add(rnd1).ShiftAllRight(constBits - pass1Bits) }
	w0, w1, w2, w3, w4, w5, w6, w7 := transpose8x8x2(ds1(o0), ds1(o1), ds1(o2), ds1(o3), ds1(o4), ds1(o5), ds1(o6), ds1(o7))
	if !fitsIDCT32x16(w0, w1, w2, w3, w4, w5, w6, w7) {
		return false
	}
	o0, o1, o2, o3, o4, o5, o6, o7 = idctPass16x32(w0, w1, w2, w3, w4, w5, w6, w7)
	const n2 = constBits + pass1Bits + 3
	rnd2 := archsimd.BroadcastInt32x16(1 << (n2 - 1))
	m1023 := archsimd.BroadcastInt32x16(1023)
	c512, c384 := archsimd.BroadcastInt32x16(512), archsimd.BroadcastInt32x16(384)
	zero, c255 := archsimd.BroadcastInt32x16(0), archsimd.BroadcastInt32x16(255)
	// Descale and range-limit as in idctBlockAVX512.
	lim := func(x archsimd.Int32x16) archsimd.Int32x16 {
		return x.Add(rnd2).ShiftAllRight(n2).Add(c512).And(m1023).Sub(c384).Max(zero).Min(c255)
	}
	w0, w1, w2, w3, w4, w5, w6, w7 = transpose8x8x2(lim(o0), lim(o1), lim(o2), lim(o3), lim(o4), lim(o5), lim(o6), lim(o7))
	put := func(r int, v archsimd.Int32x16) { v.TruncToInt8().AsUint8x16().Store(dst[r*stride : r*stride+16]) }
	put(0, w0)
	put(1, w1)
	put(2, w2)
	put(3, w3)
	put(4, w4)
	put(5, w5)
	put(6, w6)
	put(7, w7)
	return true
}

// idctBlockAVX512 is idctIslow on AVX-512; it leaves the upper halves of
// the vector registers dirty (see idctSIMD).
func idctBlockAVX512(coef []int16, q *[64]uint16, dst []uint8, stride int) {
	coef = coef[:64]
	c0, c1 := archsimd.LoadInt16x8(coef[0:8]), archsimd.LoadInt16x8(coef[8:16])
	c2, c3 := archsimd.LoadInt16x8(coef[16:24]), archsimd.LoadInt16x8(coef[24:32])
	c4, c5 := archsimd.LoadInt16x8(coef[32:40]), archsimd.LoadInt16x8(coef[40:48])
	c6, c7 := archsimd.LoadInt16x8(coef[48:56]), archsimd.LoadInt16x8(coef[56:64])
	ac := c0.And(archsimd.LoadInt16x8(noDC[:])).Or(c1).Or(c2).Or(c3).Or(c4).Or(c5).Or(c6).Or(c7)
	_ = dst[7*stride+7]
	if ac.IsZero() {
		// Only a DC term: both passes reduce to the flat value (as in the
		// scalar shortcuts, which equal the full computation here).
		dc := int32(coef[0]) * int32(q[0]) << pass1Bits
		v := uint64(idctLimit[descale(int64(dc), pass1Bits+3)&1023]) * 0x0101010101010101
		for r := 0; r < 8; r++ {
			binary.LittleEndian.PutUint64(dst[r*stride:], v)
		}
		return
	}
	// Pass 1: column IDCTs; lane j of dr is coefficient (r, j), dequantised
	// (exact in int32: |coef·q| < 2^15·2^16).
	deq := func(c archsimd.Int16x8, r int) archsimd.Int32x8 {
		return c.ExtendToInt32().Mul(archsimd.LoadUint16x8(q[8*r : 8*r+8]).ExtendToUint32().AsInt32x8())
	}
	d0, d1, d2, d3 := deq(c0, 0), deq(c1, 1), deq(c2, 2), deq(c3, 3)
	d4, d5, d6, d7 := deq(c4, 4), deq(c5, 5), deq(c6, 6), deq(c7, 7)
	var w0, w1, w2, w3, w4, w5, w6, w7 archsimd.Int32x8
	small := fitsIDCT32(d0, d1, d2, d3, d4, d5, d6, d7)
	if small {
		o0, o1, o2, o3, o4, o5, o6, o7 := idctPass8x32(d0, d1, d2, d3, d4, d5, d6, d7)
		rnd := archsimd.BroadcastInt32x8(1 << (constBits - pass1Bits - 1))
		ds := func(x archsimd.Int32x8) archsimd.Int32x8 { return x.Add(rnd).ShiftAllRight(constBits - pass1Bits) }
		w0, w1, w2, w3, w4, w5, w6, w7 = transpose8x8(ds(o0), ds(o1), ds(o2), ds(o3), ds(o4), ds(o5), ds(o6), ds(o7))
	} else {
		o0, o1, o2, o3, o4, o5, o6, o7 := idctPass8(d0.ExtendToInt64(), d1.ExtendToInt64(), d2.ExtendToInt64(), d3.ExtendToInt64(),
			d4.ExtendToInt64(), d5.ExtendToInt64(), d6.ExtendToInt64(), d7.ExtendToInt64())
		// Descale into the int32 workspace (wrapping, as the scalar code).
		rnd := archsimd.BroadcastInt64x8(1 << (constBits - pass1Bits - 1))
		ds := func(x archsimd.Int64x8) archsimd.Int32x8 {
			return x.Add(rnd).ShiftAllRight(constBits - pass1Bits).TruncToInt32()
		}
		w0, w1, w2, w3, w4, w5, w6, w7 = transpose8x8(ds(o0), ds(o1), ds(o2), ds(o3), ds(o4), ds(o5), ds(o6), ds(o7))
	}
	// The workspace is transposed: lane j of wk is element (j, k).
	// Pass 2: row IDCTs, descaled to x (the index into idctLimit, mod 1024).
	const n2 = constBits + pass1Bits + 3
	var x0, x1, x2, x3, x4, x5, x6, x7 archsimd.Int32x8
	if small && fitsIDCT32(w0, w1, w2, w3, w4, w5, w6, w7) {
		o0, o1, o2, o3, o4, o5, o6, o7 := idctPass8x32(w0, w1, w2, w3, w4, w5, w6, w7)
		rnd := archsimd.BroadcastInt32x8(1 << (n2 - 1))
		ds := func(x archsimd.Int32x8) archsimd.Int32x8 { return x.Add(rnd).ShiftAllRight(n2) }
		x0, x1, x2, x3, x4, x5, x6, x7 = ds(o0), ds(o1), ds(o2), ds(o3), ds(o4), ds(o5), ds(o6), ds(o7)
	} else {
		o0, o1, o2, o3, o4, o5, o6, o7 := idctPass8(w0.ExtendToInt64(), w1.ExtendToInt64(), w2.ExtendToInt64(), w3.ExtendToInt64(),
			w4.ExtendToInt64(), w5.ExtendToInt64(), w6.ExtendToInt64(), w7.ExtendToInt64())
		rnd := archsimd.BroadcastInt64x8(1 << (n2 - 1))
		ds := func(x archsimd.Int64x8) archsimd.Int32x8 { return x.Add(rnd).ShiftAllRight(n2).TruncToInt32() }
		x0, x1, x2, x3, x4, x5, x6, x7 = ds(o0), ds(o1), ds(o2), ds(o3), ds(o4), ds(o5), ds(o6), ds(o7)
	}
	// Range-limit: idctLimit[x&1023] = clamp(((x+512)&1023) − 384, 0, 255).
	m1023 := archsimd.BroadcastInt32x8(1023)
	c512, c384 := archsimd.BroadcastInt32x8(512), archsimd.BroadcastInt32x8(384)
	zero, c255 := archsimd.BroadcastInt32x8(0), archsimd.BroadcastInt32x8(255)
	lim := func(x archsimd.Int32x8) archsimd.Int32x8 {
		return x.Add(c512).And(m1023).Sub(c384).Max(zero).Min(c255)
	}
	// Back to lane j = column j of output row r.
	w0, w1, w2, w3, w4, w5, w6, w7 = transpose8x8(lim(x0), lim(x1), lim(x2), lim(x3), lim(x4), lim(x5), lim(x6), lim(x7))
	put := func(r int, v archsimd.Int32x8) {
		binary.LittleEndian.PutUint64(dst[r*stride:], v.TruncToInt8().AsUint64x2().GetElem(0))
	}
	put(0, w0)
	put(1, w1)
	put(2, w2)
	put(3, w3)
	put(4, w4)
	put(5, w5)
	put(6, w6)
	put(7, w7)
}

// idctPass8 is one 1-D islow pass (jidctint.c) on eight lanes: i0..i7 are
// the inputs, the results the outputs before descaling (scaled by
// 2^constBits).
func idctPass8(i0, i1, i2, i3, i4, i5, i6, i7 archsimd.Int64x8) (o0, o1, o2, o3, o4, o5, o6, o7 archsimd.Int64x8) {
	k := archsimd.BroadcastInt64x8
	// Even part.
	z2, z3 := i2, i6
	z1 := z2.Add(z3).Mul(k(fix0_541196100))
	tmp2 := z1.Add(z3.Mul(k(-fix1_847759065)))
	tmp3 := z1.Add(z2.Mul(k(fix0_765366865)))
	z2, z3 = i0, i4
	tmp0 := z2.Add(z3).ShiftAllLeft(constBits)
	tmp1 := z2.Sub(z3).ShiftAllLeft(constBits)
	tmp10, tmp13 := tmp0.Add(tmp3), tmp0.Sub(tmp3)
	tmp11, tmp12 := tmp1.Add(tmp2), tmp1.Sub(tmp2)
	// Odd part (oddPart with a, b, c, d = i7, i5, i3, i1).
	a, b, c, d := i7, i5, i3, i1
	z1, z2, z3, z4 := a.Add(d), b.Add(c), a.Add(c), b.Add(d)
	z5 := z3.Add(z4).Mul(k(fix1_175875602))
	z1 = z1.Mul(k(-fix0_899976223))
	z2 = z2.Mul(k(-fix2_562915447))
	z3 = z3.Mul(k(-fix1_961570560)).Add(z5)
	z4 = z4.Mul(k(-fix0_390180644)).Add(z5)
	t0 := a.Mul(k(fix0_298631336)).Add(z1).Add(z3)
	t1 := b.Mul(k(fix2_053119869)).Add(z2).Add(z4)
	t2 := c.Mul(k(fix3_072711026)).Add(z2).Add(z3)
	t3 := d.Mul(k(fix1_501321110)).Add(z1).Add(z4)
	return tmp10.Add(t3), tmp11.Add(t2), tmp12.Add(t1), tmp13.Add(t0),
		tmp13.Sub(t0), tmp12.Sub(t1), tmp11.Sub(t2), tmp10.Sub(t3)
}

// idct32Bound bounds the inputs for which idctPass8x32 in int32 equals
// idctPass8 in int64: 61214 is the largest sum of absolute coefficients of
// any intermediate value of the pass (computed from the constants), and
// 35079·61214 + the descale rounding < 2^31. Real images stay far below
// (dequantised coefficients and workspace values of a few thousand).
const idct32Bound = 35079

// fitsIDCT32 reports whether all lanes of a pass's inputs are within
// ±idct32Bound. (No input may be −2^31, whose Abs stays negative: the
// dequantised coefficients are above −2^31, and the workspace is only
// tested after an int32 pass 1, which keeps it within ±2^21.)
func fitsIDCT32(i0, i1, i2, i3, i4, i5, i6, i7 archsimd.Int32x8) bool {
	m := i0.Abs().Max(i1.Abs()).Max(i2.Abs()).Max(i3.Abs()).Max(i4.Abs()).Max(i5.Abs()).Max(i6.Abs()).Max(i7.Abs())
	return m.Greater(archsimd.BroadcastInt32x8(idct32Bound)).ToBits() == 0
}

// idctPass8x32 is idctPass8 in int32 lanes, for inputs within ±idct32Bound.
func idctPass8x32(i0, i1, i2, i3, i4, i5, i6, i7 archsimd.Int32x8) (o0, o1, o2, o3, o4, o5, o6, o7 archsimd.Int32x8) {
	k := archsimd.BroadcastInt32x8
	z2, z3 := i2, i6
	z1 := z2.Add(z3).Mul(k(fix0_541196100))
	tmp2 := z1.Add(z3.Mul(k(-fix1_847759065)))
	tmp3 := z1.Add(z2.Mul(k(fix0_765366865)))
	z2, z3 = i0, i4
	tmp0 := z2.Add(z3).ShiftAllLeft(constBits)
	tmp1 := z2.Sub(z3).ShiftAllLeft(constBits)
	tmp10, tmp13 := tmp0.Add(tmp3), tmp0.Sub(tmp3)
	tmp11, tmp12 := tmp1.Add(tmp2), tmp1.Sub(tmp2)
	a, b, c, d := i7, i5, i3, i1
	z1, z2, z3, z4 := a.Add(d), b.Add(c), a.Add(c), b.Add(d)
	z5 := z3.Add(z4).Mul(k(fix1_175875602))
	z1 = z1.Mul(k(-fix0_899976223))
	z2 = z2.Mul(k(-fix2_562915447))
	z3 = z3.Mul(k(-fix1_961570560)).Add(z5)
	z4 = z4.Mul(k(-fix0_390180644)).Add(z5)
	t0 := a.Mul(k(fix0_298631336)).Add(z1).Add(z3)
	t1 := b.Mul(k(fix2_053119869)).Add(z2).Add(z4)
	t2 := c.Mul(k(fix3_072711026)).Add(z2).Add(z3)
	t3 := d.Mul(k(fix1_501321110)).Add(z1).Add(z4)
	return tmp10.Add(t3), tmp11.Add(t2), tmp12.Add(t1), tmp13.Add(t0),
		tmp13.Sub(t0), tmp12.Sub(t1), tmp11.Sub(t2), tmp10.Sub(t3)
}

// fitsIDCT32x16 is fitsIDCT32 for 16 lanes.
func fitsIDCT32x16(i0, i1, i2, i3, i4, i5, i6, i7 archsimd.Int32x16) bool {
	m := i0.Abs().Max(i1.Abs()).Max(i2.Abs()).Max(i3.Abs()).Max(i4.Abs()).Max(i5.Abs()).Max(i6.Abs()).Max(i7.Abs())
	return m.Greater(archsimd.BroadcastInt32x16(idct32Bound)).ToBits() == 0
}

// idctPass16x32 is idctPass8x32 on 16 lanes.
func idctPass16x32(i0, i1, i2, i3, i4, i5, i6, i7 archsimd.Int32x16) (o0, o1, o2, o3, o4, o5, o6, o7 archsimd.Int32x16) {
	k := archsimd.BroadcastInt32x16
	z2, z3 := i2, i6
	z1 := z2.Add(z3).Mul(k(fix0_541196100))
	tmp2 := z1.Add(z3.Mul(k(-fix1_847759065)))
	tmp3 := z1.Add(z2.Mul(k(fix0_765366865)))
	z2, z3 = i0, i4
	tmp0 := z2.Add(z3).ShiftAllLeft(constBits)
	tmp1 := z2.Sub(z3).ShiftAllLeft(constBits)
	tmp10, tmp13 := tmp0.Add(tmp3), tmp0.Sub(tmp3)
	tmp11, tmp12 := tmp1.Add(tmp2), tmp1.Sub(tmp2)
	a, b, c, d := i7, i5, i3, i1
	z1, z2, z3, z4 := a.Add(d), b.Add(c), a.Add(c), b.Add(d)
	z5 := z3.Add(z4).Mul(k(fix1_175875602))
	z1 = z1.Mul(k(-fix0_899976223))
	z2 = z2.Mul(k(-fix2_562915447))
	z3 = z3.Mul(k(-fix1_961570560)).Add(z5)
	z4 = z4.Mul(k(-fix0_390180644)).Add(z5)
	t0 := a.Mul(k(fix0_298631336)).Add(z1).Add(z3)
	t1 := b.Mul(k(fix2_053119869)).Add(z2).Add(z4)
	t2 := c.Mul(k(fix3_072711026)).Add(z2).Add(z3)
	t3 := d.Mul(k(fix1_501321110)).Add(z1).Add(z4)
	return tmp10.Add(t3), tmp11.Add(t2), tmp12.Add(t1), tmp13.Add(t0),
		tmp13.Sub(t0), tmp12.Sub(t1), tmp11.Sub(t2), tmp10.Sub(t3)
}

// pairJoin selects, for transpose8x8x2, the 128-bit groups x.g0 y.g0 x.g2
// y.g2 (pairJoinLo) or x.g1 y.g1 x.g3 y.g3 (pairJoinHi) of two vectors.
var pairJoinLo, pairJoinHi archsimd.Uint32x16

func init() {
	if !hasIDCTSIMD { // the vector loads below need AVX-512
		return
	}
	var lo, hi [16]uint32
	for g := 0; g < 4; g++ { // output group g: source vector g&1, group 2·(g>>1) (+1 for hi)
		for j := 0; j < 4; j++ {
			src := uint32(16*(g&1) + 4*2*(g>>1) + j)
			lo[4*g+j], hi[4*g+j] = src, src+4
		}
	}
	pairJoinLo, pairJoinHi = archsimd.LoadUint32x16Array(&lo), archsimd.LoadUint32x16Array(&hi)
}

// transpose8x8x2 is transpose8x8 on two 8×8 matrices held side by side
// (lanes 0-7 and 8-15 of each row vector).
func transpose8x8x2(m0, m1, m2, m3, m4, m5, m6, m7 archsimd.Int32x16) (r0, r1, r2, r3, r4, r5, r6, r7 archsimd.Int32x16) {
	t0, t1 := m0.InterleaveLoGrouped(m1), m0.InterleaveHiGrouped(m1)
	t2, t3 := m2.InterleaveLoGrouped(m3), m2.InterleaveHiGrouped(m3)
	t4, t5 := m4.InterleaveLoGrouped(m5), m4.InterleaveHiGrouped(m5)
	t6, t7 := m6.InterleaveLoGrouped(m7), m6.InterleaveHiGrouped(m7)
	lo := func(x, y archsimd.Int32x16) archsimd.Int32x16 {
		return x.AsInt64x8().InterleaveLoGrouped(y.AsInt64x8()).AsInt32x16()
	}
	hi := func(x, y archsimd.Int32x16) archsimd.Int32x16 {
		return x.AsInt64x8().InterleaveHiGrouped(y.AsInt64x8()).AsInt32x16()
	}
	u0, u1, u2, u3 := lo(t0, t2), hi(t0, t2), lo(t1, t3), hi(t1, t3)
	u4, u5, u6, u7 := lo(t4, t6), hi(t4, t6), lo(t5, t7), hi(t5, t7)
	return u0.ConcatPermute(u4, pairJoinLo), u1.ConcatPermute(u5, pairJoinLo),
		u2.ConcatPermute(u6, pairJoinLo), u3.ConcatPermute(u7, pairJoinLo),
		u0.ConcatPermute(u4, pairJoinHi), u1.ConcatPermute(u5, pairJoinHi),
		u2.ConcatPermute(u6, pairJoinHi), u3.ConcatPermute(u7, pairJoinHi)
}

// transpose8x8 transposes an 8×8 int32 matrix held as eight row vectors.
func transpose8x8(m0, m1, m2, m3, m4, m5, m6, m7 archsimd.Int32x8) (r0, r1, r2, r3, r4, r5, r6, r7 archsimd.Int32x8) {
	// Interleave 32-bit elements of row pairs (within 128-bit halves).
	t0, t1 := m0.InterleaveLoGrouped(m1), m0.InterleaveHiGrouped(m1)
	t2, t3 := m2.InterleaveLoGrouped(m3), m2.InterleaveHiGrouped(m3)
	t4, t5 := m4.InterleaveLoGrouped(m5), m4.InterleaveHiGrouped(m5)
	t6, t7 := m6.InterleaveLoGrouped(m7), m6.InterleaveHiGrouped(m7)
	// Interleave 64-bit pairs: u0 = column 0 | column 4 of rows 0-3, etc.
	lo := func(x, y archsimd.Int32x8) archsimd.Int32x8 {
		return x.AsInt64x4().InterleaveLoGrouped(y.AsInt64x4()).AsInt32x8()
	}
	hi := func(x, y archsimd.Int32x8) archsimd.Int32x8 {
		return x.AsInt64x4().InterleaveHiGrouped(y.AsInt64x4()).AsInt32x8()
	}
	u0, u1, u2, u3 := lo(t0, t2), hi(t0, t2), lo(t1, t3), hi(t1, t3)
	u4, u5, u6, u7 := lo(t4, t6), hi(t4, t6), lo(t5, t7), hi(t5, t7)
	// Join the 128-bit halves of rows 0-3 and 4-7.
	return u0.ConcatPermute128Scalars(0, 2, u4), u1.ConcatPermute128Scalars(0, 2, u5),
		u2.ConcatPermute128Scalars(0, 2, u6), u3.ConcatPermute128Scalars(0, 2, u7),
		u0.ConcatPermute128Scalars(1, 3, u4), u1.ConcatPermute128Scalars(1, 3, u5),
		u2.ConcatPermute128Scalars(1, 3, u6), u3.ConcatPermute128Scalars(1, 3, u7)
}
