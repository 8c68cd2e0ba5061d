// Package imageio reads and writes images exactly as the Python reference
// pipelines do, so that the pixels our models see equal theirs:
//
//   - Decode: JPEG with our own decoder, which reproduces libjpeg-turbo (what
//     PIL links) bit for bit — islow IDCT, "fancy" chroma upsampling, its
//     YCbCr/CMYK/YCCK conversions and its recovery from damaged data; PNG,
//     GIF and BMP with Go's decoders; WebP with golang.org/x/image/webp plus
//     libwebp's fancy upsampling and YUV→RGB arithmetic. All become 8-bit
//     RGB as PIL's Image.open(...).convert("RGB") gives it (palettes looked
//     up, grey replicated, alpha dropped without compositing).
//   - Resize: PIL 9.4's Image.resize, BICUBIC and BILINEAR, antialiased, in
//     its fixed-point uint8 arithmetic and its float ("F" mode) arithmetic;
//     torch's F.interpolate(bilinear, align_corners=False).
//   - Preprocessing: the SigLIP processor and the short-side resize + centre
//     crop of the reconstruction eval.
//   - Write: PNG, and JPEG byte-identical to libjpeg-turbo's default
//     encoder (PIL's save, cv2.imwrite).
//
// EXIF orientation is not applied (neither Image.open nor the HF processors
// do). The parity tests hold all of this to the fixtures; see the package
// tests and testdata/README.md for the cross-checks.
package imageio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// Image is an 8-bit RGB image, HWC, row-major: pixel (y, x) channel c is
// Pix[(y*W+x)*3+c].
type Image struct {
	H, W int
	Pix  []uint8
}

// New returns a black h×w image.
func New(h, w int) *Image { return &Image{H: h, W: w, Pix: make([]uint8, h*w*3)} }

// Clone returns a deep copy.
func (m *Image) Clone() *Image {
	return &Image{H: m.H, W: m.W, Pix: append([]uint8(nil), m.Pix...)}
}

// Crop returns the h×w window at (top, left) as a new image; the window must
// lie inside m.
func (m *Image) Crop(top, left, h, w int) *Image {
	if top < 0 || left < 0 || top+h > m.H || left+w > m.W || h < 0 || w < 0 {
		panic(fmt.Sprintf("imageio: crop %dx%d at (%d,%d) outside a %dx%d image", h, w, top, left, m.H, m.W))
	}
	out := New(h, w)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*3:(y+1)*w*3], m.Pix[((top+y)*m.W+left)*3:])
	}
	return out
}

// ToNRGBA wraps a copy of m as an opaque Go image.
func (m *Image) ToNRGBA() *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
		out.Pix[j], out.Pix[j+1], out.Pix[j+2], out.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255
	}
	return out
}

// Load reads and decodes the image file at path.
func Load(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	return Decode(bufio.NewReader(f), path)
}

// Format sniffing by magic bytes, as PIL does (the file extension is ignored:
// ImageNet has PNG data in .JPEG files).
func sniff(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return "gif"
	case len(b) >= 2 && string(b[:2]) == "BM":
		return "bmp"
	}
	return ""
}

// Decode decodes a JPEG, PNG, WebP, GIF (first frame) or BMP stream to RGB;
// name only labels errors (usually the file path).
func Decode(r io.Reader, name string) (*Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: reading: %v", name, err)
	}
	return DecodeBytes(data, name)
}

// DecodeBytes is Decode on an in-memory file.
func DecodeBytes(data []byte, name string) (*Image, error) {
	format := sniff(data)
	if format == "" {
		head := data
		if len(head) > 8 {
			head = head[:8]
		}
		return nil, fmt.Errorf("imageio: %s: unknown image format (first bytes % x); want JPEG, PNG, WebP, GIF or BMP", name, head)
	}
	var img *Image
	var err error
	if format != "jpeg" { // the JPEG decoder checks its frame header itself
		var cfg image.Config
		switch format {
		case "png":
			cfg, err = png.DecodeConfig(bytes.NewReader(data))
		case "gif":
			cfg, err = gif.DecodeConfig(bytes.NewReader(data))
		case "bmp":
			cfg, err = bmp.DecodeConfig(bytes.NewReader(data))
		case "webp":
			cfg, err = webp.DecodeConfig(bytes.NewReader(data))
		}
		if err == nil && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
			return nil, fmt.Errorf("imageio: %s: %dx%d %s image exceeds %d pixels (PIL's decompression-bomb limit)", name, cfg.Width, cfg.Height, format, maxPixels)
		}
		err = nil // the decoder below reports header errors in context
	}
	switch format {
	case "jpeg":
		img, err = decodeJPEG(data)
	case "webp":
		var m image.Image
		if m, err = webp.Decode(bytes.NewReader(data)); err == nil {
			img = webpToRGB(m)
		}
	default:
		var m image.Image
		switch format {
		case "png":
			m, err = decodePNG(data)
		case "gif":
			m, err = gif.Decode(bytes.NewReader(data))
		case "bmp":
			m, err = bmp.Decode(bytes.NewReader(data))
		}
		if err == nil {
			img = toRGB(m)
			if format == "png" {
				fixPNG(img, m, data)
			}
		}
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("imageio: %s: truncated %s file (%v)", name, format, err)
		}
		var u unsupportedErr
		if errors.As(err, &u) {
			return nil, fmt.Errorf("imageio: %s: %v", name, err)
		}
		return nil, fmt.Errorf("imageio: %s: corrupt %s file: %v", name, format, err)
	}
	if img.H == 0 || img.W == 0 {
		return nil, fmt.Errorf("imageio: %s: empty %s image (%dx%d)", name, format, img.H, img.W)
	}
	return img, nil
}

// toRGB converts a decoded Go image as PIL's convert("RGB") does: grey is
// replicated, palettes are looked up, alpha is dropped without compositing,
// 16-bit colour keeps the high byte and 16-bit grey (PIL mode "I") is clipped
// to 255 rather than scaled.
func toRGB(m image.Image) *Image {
	b := m.Bounds()
	out := New(b.Dy(), b.Dx())
	p := out.Pix
	switch src := m.(type) {
	case *image.Gray:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+out.W]
			o := p[y*out.W*3:]
			for x, v := range row {
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < out.H; y++ {
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				i := y*src.Stride + 2*x
				v := uint16(src.Pix[i])<<8 | uint16(src.Pix[i+1])
				if v > 255 {
					v = 255
				}
				o[3*x], o[3*x+1], o[3*x+2] = uint8(v), uint8(v), uint8(v)
			}
		}
	case *image.NRGBA:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride:]
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.NRGBA64:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride:]
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		}
	case *image.RGBA64: // opaque 16-bit RGB PNG (alpha 0xffff): high bytes
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride:]
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[8*x], row[8*x+2], row[8*x+4]
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range src.Palette {
			lut[i] = paletteRGB(c)
		}
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+out.W]
			o := p[y*out.W*3:]
			for x, v := range row {
				c := lut[v]
				o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
			}
		}
	case *image.CMYK:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride:]
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = cmykToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
		}
	default:
		// Premultiplied RGBA (image.RGBA from an opaque source, YCbCr, ...):
		// un-premultiply so that a transparent pixel keeps its colour as
		// far as Go's model allows.
		for y := 0; y < out.H; y++ {
			o := p[y*out.W*3:]
			for x := 0; x < out.W; x++ {
				c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o[3*x], o[3*x+1], o[3*x+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// paletteRGB returns a palette entry's colour without premultiplying by its
// alpha (PIL keeps the palette's RGB and drops transparency).
func paletteRGB(c color.Color) [3]uint8 {
	switch c := c.(type) {
	case color.NRGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.RGBA:
		if c.A == 255 {
			return [3]uint8{c.R, c.G, c.B}
		}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

// cmykToRGB is Pillow's cmyk2rgb: nk = 255-K, out = nk - C·nk/255 with its
// MULDIV255 rounding. Go's CMYK holds ink amounts (already un-inverted for
// Adobe files), as PIL's "CMYK;I" raw mode does.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128
		r := nk - ((t>>8)+t)>>8
		if r < 0 {
			return 0
		}
		return uint8(r)
	}
	return f(c), f(m), f(y)
}

// decodePNG is png.Decode, tolerant as PIL is of a file that ends (or is
// cut) after its image data: PIL stops reading chunks at end of file, so a
// missing or truncated IEND (or any trailing chunk) is not an error when the
// IDAT stream was complete.
func decodePNG(data []byte) (image.Image, error) {
	m, err := png.Decode(bytes.NewReader(data))
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		return m, err
	}
	end := 8 // after the signature: walk whole chunks
	for end+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[end:]))
		if n < 0 || end+12+n > len(data) {
			break
		}
		end += 12 + n
	}
	fixed := append(append([]byte(nil), data[:end]...), 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82)
	if m2, err2 := png.Decode(bytes.NewReader(fixed)); err2 == nil {
		return m2, nil
	}
	return nil, err
}

// fixPNG applies the two places where PIL's convert("RGB") of a PNG differs
// from Go's decoded colours: 16-bit greyscale (PIL mode "I") is clipped at
// 255 even when a tRNS chunk made Go return NRGBA64; and palette indices past
// the PLTE entries take PIL's default palette, the grey ramp (i, i, i), where
// Go uses black.
func fixPNG(img *Image, m image.Image, data []byte) {
	if len(data) < 33 {
		return
	}
	depth, ctype := data[24], data[25]
	switch src := m.(type) {
	case *image.NRGBA64:
		if depth != 16 || ctype != 0 {
			return
		}
		for y := 0; y < img.H; y++ {
			for x := 0; x < img.W; x++ {
				i := y*src.Stride + 8*x
				v := min(uint16(src.Pix[i])<<8|uint16(src.Pix[i+1]), 255)
				o := (y*img.W + x) * 3
				img.Pix[o], img.Pix[o+1], img.Pix[o+2] = uint8(v), uint8(v), uint8(v)
			}
		}
	case *image.Paletted:
		np := -1
		for off := 8; off+12 <= len(data); {
			n := int(binary.BigEndian.Uint32(data[off:]))
			if n < 0 || off+12+n > len(data) {
				break
			}
			if string(data[off+4:off+8]) == "PLTE" {
				np = n / 3
				break
			}
			off += 12 + n
		}
		if np < 0 || np >= len(src.Palette) {
			return
		}
		for y := 0; y < img.H; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+img.W]
			for x, v := range row {
				if int(v) >= np {
					o := (y*img.W + x) * 3
					img.Pix[o], img.Pix[o+1], img.Pix[o+2] = v, v, v
				}
			}
		}
	}
}
