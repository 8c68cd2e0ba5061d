package metrics

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// metricsRelClose reports |got−want| ≤ rel·|want| (the fixtures' "scalar metrics within 1e−6 relative").
func metricsRelClose(got, want, rel float64) bool {
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func metricsFixtureTensor(t *testing.T, f *weights.SafetensorsFile, name string) *weights.Tensor {
	t.Helper()
	tt, err := f.Get(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tt
}

// TestParityFrechet: pytorch-fid's Fréchet distance (scipy sqrtm, offset
// fallback, real part) of every `<case>.{a,b}` feature pair in fixtures/frechet.
func TestParityFrechet(t *testing.T) {
	dir := fixtures.Dir(t, "frechet")
	f, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []string
	for _, n := range f.Names() {
		if c, ok := strings.CutSuffix(n, ".fid"); ok {
			cases = append(cases, c)
		}
	}
	sort.Strings(cases)
	for _, want := range []string{"rankdef", "wellcond"} {
		if i := sort.SearchStrings(cases, want); i == len(cases) || cases[i] != want {
			t.Errorf("fixture case %q missing (have %v)", want, cases)
		}
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			stats := func(key string) ([]float64, []float64) {
				tt := metricsFixtureTensor(t, f, key)
				if len(tt.Shape) != 2 {
					t.Fatalf("%s: shape %v, want [N,D]", key, tt.Shape)
				}
				x, err := tt.Float64()
				if err != nil {
					t.Fatal(err)
				}
				mu, sigma, err := MeanCov(x, tt.Shape[0], tt.Shape[1])
				if err != nil {
					t.Fatal(err)
				}
				return mu, sigma
			}
			mu1, s1 := stats(c + ".a")
			mu2, s2 := stats(c + ".b")
			wantT := metricsFixtureTensor(t, f, c+".fid")
			want, err := wantT.Float64()
			if err != nil || len(want) != 1 {
				t.Fatalf("%s.fid: %v (%d values)", c, err, len(want))
			}
			// The fixture generator drops the imaginary part silently.
			res, err := Frechet(mu1, s1, mu2, s2, FrechetCleanFID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: D=%d got %.12g want %.12g rel %.2e offset=%v maxImag=%.2g", c, len(mu1), res.Distance, want[0],
				math.Abs(res.Distance-want[0])/math.Abs(want[0]), res.Offset, res.MaxImag)
			if !metricsRelClose(res.Distance, want[0], 1e-6) {
				t.Errorf("%s: FID %.12g, want %.12g (1e-6 relative)", c, res.Distance, want[0])
			}
			got, err := FrechetDistance(mu1, s1, mu2, s2)
			if err != nil {
				t.Fatalf("pytorch-fid mode: %v", err)
			}
			if got != res.Distance {
				t.Errorf("pytorch-fid mode %v differs from clean mode %v", got, res.Distance)
			}
		})
	}
}

func TestFrechetKnownValues(t *testing.T) {
	// 1-D: d² = (m1−m2)² + s1 + s2 − 2√(s1 s2).
	got, err := FrechetDistance([]float64{1}, []float64{4}, []float64{3}, []float64{9})
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 + 4 + 9 - 2*6.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("1-D: %v, want %v", got, want)
	}
	// Commuting (diagonal) covariances: Tr sqrtm = Σ √(a_i b_i).
	mu := []float64{0, 0, 0}
	a := []float64{1, 0, 0, 0, 2, 0, 0, 0, 3}
	b := []float64{4, 0, 0, 0, 0.5, 0, 0, 0, 3}
	got, err = FrechetDistance(mu, a, []float64{1, 1, 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	want := 3.0 + 6 + 7.5 - 2*(2+1+3)
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("diagonal: %v, want %v", got, want)
	}
	// Identical distributions: 0 (up to rounding).
	s := []float64{2, 0.5, 0.5, 1}
	got, err = FrechetDistance([]float64{1, 2}, s, []float64{1, 2}, s)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got) > 1e-12 {
		t.Errorf("identical: %v, want 0", got)
	}
}

func TestFrechetImaginaryCheck(t *testing.T) {
	// Σ1Σ2 = diag(1, −4): √λ = {1, 2i}. pytorch-fid fails; clean-fid keeps the real part.
	mu := []float64{0, 0}
	s1 := []float64{1, 0, 0, -1}
	s2 := []float64{1, 0, 0, 4}
	if _, err := FrechetDistance(mu, s1, mu, s2); err == nil || !strings.Contains(err.Error(), "imaginary") {
		t.Errorf("pytorch-fid mode: err %v, want an imaginary-component error", err)
	}
	res, err := Frechet(mu, s1, mu, s2, FrechetCleanFID)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0 + 0 + 5 - 2*1.0; math.Abs(res.Distance-want) > 1e-12 || math.Abs(res.MaxImag-2) > 1e-12 {
		t.Errorf("clean mode: %v (imag %v), want %v (imag 2)", res.Distance, res.MaxImag, want)
	}
}

func TestFrechetOffsetTrace(t *testing.T) {
	// (Σ1+εI)(Σ2+εI) for Σ1 = Σ2 = 0 has eigenvalues ε², so the trace is D·ε.
	d := 3
	tr, imag, ok := frechetTraceSqrtm(make([]float64, d*d), make([]float64, d*d), d, FrechetOffset)
	if !ok || math.Abs(tr-3*FrechetOffset) > 1e-18 || imag != 0 {
		t.Errorf("offset trace %v imag %v ok %v, want %v", tr, imag, ok, 3*FrechetOffset)
	}
}

func TestFrechetBadInput(t *testing.T) {
	cases := []struct {
		name             string
		mu1, s1, mu2, s2 []float64
		wantSubstr       string
	}{
		{"empty", nil, nil, nil, nil, "mu1 is empty"},
		{"mu2 length", []float64{1, 2}, make([]float64, 4), []float64{1}, make([]float64, 4), "mu2 has 1 elements, want 2"},
		{"sigma1 size", []float64{1, 2}, make([]float64, 3), []float64{1, 2}, make([]float64, 4), "sigma1 has 3 elements, want 2×2 = 4"},
		{"sigma2 size", []float64{1, 2}, make([]float64, 4), []float64{1, 2}, make([]float64, 5), "sigma2 has 5 elements"},
		{"nan", []float64{math.NaN()}, []float64{1}, []float64{1}, []float64{1}, "mu1[0] = NaN is not finite"},
	}
	for _, c := range cases {
		_, err := FrechetDistance(c.mu1, c.s1, c.mu2, c.s2)
		if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: err %v, want it to contain %q", c.name, err, c.wantSubstr)
		}
	}
	if _, _, err := MeanCov([]float64{1, 2, 3}, 2, 2); err == nil || !strings.Contains(err.Error(), "want rows×D = 2×2") {
		t.Errorf("MeanCov size: %v", err)
	}
	if _, _, err := MeanCov([]float64{1, 2}, 1, 2); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("MeanCov one row: %v", err)
	}
}

func TestMeanCovAndAccumulator(t *testing.T) {
	// x = [[1,2],[3,6],[5,7]]: mean (3,5); cov = [[4,5],[5,7]] (N−1).
	x := []float64{1, 2, 3, 6, 5, 7}
	mu, s, err := MeanCov(x, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantMu, wantS := []float64{3, 5}, []float64{4, 5, 5, 7}
	for i := range wantMu {
		if math.Abs(mu[i]-wantMu[i]) > 1e-12 {
			t.Errorf("mu[%d] = %v, want %v", i, mu[i], wantMu[i])
		}
	}
	for i := range wantS {
		if math.Abs(s[i]-wantS[i]) > 1e-12 {
			t.Errorf("sigma[%d] = %v, want %v", i, s[i], wantS[i])
		}
	}
	// Batched accumulation equals the one-shot two-pass result.
	acc := NewStatsAccumulator(2)
	if err := acc.Add(x[:2], 1); err != nil {
		t.Fatal(err)
	}
	if err := acc.Add(x[2:], 2); err != nil {
		t.Fatal(err)
	}
	mu2, s2, err := acc.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for i := range s {
		if math.Abs(s2[i]-s[i]) > 1e-12 {
			t.Errorf("batched sigma[%d] = %v, want %v", i, s2[i], s[i])
		}
	}
	for i := range mu {
		if math.Abs(mu2[i]-mu[i]) > 1e-12 {
			t.Errorf("batched mu[%d] = %v, want %v", i, mu2[i], mu[i])
		}
	}
	rmu, rs, err := MeanCovRows([][]float64{{1, 2}, {3, 6}, {5, 7}})
	if err != nil || rmu[1] != mu[1] || rs[3] != s[3] {
		t.Errorf("MeanCovRows: %v %v %v", rmu, rs, err)
	}
}

func TestStatsSaveLoad(t *testing.T) {
	dir := t.TempDir()
	mu := []float64{1.5, -2}
	sigma := []float64{1, 0.25, 0.25, 3}
	p := filepath.Join(dir, "stats.safetensors")
	if err := SaveStats(p, mu, sigma); err != nil {
		t.Fatal(err)
	}
	gm, gs, err := LoadStats(p)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gm, gs) != fmt.Sprint(mu, sigma) {
		t.Errorf("round trip: %v %v", gm, gs)
	}
	// A numpy .npz as np.savez writes it (mu float64 [2], sigma float32 [2,2]).
	np := filepath.Join(dir, "stats.npz")
	frechetWriteNpz(t, np, map[string]any{"mu": mu, "sigma": []float32{1, 0.25, 0.25, 3}})
	gm, gs, err = LoadStats(np)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gm, gs) != fmt.Sprint(mu, sigma) {
		t.Errorf("npz: %v %v", gm, gs)
	}
	frechetWriteNpz(t, np, map[string]any{"mu": mu})
	if _, _, err := LoadStats(np); err == nil || !strings.Contains(err.Error(), `no array "sigma"`) {
		t.Errorf("npz without sigma: %v", err)
	}
	if err := SaveStats(p, mu, sigma[:3]); err == nil {
		t.Error("SaveStats accepted a 3-element sigma for D = 2")
	}
}

// TestStatsSaveMeta: SaveStatsMeta records the caller's metadata beside
// format=fid-stats (which the caller cannot override) and LoadStats reads
// the file as any other.
func TestStatsSaveMeta(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stats.safetensors")
	mu, sigma := []float64{1, 2}, []float64{1, 0, 0, 1}
	if err := SaveStatsMeta(p, mu, sigma, map[string]string{"mode": "clean", "format": "other"}); err != nil {
		t.Fatal(err)
	}
	f, err := weights.OpenSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata
	f.Close()
	if md["mode"] != "clean" || md["format"] != "fid-stats" {
		t.Errorf("metadata %v", md)
	}
	if gm, gs, err := LoadStats(p); err != nil || fmt.Sprint(gm, gs) != fmt.Sprint(mu, sigma) {
		t.Errorf("LoadStats: %v %v %v", gm, gs, err)
	}
}

func frechetWriteNpz(t *testing.T, path string, arrays map[string]any) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for name, v := range arrays {
		w, err := z.Create(name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		var descr, shape string
		var data []byte
		switch a := v.(type) {
		case []float64:
			descr, shape = "<f8", fmt.Sprintf("(%d,)", len(a))
			for _, x := range a {
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(x))
			}
		case []float32:
			descr, shape = "<f4", "(2, 2)"
			for _, x := range a {
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(x))
			}
		}
		hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
		for (10+len(hdr)+1)%64 != 0 {
			hdr += " "
		}
		hdr += "\n"
		buf := []byte("\x93NUMPY\x01\x00")
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(hdr)))
		buf = append(buf, hdr...)
		buf = append(buf, data...)
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestKID(t *testing.T) {
	// Same distribution: KID near 0; shifted: clearly positive.
	n, d := 200, 8
	a := make([]float64, n*d)
	b := make([]float64, n*d)
	c := make([]float64, n*d)
	for i := range a {
		a[i] = math.Sin(float64(i) * 0.37)
		b[i] = math.Sin(float64(i)*0.37 + 0.001)
		c[i] = a[i] + 1
	}
	same, _, err := KID(a, n, b, n, d, KIDOptions{Subsets: 10, MaxSubsetSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	diff, _, err := KID(a, n, c, n, d, KIDOptions{Subsets: 10, MaxSubsetSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(same) > 0.05 || diff < 1 {
		t.Errorf("KID same %v (want |·| < 0.05), shifted %v (want > 1)", same, diff)
	}
	// Hand value: one subset of all rows (m = n = 2, d = 1), x = feats2, y = feats1.
	// k(x,y) = (xy+1)³; feats1 = {0, 1}, feats2 = {1, 2}:
	// a = k(1,2)·2 + k(0,1)·2 = 2·27 + 2·1 = 56; b = k(1,0)+k(1,1)+k(2,0)+k(2,1) = 1+8+1+27 = 37.
	// MMD² = (56/(m−1) − 2·37/m)/m = (56 − 37)/2 = 9.5.
	got, _, err := KID([]float64{0, 1}, 2, []float64{1, 2}, 2, 1, KIDOptions{Subsets: 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-9.5) > 1e-12 {
		t.Errorf("KID hand case %v, want 9.5", got)
	}
}

// BenchmarkFrechetDistance times d² from precomputed statistics (the sqrtm
// trace dominates); D = 2048 is pytorch-fid's pool3 width: run it with -benchtime 1x.
func BenchmarkFrechetDistance(b *testing.B) {
	for _, d := range []int{256, 2048} {
		b.Run(fmt.Sprintf("D=%d", d), func(b *testing.B) {
			n := d + d/2
			x, y := frechetRandomFeatures(n, d, 1), frechetRandomFeatures(n, d, 2)
			mu1, s1, err := MeanCov(x, n, d)
			if err != nil {
				b.Fatal(err)
			}
			mu2, s2, err := MeanCov(y, n, d)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := Frechet(mu1, s1, mu2, s2, FrechetCleanFID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestFrechetPathsAgree(t *testing.T) {
	// Positive definite Σ1: the Cholesky path and the general Hessenberg path
	// compute the same spectrum.
	n, d := 60, 20
	x, y := frechetRandomFeatures(n, d, 1), frechetRandomFeatures(n, d, 2)
	_, s1, _ := MeanCov(x, n, d)
	_, s2, _ := MeanCov(y, n, d)
	tc, ic, ok1 := frechetTraceSqrtmChol(s1, s2, d)
	tg, _, ok2 := frechetTraceSqrtmGeneral(s1, s2, d)
	if !ok1 || !ok2 || math.Abs(tc-tg) > 1e-10*math.Abs(tg) || ic > 1e-6 {
		t.Errorf("cholesky %v (ok %v, imag %v) vs general %v (ok %v)", tc, ok1, ic, tg, ok2)
	}
	// A singular Σ1 (rank 1) has no Cholesky factor: the general path answers.
	sing := []float64{1, 1, 1, 1}
	if _, _, ok := frechetTraceSqrtmChol(sing, []float64{2, 0, 0, 3}, 2); ok {
		t.Log("rank-1 Σ1 factorised (rounding); fine either way")
	}
	tr, _, ok := frechetTraceSqrtm(sing, []float64{2, 0, 0, 3}, 2, 0)
	// Σ1Σ2 = [[2,3],[2,3]]: eigenvalues 0 and 5 → Tr sqrtm = √5.
	if !ok || math.Abs(tr-math.Sqrt(5)) > 1e-12 {
		t.Errorf("singular Σ1: trace %v, want √5", tr)
	}
}

// frechetRandomFeatures returns n×d standard normal features with a seeded
// correlation (x·(I + 0.3·R)) so the covariance is full rank but not diagonal.
func frechetRandomFeatures(n, d int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	mix := make([]float64, d*d)
	for i := range mix {
		mix[i] = 0.3 * rng.NormFloat64() / math.Sqrt(float64(d))
	}
	for i := range d {
		mix[i*d+i]++
	}
	z := make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	x := make([]float64, n*d)
	for i := range x {
		x[i] = 0.05 * float64(seed)
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: z},
		blas64.General{Rows: d, Cols: d, Stride: d, Data: mix}, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: x})
	return x
}

// The congruence Lᵀ·Σ2·L on GoMLX's Go backend (D ≥ congruenceMinD) and
// gonum's triangular products give the same trace of √(Σ1Σ2) up to
// summation order.
func TestFrechetCongruencePathsAgree(t *testing.T) {
	n, d := 400, 256
	x, y := frechetRandomFeatures(n, d, 3), frechetRandomFeatures(n, d, 4)
	_, s1, err := MeanCov(x, n, d)
	if err != nil {
		t.Fatal(err)
	}
	_, s2, err := MeanCov(y, n, d)
	if err != nil {
		t.Fatal(err)
	}
	old := congruenceMinD
	defer func() { congruenceMinD = old }()
	congruenceMinD = d
	fast, _, ok1 := frechetTraceSqrtmChol(s1, s2, d)
	congruenceMinD = d + 1
	slow, _, ok2 := frechetTraceSqrtmChol(s1, s2, d)
	if !ok1 || !ok2 || math.Abs(fast-slow) > 1e-10*math.Abs(slow) || fast == 0 {
		t.Errorf("trace √(Σ1Σ2): backend %v (ok %v), gonum %v (ok %v)", fast, ok1, slow, ok2)
	}
}
