package imageio

// libjpeg's "islow" inverse DCT (jidctint.c): a separable 8-point
// Loeffler–Ligtenberg–Moschytz IDCT in fixed point with 13-bit constants;
// columns first keeping PASS1_BITS extra bits, then rows; each output is
// descaled with round-half-up and passed through the post-IDCT range-limit
// table (which wraps modulo 1024 before clamping, as libjpeg's does).

const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// idctLimit maps a descaled IDCT output x (centred on 0) at index x&1023 to
// a sample: x+128 clamped to [0, 255] for -512 ≤ x < 512; libjpeg's table
// wraps beyond that, and so do we.
var idctLimit [1024]uint8

func init() {
	for i := range idctLimit {
		switch {
		case i < 128:
			idctLimit[i] = uint8(i + 128)
		case i < 512:
			idctLimit[i] = 255
		case i < 896:
			idctLimit[i] = 0
		default:
			idctLimit[i] = uint8(i - 896)
		}
	}
}

func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// idctIslow dequantises coef (natural order) with q and writes the 8×8
// samples to dst (row stride).
func idctIslow(coef []int16, q *[64]uint16, dst []uint8, stride int) {
	if !idctSIMD(coef, q, dst, stride) { // idct_simd.go, where the CPU allows
		idctIslowScalar(coef, q, dst, stride)
	}
}

// idctIslowScalar is idctIslow in plain Go.
func idctIslowScalar(coef []int16, q *[64]uint16, dst []uint8, stride int) {
	coef = coef[:64]
	var ws [64]int32
	for col := 0; col < 8; col++ {
		if coef[8+col] == 0 && coef[16+col] == 0 && coef[24+col] == 0 && coef[32+col] == 0 &&
			coef[40+col] == 0 && coef[48+col] == 0 && coef[56+col] == 0 {
			dc := int32(coef[col]) * int32(q[col]) << pass1Bits
			for r := 0; r < 8; r++ {
				ws[8*r+col] = dc
			}
			continue
		}
		deq := func(r int) int64 { return int64(coef[8*r+col]) * int64(q[8*r+col]) }
		// Even part.
		z2, z3 := deq(2), deq(6)
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*(-fix1_847759065)
		tmp3 := z1 + z2*fix0_765366865
		z2, z3 = deq(0), deq(4)
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		// Odd part.
		tmp0, tmp1, tmp2, tmp3 = oddPart(deq(7), deq(5), deq(3), deq(1))
		const n = constBits - pass1Bits
		ws[col] = int32(descale(tmp10+tmp3, n))
		ws[56+col] = int32(descale(tmp10-tmp3, n))
		ws[8+col] = int32(descale(tmp11+tmp2, n))
		ws[48+col] = int32(descale(tmp11-tmp2, n))
		ws[16+col] = int32(descale(tmp12+tmp1, n))
		ws[40+col] = int32(descale(tmp12-tmp1, n))
		ws[24+col] = int32(descale(tmp13+tmp0, n))
		ws[32+col] = int32(descale(tmp13-tmp0, n))
	}
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8]
		out := dst[r*stride : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := idctLimit[descale(int64(w[0]), pass1Bits+3)&1023]
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := int64(w[2]), int64(w[6])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*(-fix1_847759065)
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		tmp0, tmp1, tmp2, tmp3 = oddPart(int64(w[7]), int64(w[5]), int64(w[3]), int64(w[1]))
		const n = constBits + pass1Bits + 3
		out[0] = idctLimit[descale(tmp10+tmp3, n)&1023]
		out[7] = idctLimit[descale(tmp10-tmp3, n)&1023]
		out[1] = idctLimit[descale(tmp11+tmp2, n)&1023]
		out[6] = idctLimit[descale(tmp11-tmp2, n)&1023]
		out[2] = idctLimit[descale(tmp12+tmp1, n)&1023]
		out[5] = idctLimit[descale(tmp12-tmp1, n)&1023]
		out[3] = idctLimit[descale(tmp13+tmp0, n)&1023]
		out[4] = idctLimit[descale(tmp13-tmp0, n)&1023]
	}
}

// idctPlane runs idctIslow on the cbw×cbh real blocks of a component
// (coefficient blocks bw to a row) into pix, rows stride apart.
func idctPlane(coef []int16, q *[64]uint16, bw, cbw, cbh int, pix []uint8, stride int) {
	if idctPlaneSIMD(coef, q, bw, cbw, cbh, pix, stride) {
		return
	}
	for by := 0; by < cbh; by++ {
		for bx := 0; bx < cbw; bx++ {
			off := (by*bw + bx) * 64
			idctIslow(coef[off:off+64], q, pix[by*8*stride+bx*8:], stride)
		}
	}
}

// oddPart is the odd-part rotation shared by libjpeg's islow IDCT and FDCT
// (jidctint.c / jfdctint.c): inputs in the order tmp0..tmp3 of the IDCT
// (tmp4..tmp7 of the FDCT), outputs scaled by 2^constBits. Integer
// arithmetic, so the order of the sums does not change the result.
func oddPart(a, b, c, d int64) (int64, int64, int64, int64) {
	z1, z2, z3, z4 := a+d, b+c, a+c, b+d
	z5 := (z3 + z4) * fix1_175875602
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 = z3*(-fix1_961570560) + z5
	z4 = z4*(-fix0_390180644) + z5
	return a*fix0_298631336 + z1 + z3, b*fix2_053119869 + z2 + z4, c*fix3_072711026 + z2 + z3, d*fix1_501321110 + z1 + z4
}
