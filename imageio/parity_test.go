package imageio

import (
	"fmt"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

func openGolden(t *testing.T, dir string) *weights.SafetensorsFile {
	t.Helper()
	g, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// goldenImage reads an HWC uint8 tensor as an Image.
func goldenImage(t *testing.T, g *weights.SafetensorsFile, name string) *Image {
	t.Helper()
	ten, err := g.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := ten.ExpectShape(-1, -1, 3); err != nil {
		t.Fatal(err)
	}
	pix, err := ten.Uint8()
	if err != nil {
		t.Fatal(err)
	}
	return &Image{H: ten.Shape[0], W: ten.Shape[1], Pix: pix}
}

// diffStats returns the mean and max absolute difference and the number of
// values that differ.
func diffStats(got, want []uint8) (mean float64, maxd, ndiff int) {
	sum := 0
	for i := range got {
		d := int(got[i]) - int(want[i])
		if d < 0 {
			d = -d
		}
		sum += d
		if d > maxd {
			maxd = d
		}
		if d != 0 {
			ndiff++
		}
	}
	return float64(sum) / float64(len(got)), maxd, ndiff
}

func sameSize(t *testing.T, what string, got, want *Image) bool {
	t.Helper()
	if got.H != want.H || got.W != want.W {
		t.Errorf("%s: got %dx%d, want %dx%d", what, got.H, got.W, want.H, want.W)
		return false
	}
	return true
}

var sizeKey = regexp.MustCompile(`^(src\d+)\.(bicubic|bilinear)_(\d+)x(\d+)$`)
var siglipKey = regexp.MustCompile(`^(src\d+)\.siglip_pixel_values_(\d+)$`)
var cropKey = regexp.MustCompile(`^(src\d+)\.shortside_centercrop_(\d+)$`)

// TestParityPreprocess checks every resize in fixtures/preprocess against
// PIL 9.4: uint8 resizes within 1 grey level, the SigLIP processor within
// 2/255, the short-side centre crop within 1 level, and that the PNG copy of
// each source decodes to the source. Sizes come from the key names.
func TestParityPreprocess(t *testing.T) {
	dir := fixtures.Dir(t, "preprocess")
	g := openGolden(t, dir)
	srcs := map[string]*Image{}
	for _, name := range g.Names() {
		if regexp.MustCompile(`^src\d+$`).MatchString(name) {
			srcs[name] = goldenImage(t, g, name)
		}
	}
	if len(srcs) == 0 {
		t.Fatalf("%s: no src{i} tensors", dir)
	}
	counts := map[string]int{}
	for _, name := range g.Names() {
		var src *Image
		if i := strings.IndexByte(name, '.'); i > 0 {
			src = srcs[name[:i]]
		}
		switch {
		case sizeKey.MatchString(name):
			m := sizeKey.FindStringSubmatch(name)
			h, _ := strconv.Atoi(m[3])
			w, _ := strconv.Atoi(m[4])
			f := Bicubic
			if m[2] == "bilinear" {
				f = Bilinear
			}
			want := goldenImage(t, g, name)
			got := Resize(src, h, w, f)
			if sameSize(t, name, got, want) {
				mean, maxd, nd := diffStats(got.Pix, want.Pix)
				t.Logf("%-28s %3dx%-3d from %dx%d: max |Δ| %d, mean %.4f, %d/%d values differ", name, h, w, src.H, src.W, maxd, mean, nd, len(got.Pix))
				if maxd > 1 {
					t.Errorf("%s: max |Δ| %d > 1 grey level", name, maxd)
				}
			}
			counts["resize"]++
		case siglipKey.MatchString(name):
			m := siglipKey.FindStringSubmatch(name)
			size, _ := strconv.Atoi(m[2])
			ten, err := g.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := ten.ExpectShape(3, size, size); err != nil {
				t.Fatal(err)
			}
			want, err := ten.Float32()
			if err != nil {
				t.Fatal(err)
			}
			got := SiglipPixels(src, size)
			maxd := 0.0
			for i := range got {
				maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("%-28s max |Δ| %.3g (tolerance 2/255 = %.3g)", name, maxd, 2.0/255)
			if maxd > 2.0/255+1e-6 {
				t.Errorf("%s: max |Δ| %g > 2/255", name, maxd)
			}
			counts["siglip"]++
		case cropKey.MatchString(name):
			m := cropKey.FindStringSubmatch(name)
			size, _ := strconv.Atoi(m[2])
			want := goldenImage(t, g, name)
			got := ShortSideCenterCrop(src, size)
			if sameSize(t, name, got, want) {
				mean, maxd, nd := diffStats(got.Pix, want.Pix)
				t.Logf("%-28s max |Δ| %d, mean %.4f, %d values differ", name, maxd, mean, nd)
				if maxd > 1 {
					t.Errorf("%s: max |Δ| %d > 1 grey level", name, maxd)
				}
			}
			counts["crop"]++
		}
	}
	// The PNG copies decode to the sources exactly.
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		got, err := Load(filepath.Join(dir, n+".png"))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if sameSize(t, n+".png", got, srcs[n]) {
			if _, maxd, _ := diffStats(got.Pix, srcs[n].Pix); maxd != 0 {
				t.Errorf("%s.png decodes with max |Δ| %d to the golden %s", n, maxd, n)
			}
		}
	}
	for _, kind := range []string{"resize", "siglip", "crop"} {
		if counts[kind] == 0 {
			t.Errorf("%s: no %s golden tensors found (key names changed?)", dir, kind)
		}
	}
	t.Logf("checked %v over %d sources", counts, len(srcs))
}

// TestParityJPEG decodes the JPEG of every tensor in fixtures/jpeg and
// compares with PIL's decode (libjpeg-turbo, islow IDCT, fancy upsampling),
// logging max and mean |Δ| per variant for our decoder, for Go's image/jpeg
// IDCT followed by our libjpeg upsampling/colour code, and for Go's
// image/jpeg as it is.
func TestParityJPEG(t *testing.T) {
	dir := fixtures.Dir(t, "jpeg")
	g := openGolden(t, dir)
	if len(g.Names()) == 0 {
		t.Fatalf("%s: golden.safetensors is empty", dir)
	}
	var table []string
	for _, name := range g.Names() {
		want := goldenImage(t, g, name)
		path := filepath.Join(dir, name+".jpg")
		got, err := Load(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !sameSize(t, name, got, want) {
			continue
		}
		mean, maxd, nd := diffStats(got.Pix, want.Pix)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		gi, err := decodeJPEGGo(data)
		if err != nil {
			t.Fatal(err)
		}
		giMean, giMax, _ := diffStats(gi.Pix, want.Pix)
		goMean, goMax := goJPEGDiff(t, path, want)
		table = append(table, fmt.Sprintf("%-16s %3dx%-3d | %3d %7.4f %6.2f%% | %3d %7.4f | %3d %7.4f",
			name, want.H, want.W, maxd, mean, 100*float64(nd)/float64(len(got.Pix)), giMax, giMean, goMax, goMean))
		// Our decoder reproduces libjpeg-turbo's arithmetic, so the decode
		// must be identical (the goal is within 1 level).
		if maxd != 0 {
			t.Errorf("%s: max |Δ| %d to libjpeg-turbo (mean %.4f): want an identical decode", name, maxd, mean)
		}
	}
	t.Logf("JPEG decode vs PIL/libjpeg-turbo, |Δ| per channel value (max, mean):\n"+
		"%-24s | %-23s | %-11s | %s\n%s", "variant", "ours (islow+fancy) %diff", "Go IDCT+fancy", "Go image/jpeg as is", strings.Join(table, "\n"))
}

// goJPEGDiff is the baseline: Go's image/jpeg with its own colour conversion
// (nearest-neighbour chroma, color.YCbCrToRGB).
func goJPEGDiff(t *testing.T, path string, want *Image) (float64, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	got := New(want.H, want.W)
	for y := 0; y < want.H; y++ {
		for x := 0; x < want.W; x++ {
			c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
			i := (y*want.W + x) * 3
			got.Pix[i], got.Pix[i+1], got.Pix[i+2] = c.R, c.G, c.B
		}
	}
	mean, maxd, _ := diffStats(got.Pix, want.Pix)
	return mean, maxd
}
