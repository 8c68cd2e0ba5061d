package imageio

import (
	"bufio"
	"fmt"
	"image/png"
	"os"
)

// SavePNG writes img as an 8-bit RGB(A-opaque) PNG.
func SavePNG(path string, img *Image) error {
	return save(path, func(w *bufio.Writer) error { return png.Encode(w, img.ToNRGBA()) })
}

// SaveJPEG writes img as a baseline 4:2:0 JPEG at quality (1–100), the
// file libjpeg-turbo writes with default settings (cv2.imwrite, PIL's save):
// see EncodeJPEG.
func SaveJPEG(path string, img *Image, quality int) error {
	if quality < 1 || quality > 100 {
		return fmt.Errorf("imageio: %s: JPEG quality %d outside 1..100", path, quality)
	}
	return save(path, func(w *bufio.Writer) error { return EncodeJPEG(w, img, quality) })
}

func save(path string, enc func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("imageio: %w", err)
	}
	w := bufio.NewWriter(f)
	err = enc(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("imageio: writing %s: %v", path, err)
	}
	return nil
}

// FromFloatCHW converts a CHW float32 image in [-1, 1] (3×h×w) to uint8 as
// DualToken's eval.py save_images does before cv2.imwrite:
// (x+1)·127.5 in float32, clamped to [0, 255], then truncated (numpy
// astype(uint8)), not rounded. NaN becomes 0.
func FromFloatCHW(chw []float32, h, w int) *Image {
	if len(chw) != 3*h*w {
		panic(fmt.Sprintf("imageio: FromFloatCHW got %d values, want 3×%d×%d", len(chw), h, w))
	}
	out := New(h, w)
	n := h * w
	for c := 0; c < 3; c++ {
		for i, x := range chw[c*n : (c+1)*n] {
			v := float32(x+1) * 127.5
			switch {
			case !(v > 0): // also NaN
				v = 0
			case v > 255:
				v = 255
			}
			out.Pix[3*i+c] = uint8(v)
		}
	}
	return out
}

// ToFloatCHW is the inverse convention: uint8 HWC → CHW float32 x/127.5 − 1
// (equal to (x/255 − 0.5)/0.5 up to float rounding; use NormalizeInto for
// the HF processor's exact arithmetic).
func ToFloatCHW(img *Image) []float32 {
	n := img.H * img.W
	out := make([]float32, 3*n)
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			out[c*n+i] = float32(img.Pix[3*i+c])/127.5 - 1
		}
	}
	return out
}
