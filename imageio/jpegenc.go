package imageio

import (
	"bufio"
	"fmt"
	"io"
	mbits "math/bits"
)

// A baseline JPEG encoder that writes what libjpeg-turbo writes with
// jpeg_set_defaults + jpeg_set_quality(q, force_baseline=TRUE) for an RGB
// image — the settings behind cv2.imwrite(".jpg", IMWRITE_JPEG_QUALITY=q) and
// PIL's Image.save(quality=q): JFIF header, 4:2:0 (Y 2×2, Cb/Cr 1×1), IJG
// quality scaling of the Annex K tables, libjpeg's fixed-point RGB→YCbCr
// tables (jccolor.c), its h2v2 box downsampling with alternating 1/2
// rounding bias and edge replication (jcsample.c, jcprepct.c), the islow
// forward DCT (jfdctint.c), rounding quantisation (jcdctmgr.c), dummy edge
// blocks (jccoefct.c) and the Annex K Huffman tables. Written from those
// descriptions; the tests compare our files with PIL's byte for byte.
// DualToken's reconstruction eval writes its images this way (cv2, q95).

// Annex K.1 quantisation tables, natural order.
var stdLumaQuant = [64]int{
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
}

var stdChromaQuant = [64]int{
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
}

// quantTables is jpeg_set_quality(quality, TRUE).
func quantTables(quality int) (q [2][64]int32) {
	quality = min(max(quality, 1), 100)
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	for i := 0; i < 64; i++ {
		for t, base := range [2]*[64]int{&stdLumaQuant, &stdChromaQuant} {
			v := (base[i]*scale + 50) / 100
			q[t][i] = int32(min(max(v, 1), 255))
		}
	}
	return
}

// libjpeg's RGB→YCbCr tables (16-bit fixed point).
var rgbYCC [8][256]int32

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := int32(0); i < 256; i++ {
		rgbYCC[0][i] = fix(0.29900) * i
		rgbYCC[1][i] = fix(0.58700) * i
		rgbYCC[2][i] = fix(0.11400)*i + half
		rgbYCC[3][i] = -fix(0.16874) * i
		rgbYCC[4][i] = -fix(0.33126) * i
		rgbYCC[5][i] = fix(0.50000)*i + 128<<scaleBits + half - 1 // B→Cb and R→Cr
		rgbYCC[6][i] = -fix(0.41869) * i
		rgbYCC[7][i] = -fix(0.08131) * i
	}
}

// EncodeJPEG writes img as a baseline 4:2:0 JPEG at quality 1..100, byte for
// byte as libjpeg-turbo (PIL, cv2) writes it with default settings.
func EncodeJPEG(w io.Writer, img *Image, quality int) error {
	if quality < 1 || quality > 100 {
		return fmt.Errorf("imageio: JPEG quality %d outside 1..100", quality)
	}
	if img.H < 1 || img.W < 1 || img.H > 65535 || img.W > 65535 {
		return fmt.Errorf("imageio: cannot write a %dx%d JPEG", img.H, img.W)
	}
	W, H := img.W, img.H
	qt := quantTables(quality)

	// Geometry (jcmaster.c): Y is 2×2, chroma 1×1; MCU 16×16.
	mcusX, mcusY := (W+15)/16, (H+15)/16
	yBW, yBH := (W+7)/8, (H+7)/8 // Y width/height in blocks; chroma has one per MCU

	// Colour conversion into planes padded to whole MCUs by edge replication.
	pw, ph := mcusX*16, mcusY*16
	yp := make([]uint8, pw*ph)
	cbFull := make([]uint8, pw*ph)
	crFull := make([]uint8, pw*ph)
	for y := 0; y < H; y++ {
		src := img.Pix[y*W*3 : (y+1)*W*3]
		row := y * pw
		for x := 0; x < W; x++ {
			r, g, b := src[3*x], src[3*x+1], src[3*x+2]
			yp[row+x] = uint8((rgbYCC[0][r] + rgbYCC[1][g] + rgbYCC[2][b]) >> 16)
			cbFull[row+x] = uint8((rgbYCC[3][r] + rgbYCC[4][g] + rgbYCC[5][b]) >> 16)
			crFull[row+x] = uint8((rgbYCC[5][r] + rgbYCC[6][g] + rgbYCC[7][b]) >> 16)
		}
		for _, p := range [][]uint8{yp, cbFull, crFull} {
			last := p[row+W-1]
			for x := W; x < pw; x++ {
				p[row+x] = last
			}
		}
	}
	for y := H; y < ph; y++ {
		for _, p := range [][]uint8{yp, cbFull, crFull} {
			copy(p[y*pw:(y+1)*pw], p[(H-1)*pw:H*pw])
		}
	}
	// h2v2_downsample: the rows of each real row group (the odd last one
	// padded with a copy of the last image row), then the chroma plane is
	// padded to whole MCUs by repeating its last computed row.
	cw, chh := mcusX*8, mcusY*8
	cb := make([]uint8, cw*chh)
	cr := make([]uint8, cw*chh)
	groups := (H + 1) / 2
	for _, pair := range [2][2][]uint8{{cbFull, cb}, {crFull, cr}} {
		full, out := pair[0], pair[1]
		for r := 0; r < groups; r++ {
			in0 := full[2*r*pw : 2*r*pw+pw]
			in1 := full[(2*r+1)*pw : (2*r+1)*pw+pw] // row H when H is odd: already a copy of row H-1
			o := out[r*cw : (r+1)*cw]
			bias := int32(1)
			for c := range o {
				o[c] = uint8((int32(in0[2*c]) + int32(in0[2*c+1]) + int32(in1[2*c]) + int32(in1[2*c+1]) + bias) >> 2)
				bias ^= 3
			}
		}
		for r := groups; r < chh; r++ {
			copy(out[r*cw:(r+1)*cw], out[(groups-1)*cw:groups*cw])
		}
	}

	bw := bufio.NewWriter(w)
	e := &huffWriter{w: bw}
	writeJPEGHeaders(bw, W, H, &qt)
	dcTab := [2]*huffCodes{newHuffCodes(stdDCCounts[0], stdDCVals), newHuffCodes(stdDCCounts[1], stdDCVals)}
	acTab := [2]*huffCodes{newHuffCodes(stdACCounts[0], stdACVals[0]), newHuffCodes(stdACCounts[1], stdACVals[1])}

	rq := [2]*quantRecip{newQuantRecip(&qt[0]), newQuantRecip(&qt[1])}
	var blk [64]int32
	var pred [3]int32
	var mcu [6][64]int32
	for my := 0; my < mcusY; my++ {
		for mx := 0; mx < mcusX; mx++ {
			// Y: 2×2 blocks; those outside the image's blocks are libjpeg's
			// dummy blocks (zero AC, DC copied from the previous block).
			for by := 0; by < 2; by++ {
				for bx := 0; bx < 2; bx++ {
					n := by*2 + bx
					gx, gy := mx*2+bx, my*2+by
					switch {
					case gy >= yBH:
						mcu[n] = [64]int32{}
						mcu[n][0] = mcu[by*2-1][0]
					case gx >= yBW:
						mcu[n] = [64]int32{}
						mcu[n][0] = mcu[n-1][0]
					default:
						fdctBlock(&blk, yp, pw, gx*8, gy*8)
						quantize(&mcu[n], &blk, rq[0])
					}
				}
			}
			fdctBlock(&blk, cb, cw, mx*8, my*8)
			quantize(&mcu[4], &blk, rq[1])
			fdctBlock(&blk, cr, cw, mx*8, my*8)
			quantize(&mcu[5], &blk, rq[1])
			for n := 0; n < 6; n++ {
				ci := max(n-3, 0)
				t := min(ci, 1)
				e.block(&mcu[n], &pred[ci], dcTab[t], acTab[t])
			}
		}
	}
	e.flush()
	bw.Write([]byte{0xFF, 0xD9})
	return bw.Flush()
}

// fdctBlock is libjpeg's jpeg_fdct_islow on the 8×8 block at (x0, y0) of a
// plane, after the level shift by 128: rows keeping PASS1_BITS extra bits,
// then columns; output scaled up by 8.
func fdctBlock(out *[64]int32, p []uint8, stride, x0, y0 int) {
	var d [64]int32
	for r := 0; r < 8; r++ {
		in := p[(y0+r)*stride+x0 : (y0+r)*stride+x0+8]
		row := d[8*r : 8*r+8]
		s0, s1, s2, s3 := int64(in[0])-128, int64(in[1])-128, int64(in[2])-128, int64(in[3])-128
		s4, s5, s6, s7 := int64(in[4])-128, int64(in[5])-128, int64(in[6])-128, int64(in[7])-128
		tmp0, tmp7 := s0+s7, s0-s7
		tmp1, tmp6 := s1+s6, s1-s6
		tmp2, tmp5 := s2+s5, s2-s5
		tmp3, tmp4 := s3+s4, s3-s4
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		row[0] = int32((tmp10 + tmp11) << pass1Bits)
		row[4] = int32((tmp10 - tmp11) << pass1Bits)
		z1 := (tmp12 + tmp13) * fix0_541196100
		const n = constBits - pass1Bits
		row[2] = int32(descale(z1+tmp13*fix0_765366865, n))
		row[6] = int32(descale(z1+tmp12*(-fix1_847759065), n))
		o4, o5, o6, o7 := oddPart(tmp4, tmp5, tmp6, tmp7)
		row[7] = int32(descale(o4, n))
		row[5] = int32(descale(o5, n))
		row[3] = int32(descale(o6, n))
		row[1] = int32(descale(o7, n))
	}
	for c := 0; c < 8; c++ {
		s0, s1, s2, s3 := int64(d[c]), int64(d[8+c]), int64(d[16+c]), int64(d[24+c])
		s4, s5, s6, s7 := int64(d[32+c]), int64(d[40+c]), int64(d[48+c]), int64(d[56+c])
		tmp0, tmp7 := s0+s7, s0-s7
		tmp1, tmp6 := s1+s6, s1-s6
		tmp2, tmp5 := s2+s5, s2-s5
		tmp3, tmp4 := s3+s4, s3-s4
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		out[c] = int32(descale(tmp10+tmp11, pass1Bits))
		out[32+c] = int32(descale(tmp10-tmp11, pass1Bits))
		z1 := (tmp12 + tmp13) * fix0_541196100
		const n = constBits + pass1Bits
		out[16+c] = int32(descale(z1+tmp13*fix0_765366865, n))
		out[48+c] = int32(descale(z1+tmp12*(-fix1_847759065), n))
		o4, o5, o6, o7 := oddPart(tmp4, tmp5, tmp6, tmp7)
		out[56+c] = int32(descale(o4, n))
		out[40+c] = int32(descale(o5, n))
		out[24+c] = int32(descale(o6, n))
		out[8+c] = int32(descale(o7, n))
	}
}

// quantRecip is a quantisation table as reciprocals of its divisors
// d = 8·q ≤ 2040: with m = ⌈2^31/d⌉, (u·m)>>31 = ⌊u/d⌋ for every u < 2^20
// (Granlund and Montgomery: m·d − 2^31 < d ≤ 2^11). The DCT of 8-bit
// samples, scaled by 8, stays within ±8·1024, so u = |t| + d/2 is in range.
type quantRecip struct {
	half [64]int32
	m    [64]uint64
}

func newQuantRecip(q *[64]int32) *quantRecip {
	r := &quantRecip{}
	for i, v := range q {
		d := uint64(v) << 3
		r.half[i] = int32(d >> 1)
		r.m[i] = (1<<31 + d - 1) / d
	}
	return r
}

// quantize divides by 8·q rounding half away from zero (jcdctmgr.c), with
// the reciprocals and without branches on the sign (DCT coefficients' signs
// are close to random; mispredicting them, and the divisions, took a
// quarter of the encoder's time).
func quantize(out *[64]int32, in *[64]int32, r *quantRecip) {
	for i, t := range in {
		sign := t >> 31        // 0 or −1
		a := (t ^ sign) - sign // |t|
		v := int32((uint64(a+r.half[i]) * r.m[i]) >> 31)
		out[i] = (v ^ sign) - sign
	}
}

func writeJPEGHeaders(w *bufio.Writer, W, H int, qt *[2][64]int32) {
	w.Write([]byte{0xFF, 0xD8})
	// JFIF APP0: version 1.01, no density units, 1:1, no thumbnail.
	w.Write([]byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0})
	for t := 0; t < 2; t++ {
		w.Write([]byte{0xFF, 0xDB, 0, 67, byte(t)})
		for k := 0; k < 64; k++ {
			w.WriteByte(byte(qt[t][zigzag[k]]))
		}
	}
	w.Write([]byte{0xFF, 0xC0, 0, 17, 8, byte(H >> 8), byte(H), byte(W >> 8), byte(W), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1})
	dht := func(class, id int, counts [16]uint8, vals []uint8) {
		n := 2 + 1 + 16 + len(vals)
		w.Write([]byte{0xFF, 0xC4, byte(n >> 8), byte(n), byte(class<<4 | id)})
		w.Write(counts[:])
		w.Write(vals)
	}
	dht(0, 0, stdDCCounts[0], stdDCVals)
	dht(1, 0, stdACCounts[0], stdACVals[0])
	dht(0, 1, stdDCCounts[1], stdDCVals)
	dht(1, 1, stdACCounts[1], stdACVals[1])
	w.Write([]byte{0xFF, 0xDA, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0})
}

// huffCodes maps symbols to canonical codes (code, length).
type huffCodes struct {
	code [256]uint32
	size [256]uint8
}

func newHuffCodes(counts [16]uint8, vals []uint8) *huffCodes {
	h := &huffCodes{}
	code, k := uint32(0), 0
	for l := 1; l <= 16; l++ {
		for i := 0; i < int(counts[l-1]); i++ {
			h.code[vals[k]] = code
			h.size[vals[k]] = uint8(l)
			code++
			k++
		}
		code <<= 1
	}
	return h
}

// huffWriter emits entropy-coded bits with 0xFF byte stuffing, 32 bits at
// a time into buf (one check for a 0xFF byte among the four), written out
// by flush.
type huffWriter struct {
	w    *bufio.Writer
	buf  []byte
	acc  uint64
	nacc uint // bits held in acc's low end: < 32 between calls
}

// put appends one entropy-coded byte, stuffed.
func (e *huffWriter) put(b byte) {
	e.buf = append(e.buf, b)
	if b == 0xFF {
		e.buf = append(e.buf, 0)
	}
}

// bits appends the low n ≤ 32 bits of v.
func (e *huffWriter) bits(v uint32, n uint) {
	e.acc = e.acc<<n | uint64(v)&(1<<n-1)
	e.nacc += n
	if e.nacc < 32 {
		return
	}
	e.nacc -= 32
	w := uint32(e.acc >> e.nacc)
	if x := ^w; (x-0x01010101)&^x&0x80808080 == 0 { // no 0xFF byte in w
		e.buf = append(e.buf, byte(w>>24), byte(w>>16), byte(w>>8), byte(w))
		return
	}
	e.put(byte(w >> 24))
	e.put(byte(w >> 16))
	e.put(byte(w >> 8))
	e.put(byte(w))
}

// flush pads the last byte with one bits and writes the entropy-coded data.
func (e *huffWriter) flush() {
	if r := e.nacc % 8; r != 0 {
		e.acc = e.acc<<(8-r) | (1<<(8-r) - 1)
		e.nacc += 8 - r
	}
	for e.nacc >= 8 {
		e.nacc -= 8
		e.put(byte(e.acc >> e.nacc))
	}
	e.w.Write(e.buf)
}

// block is jchuff.c's encode_one_block. Each symbol's code and the value's
// bits go out in one call (at most 16 + 11 bits).
func (e *huffWriter) block(b *[64]int32, pred *int32, dc, ac *huffCodes) {
	// magnitude: the bit count of |v| and v's JPEG bits (v−1 when negative;
	// bits keeps the low n).
	magnitude := func(v int32) (uint32, uint) {
		sign := v >> 31
		n := uint(mbits.Len32(uint32((v ^ sign) - sign)))
		return uint32(v + sign), n
	}
	emit := func(t *huffCodes, sym int, v uint32, n uint) {
		size := uint(t.size[sym])
		e.bits(t.code[sym]<<n|v&(1<<n-1), size+n)
	}
	v, n := magnitude(b[0] - *pred)
	*pred = b[0]
	emit(dc, int(n), v, n)
	run := 0
	for k := 1; k < 64; k++ {
		c := b[zigzag[k]]
		if c == 0 {
			run++
			continue
		}
		for run > 15 {
			emit(ac, 0xF0, 0, 0)
			run -= 16
		}
		v, n := magnitude(c)
		emit(ac, run<<4|int(n), v, n)
		run = 0
	}
	if run > 0 {
		emit(ac, 0, 0, 0)
	}
}
