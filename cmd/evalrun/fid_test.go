package main

import (
	"archive/zip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
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
	// The default cache folder cannot be created (XDG_CACHE_HOME under a
	// regular file): one warning, no cache, the run goes on.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(notDir, "cache"))
	code, out, errOut := runCaptured(t, "fid", a, b, "--weights", wpath, "--batch", "2", "--json", "--save-stats-a", sa, "--save-stats-b", sb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(errOut, "feature cache"); n != 1 || !strings.Contains(errOut, notDir) {
		t.Errorf("unusable default cache: %d warnings naming it, want 1: %q", n, errOut)
	}
	// The saved statistics record what made them.
	f, err := weights.OpenSafetensors(sa)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata
	f.Close()
	for k, v := range map[string]string{"format": "fid-stats", "mode": "clean", "weights_sha256": wantSum, "weights_file": filepath.Base(wpath),
		"dim": strconv.Itoa(inception.Pool3Dim), "count": "2"} {
		if md[k] != v {
			t.Errorf("%s metadata %q = %q, want %q", sa, k, md[k], v)
		}
	}
	// Statistics made another way than the folder beside them are refused
	// before anything is computed: another mode, other weights.
	other := filepath.Join(dir, "other.pth")
	if err := os.WriteFile(other, []byte("not the same weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"fid", sa, b, "--weights", wpath, "--mode", "pytorch-fid"}, []string{sa, b, "mode clean", "pytorch-fid", "field mode"}},
		{[]string{"fid", a, sb, "--weights", other}, []string{a, sb, other, filepath.Base(wpath), "field weights_sha256"}},
	} {
		fidWantUsage(t, c.args, c.want...)
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
	// Saved statistics stand in for the folders (no network, no weights;
	// the JSON gives the weights' hash the files record).
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
	if self.Mode != "clean" || self.CountA != 0 || self.WeightsSHA256 != wantSum {
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

// fidWantUsage runs evalrun with args and wants exit 2 with exactly one
// stderr line that contains every want.
func fidWantUsage(t *testing.T, args []string, want ...string) {
	t.Helper()
	code, _, errOut := runCaptured(t, args...)
	if code != 2 {
		t.Errorf("%v: exit %d, want 2 (%q)", args[1:], code, errOut)
	}
	if lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n"); len(lines) != 1 || lines[0] == "" {
		t.Errorf("%v: %d stderr lines, want 1: %q", args[1:], len(lines), errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("%v: stderr %q does not name %q", args[1:], errOut, w)
		}
	}
}

// fidNoCompute fails the test if a feature batch is computed, and makes
// sure no Inception weights can be found (so any check that came after
// resolving them would show another message).
func fidNoCompute(t *testing.T, dir string) {
	t.Helper()
	fidAfterBatch = func(context.Context, int) { t.Error("a feature batch was computed") }
	t.Cleanup(func() { fidAfterBatch = nil })
	t.Setenv("DUALTOKEN_FID_WEIGHTS", "")
	t.Setenv("HOME", dir)
	t.Setenv("TORCH_HOME", filepath.Join(dir, "torch"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
}

// fidFakeFolder makes a folder of n files named like images (the checks
// under test run before any is read).
func fidFakeFolder(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fidSaveStats writes d-dim statistics with the metadata --save-stats
// records, overridden by meta (a "" value deletes the key).
func fidSaveStats(t *testing.T, path string, d int, meta map[string]string) {
	t.Helper()
	mu := make([]float64, d)
	sigma := make([]float64, d*d)
	for i := range d {
		mu[i] = float64(i) / 10
		sigma[i*d+i] = 1
	}
	md := map[string]string{"mode": "clean", "weights_sha256": strings.Repeat("a1", 32), "weights_file": inception.WeightsFile,
		"dim": strconv.Itoa(d), "count": "10", "backend": "go"}
	for k, v := range meta {
		if v == "" {
			delete(md, k)
		} else {
			md[k] = v
		}
	}
	if err := metrics.SaveStatsMeta(path, mu, sigma, md); err != nil {
		t.Fatal(err)
	}
}

// fidWriteNpz writes float64 mu [d] and sigma [d,d] as numpy's np.savez
// does (a zip of .npy arrays), as pytorch-fid and clean-fid ship them.
func fidWriteNpz(t *testing.T, path string, d int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for _, a := range []struct {
		name  string
		shape string
		n     int
	}{{"mu", fmt.Sprintf("(%d,)", d), d}, {"sigma", fmt.Sprintf("(%d, %d)", d, d), d * d}} {
		w, err := z.Create(a.name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		hdr := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", a.shape)
		for (10+len(hdr)+1)%64 != 0 {
			hdr += " "
		}
		hdr += "\n"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
		b = append(b, hdr...)
		for i := range a.n {
			v := 0.0
			if a.name == "sigma" && i%(d+1) == 0 {
				v = 1
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFIDStatsProvenance: statistics files record their mode, weights and
// dimension; two sides made another way are refused with one line naming
// both and the field, before anything is computed; files without that
// record are refused; without --mode the files' mode is used; a .npz is
// taken on trust with one warning.
func TestFIDStatsProvenance(t *testing.T) {
	dir := t.TempDir()
	fidNoCompute(t, dir)
	p := func(name string) string { return filepath.Join(dir, name) }
	fidSaveStats(t, p("clean3.safetensors"), 3, nil)
	fidSaveStats(t, p("pt3.safetensors"), 3, map[string]string{"mode": "pytorch-fid"})
	fidSaveStats(t, p("otherw3.safetensors"), 3, map[string]string{"weights_sha256": strings.Repeat("b2", 32), "weights_file": "other.pth"})
	fidSaveStats(t, p("clean4.safetensors"), 4, nil)
	fidSaveStats(t, p("badmode.safetensors"), 3, map[string]string{"mode": "tf"})
	fidSaveStats(t, p("nodim.safetensors"), 3, map[string]string{"dim": ""})
	fidSaveStats(t, p("wrongdim.safetensors"), 3, map[string]string{"dim": "5"})
	if err := metrics.SaveStats(p("old.safetensors"), []float64{0, 1}, []float64{1, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteSafetensors(p("foreign.safetensors"), []*weights.Tensor{weights.FromFloat64("mu", []int{1}, []float64{0}),
		weights.FromFloat64("sigma", []int{1, 1}, []float64{1})}, nil); err != nil {
		t.Fatal(err)
	}
	fidWriteNpz(t, p("ref3.npz"), 3)
	for name, set := range map[string][2]int{"nan.safetensors": {1, 1}, "negvar.safetensors": {0, 0}, "asym.safetensors": {0, 2}} {
		mu, sigma := []float64{0, 0, 0}, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
		sigma[set[0]*3+set[1]] = map[string]float64{"nan.safetensors": math.NaN(), "negvar.safetensors": -1, "asym.safetensors": 0.5}[name]
		md := map[string]string{"mode": "clean", "weights_sha256": strings.Repeat("a1", 32), "dim": "3", "count": "10"}
		if err := metrics.SaveStatsMeta(p(name), mu, sigma, md); err != nil {
			t.Fatal(err)
		}
	}
	folder := p("imgs")
	fidFakeFolder(t, folder, 2)

	for _, c := range []struct {
		args []string
		want []string
	}{
		// Row 3: another mode or other weights.
		{[]string{p("clean3.safetensors"), p("pt3.safetensors")}, []string{"clean3.safetensors", "pt3.safetensors", "mode clean", "mode pytorch-fid", "field mode"}},
		{[]string{p("clean3.safetensors"), p("clean3.safetensors"), "--mode", "pytorch-fid"}, []string{"clean3.safetensors", "--mode is pytorch-fid", "field mode"}},
		{[]string{p("clean3.safetensors"), folder, "--mode", "pytorch-fid"}, []string{"clean3.safetensors", folder, "mode clean", "mode pytorch-fid", "field mode"}},
		{[]string{folder, p("pt3.safetensors"), "--mode", "clean"}, []string{"pt3.safetensors", folder, "mode clean", "mode pytorch-fid", "field mode"}},
		{[]string{p("clean3.safetensors"), p("otherw3.safetensors")}, []string{"clean3.safetensors", "otherw3.safetensors", inception.WeightsFile, "other.pth", "a1a1", "b2b2", "field weights_sha256"}},
		// Row 4: dimensions.
		{[]string{p("clean3.safetensors"), p("clean4.safetensors")}, []string{"clean3.safetensors", "clean4.safetensors", "3-dim", "4-dim", "field dim"}},
		{[]string{p("ref3.npz"), p("clean4.safetensors")}, []string{"ref3.npz", "clean4.safetensors", "3-dim", "4-dim"}},
		{[]string{p("clean3.safetensors"), folder}, []string{"clean3.safetensors", folder, "3-dim", strconv.Itoa(inception.Pool3Dim) + "-dim"}},
		// Files without the record, or a broken one.
		{[]string{p("old.safetensors"), p("clean3.safetensors")}, []string{"old.safetensors", "older evalrun", "--save-stats"}},
		{[]string{p("foreign.safetensors"), p("clean3.safetensors")}, []string{"foreign.safetensors", "not an FID statistics file", "--save-stats"}},
		{[]string{p("badmode.safetensors"), p("clean3.safetensors")}, []string{"badmode.safetensors", `"mode" = "tf"`}},
		{[]string{p("nodim.safetensors"), p("clean3.safetensors")}, []string{"nodim.safetensors", `"dim" is missing`}},
		{[]string{p("wrongdim.safetensors"), p("clean3.safetensors")}, []string{"wrongdim.safetensors", `"dim" = 5`, "3 elements"}},
		// Statistics no features give.
		{[]string{p("nan.safetensors"), p("clean3.safetensors")}, []string{"nan.safetensors", "sigma[1][1] = NaN", "finite"}},
		{[]string{p("clean3.safetensors"), p("negvar.safetensors")}, []string{"negvar.safetensors", "sigma[0][0] = -1", "variance cannot be negative"}},
		{[]string{p("asym.safetensors"), p("clean3.safetensors")}, []string{"asym.safetensors", "sigma[0][2] = 0.5 but sigma[2][0] = 0", "symmetric"}},
	} {
		fidWantUsage(t, append([]string{"fid"}, c.args...), c.want...)
	}

	// Matching files: the mode they record (no --mode) and their weights.
	for _, c := range []struct{ a, b, mode, sha string }{
		{"pt3.safetensors", "pt3.safetensors", "pytorch-fid", strings.Repeat("a1", 32)},
		{"ref3.npz", "clean3.safetensors", "clean", ""},
	} {
		code, out, errOut := runCaptured(t, "fid", p(c.a), p(c.b), "--json")
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", c.a, c.b, code, errOut)
		}
		var r fidResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.Mode != c.mode || r.WeightsSHA256 != c.sha || r.FID < 0 {
			t.Errorf("%s %s: mode %q, weights %q, FID %g; want mode %q, weights %q", c.a, c.b, r.Mode, r.WeightsSHA256, r.FID, c.mode, c.sha)
		}
		if n := strings.Count(errOut, "warning"); n != strings.Count(c.a+c.b, ".npz") || (n > 0 && !strings.Contains(errOut, "ref3.npz")) {
			t.Errorf("%s %s: stderr %q: want one warning per .npz, naming it", c.a, c.b, errOut)
		}
	}
}

// TestFIDInputChecks: the arguments, output paths, cache folder and weights
// variable are checked before anything is computed (rows 9, 10, 16, 21 and
// 25 of the exit-code sweep), each refused with one line naming it.
func TestFIDInputChecks(t *testing.T) {
	dir := t.TempDir()
	fidNoCompute(t, dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fidFakeFolder(t, a, 2)
	fidFakeFolder(t, b, 2)
	jpg := filepath.Join(dir, "good.jpg")
	if err := os.WriteFile(jpg, []byte("\xff\xd8\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := filepath.Join(dir, "s.safetensors")
	fidSaveStats(t, stats, inception.Pool3Dim, nil)
	underFile := filepath.Join(jpg, "x", "s.safetensors") // not creatable, even as root
	cases := []struct {
		args []string
		want []string
	}{
		// Row 9: unwritable --save-stats, checked before computing.
		{[]string{a, b, "--save-stats-a", underFile}, []string{"--save-stats-a", underFile, "cannot create"}},
		{[]string{a, b, "--save-stats-b", underFile}, []string{"--save-stats-b", underFile}},
		{[]string{a, b, "--save-stats-a", a + ".safetensors", "--save-stats-b", a + ".safetensors"}, []string{"--save-stats-a", "--save-stats-b", a + ".safetensors"}},
		{[]string{a, stats, "--save-stats-a", stats}, []string{"--save-stats-a", stats, "overwritten"}},
		{[]string{stats, b, "--save-stats-a", filepath.Join(dir, "t.safetensors")}, []string{"--save-stats-a", stats, "already a statistics file"}},
		// Row 10: not a .safetensors name.
		{[]string{a, b, "--save-stats-a", filepath.Join(dir, "x.npz")}, []string{"--save-stats-a", "x.npz", ".safetensors"}},
		{[]string{a, b, "--save-stats-b", filepath.Join(dir, "stats")}, []string{"--save-stats-b", "stats", ".safetensors"}},
		// Row 21: a file that is neither a folder nor statistics; a missing path.
		{[]string{jpg, b}, []string{"DIR_A", jpg, "folder of images", ".safetensors", "--save-stats"}},
		{[]string{a, filepath.Join(dir, "nope")}, []string{"DIR_B", "nope", "no such folder or file"}},
		// Row 25: an explicit --cache that cannot be created.
		{[]string{a, b, "--cache", filepath.Join(jpg, "cache")}, []string{"--cache", filepath.Join(jpg, "cache"), "cannot create"}},
	}
	for _, c := range cases {
		fidWantUsage(t, append([]string{"fid"}, c.args...), c.want...)
	}
	for _, p := range []string{filepath.Join(dir, "x.npz"), filepath.Join(dir, "stats"), filepath.Join(dir, "t.safetensors")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	// Row 16: DUALTOKEN_FID_WEIGHTS set to a file that does not exist.
	missing := filepath.Join(dir, "nope.pth")
	t.Setenv("DUALTOKEN_FID_WEIGHTS", missing)
	fidWantUsage(t, []string{"fid", a, b, "--no-cache"}, "DUALTOKEN_FID_WEIGHTS", missing, "no such file")
}

// --weights when both sides are statistics files, so that nothing runs
// Inception, is refused (exit 2, one line) instead of ignored: a missing
// weights file used to pass unnoticed with exit 0.
func TestFIDWeightsWithTwoStatsFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fidNoCompute(t, dir)
	sa, sb := filepath.Join(dir, "sa.safetensors"), filepath.Join(dir, "sb.safetensors")
	fidSaveStats(t, sa, 8, nil)
	fidSaveStats(t, sb, 8, nil)
	missing := filepath.Join(dir, "missing.pth")
	fidWantUsage(t, []string{"fid", sa, sb, "--weights", missing}, "--weights", missing, "statistics files", "drop --weights")
	// Without the ignored flag the statistics files alone still give a FID.
	if code, _, errOut := runCaptured(t, "fid", sa, sb, "--json"); code != 0 {
		t.Errorf("two statistics files: exit %d: %s", code, errOut)
	}
}
