package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// frechetBLAS.Dsymv agrees with gonum's (to rounding) for both triangles,
// strided and negative increments, alpha/beta including 0, sizes around the
// parallel split and lda > n; the unused triangle is never read.
func TestFrechetDsymvMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 63, 64, 65, 200} {
		for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
			for _, inc := range [][2]int{{1, 1}, {3, 2}, {-2, 1}, {1, -3}} {
				for _, ab := range [][2]float64{{1, 0}, {0.5, 2}, {-1.5, 1}} {
					lda := n + 3
					a := make([]float64, lda*n)
					for i := range a {
						a[i] = r.NormFloat64()
					}
					// The triangle not stored holds NaN: reading it shows.
					for i := range n {
						for j := range n {
							if (ul == blas.Upper && j < i) || (ul == blas.Lower && j > i) {
								a[i*lda+j] = math.NaN()
							}
						}
					}
					x := make([]float64, 1+(n-1)*abs(inc[0]))
					y := make([]float64, 1+(n-1)*abs(inc[1]))
					for i := range x {
						x[i] = r.NormFloat64()
					}
					for i := range y {
						y[i] = r.NormFloat64()
					}
					want := append([]float64(nil), y...)
					gonum.Implementation{}.Dsymv(ul, n, ab[0], a, lda, x, inc[0], ab[1], want, inc[1])
					got := append([]float64(nil), y...)
					frechetBLAS{}.Dsymv(ul, n, ab[0], a, lda, x, inc[0], ab[1], got, inc[1])
					name := fmt.Sprintf("n=%d ul=%c inc=%v alpha,beta=%v", n, ul, inc, ab)
					for i := range got {
						if d := math.Abs(got[i] - want[i]); d > 1e-12*(1+math.Abs(want[i])) {
							t.Fatalf("%s: y[%d] = %v, gonum %v", name, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// frechetBLAS's parallel Dtrmm and Dsyr2k agree with gonum's (to rounding).
func TestFrechetDtrmmDsyr2kMatchGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fill := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	near := func(name string, got, want []float64) {
		t.Helper()
		for i := range got {
			if d := math.Abs(got[i] - want[i]); d > 1e-10*(1+math.Abs(want[i])) {
				t.Fatalf("%s: [%d] = %v, gonum %v", name, i, got[i], want[i])
			}
		}
	}
	for _, s := range []blas.Side{blas.Left, blas.Right} {
		for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
			for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				m, n := 300, 257
				na := m
				if s == blas.Right {
					na = n
				}
				a, b := fill(na*(na+1)), fill(m*(n+2))
				want := append([]float64(nil), b...)
				gonum.Implementation{}.Dtrmm(s, ul, tA, blas.NonUnit, m, n, 0.7, a, na+1, want, n+2)
				got := append([]float64(nil), b...)
				frechetBLAS{}.Dtrmm(s, ul, tA, blas.NonUnit, m, n, 0.7, a, na+1, got, n+2)
				near(fmt.Sprintf("Dtrmm side=%c ul=%c t=%c", s, ul, tA), got, want)
			}
		}
	}
	for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
		for _, beta := range []float64{0, 1, -0.5} {
			n, k := 300, 32
			a, b, c := fill(n*(k+1)), fill(n*(k+3)), fill(n*(n+5))
			want := append([]float64(nil), c...)
			gonum.Implementation{}.Dsyr2k(ul, blas.NoTrans, n, k, -1, a, k+1, b, k+3, beta, want, n+5)
			got := append([]float64(nil), c...)
			frechetBLAS{}.Dsyr2k(ul, blas.NoTrans, n, k, -1, a, k+1, b, k+3, beta, got, n+5)
			near(fmt.Sprintf("Dsyr2k ul=%c beta=%v", ul, beta), got, want)
		}
	}
}
