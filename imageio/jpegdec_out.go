package imageio

import "sync"

// The fast output stage for the common JPEGs: grey, and YCbCr with full-size
// luma and chroma at 1×1, 2×1 or 2×2 (4:4:4, 4:2:2, 4:2:0). It produces the
// same samples as output() (jpegout.go), which handles every other layout:
// the same IDCT, then libjpeg's fancy upsampling fused with the colour
// conversion, written straight into the RGB image (no intermediate
// full-width rows), with SIMD loops where built (jpegdec_simd.go).
// Coefficient and sample buffers come from pools, as decoding many images
// of one size is the usual load.

var (
	// coefPool and pixPool hold []int16 coefficient and []uint8 sample
	// buffers for reuse across images.
	coefPool, pixPool sync.Pool
)

// getCoef returns a zeroed coefficient buffer of length n.
func getCoef(n int) []int16 {
	if p, _ := coefPool.Get().(*[]int16); p != nil && cap(*p) >= n {
		b := (*p)[:n]
		clear(b)
		return b
	}
	return make([]int16, n)
}

func putCoef(b []int16) {
	if b != nil {
		coefPool.Put(&b)
	}
}

// getPix returns a sample buffer of length n (not cleared: the IDCT writes
// every sample).
func getPix(n int) []uint8 {
	if p, _ := pixPool.Get().(*[]uint8); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]uint8, n)
}

func putPix(b []uint8) { pixPool.Put(&b) }

// clampTab[v+clampOff] is v clamped to [0, 255] for the colour-converted
// values (−227 ≤ v ≤ 480 for 8-bit inputs); indexing with &1023 lets the
// compiler drop the bounds check and never wraps for those values.
const clampOff = 256

var clampTab [1024]uint8

func init() {
	for i := range clampTab {
		clampTab[i] = clamp255(int32(i - clampOff))
	}
}

// outputFast is output() for the layouts it covers; ok is false for the
// others (the caller then runs output()).
func (d *jpegDecoder) outputFast() (img *Image, ok bool) {
	if d.scans == 0 {
		return nil, false
	}
	var hs, vs int
	switch d.colorSpace() {
	case "gray":
	case "ycbcr":
		y, cb, cr := d.comps[0], d.comps[1], d.comps[2]
		if y.h != d.hmax || y.v != d.vmax || cb.h != cr.h || cb.v != cr.v ||
			d.hmax%cb.h != 0 || d.vmax%cb.v != 0 {
			return nil, false
		}
		hs, vs = d.hmax/cb.h, d.vmax/cb.v
		switch {
		case hs == 1 && vs == 1:
		case hs == 2 && (vs == 1 || vs == 2) && cb.w > 2: // fancy upsampling
		default:
			return nil, false
		}
	default:
		return nil, false
	}
	for _, c := range d.comps {
		if c.qt == nil { // a component in no scan: output() handles it
			return nil, false
		}
	}
	planes := make([]plane, len(d.comps))
	for i, c := range d.comps {
		stride := c.cbw * 8
		pix := getPix(stride * c.cbh * 8)
		idctPlane(c.coef, c.qt, c.bw, c.cbw, c.cbh, pix, stride)
		putCoef(c.coef)
		c.coef = nil
		planes[i] = plane{pix: pix, stride: stride, w: c.w, h: c.h2, hs: d.hmax / c.h, vs: d.vmax / c.v}
	}
	out := New(d.h, d.w)
	w := d.w
	if len(planes) == 1 {
		p := &planes[0]
		for r := 0; r < d.h; r++ {
			src := p.pix[r*p.stride : r*p.stride+w]
			dst := out.Pix[r*w*3 : (r+1)*w*3]
			for x, v := range src {
				d := dst[3*x : 3*x+3 : 3*x+3]
				d[0], d[1], d[2] = v, v, v
			}
		}
		putPix(p.pix)
		return out, true
	}
	py, pb, pr := &planes[0], &planes[1], &planes[2]
	for r := 0; r < d.h; r++ {
		yrow := py.pix[r*py.stride : r*py.stride+w]
		dst := out.Pix[r*w*3 : (r+1)*w*3]
		switch {
		case hs == 1:
			cbrow := pb.pix[r*pb.stride : r*pb.stride+w]
			crrow := pr.pix[r*pr.stride : r*pr.stride+w]
			x := yccRowSIMD(dst, yrow, cbrow, crrow)
			yccRow(dst[3*x:], yrow[x:], cbrow[x:], crrow[x:])
		case vs == 1: // h2v1_fancy_upsample: (3·in[i] + in[i∓1] + 1 or 2) >> 2
			fancyRow(dst, yrow, pb.row(r), pb.row(r), pr.row(r), pr.row(r), fancyH2V1)
		default: // h2v2_fancy_upsample on the column sums 3·near + far
			near, far := r/2, r/2+1
			if r%2 == 0 {
				far = r/2 - 1
			}
			fancyRow(dst, yrow, pb.row(near), pb.row(far), pr.row(near), pr.row(far), fancyH2V2)
		}
	}
	for i := range planes {
		putPix(planes[i].pix)
	}
	return out, true
}

// row returns real sample row i of the plane, clamped to the real rows as
// libjpeg's context rows are (the row above the first is the first, the row
// below the last is the last).
func (p *plane) row(i int) []uint8 {
	i = min(max(i, 0), p.h-1)
	return p.pix[i*p.stride : i*p.stride+p.w]
}

// ycc1 converts one pixel with libjpeg's tables into d[0:3].
func ycc1(d []uint8, y uint8, cb, cr uint8) {
	Y := int32(y)
	d[0] = clampTab[(Y+crR[cr]+clampOff)&1023]
	d[1] = clampTab[(Y+(cbG[cb]+crG[cr])>>16+clampOff)&1023]
	d[2] = clampTab[(Y+cbB[cb]+clampOff)&1023]
}

// fancyParams are the weights of libjpeg's triangular upsampling: the
// column sum of chroma sample i is a·near[i] + b·far[i] (far: the row
// above or below; b = 0 without vertical upsampling), and output pixels
// 2i and 2i+1 get (3·cs[i] + cs[i∓1] + be or bo) >> sh.
type fancyParams struct {
	a, b, be, bo int32
	sh           uint
}

var (
	fancyH2V1 = fancyParams{a: 1, b: 0, be: 1, bo: 2, sh: 2}
	fancyH2V2 = fancyParams{a: 3, b: 1, be: 8, bo: 7, sh: 4}
)

// fancyRow writes one RGB row of a horizontally 2× subsampled image from
// the near and far chroma rows (cw samples each); a column sum beyond the
// edge is the edge's own (libjpeg's edge formulas).
func fancyRow(dst, y, nb, fb, nr, fr []uint8, p fancyParams) {
	cw := len(nb)
	fb, nr, fr = fb[:cw], nr[:cw], fr[:cw]
	csb := func(i int) int32 {
		i = min(max(i, 0), cw-1)
		return p.a*int32(nb[i]) + p.b*int32(fb[i])
	}
	csr := func(i int) int32 {
		i = min(max(i, 0), cw-1)
		return p.a*int32(nr[i]) + p.b*int32(fr[i])
	}
	w := len(y)
	do := func(i0, i1 int) { // chroma samples [i0, i1), sums rolled along
		bl, bc, rl, rc := csb(i0-1), csb(i0), csr(i0-1), csr(i0)
		for i := i0; i < i1; i++ {
			br, rr := csb(i+1), csr(i+1)
			x := 2 * i
			cb := uint8((3*bc + bl + p.be) >> p.sh)
			cr := uint8((3*rc + rl + p.be) >> p.sh)
			ycc1(dst[3*x:3*x+3:3*x+3], y[x], cb, cr)
			if x+1 < w {
				cb = uint8((3*bc + br + p.bo) >> p.sh)
				cr = uint8((3*rc + rr + p.bo) >> p.sh)
				ycc1(dst[3*x+3:3*x+6:3*x+6], y[x+1], cb, cr)
			}
			bl, bc, rl, rc = bc, br, rc, rr
		}
	}
	// The SIMD loop covers interior samples [1, end) where it can.
	if end := fancyRowSIMD(dst, y, nb, fb, nr, fr, p); end > 1 {
		do(0, 1)
		do(end, cw)
	} else {
		do(0, cw)
	}
}
