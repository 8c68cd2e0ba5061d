package randfill

import (
	"math"
	"runtime"
	"testing"
)

// The moments of Normal and Uniform are those asked for, and Normal's
// shape is Irwin–Hall's (n = 4): kurtosis 2.7 (a normal's is 3).
func TestMoments(t *testing.T) {
	v := make([]float32, 1<<20+12345) // several chunks and a partial one
	Normal(v, 0.02, 7, 3)
	var m, m2, m4 float64
	for _, x := range v {
		m += float64(x)
	}
	m /= float64(len(v))
	for _, x := range v {
		d := float64(x) - m
		m2 += d * d
		m4 += d * d * d * d
	}
	m2 /= float64(len(v))
	m4 /= float64(len(v))
	std := math.Sqrt(m2)
	if math.Abs(m) > 0.02*0.01 || math.Abs(std-0.02) > 0.02*0.01 {
		t.Errorf("normal: mean %g, std %g; want 0 and 0.02", m, std)
	}
	// Irwin–Hall(4) has kurtosis 3 − 6/(5·4) = 2.7.
	if k := m4 / (m2 * m2); math.Abs(k-2.7) > 0.02 {
		t.Errorf("normal: kurtosis %.3f, want 2.7", k)
	}
	Uniform(v, -1, 3, 7, 4)
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, x := range v {
		lo, hi, sum = math.Min(lo, float64(x)), math.Max(hi, float64(x)), sum+float64(x)
	}
	if lo < -1 || hi >= 3 || lo > -0.99 || hi < 2.99 || math.Abs(sum/float64(len(v))-1) > 0.01 {
		t.Errorf("uniform in [-1,3): min %g, max %g, mean %g", lo, hi, sum/float64(len(v)))
	}
}

// The values depend on seed, stream and position only: not on the number
// of cores, and a prefix of a longer fill is the shorter fill.
func TestDeterministic(t *testing.T) {
	a := make([]float32, 3*chunk+5)
	b := make([]float32, 3*chunk+5)
	Normal(a, 1, 1, 2)
	prev := runtime.GOMAXPROCS(1)
	Normal(b, 1, 1, 2)
	runtime.GOMAXPROCS(prev)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: %g with %d cores, %g with 1", i, a[i], prev, b[i])
		}
	}
	short := make([]float32, chunk+1)
	Normal(short, 1, 1, 2)
	for i := range short {
		if short[i] != a[i] {
			t.Fatalf("value %d of a shorter fill differs", i)
		}
	}
	Normal(b, 1, 1, 3)
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > len(a)/100 {
		t.Errorf("streams 2 and 3 share %d of %d values", same, len(a))
	}
}

func BenchmarkNormal(b *testing.B) {
	v := make([]float32, 1<<24)
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		Normal(v, 0.02, 1, 1)
	}
}
