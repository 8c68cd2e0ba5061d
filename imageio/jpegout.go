package imageio

import "fmt"

// output runs the IDCT of every component, upsamples chroma and converts
// the colour space as libjpeg-turbo and then PIL do.
func (d *jpegDecoder) output() (*Image, error) {
	if d.scans == 0 {
		return nil, corrupt("JPEG has no scans")
	}
	planes := make([]*plane, len(d.comps))
	for i, c := range d.comps {
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return nil, unsupportedErr(fmt.Sprintf("fractional sampling factors (%dx%d within %dx%d)", c.h, c.v, d.hmax, d.vmax))
		}
		stride := c.cbw * 8
		pix := make([]uint8, stride*c.cbh*8)
		q := c.qt
		if q == nil { // the component was in no scan: its samples are mid-grey
			q = &[64]uint16{}
		}
		for by := 0; by < c.cbh; by++ {
			for bx := 0; bx < c.cbw; bx++ {
				off := (by*c.bw + bx) * 64
				idctIslow(c.coef[off:off+64], q, pix[by*8*stride+bx*8:], stride)
			}
		}
		c.coef = nil
		planes[i] = &plane{pix: pix, stride: stride, w: c.w, h: c.h2, hs: d.hmax / c.h, vs: d.vmax / c.v}
	}
	out := New(d.h, d.w)
	rows := make([][]uint8, len(planes))
	for i := range rows {
		rows[i] = make([]uint8, d.w)
	}
	colsum := make([]int32, d.w)
	space := d.colorSpace()
	for r := 0; r < d.h; r++ {
		for i, p := range planes {
			p.upsampleRow(rows[i], r, d.w, colsum)
		}
		dst := out.Pix[r*d.w*3 : (r+1)*d.w*3]
		switch space {
		case "gray":
			for x, v := range rows[0] {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		case "rgb":
			for x := range rows[0] {
				dst[3*x], dst[3*x+1], dst[3*x+2] = rows[0][x], rows[1][x], rows[2][x]
			}
		case "ycbcr":
			yccRow(dst, rows[0], rows[1], rows[2])
		case "cmyk", "ycck":
			for x := range rows[0] {
				c, m, y, k := rows[0][x], rows[1][x], rows[2][x], rows[3][x]
				if space == "ycck" { // libjpeg's ycck_cmyk_convert
					Y := int32(c)
					cb, cr := m, y
					c = clamp255(255 - (Y + crR[cr]))
					m = clamp255(255 - (Y + (cbG[cb]+crG[cr])>>16))
					y = clamp255(255 - (Y + cbB[cb]))
				}
				// PIL reads 4-channel JPEGs as "CMYK;I" (Adobe's inverted
				// convention) and converts with cmyk2rgb.
				dst[3*x], dst[3*x+1], dst[3*x+2] = cmykToRGB(255-c, 255-m, 255-y, 255-k)
			}
		}
	}
	return out, nil
}

// colorSpace is libjpeg's guess of the JPEG colour space (jdapimin.c
// default_decompress_parms).
func (d *jpegDecoder) colorSpace() string {
	switch len(d.comps) {
	case 1:
		return "gray"
	case 3:
		if d.sawJFIF {
			return "ycbcr"
		}
		if d.sawAdobe {
			if d.adobeXform == 0 {
				return "rgb"
			}
			return "ycbcr"
		}
		if d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B' {
			return "rgb"
		}
		return "ycbcr"
	default:
		if d.sawAdobe && d.adobeXform != 0 {
			return "ycck"
		}
		return "cmyk"
	}
}
