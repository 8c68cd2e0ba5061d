package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/weights"
)

// fidTestImage draws a smooth pattern whose statistics depend on kind.
func fidTestImage(h, w, kind, seed int) *imageio.Image {
	m := imageio.New(h, w)
	for y := range h {
		for x := range w {
			for c := range 3 {
				var v float64
				if kind == 0 { // horizontal waves
					v = 128 + 100*math.Sin(float64(x*(c+1)+seed*7)*0.3)
				} else { // checker blobs
					v = 128 + 100*math.Cos(float64(x+seed)*0.5)*math.Cos(float64(y*(c+2))*0.4)
				}
				m.Pix[(y*w+x)*3+c] = uint8(v)
			}
		}
	}
	return m
}

func TestFIDListImages(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.png", "B.PNG", "c.JPG", "d.jpeg", "sub/e.png", "f.txt", "g.Png"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	rel := func(files []string) []string {
		var out []string
		for _, f := range files {
			r, _ := filepath.Rel(dir, f)
			out = append(out, r)
		}
		return out
	}
	pt, err := fidListImages(dir, inception.PytorchFID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.png", "d.jpeg"}; !slices.Equal(rel(pt), want) {
		t.Errorf("pytorch-fid files %v, want %v", rel(pt), want)
	}
	cl, err := fidListImages(dir, inception.Clean)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"B.PNG", "a.png", "c.JPG", "d.jpeg", "sub/e.png"}; !slices.Equal(rel(cl), want) {
		t.Errorf("clean files %v, want %v", rel(cl), want)
	}
}

// TestFIDCommand runs `evalrun fid` end to end with the formula weights (the
// network path is exact against torch in model/inception): JSON fields, the
// weights hash, saved statistics, FID(A,B) > 0 and FID(A,A) ≈ 0.
func TestFIDCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for i := range 2 {
		reconSave(t, filepath.Join(a, "img"+string(rune('0'+i))+".png"), fidTestImage(40, 48, 0, i))
		reconSave(t, filepath.Join(b, "img"+string(rune('0'+i))+".png"), fidTestImage(36, 36, 1, i))
	}
	w := inception.FormulaWeights(inception.StateDictSpecs())
	var ts []*weights.Tensor
	for _, n := range w.Names() {
		x, _ := w.Get(n)
		ts = append(ts, x)
	}
	wpath := filepath.Join(dir, "inception_formula.safetensors")
	if err := weights.WriteSafetensors(wpath, ts, nil); err != nil {
		t.Fatal(err)
	}
	wantSum, err := fileSHA256(wpath)
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := filepath.Join(dir, "a_stats.safetensors"), filepath.Join(dir, "b_stats.safetensors")
	code, out, errOut := runCaptured(t, "fid", a, b, "--weights", wpath, "--batch", "2", "--json", "--save-stats-a", sa, "--save-stats-b", sb, "--cache", filepath.Join(dir, "cache"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res fidResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Schema != 1 || res.Mode != "clean" || res.CountA != 2 || res.CountB != 2 || res.WeightsSHA256 != wantSum || res.Weights != wpath {
		t.Errorf("JSON %+v", res)
	}
	if !(res.FID > 0) || math.Abs(res.MeanTerm+res.TraceTerm-res.FID) > 1e-9*res.FID {
		t.Errorf("FID(A,B) = %g (mean term %g, trace term %g)", res.FID, res.MeanTerm, res.TraceTerm)
	}
	// Saved statistics stand in for the folders (no network, no weights).
	// FID(A, A): only the rounding noise of sqrtm over the 2047 null
	// directions of a rank-1 covariance remains; it must be negligible next
	// to FID(A, B).
	code, out, errOut = runCaptured(t, "fid", sa, sa, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var self fidResult
	json.Unmarshal([]byte(out), &self)
	t.Logf("FID(A,B) = %g, FID(A,A) = %g", res.FID, self.FID)
	if self.Mode != "clean" || self.CountA != 0 || self.WeightsSHA256 != "" {
		t.Errorf("stats-file JSON %+v", self)
	}
	if math.Abs(self.FID) > 1e-3*res.FID || self.MeanTerm != 0 {
		t.Errorf("FID(A,A) = %g (mean term %g), FID(A,B) = %g", self.FID, self.MeanTerm, res.FID)
	}
}

// TestFIDBadInput: missing weights (exit 2 naming the file and where it is
// published), missing folder, too few images, bad mode.
func TestFIDBadInput(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	for i := range 2 {
		reconSave(t, filepath.Join(a, "img"+string(rune('0'+i))+".png"), fidTestImage(20, 20, 0, i))
	}
	one := filepath.Join(dir, "one")
	reconSave(t, filepath.Join(one, "x.png"), fidTestImage(20, 20, 1, 0))
	t.Setenv("DUALTOKEN_FID_WEIGHTS", "")
	t.Setenv("HOME", dir)
	t.Setenv("TORCH_HOME", filepath.Join(dir, "torch"))
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"fid", a, a}, []string{inception.WeightsFile, inception.WeightsURL, "--weights"}},
		{[]string{"fid", a, a, "--weights", filepath.Join(dir, "nope.pth")}, []string{"nope.pth", inception.WeightsFile, inception.WeightsURL}},
		{[]string{"fid", a, filepath.Join(dir, "missing")}, []string{"missing"}},
		{[]string{"fid", a, one}, []string{one, "1 image file"}},
		{[]string{"fid", a, a, "--mode", "tf"}, []string{"mode"}},
	}
	for _, c := range cases {
		code, _, errOut := runCaptured(t, c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", c.args[1:], code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q does not name %q", c.args[1:], errOut, w)
			}
		}
	}
}
