package imageio

import "image"

// Lossy WebP (VP8) stores BT.601 limited-range YUV 4:2:0. x/image/webp returns
// the raw planes as image.YCbCr, whose At() would treat them as full-range
// JFIF. libwebp (what PIL links) upsamples chroma with its own "fancy"
// bilinear filter (src/dsp/upsampling.c) and converts with 14-bit fixed point
// (src/dsp/yuv.h); this file reproduces that arithmetic.

func webpToRGB(m image.Image) *Image {
	switch src := m.(type) {
	case *image.YCbCr:
		return webpYUV(src)
	case *image.NYCbCrA: // lossy with alpha: colour as without, alpha dropped
		return webpYUV(&src.YCbCr)
	}
	return toRGB(m) // lossless (VP8L) decodes to NRGBA
}

func mulHi(v, coeff int32) int32 { return (v * coeff) >> 8 }

func vp8Clip(v int32) uint8 {
	if v&^((256<<6)-1) == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

func vp8RGB(dst []uint8, y, u, v int32) {
	yy := mulHi(y, 19077)
	dst[0] = vp8Clip(yy + mulHi(v, 26149) - 14234)
	dst[1] = vp8Clip(yy - mulHi(u, 6419) - mulHi(v, 13320) + 8708)
	dst[2] = vp8Clip(yy + mulHi(u, 33050) - 17685)
}

// webpYUV converts 4:2:0 planes with libwebp's fancy upsampler. Output row r
// pairs chroma rows (t, c): row 0 uses (0, 0); odd rows are the "top" row of
// the pair ((r-1)/2, (r+1)/2), even rows ≥ 2 the "bottom" row (r/2-1, r/2);
// past the last chroma row libwebp repeats it.
func webpYUV(m *image.YCbCr) *Image {
	yp, up, vp := ycbcrPlanes(m)
	if up.hs != 2 || up.vs != 2 {
		return toRGB(m) // not produced by VP8
	}
	w, h := yp.w, yp.h
	out := New(h, w)
	crow := func(p *plane, i int) []uint8 {
		i = min(max(i, 0), p.h-1)
		return p.pix[i*p.stride : i*p.stride+p.w]
	}
	for r := 0; r < h; r++ {
		var ti, ci int
		bottom := false
		switch {
		case r == 0:
			ti, ci = 0, 0
		case r%2 == 1:
			ti, ci = (r-1)/2, (r+1)/2
		default:
			ti, ci, bottom = r/2-1, r/2, true
		}
		tu, tv := crow(up, ti), crow(vp, ti)
		cu, cv := crow(up, ci), crow(vp, ci)
		yrow := yp.pix[r*yp.stride : r*yp.stride+w]
		dst := out.Pix[r*w*3 : (r+1)*w*3]
		// Vertical-only interpolation at the left (and right, for even w) edge:
		// weight 3 on this row's own chroma row.
		edge := func(x, cx int) {
			a, b := int32(tu[cx]), int32(cu[cx])
			c, d := int32(tv[cx]), int32(cv[cx])
			var u, v int32
			if bottom {
				u, v = (3*b+a+2)>>2, (3*d+c+2)>>2
			} else {
				u, v = (3*a+b+2)>>2, (3*c+d+2)>>2
			}
			vp8RGB(dst[3*x:], int32(yrow[x]), u, v)
		}
		edge(0, 0)
		var uvTmp [4]int32 // u(2x-1), u(2x), v(2x-1), v(2x)
		for x := 1; x <= (w-1)>>1; x++ {
			// tl = top row col x-1, t = top row col x, l = cur row col x-1, c = cur row col x
			for ch := 0; ch < 2; ch++ {
				tp, cp := tu, cu
				if ch == 1 {
					tp, cp = tv, cv
				}
				tl, t := int32(tp[x-1]), int32(tp[x])
				l, c := int32(cp[x-1]), int32(cp[x])
				d12 := (tl + t + l + c + 8 + 2*(t+l)) >> 3
				d03 := (tl + t + l + c + 8 + 2*(tl+c)) >> 3
				var a, b int32 // chroma for output columns 2x-1 and 2x
				if bottom {
					a, b = (d03+l)>>1, (d12+c)>>1
				} else {
					a, b = (d12+tl)>>1, (d03+t)>>1
				}
				if ch == 0 {
					uvTmp[0], uvTmp[1] = a, b
				} else {
					uvTmp[2], uvTmp[3] = a, b
				}
			}
			vp8RGB(dst[3*(2*x-1):], int32(yrow[2*x-1]), uvTmp[0], uvTmp[2])
			vp8RGB(dst[3*(2*x):], int32(yrow[2*x]), uvTmp[1], uvTmp[3])
		}
		if w%2 == 0 {
			edge(w-1, (w-1)/2)
		}
	}
	return out
}
