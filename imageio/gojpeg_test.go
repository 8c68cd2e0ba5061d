package imageio

import (
	"bytes"
	"image"
	"image/jpeg"
)

// decodeJPEGGo decodes with Go's image/jpeg (its own IDCT) followed by
// libjpeg's upsampling and colour conversion; kept to measure what the
// islow IDCT buys (TestParityJPEG).
func decodeJPEGGo(data []byte) (*Image, error) {
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if yc, ok := m.(*image.YCbCr); ok {
		y, cb, cr := ycbcrPlanes(yc)
		return yccToRGB(y, cb, cr), nil
	}
	return toRGB(m), nil
}

// yccToRGB upsamples and converts three planes of a YCbCr image.
func yccToRGB(y, cb, cr *plane) *Image {
	w, h := y.w, y.h
	out := New(h, w)
	ub := make([]uint8, w)
	vb := make([]uint8, w)
	colsum := make([]int32, w)
	for r := 0; r < h; r++ {
		cb.upsampleRow(ub, r, w, colsum)
		cr.upsampleRow(vb, r, w, colsum)
		yccRow(out.Pix[r*w*3:(r+1)*w*3], y.pix[r*y.stride:r*y.stride+w], ub, vb)
	}
	return out
}
