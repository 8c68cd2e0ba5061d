//go:build goexperiment.simd && amd64

package imageio

import "simd/archsimd"

// AVX-512 versions of the output stage's loops (jpegdec_out.go): the fancy
// upsampling and libjpeg's YCbCr→RGB conversion in int32 lanes, 16 pixels at
// a time. The conversion computes libjpeg's table entries (jdcolor.c) by the
// same fixed-point formulas, so the samples equal the scalar ones. Each
// function returns how many samples (chroma samples for fancyRowSIMD) it
// did; the scalar loop finishes the rest.
//
// Each function ends with VZEROUPPER (archsimd.ClearAVXUpperBits): the Go
// code around uses legacy SSE instructions, which stall while the upper
// halves of the vector registers are dirty. Shift counts are constants: a
// variable count costs a legacy-SSE move into an XMM register.

// hasColorSIMD: AVX-512 with VBMI, for the byte permutation (VPERMB) that
// interleaves R, G and B.
var hasColorSIMD = archsimd.X86.AVX512() && archsimd.X86.AVX512VBMI()

// yccFix is jdcolor.c's FIX(x) at 16 bits, as the tables in jpeg.go use.
func yccFix(x float64) int32 { return int32(x*(1<<16) + 0.5) }

var (
	// rgbPerm gathers bytes R0 G0 B0 R1 … from 16 int32 lanes R | G<<8 | B<<16.
	rgbPerm archsimd.Uint8x64
	// ilvLo, ilvHi interleave the lanes of two Int32x16 (even and odd pixels).
	ilvLo, ilvHi archsimd.Uint32x16
	// yccK holds ycc16's constants as vectors: loads from memory, where a
	// broadcast from a register would compete for the shuffle port that the
	// permutations need.
	yccK struct{ c128, half, crR, cbB, cbG, crG, zero, c255 archsimd.Int32x16 }
)

func init() {
	if !hasColorSIMD { // the vector loads below need AVX-512
		return
	}
	var p [64]uint8
	for i := 0; i < 16; i++ {
		p[3*i], p[3*i+1], p[3*i+2] = uint8(4*i), uint8(4*i+1), uint8(4*i+2)
	}
	rgbPerm = archsimd.LoadUint8x64Array(&p)
	var lo, hi [16]uint32
	for i := 0; i < 8; i++ {
		lo[2*i], lo[2*i+1] = uint32(i), uint32(16+i)
		hi[2*i], hi[2*i+1] = uint32(8+i), uint32(24+i)
	}
	ilvLo, ilvHi = archsimd.LoadUint32x16Array(&lo), archsimd.LoadUint32x16Array(&hi)
	k := archsimd.BroadcastInt32x16
	yccK.c128, yccK.half, yccK.zero, yccK.c255 = k(128), k(1<<15), k(0), k(255)
	yccK.crR, yccK.cbB = k(yccFix(1.40200)), k(yccFix(1.77200))
	yccK.cbG, yccK.crG = k(-yccFix(0.34414)), k(-yccFix(0.71414))
}

// ycc16 converts 16 pixels (Y, Cb, Cr as int32 lanes in 0..255) and stores
// the 48 RGB bytes at dst (in a row being written from left to right).
func ycc16(dst []uint8, y, cb, cr archsimd.Int32x16) {
	k := &yccK
	xb, xr := cb.Sub(k.c128), cr.Sub(k.c128)
	// R = Y + crR[cr], B = Y + cbB[cb], G = Y + (cbG[cb] + crG[cr]) >> 16.
	r := y.Add(xr.Mul(k.crR).Add(k.half).ShiftAllRight(16))
	b := y.Add(xb.Mul(k.cbB).Add(k.half).ShiftAllRight(16))
	g := y.Add(xb.Mul(k.cbG).Add(xr.Mul(k.crG)).Add(k.half).ShiftAllRight(16))
	// Clamp, pack each pixel into one lane (R | G<<8 | B<<16), then gather
	// the 48 bytes.
	r = r.Max(k.zero).Min(k.c255)
	g = g.Max(k.zero).Min(k.c255).ShiftAllLeft(8)
	b = b.Max(k.zero).Min(k.c255).ShiftAllLeft(16)
	v := r.Or(g).Or(b).AsUint8x64().Permute(rgbPerm)
	if len(dst) >= 64 {
		v.Store(dst) // the 16 bytes past the pixels are rewritten later
	} else {
		v.StorePart(dst[:48])
	}
}

func loadBytes16(s []uint8) archsimd.Int32x16 {
	return archsimd.LoadUint8x16(s).ExtendToUint32().AsInt32x16()
}

// fancyRowSIMD is fancyRow's loop for interior chroma samples [1, end),
// 16 at a time (32 pixels); it returns end = cw−1, or 0 if it did none.
// p is fancyH2V1 or fancyH2V2 (told apart by p.b).
func fancyRowSIMD(dst, y, nb, fb, nr, fr []uint8, p fancyParams) int {
	if !hasColorSIMD {
		return 0
	}
	cw := len(nb)
	defer archsimd.ClearAVXUpperBits()
	vbe, vbo := archsimd.BroadcastInt32x16(p.be), archsimd.BroadcastInt32x16(p.bo)
	// h2v2: column sums 3·near + far, shift 4; h2v1: the samples, shift 2.
	// (Constant shift counts: a variable one costs a legacy-SSE MOVQ to an
	// XMM register, which stalls with the AVX-512 state dirty.)
	vert := p.b != 0
	// up upsamples chroma samples i..i+15 to pixels 2i..2i+31 (two vectors
	// in pixel order). Column sums are computed from the bytes at i−1, i and
	// i+1 rather than stored: reloading just-stored sums at other offsets
	// stalls on store forwarding.
	up := func(near, far []uint8, i int) (lo, hi archsimd.Int32x16) {
		cs := func(j int) archsimd.Int32x16 {
			n := loadBytes16(near[j:])
			if !vert {
				return n
			}
			return n.ShiftAllLeft(1).Add(n).Add(loadBytes16(far[j:]))
		}
		c := cs(i)
		c = c.ShiftAllLeft(1).Add(c)
		even, odd := c.Add(cs(i-1)).Add(vbe), c.Add(cs(i+1)).Add(vbo)
		if vert {
			even, odd = even.ShiftAllRight(4), odd.ShiftAllRight(4)
		} else {
			even, odd = even.ShiftAllRight(2), odd.ShiftAllRight(2)
		}
		return even.ConcatPermute(odd, ilvLo), even.ConcatPermute(odd, ilvHi)
	}
	if cw < 18 || len(fb) < cw || len(nr) < cw || len(fr) < cw || len(y) < 2*cw-1 || len(dst) < 3*len(y) {
		return 0
	}
	// Chunks at i = 1, 17, … and a last one at cw−17 that may overlap the
	// previous (rewriting the same values), so only samples 0 and cw−1,
	// whose neighbours are replicated, are left to the scalar loop. The
	// bounds: chunk i reads samples i−1 … i+16 < cw and writes pixels
	// 2i … 2i+31 ≤ 2cw−3 < len(y).
	for i := 1; ; i += 16 {
		last := i+17 > cw-1
		if last {
			i = cw - 17
		}
		b0, b1 := up(nb, fb, i)
		r0, r1 := up(nr, fr, i)
		x := 2 * i
		ycc16(dst[3*x:], loadBytes16(y[x:]), b0, r0)
		ycc16(dst[3*x+48:], loadBytes16(y[x+16:]), b1, r1)
		if last {
			return cw - 1
		}
	}
}

// yccRowSIMD is yccRow for the first pixels, 16 at a time.
func yccRowSIMD(dst, y, cb, cr []uint8) int {
	if !hasColorSIMD {
		return 0
	}
	defer archsimd.ClearAVXUpperBits()
	n := len(y)
	if n < 16 || len(cb) < n || len(cr) < n || len(dst) < 3*n {
		return 0
	}
	// The last chunk may overlap the previous one (same values rewritten).
	for x := 0; ; x += 16 {
		last := x+16 >= n
		if last {
			x = n - 16
		}
		ycc16(dst[3*x:], loadBytes16(y[x:]), loadBytes16(cb[x:]), loadBytes16(cr[x:]))
		if last {
			return n
		}
	}
}
