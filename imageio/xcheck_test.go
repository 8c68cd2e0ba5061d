package imageio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// readRGBDump reads testdata/gen_xcheck.py's "H W\n" + HWC bytes format.
func readRGBDump(path string) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	i := bytes.IndexByte(b, '\n')
	var h, w int
	if _, err := fmt.Sscanf(string(b[:i]), "%d %d", &h, &w); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(b)-i-1 != h*w*3 {
		return nil, fmt.Errorf("%s: %d bytes for %dx%d", path, len(b)-i-1, h, w)
	}
	return &Image{H: h, W: w, Pix: b[i+1:]}, nil
}

// TestCrossCheck compares against a directory written by
// testdata/gen_xcheck.py (random JPEG/PNG/WebP files and resizes with PIL
// 9.4's results). Opt-in: IMAGEIO_XCHECK=DIR; it needs Debian's python3-pil
// and libjpeg-turbo-progs to generate, so CI does not run it.
func TestCrossCheck(t *testing.T) {
	dir := os.Getenv("IMAGEIO_XCHECK")
	if dir == "" {
		t.Skip("IMAGEIO_XCHECK not set (see testdata/gen_xcheck.py)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.rgb"))
	errs, _ := filepath.Glob(filepath.Join(dir, "*.err"))
	files = append(files, errs...)
	sort.Strings(files)
	worst := map[string]int{}
	n, known := 0, 0
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimSuffix(f, ".rgb"), ".err")
		if strings.HasSuffix(base, "_out") {
			continue
		}
		var img string
		for _, ext := range []string{".jpg", ".png", ".webp"} {
			if _, err := os.Stat(base + ext); err == nil {
				img = base + ext
			}
		}
		if strings.HasSuffix(f, ".err") { // PIL refused it: so must we
			pilErr, _ := os.ReadFile(f)
			if _, err := Load(img); err == nil {
				t.Errorf("%s: decoded, but PIL fails with %q", filepath.Base(img), pilErr)
			} else {
				t.Logf("%s: %v (PIL: %s)", filepath.Base(img), err, pilErr)
			}
			n++
			continue
		}
		want, err := readRGBDump(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Load(img)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		n++
		if !sameSize(t, img, got, want) {
			continue
		}
		mean, maxd, nd := diffStats(got.Pix, want.Pix)
		if note, err := os.ReadFile(base + ".note"); err == nil && maxd > 0 {
			t.Logf("%s (%dx%d): max |Δ| %d, mean %.4f — known: %s", filepath.Base(img), want.H, want.W, maxd, mean, note)
			known++
			continue
		}
		ext := filepath.Ext(img)
		worst[ext] = max(worst[ext], maxd)
		if maxd > 0 {
			t.Errorf("%s (%dx%d): max |Δ| %d, mean %.4f, %d values differ", filepath.Base(img), want.H, want.W, maxd, mean, nd)
		}
	}
	t.Logf("decoded %d files (%d with a known, documented difference); worst max |Δ| per format otherwise: %v", n, known, worst)

	var es []struct {
		Name    string
		Quality int
	}
	if b, err := os.ReadFile(filepath.Join(dir, "encode.json")); err == nil {
		if err := json.Unmarshal(b, &es); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range es {
		src, err := Load(filepath.Join(dir, e.Name+"_src.png"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, e.Name+"_pil.jpeg"))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := EncodeJPEG(&buf, src, e.Quality); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			got, _ := DecodeBytes(buf.Bytes(), "ours")
			ref, _ := DecodeBytes(want, "pil")
			_, maxd, nd := diffStats(got.Pix, ref.Pix)
			t.Errorf("%s q%d %dx%d: our JPEG (%d bytes) differs from PIL's (%d bytes); decoded max |Δ| %d (%d values)",
				e.Name, e.Quality, src.H, src.W, buf.Len(), len(want), maxd, nd)
		}
	}
	t.Logf("encoded %d images; compared byte for byte with PIL's", len(es))

	var rs []struct {
		Name         string
		H, W, OH, OW int
		Filter       string
	}
	b, err := os.ReadFile(filepath.Join(dir, "resize.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	worstF := 0.0
	for _, r := range rs {
		src, err := Load(filepath.Join(dir, r.Name+"_src.png"))
		if err != nil {
			t.Fatal(err)
		}
		f := Bicubic
		if r.Filter == "bilinear" {
			f = Bilinear
		}
		want, err := readRGBDump(filepath.Join(dir, r.Name+"_out.rgb"))
		if err != nil {
			t.Fatal(err)
		}
		got := Resize(src, r.OH, r.OW, f)
		if sameSize(t, r.Name, got, want) {
			if _, maxd, nd := diffStats(got.Pix, want.Pix); maxd > 0 {
				t.Errorf("%s %s %dx%d→%dx%d: max |Δ| %d (%d values)", r.Name, r.Filter, r.H, r.W, r.OH, r.OW, maxd, nd)
			}
		}
		plane := make([]float32, r.H*r.W)
		for i := range plane {
			plane[i] = float32(src.Pix[3*i])*1.7 - 100
		}
		fb, err := os.ReadFile(filepath.Join(dir, r.Name+"_f.f32"))
		if err != nil {
			t.Fatal(err)
		}
		wantF := make([]float32, len(fb)/4)
		binary.Read(bytes.NewReader(fb), binary.LittleEndian, wantF)
		gotF := ResizeFloatPlane(plane, r.H, r.W, r.OH, r.OW, f)
		for i := range gotF {
			d := math.Abs(float64(gotF[i] - wantF[i]))
			worstF = math.Max(worstF, d)
		}
	}
	t.Logf("checked %d resizes (uint8 and mode F); worst mode-F |Δ| %g", len(rs), worstF)
	if worstF != 0 {
		t.Errorf("mode F resize differs from PIL by up to %g", worstF)
	}
}
