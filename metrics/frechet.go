// Package metrics holds the evaluation metrics of the harness: image quality
// (PSNR, SSIM), Fréchet distance and KID over feature statistics, zero-shot
// classification and retrieval, codebook statistics and the QA scorers. Every
// function is pure Go over plain slices and documents the reference it matches.
package metrics

// Fréchet distance (FID) over Gaussian fits of feature sets, as pytorch-fid
// 0.3.0 and clean-fid compute it, in float64.
//
// API (covariances are flat, row-major D×D; D = len(mu)):
//
//	mu, sigma, err := MeanCov(features, n, d)    // flat N×D: mean and np.cov (N−1)
//	mu, sigma, err := MeanCovRows(rows)          // same over [][]float64
//	acc := NewStatsAccumulator(d); acc.Add(batch, rows); mu, sigma, err := acc.Stats()
//	fid, err := FrechetDistance(mu1, sigma1, mu2, sigma2)      // pytorch-fid semantics
//	res, err := Frechet(mu1, sigma1, mu2, sigma2, FrechetCleanFID)  // detail, chosen mode
//	kid, err := KID(feats1, n1, feats2, n2, d, KIDOptions{})   // bonus: clean-fid's KID
//	err = SaveStats(path, mu, sigma); mu, sigma, err = LoadStats(path) // .safetensors or .npz
//	err = SaveStatsMeta(path, mu, sigma, meta)   // also records meta (string pairs)
//
// d² = |mu1−mu2|² + Tr Σ1 + Tr Σ2 − 2·Tr sqrtm(Σ1Σ2).
//
// scipy.linalg.sqrtm takes the Schur form Σ1Σ2 = Z·T·Zᴴ, square-roots the
// triangular T (diagonal √λᵢ, principal branch) and forms Z·R·Zᴴ; the trace of
// that is Σ √λᵢ over the eigenvalues λ of Σ1Σ2. So we compute those
// eigenvalues and sum the principal complex square roots: Tr sqrtm = Σ Re √λᵢ.
//   - Σ1 positive definite (N > D, the usual case): Σ1 = L·Lᵀ and the
//     eigenvalues are those of the symmetric Lᵀ·Σ2·L (Cholesky + symmetric
//     eigensolver; D = 2048 takes ~4.5 s on two cores here, with frechetBLAS
//     for the tridiagonal reduction's symmetric products).
//   - otherwise (singular Σ1, N ≤ D: the fixture's `rankdef` case): the
//     eigenvalues of the product Σ1Σ2 itself by real Hessenberg QR — the
//     spectrum scipy's Schur form holds. Its null eigenvalues are rounding
//     noise (±1e−14, sometimes complex pairs) in scipy too; their roots add
//     ~1e−7 each, which is how scipy's own number is made.
// Against scipy 1.10: ~1e−15 relative when well-conditioned, ~1e−9 when singular.
//
// pytorch-fid's guards, reproduced:
//   - if the square root is not finite (scipy raises on a zero pivot and
//     fills NaN), 1e−6·I is added to both covariances and it is recomputed;
//   - if the result is complex and its imaginary diagonal exceeds 1e−3,
//     pytorch-fid fails ("Imaginary component"). We do not form the matrix,
//     so the check uses max |Im √λᵢ| — the imaginary part each eigen-direction
//     contributes — as the measure. clean-fid drops the imaginary part silently
//     (FrechetCleanFID).

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/model/weights"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// FrechetMode selects how an imaginary part of sqrtm(Σ1Σ2) is treated.
type FrechetMode int

const (
	// FrechetPytorchFID fails when the imaginary part exceeds 1e−3 (pytorch-fid 0.3.0), else drops it.
	FrechetPytorchFID FrechetMode = iota
	// FrechetCleanFID drops the imaginary part silently (clean-fid).
	FrechetCleanFID
)

// String names the mode as the CLIs print it.
func (m FrechetMode) String() string {
	switch m {
	case FrechetPytorchFID:
		return "pytorch-fid"
	case FrechetCleanFID:
		return "clean"
	}
	return fmt.Sprintf("FrechetMode(%d)", int(m))
}

// FrechetOffset is the diagonal added to both covariances when the first
// square root is not finite (pytorch-fid's and clean-fid's eps).
const FrechetOffset = 1e-6

// FrechetImagTol is pytorch-fid's bound on the imaginary diagonal (np.allclose atol).
const FrechetImagTol = 1e-3

// FrechetResult is the distance with its terms.
type FrechetResult struct {
	Distance  float64 // d² = MeanTerm + TraceS1 + TraceS2 − 2·TrCovMean
	MeanTerm  float64 // |mu1 − mu2|²
	TraceS1   float64
	TraceS2   float64
	TrCovMean float64 // Re Tr sqrtm(Σ1Σ2) (after the offset if Offset)
	MaxImag   float64 // max |Im √λ| over the eigenvalues of Σ1Σ2 (0 when real)
	Offset    bool    // the 1e−6·I fallback was needed
}

// FrechetDistance returns the Fréchet distance between N(mu1, sigma1) and
// N(mu2, sigma2) with pytorch-fid's semantics. sigma1, sigma2 are flat
// row-major D×D with D = len(mu1).
func FrechetDistance(mu1, sigma1, mu2, sigma2 []float64) (float64, error) {
	r, err := Frechet(mu1, sigma1, mu2, sigma2, FrechetPytorchFID)
	return r.Distance, err
}

// Frechet computes the Fréchet distance and its terms in the given mode.
func Frechet(mu1, sigma1, mu2, sigma2 []float64, mode FrechetMode) (FrechetResult, error) {
	var res FrechetResult
	d := len(mu1)
	switch {
	case d == 0:
		return res, errors.New("frechet: mu1 is empty")
	case len(mu2) != d:
		return res, fmt.Errorf("frechet: mu2 has %d elements, want %d (len mu1)", len(mu2), d)
	case len(sigma1) != d*d:
		return res, fmt.Errorf("frechet: sigma1 has %d elements, want %d×%d = %d", len(sigma1), d, d, d*d)
	case len(sigma2) != d*d:
		return res, fmt.Errorf("frechet: sigma2 has %d elements, want %d×%d = %d", len(sigma2), d, d, d*d)
	}
	for name, v := range map[string][]float64{"mu1": mu1, "mu2": mu2, "sigma1": sigma1, "sigma2": sigma2} {
		if i := frechetFirstNonFinite(v); i >= 0 {
			return res, fmt.Errorf("frechet: %s[%d] = %v is not finite", name, i, v[i])
		}
	}
	for i := range d {
		diff := mu1[i] - mu2[i]
		res.MeanTerm += diff * diff
		res.TraceS1 += sigma1[i*d+i]
		res.TraceS2 += sigma2[i*d+i]
	}
	tr, imag, ok := frechetTraceSqrtm(sigma1, sigma2, d, 0)
	if !ok {
		res.Offset = true
		tr, imag, ok = frechetTraceSqrtm(sigma1, sigma2, d, FrechetOffset)
		if !ok {
			return res, fmt.Errorf("frechet: sqrtm(Σ1Σ2) is not finite even with %g·I added (D = %d)", FrechetOffset, d)
		}
	}
	res.TrCovMean, res.MaxImag = tr, imag
	res.Distance = res.MeanTerm + res.TraceS1 + res.TraceS2 - 2*tr
	if mode == FrechetPytorchFID && imag > FrechetImagTol {
		return res, fmt.Errorf("frechet: imaginary component %g in sqrtm(Σ1Σ2) exceeds %g (pytorch-fid would fail; too few samples for D = %d?)", imag, FrechetImagTol, d)
	}
	return res, nil
}

// frechetTraceSqrtm returns Σ Re √λ and max |Im √λ| over the eigenvalues λ of
// (Σ1 + off·I)(Σ2 + off·I); ok is false when the decomposition fails or is not finite.
func frechetTraceSqrtm(s1, s2 []float64, d int, off float64) (tr, maxImag float64, ok bool) {
	useFrechetBLAS()
	a, b := frechetOffsetCopy(s1, d, off), frechetOffsetCopy(s2, d, off)
	if tr, maxImag, ok = frechetTraceSqrtmChol(a, b, d); ok {
		return tr, maxImag, true
	}
	return frechetTraceSqrtmGeneral(a, b, d)
}

func frechetOffsetCopy(s []float64, d int, off float64) []float64 {
	c := append([]float64(nil), s...)
	for i := range d {
		c[i*d+i] += off
	}
	return c
}

// frechetTraceSqrtmChol: when Σ1 = L·Lᵀ is positive definite (N > D, the usual
// case), Σ1Σ2 = L·(Lᵀ·Σ2·L)·L⁻¹ has the eigenvalues of the symmetric Lᵀ·Σ2·L,
// which a symmetric eigensolver gets ~20× faster than Hessenberg QR.
// Rounding can make a tiny eigenvalue negative: its root is imaginary, as in scipy.
func frechetTraceSqrtmChol(s1, s2 []float64, d int) (tr, maxImag float64, ok bool) {
	var chol mat.Cholesky
	if !chol.Factorize(mat.NewSymDense(d, append([]float64(nil), s1...))) {
		return 0, 0, false
	}
	var l mat.TriDense
	chol.LTo(&l)
	var sym []float64
	if d >= congruenceMinD {
		// m = Lᵀ·Σ2·L as two dense products on GoMLX's Go backend.
		dense := make([]float64, d*d)
		lr := l.RawTriangular()
		for i := range d {
			copy(dense[i*d:i*d+i+1], lr.Data[i*lr.Stride:i*lr.Stride+i+1])
		}
		var err error
		if sym, err = congruenceSym(dense, s2, d); err != nil {
			return 0, 0, false
		}
	} else {
		// m = Lᵀ·Σ2·L via two triangular multiplies in place.
		m := blas64.General{Rows: d, Cols: d, Stride: d, Data: append([]float64(nil), s2...)}
		lr := l.RawTriangular()
		blas64.Trmm(blas.Right, blas.NoTrans, 1, lr, m) // Σ2·L
		blas64.Trmm(blas.Left, blas.Trans, 1, lr, m)    // Lᵀ·(Σ2·L)
		sym = make([]float64, d*d)
		for i := range d {
			for j := range d {
				sym[i*d+j] = 0.5 * (m.Data[i*d+j] + m.Data[j*d+i])
			}
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(d, sym), false) {
		return 0, 0, false
	}
	for _, l := range eig.Values(nil) {
		if l >= 0 {
			tr += math.Sqrt(l)
		} else {
			maxImag = math.Max(maxImag, math.Sqrt(-l))
		}
	}
	if math.IsNaN(tr) || math.IsInf(tr, 0) || math.IsNaN(maxImag) {
		return 0, 0, false
	}
	return tr, maxImag, true
}

// frechetTraceSqrtmGeneral takes the eigenvalues of the product Σ1Σ2 itself
// (real Hessenberg QR: the Schur spectrum scipy's sqrtm uses), for singular Σ1.
func frechetTraceSqrtmGeneral(s1, s2 []float64, d int) (tr, maxImag float64, ok bool) {
	var p mat.Dense
	p.Mul(mat.NewDense(d, d, s1), mat.NewDense(d, d, s2))
	var eig mat.Eigen
	if !eig.Factorize(&p, mat.EigenNone) {
		return 0, 0, false
	}
	for _, l := range eig.Values(nil) {
		r := cmplx.Sqrt(l)
		tr += real(r)
		maxImag = math.Max(maxImag, math.Abs(imag(r)))
	}
	if math.IsNaN(tr) || math.IsInf(tr, 0) || math.IsNaN(maxImag) {
		return 0, 0, false
	}
	return tr, maxImag, true
}

func frechetFirstNonFinite(v []float64) int {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// MeanCov returns the mean [D] and the unbiased covariance (np.cov, N−1;
// flat row-major D×D) of n feature rows of dimension d stored flat row-major.
func MeanCov(features []float64, n, d int) (mu, sigma []float64, err error) {
	acc := NewStatsAccumulator(d)
	if err := acc.Add(features, n); err != nil {
		return nil, nil, err
	}
	return acc.Stats()
}

// MeanCovRows is MeanCov over a slice of rows of equal length.
func MeanCovRows(rows [][]float64) (mu, sigma []float64, err error) {
	if len(rows) == 0 {
		return nil, nil, errors.New("meancov: no feature rows")
	}
	d := len(rows[0])
	flat := make([]float64, 0, len(rows)*d)
	for i, r := range rows {
		if len(r) != d {
			return nil, nil, fmt.Errorf("meancov: row %d has %d features, want %d (row 0)", i, len(r), d)
		}
		flat = append(flat, r...)
	}
	return MeanCov(flat, len(rows), d)
}

// StatsAccumulator gathers the mean and covariance of feature rows added in
// batches (Chan et al.'s pairwise merge of centred scatter matrices, so the
// result equals the two-pass np.cov to rounding), for feature sets too large
// to hold at once.
type StatsAccumulator struct {
	d       int
	n       int
	mean    []float64
	scatter []float64 // Σ (x−mean)(x−mean)ᵀ, flat D×D
}

// NewStatsAccumulator starts an empty accumulator for d-dimensional features.
func NewStatsAccumulator(d int) *StatsAccumulator {
	return &StatsAccumulator{d: d, mean: make([]float64, d), scatter: make([]float64, d*d)}
}

// N returns the number of rows added so far.
func (a *StatsAccumulator) N() int { return a.n }

// Add folds in rows feature vectors stored flat row-major (rows×D).
func (a *StatsAccumulator) Add(batch []float64, rows int) error {
	d := a.d
	if d <= 0 {
		return fmt.Errorf("meancov: feature dimension %d must be positive", d)
	}
	if rows <= 0 || len(batch) != rows*d {
		return fmt.Errorf("meancov: batch has %d values, want rows×D = %d×%d", len(batch), rows, d)
	}
	if i := frechetFirstNonFinite(batch); i >= 0 {
		return fmt.Errorf("meancov: feature [%d,%d] = %v is not finite", i/d, i%d, batch[i])
	}
	bmean := make([]float64, d)
	for r := range rows {
		row := batch[r*d : (r+1)*d]
		for j, x := range row {
			bmean[j] += x
		}
	}
	for j := range bmean {
		bmean[j] /= float64(rows)
	}
	centred := make([]float64, rows*d)
	for r := range rows {
		for j := range d {
			centred[r*d+j] = batch[r*d+j] - bmean[j]
		}
	}
	// scatter += centredᵀ·centred (Gemm is parallel in gonum, Syrk is not).
	cm := blas64.General{Rows: rows, Cols: d, Stride: d, Data: centred}
	if a.n == 0 {
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, cm, cm, 0, blas64.General{Rows: d, Cols: d, Stride: d, Data: a.scatter})
		copy(a.mean, bmean)
		a.n = rows
		return nil
	}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, cm, cm, 1, blas64.General{Rows: d, Cols: d, Stride: d, Data: a.scatter})
	na, nb := float64(a.n), float64(rows)
	n := na + nb
	delta := make([]float64, d)
	for j := range d {
		delta[j] = bmean[j] - a.mean[j]
	}
	w := na * nb / n
	for i := range d {
		for j := range d {
			a.scatter[i*d+j] += w * delta[i] * delta[j]
		}
	}
	for j := range d {
		a.mean[j] += delta[j] * nb / n
	}
	a.n += rows
	return nil
}

// Stats returns copies of the mean [D] and the N−1 covariance (flat D×D).
func (a *StatsAccumulator) Stats() (mu, sigma []float64, err error) {
	if a.n < 2 {
		return nil, nil, fmt.Errorf("meancov: %d feature rows, need at least 2 for a covariance", a.n)
	}
	mu = append([]float64(nil), a.mean...)
	sigma = make([]float64, len(a.scatter))
	inv := 1 / float64(a.n-1)
	d := a.d
	for i := range d {
		for j := range d {
			// Symmetrise: the merge is symmetric in exact arithmetic only.
			sigma[i*d+j] = 0.5 * (a.scatter[i*d+j] + a.scatter[j*d+i]) * inv
		}
	}
	return mu, sigma, nil
}

// KIDOptions configures KID; zero values mean clean-fid's defaults.
type KIDOptions struct {
	Subsets       int    // number of random subsets (default 100)
	MaxSubsetSize int    // subset size cap (default 1000)
	Seed          uint64 // seed of the subset draws (PCG); numpy's draws cannot be reproduced
}

// KID returns the kernel inception distance of two feature sets (flat
// row-major n1×d and n2×d) as clean-fid's kernel_distance computes it: a cubic
// polynomial kernel k(x,y) = (x·y/d + 1)³, the unbiased MMD² estimate averaged
// over random subsets of m = min(n1, n2, MaxSubsetSize) rows drawn without
// replacement. std is the standard deviation of the per-subset estimates.
func KID(feats1 []float64, n1 int, feats2 []float64, n2 int, d int, opt KIDOptions) (mean, std float64, err error) {
	if d <= 0 || n1 < 2 || n2 < 2 || len(feats1) != n1*d || len(feats2) != n2*d {
		return 0, 0, fmt.Errorf("kid: features %d and %d values, want n1×d = %d×%d and n2×d = %d×%d (n ≥ 2)", len(feats1), len(feats2), n1, d, n2, d)
	}
	if opt.Subsets <= 0 {
		opt.Subsets = 100
	}
	if opt.MaxSubsetSize <= 0 {
		opt.MaxSubsetSize = 1000
	}
	m := min(n1, n2, opt.MaxSubsetSize)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6b6964))
	x := make([]float64, m*d)
	y := make([]float64, m*d)
	k := make([]float64, m*m)
	kernelSum := func(a, b []float64, skipDiag bool) float64 {
		blas64.Gemm(blas.NoTrans, blas.Trans, 1/float64(d),
			blas64.General{Rows: m, Cols: d, Stride: d, Data: a},
			blas64.General{Rows: m, Cols: d, Stride: d, Data: b}, 0,
			blas64.General{Rows: m, Cols: m, Stride: m, Data: k})
		s := 0.0
		for i := range m {
			for j := range m {
				if skipDiag && i == j {
					continue
				}
				v := k[i*m+j] + 1
				s += v * v * v
			}
		}
		return s
	}
	vals := make([]float64, opt.Subsets)
	for s := range vals {
		for i, r := range rng.Perm(n2)[:m] {
			copy(x[i*d:(i+1)*d], feats2[r*d:(r+1)*d])
		}
		for i, r := range rng.Perm(n1)[:m] {
			copy(y[i*d:(i+1)*d], feats1[r*d:(r+1)*d])
		}
		fm := float64(m)
		a := kernelSum(x, x, true) + kernelSum(y, y, true)
		b := kernelSum(x, y, false)
		vals[s] = (a/(fm-1) - 2*b/fm) / fm
		mean += vals[s]
	}
	mean /= float64(len(vals))
	for _, v := range vals {
		std += (v - mean) * (v - mean)
	}
	std = math.Sqrt(std / float64(len(vals)))
	return mean, std, nil
}

// SaveStats writes feature statistics as safetensors: F64 `mu` [D] and
// `sigma` [D,D], so reference statistics are computed once.
func SaveStats(path string, mu, sigma []float64) error {
	return SaveStatsMeta(path, mu, sigma, nil)
}

// SaveStatsMeta is SaveStats recording meta (what made the features, say)
// in the file's safetensors metadata next to "format": "fid-stats"; read
// it back with weights.OpenSafetensors(path).Metadata.
func SaveStatsMeta(path string, mu, sigma []float64, meta map[string]string) error {
	d := len(mu)
	if d == 0 || len(sigma) != d*d {
		return fmt.Errorf("save stats %s: mu has %d elements and sigma %d, want D and D×D", path, d, len(sigma))
	}
	md := map[string]string{}
	for k, v := range meta {
		md[k] = v
	}
	md["format"] = "fid-stats"
	return weights.WriteSafetensors(path, []*weights.Tensor{
		weights.FromFloat64("mu", []int{d}, mu),
		weights.FromFloat64("sigma", []int{d, d}, sigma),
	}, md)
}

// LoadStats reads `mu` [D] and `sigma` [D,D] from a .safetensors file written
// by SaveStats or from a numpy .npz (pytorch-fid's and clean-fid's
// precomputed statistics: float64 or float32 arrays `mu`, `sigma`).
func LoadStats(path string) (mu, sigma []float64, err error) {
	if strings.EqualFold(filepath.Ext(path), ".npz") {
		mu, sigma, err = frechetLoadNpz(path)
	} else {
		mu, sigma, err = frechetLoadSafetensors(path)
	}
	if err != nil {
		return nil, nil, err
	}
	if d := len(mu); d == 0 || len(sigma) != d*d {
		return nil, nil, fmt.Errorf("load stats %s: mu has %d elements and sigma %d, want D and D×D", path, len(mu), len(sigma))
	}
	return mu, sigma, nil
}

func frechetLoadSafetensors(path string) (mu, sigma []float64, err error) {
	f, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load stats: %w", err)
	}
	defer f.Close()
	get := func(name string, rank int) ([]float64, error) {
		t, err := f.Get(name)
		if err != nil {
			return nil, fmt.Errorf("load stats: %w", err) // names the file
		}
		if len(t.Shape) != rank {
			return nil, fmt.Errorf("load stats %s: tensor %s has shape %v, want rank %d", path, name, t.Shape, rank)
		}
		return t.Float64()
	}
	if mu, err = get("mu", 1); err != nil {
		return nil, nil, err
	}
	if sigma, err = get("sigma", 2); err != nil {
		return nil, nil, err
	}
	return mu, sigma, nil
}

func frechetLoadNpz(path string) (mu, sigma []float64, err error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load stats %s: %w", path, err)
	}
	defer z.Close()
	arrays := map[string][]float64{}
	for _, f := range z.File {
		name := strings.TrimSuffix(f.Name, ".npy")
		if name != "mu" && name != "sigma" {
			continue
		}
		r, err := f.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("load stats %s: %s: %w", path, f.Name, err)
		}
		v, err := frechetReadNpy(r)
		r.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("load stats %s: %s: %w", path, f.Name, err)
		}
		arrays[name] = v
	}
	for _, k := range []string{"mu", "sigma"} {
		if _, ok := arrays[k]; !ok {
			return nil, nil, fmt.Errorf("load stats %s: no array %q in the .npz", path, k)
		}
	}
	return arrays["mu"], arrays["sigma"], nil
}

var frechetNpyDescr = regexp.MustCompile(`'descr':\s*'([<>|=]?[a-z]\d+)'`)
var frechetNpyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
var frechetNpyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)

// frechetReadNpy reads a little-endian float64/float32 C-order .npy array.
func frechetReadNpy(r io.Reader) ([]float64, error) {
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || string(magic[:6]) != "\x93NUMPY" {
		return nil, errors.New("not a .npy array (bad magic)")
	}
	var hlen int
	if magic[6] == 1 {
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	} else {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	h := string(hdr)
	dm, fm, sm := frechetNpyDescr.FindStringSubmatch(h), frechetNpyFortran.FindStringSubmatch(h), frechetNpyShape.FindStringSubmatch(h)
	if dm == nil || fm == nil || sm == nil {
		return nil, fmt.Errorf("unreadable .npy header %q", h)
	}
	if fm[1] == "True" {
		return nil, errors.New("fortran-order .npy arrays are not supported")
	}
	n := 1
	for _, s := range strings.Split(sm[1], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("bad .npy shape %q", sm[1])
		}
		n *= v
	}
	var size int
	switch dm[1] {
	case "<f8", "f8":
		size = 8
	case "<f4", "f4":
		size = 4
	default:
		return nil, fmt.Errorf(".npy dtype %s, want <f8 or <f4", dm[1])
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("truncated .npy data: %w", err)
	}
	out := make([]float64, n)
	for i := range out {
		if size == 8 {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		} else {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	}
	return out, nil
}
