package metrics

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

// TestParityImageMetrics: scikit-image PSNR (range 255, +Inf when identical),
// scikit-image Gaussian SSIM and torchmetrics SSIM of every pair in
// fixtures/image_metrics, within 1e−6 relative.
func TestParityImageMetrics(t *testing.T) {
	dir := fixtures.Dir(t, "image_metrics")
	f, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refT := metricsFixtureTensor(t, f, "ref_uint8")
	distT := metricsFixtureTensor(t, f, "dist_uint8")
	if len(refT.Shape) != 4 {
		t.Fatalf("ref_uint8 shape %v, want [N,H,W,C]", refT.Shape)
	}
	if err := distT.ExpectShape(refT.Shape...); err != nil {
		t.Fatal(err)
	}
	n, h, w, c := refT.Shape[0], refT.Shape[1], refT.Shape[2], refT.Shape[3]
	ref, err := refT.Uint8()
	if err != nil {
		t.Fatal(err)
	}
	dist, err := distT.Uint8()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{}
	for _, k := range []string{"psnr_db", "ssim_skimage_gaussian", "ssim_torchmetrics"} {
		tt := metricsFixtureTensor(t, f, k)
		if err := tt.ExpectShape(n); err != nil {
			t.Fatal(err)
		}
		if want[k], err = tt.Float64(); err != nil {
			t.Fatal(err)
		}
	}
	sz := h * w * c
	identical := 0
	for i := range n {
		r, d := ref[i*sz:(i+1)*sz], dist[i*sz:(i+1)*sz]
		psnr, err := PSNRUint8(r, d, h, w, c)
		if err != nil {
			t.Fatal(err)
		}
		// The float path must agree with the exact integer one.
		psnrF, err := PSNR(metricsToFloat(r), metricsToFloat(d), h, w, c, PSNROptions{DataRange: 255})
		if err != nil {
			t.Fatal(err)
		}
		sw, err := SSIMUint8(r, d, h, w, c, SSIMWang)
		if err != nil {
			t.Fatal(err)
		}
		st, err := SSIMUint8(r, d, h, w, c, SSIMTorchmetrics)
		if err != nil {
			t.Fatal(err)
		}
		bw, bt, err := SSIMBothUint8(r, d, h, w, c)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsInf(want["psnr_db"][i], 1) {
			identical++
		}
		for _, chk := range []struct {
			name      string
			got, want float64
		}{
			{"psnr_db", psnr, want["psnr_db"][i]},
			{"psnr_db (float path)", psnrF, want["psnr_db"][i]},
			{"ssim_skimage_gaussian", sw, want["ssim_skimage_gaussian"][i]},
			{"ssim_torchmetrics", st, want["ssim_torchmetrics"][i]},
			{"ssim_skimage_gaussian (SSIMBoth)", bw, want["ssim_skimage_gaussian"][i]},
			{"ssim_torchmetrics (SSIMBoth)", bt, want["ssim_torchmetrics"][i]},
		} {
			if !metricsRelClose(chk.got, chk.want, 1e-6) {
				t.Errorf("pair %d %s: got %.12g want %.12g (1e-6 relative)", i, chk.name, chk.got, chk.want)
			}
		}
		t.Logf("pair %d: psnr %.6f ssim_wang %.9f (want %.9f) ssim_tm %.9f (want %.9f)", i, psnr, sw,
			want["ssim_skimage_gaussian"][i], st, want["ssim_torchmetrics"][i])
	}
	if identical == 0 {
		t.Errorf("fixture has no identical pair (+Inf PSNR); the +Inf convention went unchecked")
	}
}

func metricsToFloat(p []uint8) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = float64(v)
	}
	return out
}

func TestPSNRKnownMSE(t *testing.T) {
	h, w := 4, 5
	zero := make([]float64, h*w*3)
	ones := make([]float64, h*w*3)
	mixed := make([]float64, h*w*3)
	for i := range ones {
		ones[i] = 1
		if i%2 == 0 {
			mixed[i] = 2 // half the values differ by 2: MSE 2
		}
	}
	luma := (65.481 + 128.553 + 24.966) / 255 // Y difference for a grey step of 1
	cases := []struct {
		name      string
		ref, dist []float64
		opt       PSNROptions
		want      float64
	}{
		{"MSE 1, R 255", zero, ones, PSNROptions{}, 20 * math.Log10(255)},
		{"MSE 1, R 1", zero, ones, PSNROptions{DataRange: 1}, 0},
		{"MSE 2, R 255", zero, mixed, PSNROptions{DataRange: 255}, 10 * math.Log10(255*255/2.0)},
		{"identical, no eps", ones, ones, PSNROptions{}, math.Inf(1)},
		{"identical, pyiqa eps", ones, ones, PSNROptions{DataRange: 1, Eps: 1e-8}, 80},
		{"luma", zero, ones, PSNROptions{Y: true}, 10 * math.Log10(255*255/(luma*luma))},
	}
	for _, c := range cases {
		got, err := PSNR(c.ref, c.dist, h, w, 3, c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !(got == c.want || math.Abs(got-c.want) <= 1e-12*math.Abs(c.want)+1e-12) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// uint8 path: one value off by 3 in a 2×2×3 image → MSE 9/12.
	r := []uint8{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}
	d := append([]uint8(nil), r...)
	d[5] += 3
	if got, want := mustPSNRUint8(t, r, d, 2, 2, 3), 10*math.Log10(255*255/0.75); math.Abs(got-want) > 1e-12 {
		t.Errorf("uint8: %v, want %v", got, want)
	}
	// Mean of per-image PSNR vs pooled MSE: MSEs 1 and 4 (equal sizes).
	mses := []float64{1, 4}
	opt := PSNROptions{DataRange: 1}
	if got, want := MeanPSNR(mses, opt), (0+10*math.Log10(0.25))/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("MeanPSNR %v, want %v", got, want)
	}
	if got, want := PooledPSNR(mses, nil, opt), 10*math.Log10(1/2.5); math.Abs(got-want) > 1e-12 {
		t.Errorf("PooledPSNR %v, want %v", got, want)
	}
	// Weighted pooling: 3 values at MSE 1, 1 value at MSE 4 → 7/4.
	if got, want := PooledPSNR(mses, []int{3, 1}, opt), 10*math.Log10(4/7.0); math.Abs(got-want) > 1e-12 {
		t.Errorf("PooledPSNR weighted %v, want %v", got, want)
	}
}

func mustPSNRUint8(t *testing.T, r, d []uint8, h, w, c int) float64 {
	t.Helper()
	v, err := PSNRUint8(r, d, h, w, c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLumaBT601(t *testing.T) {
	y, err := LumaBT601([]float64{0, 0, 0, 255, 255, 255, 1, 0, 0}, 1, 3, 255)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{16, 235, 16 + 65.481/255}
	for i := range want {
		if math.Abs(y[i]-want[i]) > 1e-9 {
			t.Errorf("Y[%d] = %v, want %v", i, y[i], want[i])
		}
	}
}

func TestSSIMConstantImages(t *testing.T) {
	// Constant planes a and b: means a, b, variances 0, so SSIM = (2ab+C1)/(a²+b²+C1)
	// everywhere — in both variants (reflecting a constant changes nothing).
	h, w, c := 20, 17, 2
	a, b := 100.0, 130.0
	x := make([]float64, h*w*c)
	y := make([]float64, h*w*c)
	for i := range x {
		x[i], y[i] = a, b
	}
	c1 := (0.01 * 255) * (0.01 * 255)
	want := (2*a*b + c1) / (a*a + b*b + c1)
	for _, v := range []SSIMVariant{SSIMWang, SSIMTorchmetrics} {
		got, err := SSIM(x, y, h, w, c, v, 255)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%v constant: %v, want %v", v, got, want)
		}
		one, err := SSIM(x, x, h, w, c, v, 255)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(one-1) > 1e-12 {
			t.Errorf("%v identical: %v, want 1", v, one)
		}
	}
}

func TestSSIMReflectPad(t *testing.T) {
	// numpy 'reflect' of [a b c d] by 2: c b | a b c d | c b (edge not repeated);
	// rows of a 3-row plane padded by 2: 2 1 | 0 1 2 | 1 0.
	got := ssimReflectPad([]float64{1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400}, 3, 4, 2)
	rowScale := []float64{100, 10, 1, 10, 100, 10, 1}
	cols := []float64{3, 2, 1, 2, 3, 4, 3, 2}
	for i, s := range rowScale {
		for j, v := range cols {
			if g := got[i*8+j]; g != s*v {
				t.Fatalf("reflect pad [%d,%d] = %v, want %v (full %v)", i, j, g, s*v, got)
			}
		}
	}
	// Two-dimensional: 3×3 plane padded by 1.
	p := ssimReflectPad([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3, 1)
	wantP := []float64{
		5, 4, 5, 6, 5,
		2, 1, 2, 3, 2,
		5, 4, 5, 6, 5,
		8, 7, 8, 9, 8,
		5, 4, 5, 6, 5,
	}
	for i := range wantP {
		if p[i] != wantP[i] {
			t.Fatalf("reflect pad 3×3 = %v, want %v", p, wantP)
		}
	}
}

// TestSSIMMatchesDirect checks the separable, blocked, parallel path against a
// direct 2-D evaluation of the definition on odd sizes that split into several
// row blocks.
func TestSSIMMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{37, 53, 3}, {11, 11, 1}, {70, 23, 2}} {
		h, w, c := sz[0], sz[1], sz[2]
		x := make([]float64, h*w*c)
		y := make([]float64, h*w*c)
		for i := range x {
			x[i] = rng.Float64()
			y[i] = min(1, max(0, x[i]+0.2*rng.NormFloat64()))
		}
		for _, v := range []SSIMVariant{SSIMWang, SSIMTorchmetrics} {
			got, err := SSIM(x, y, h, w, c, v, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := ssimDirect(x, y, h, w, c, v, 1)
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("%v %v: fast %.15g, direct %.15g", v, sz, got, want)
			}
		}
		bw, bt, err := SSIMBoth(x, y, h, w, c, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, chk := range []struct {
			v   SSIMVariant
			got float64
		}{{SSIMWang, bw}, {SSIMTorchmetrics, bt}} {
			if want := ssimDirect(x, y, h, w, c, chk.v, 1); math.Abs(chk.got-want) > 1e-12 {
				t.Errorf("SSIMBoth %v %v: %.15g, direct %.15g", chk.v, sz, chk.got, want)
			}
		}
	}
}

// ssimDirect evaluates SSIM from the definition: a 2-D Gaussian window at every
// output position, numpy-reflect indices for torchmetrics, valid positions for Wang.
func ssimDirect(x, y []float64, h, w, c int, v SSIMVariant, R float64) float64 {
	k := ssimKernel
	r := len(k) / 2
	refl := func(i, n int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*(n-1) - i
		}
		return i
	}
	c1, c2 := (0.01*R)*(0.01*R), (0.03*R)*(0.03*R)
	total := 0.0
	for ch := range c {
		sum, cnt := 0.0, 0
		i0, i1, j0, j1 := r, h-r, r, w-r
		if v == SSIMTorchmetrics {
			i0, i1, j0, j1 = 0, h, 0, w
		}
		for i := i0; i < i1; i++ {
			for j := j0; j < j1; j++ {
				var ux, uy, uxx, uyy, uxy float64
				for a := -r; a <= r; a++ {
					for b := -r; b <= r; b++ {
						wt := k[a+r] * k[b+r]
						p := (refl(i+a, h)*w+refl(j+b, w))*c + ch
						ux += wt * x[p]
						uy += wt * y[p]
						uxx += wt * x[p] * x[p]
						uyy += wt * y[p] * y[p]
						uxy += wt * x[p] * y[p]
					}
				}
				vx, vy := uxx-ux*ux, uyy-uy*uy
				if v == SSIMTorchmetrics {
					vx, vy = max(vx, 0), max(vy, 0)
				}
				sum += (2*ux*uy + c1) * (2*(uxy-ux*uy) + c2) / ((ux*ux + uy*uy + c1) * (vx + vy + c2))
				cnt++
			}
		}
		total += sum / float64(cnt)
	}
	return total / float64(c)
}

func TestImageMetricsBadInput(t *testing.T) {
	a := make([]float64, 12*12*3)
	small := make([]float64, 10*10)
	errOf := func(_ float64, err error) error { return err }
	errOf2 := func(_, _ float64, err error) error { return err }
	if _, err := PSNR(a, a, 12, 12, 3, PSNROptions{Y: true}); err != nil {
		t.Errorf("luma on 3 channels: %v", err)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"psnr size", errOf(PSNR(a, a[:10], 12, 12, 3, PSNROptions{})), "distorted image has 10 values, want H×W×C = 12×12×3 = 432"},
		{"ssim size", errOf(SSIM(a[:5], a, 12, 12, 3, SSIMWang, 255)), "reference has 5 values"},
		{"ssim too small", errOf(SSIM(small, small, 10, 10, 1, SSIMWang, 255)), "smaller than the 11-pixel window"},
		{"luma on grey", errOf(MSE(small, small, 10, 10, 1, true)), "luma needs 3 channels, image has 1"},
		{"ssim range", errOf(SSIM(a, a, 12, 12, 3, SSIMWang, 0)), "data range 0 must be positive"},
		{"ssim both size", errOf2(SSIMBoth(a, a[:7], 12, 12, 3, 255)), "distorted image has 7 values"},
		{"ssim both too small", errOf2(SSIMBoth(small, small, 10, 10, 1, 255)), "smaller than the 11-pixel window"},
		{"ssim both range", errOf2(SSIMBoth(a, a, 12, 12, 3, -1)), "data range -1 must be positive"},
		{"uint8 size", errOf(PSNRUint8(make([]uint8, 3), make([]uint8, 3), 1, 1, 1)), "reference has 3 values"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", c.name, c.err, c.want)
		}
	}
}

// BenchmarkSSIM384 measures SSIM pairs/s on 384×384×3 uint8 pairs: each
// variant alone, and both from SSIMBoth.
func BenchmarkSSIM384(b *testing.B) {
	ref, dist := metricsBenchPair(384, 384)
	for _, v := range []SSIMVariant{SSIMWang, SSIMTorchmetrics} {
		b.Run(v.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := SSIMUint8(ref, dist, 384, 384, 3, v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
	// Both variants from one filtering, against the two calls above.
	b.Run("both", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := SSIMBothUint8(ref, dist, 384, 384, 3); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	})
}

// BenchmarkPSNR384 measures PSNR pairs/s on 384×384×3 uint8 pairs.
func BenchmarkPSNR384(b *testing.B) {
	ref, dist := metricsBenchPair(384, 384)
	for b.Loop() {
		if _, err := PSNRUint8(ref, dist, 384, 384, 3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

func metricsBenchPair(h, w int) ([]uint8, []uint8) {
	rng := rand.New(rand.NewPCG(3, 4))
	ref := make([]uint8, h*w*3)
	dist := make([]uint8, h*w*3)
	for i := range ref {
		ref[i] = uint8(rng.IntN(256))
		dist[i] = uint8(min(255, max(0, int(ref[i])+rng.IntN(21)-10)))
	}
	return ref, dist
}
