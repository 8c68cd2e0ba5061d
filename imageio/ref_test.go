package imageio

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// readPPM reads a binary (P6, maxval 255) PPM.
func readPPM(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w, h, maxv int
	r := bytes.NewReader(b)
	if _, err := fmt.Fscanf(r, "P6\n%d %d\n%d", &w, &h, &maxv); err != nil || maxv != 255 {
		return nil, fmt.Errorf("%s: not a P6/255 PPM (%v)", path, err)
	}
	pix := b[len(b)-r.Len()+1:]
	if len(pix) != w*h*3 {
		return nil, fmt.Errorf("%s: %d pixel bytes for %dx%d", path, len(pix), w, h)
	}
	return &Image{H: h, W: w, Pix: pix}, nil
}

// TestReferenceDecodes decodes testdata files (progressive JPEG with restart
// markers, 4:4:0 JPEG, JPEGs with damaged entropy data and with a data
// segment cut short by EOI, lossy WebP) and requires the reference decoders'
// output exactly (djpeg = libjpeg-turbo as PIL runs it; dwebp = libwebp).
// The damaged files decode with libjpeg's warnings and recovery (bad codes
// read as zero, missing data as flat grey blocks), as PIL shows them.
func TestReferenceDecodes(t *testing.T) {
	for _, c := range []struct{ file, ref string }{
		{"seed_prog_rst.jpg", "seed_prog_rst.ppm"},
		{"seed_440.jpg", "seed_440.ppm"},
		{"seed_corrupt.jpg", "seed_corrupt.ppm"},
		{"seed_early_eoi.jpg", "seed_early_eoi.ppm"},
		{"seed.webp", "seed.webp.ppm"},
	} {
		want, err := readPPM(filepath.Join("testdata", c.ref))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Load(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if sameSize(t, c.file, got, want) {
			if mean, maxd, nd := diffStats(got.Pix, want.Pix); maxd != 0 {
				t.Errorf("%s: max |Δ| %d mean %.4f (%d values) to %s", c.file, maxd, mean, nd, c.ref)
			}
		}
	}
}

// FuzzDecode: no input may panic or hang the decoders; errors are fine.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"seed_prog_rst.jpg", "seed_440.jpg", "seed_corrupt.jpg", "seed.webp"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(encodeJPEG(f, synthetic(9, 13), false))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeBytes(data, "fuzz")
		if err == nil && len(img.Pix) != img.H*img.W*3 {
			t.Fatalf("%dx%d image with %d bytes", img.H, img.W, len(img.Pix))
		}
	})
}

// TestEncodeJPEGMatchesPIL: EncodeJPEG writes the same bytes as PIL's
// Image.save(quality=q) (libjpeg-turbo with default settings).
func TestEncodeJPEGMatchesPIL(t *testing.T) {
	src, err := Load(filepath.Join("testdata", "seed_24x21.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []int{95, 50} {
		want, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("seed_24x21_q%d_pil.jpg", q)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := EncodeJPEG(&buf, src, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			n := 0
			for n < min(buf.Len(), len(want)) && buf.Bytes()[n] == want[n] {
				n++
			}
			t.Errorf("q%d: %d bytes, PIL's %d; first difference at byte %d", q, buf.Len(), len(want), n)
		}
	}
}
