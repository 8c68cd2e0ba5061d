package imageio

import "image"

// JPEG colour output as libjpeg-turbo (what PIL links) produces it: chroma is
// upsampled with the "fancy" triangular filter of jdsample.c and converted
// with the fixed-point tables of jdcolor.c. Our own code, written from the
// published algorithm; the integer rounding (biases 1/2, 7/8) is what makes it
// bit-exact.

// libjpeg's YCbCr→RGB tables (16-bit fixed point, JFIF full range).
var (
	crR, cbB [256]int32
	crG, cbG [256]int32
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

func clamp255(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// yccRow converts one row of full-resolution Y, Cb, Cr samples to RGB.
func yccRow(dst []uint8, y, cb, cr []uint8) {
	dst = dst[:3*len(y)]
	cb, cr = cb[:len(y)], cr[:len(y)]
	for x, yv := range y {
		Y := int32(yv)
		b, r := cb[x], cr[x]
		dst[3*x] = clamp255(Y + crR[r])
		dst[3*x+1] = clamp255(Y + (cbG[b]+crG[r])>>16)
		dst[3*x+2] = clamp255(Y + cbB[b])
	}
}

// plane is one decoded component: w×h real samples (libjpeg's
// downsampled_width/height, ceil(W/hs)×ceil(H/vs)) in pix with the given
// stride, subsampled by (hs, vs) relative to the image.
type plane struct {
	pix    []uint8
	stride int
	w, h   int
	hs, vs int
}

// upsampleRow writes output row r (outW samples) of the component at full
// resolution: libjpeg-turbo's h2v1/h1v2/h2v2 fancy upsampling where it uses
// it, box replication otherwise. colsum is scratch of at least p.w values.
func (p *plane) upsampleRow(dst []uint8, r, outW int, colsum []int32) {
	cw := p.w
	row := func(i int) []uint8 {
		if i < 0 {
			i = 0
		} else if i >= p.h {
			i = p.h - 1 // jdmainct replicates the last real row
		}
		return p.pix[i*p.stride : i*p.stride+cw]
	}
	dst = dst[:outW]
	switch {
	case p.hs == 1 && p.vs == 1:
		copy(dst, row(r))
	case p.hs == 2 && p.vs == 1 && cw > 2: // h2v1_fancy_upsample
		in := row(r)
		// Interior columns write 2i and 2i+1 < 2·cw−1 ≤ outW.
		last := cw - 1
		for i := 1; i < last; i++ {
			c := 3 * int32(in[i])
			d := dst[2*i : 2*i+2]
			d[0] = uint8((c + int32(in[i-1]) + 1) >> 2)
			d[1] = uint8((c + int32(in[i+1]) + 2) >> 2)
		}
		dst[0] = in[0]
		dst[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
		dst[2*last] = uint8((3*int32(in[last]) + int32(in[last-1]) + 1) >> 2)
		if 2*last+1 < outW {
			dst[2*last+1] = in[last]
		}
	case p.hs == 1 && p.vs == 2: // h1v2_fancy_upsample
		near := row(r / 2)
		var far []uint8
		var bias int32
		if r%2 == 0 {
			far, bias = row(r/2-1), 1
		} else {
			far, bias = row(r/2+1), 2
		}
		for x := range dst {
			dst[x] = uint8((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
		}
	case p.hs == 2 && p.vs == 2 && cw > 2: // h2v2_fancy_upsample
		near := row(r / 2)
		var far []uint8
		if r%2 == 0 {
			far = row(r/2 - 1)
		} else {
			far = row(r/2 + 1)
		}
		cs := colsum[:cw]
		far = far[:len(cs)]
		near = near[:len(cs)]
		for i := range cs {
			cs[i] = 3*int32(near[i]) + int32(far[i])
		}
		last := cw - 1
		for i := 1; i < last; i++ {
			c := 3 * cs[i]
			d := dst[2*i : 2*i+2]
			d[0] = uint8((c + cs[i-1] + 8) >> 4)
			d[1] = uint8((c + cs[i+1] + 7) >> 4)
		}
		dst[0] = uint8((4*cs[0] + 8) >> 4)
		dst[1] = uint8((3*cs[0] + cs[1] + 7) >> 4)
		dst[2*last] = uint8((3*cs[last] + cs[last-1] + 8) >> 4)
		if 2*last+1 < outW {
			dst[2*last+1] = uint8((4*cs[last] + 7) >> 4)
		}
	default: // box replication (libjpeg's h2v1/h2v2/int_upsample)
		in := row(r / p.vs)
		for x := range dst {
			dst[x] = in[x/p.hs]
		}
	}
}

func decodeJPEG(data []byte) (*Image, error) {
	return decodeJPEGExact(data)
}

// ycbcrPlanes views a Go YCbCr image (origin at 0,0, as the decoders return
// it) as three planes.
func ycbcrPlanes(m *image.YCbCr) (y, cb, cr *plane) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	hs, vs := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	case image.YCbCrSubsampleRatio411:
		hs = 4
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	}
	yo := m.YOffset(b.Min.X, b.Min.Y)
	co := m.COffset(b.Min.X, b.Min.Y)
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	y = &plane{pix: m.Y[yo:], stride: m.YStride, w: w, h: h, hs: 1, vs: 1}
	cb = &plane{pix: m.Cb[co:], stride: m.CStride, w: cw, h: ch, hs: hs, vs: vs}
	cr = &plane{pix: m.Cr[co:], stride: m.CStride, w: cw, h: ch, hs: hs, vs: vs}
	return
}
