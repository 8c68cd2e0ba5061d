//go:build linux

package metrics

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// cpuCompareManifest is the part of scripts/cpu/ref_bench.py's
// manifest.json ($CPUCOMPARE_INPUTS) these benchmarks read, so that
// scikit-image / scipy and this package work on the same bytes.
type cpuCompareManifest struct {
	Pair struct {
		H, W, C   int
		Ref, Dist string
	} `json:"pair"`
	Frechet struct {
		D                        int
		Mu1, Sigma1, Mu2, Sigma2 string
	} `json:"frechet"`
}

func cpuCompareInputs(b *testing.B) (string, *cpuCompareManifest) {
	dir := os.Getenv("CPUCOMPARE_INPUTS")
	if dir == "" {
		b.Skip("CPUCOMPARE_INPUTS not set (scripts/cpu/bench.sh sets it)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	m := &cpuCompareManifest{}
	if err := json.Unmarshal(raw, m); err != nil {
		b.Fatalf("%s/manifest.json: %v", dir, err)
	}
	return dir, m
}

func cpuCompareRead(b *testing.B, dir, name string, n int) []byte {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	if len(data) != n {
		b.Fatalf("%s: %d bytes, want %d", name, len(data), n)
	}
	return data
}

// cpuCompareF64 reads n little-endian float64 values.
func cpuCompareF64(b *testing.B, dir, name string, n int) []float64 {
	data := cpuCompareRead(b, dir, name, 8*n)
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return out
}

// BenchmarkCPUCompareSSIM: Wang SSIM (skimage's gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False, data_range=255, mean over
// channels) of the comparison pair, one pair per op; the value is reported
// so the script can check both sides computed the same number.
func BenchmarkCPUCompareSSIM(b *testing.B) {
	benchCPUComparePair(b, func(ref, dist []uint8, h, w, c int) (float64, error) {
		return SSIMUint8(ref, dist, h, w, c, SSIMWang)
	})
}

// BenchmarkCPUComparePSNR: PSNR (data range 255) of the comparison pair.
func BenchmarkCPUComparePSNR(b *testing.B) { benchCPUComparePair(b, PSNRUint8) }

// benchCPUComparePair times metric on the comparison's uint8 image pair and
// reports its CPU time and value (the merge checks the value).
func benchCPUComparePair(b *testing.B, metric func(ref, dist []uint8, h, w, c int) (float64, error)) {
	dir, m := cpuCompareInputs(b)
	p := m.Pair
	n := p.H * p.W * p.C
	ref, dist := cpuCompareRead(b, dir, p.Ref, n), cpuCompareRead(b, dir, p.Dist, n)
	var v float64
	var err error
	cpu0 := cpuCompareCPU()
	for b.Loop() {
		if v, err = metric(ref, dist, p.H, p.W, p.C); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuCompareCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(v, "value")
}

// BenchmarkCPUCompareFrechet: d² between two D-dimensional Gaussians
// (pytorch-fid's convention) from the statistics the script wrote.
func BenchmarkCPUCompareFrechet(b *testing.B) {
	dir, m := cpuCompareInputs(b)
	f := m.Frechet
	mu1, s1 := cpuCompareF64(b, dir, f.Mu1, f.D), cpuCompareF64(b, dir, f.Sigma1, f.D*f.D)
	mu2, s2 := cpuCompareF64(b, dir, f.Mu2, f.D), cpuCompareF64(b, dir, f.Sigma2, f.D*f.D)
	var v float64
	var err error
	cpu0 := cpuCompareCPU()
	for b.Loop() {
		if v, err = FrechetDistance(mu1, s1, mu2, s2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuCompareCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(v, "value")
}

// cpuCompareCPU is the process's user+system CPU time in nanoseconds, so
// the report can compare work per CPU-second where one side is threaded.
func cpuCompareCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
