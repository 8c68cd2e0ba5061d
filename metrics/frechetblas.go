package metrics

import (
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// frechetBLAS is gonum's pure-Go BLAS with a faster symmetric
// matrix-vector product. LAPACK's tridiagonal reduction (Dsytrd, behind
// the symmetric eigensolver of a FID) spends ~60% of a 2048-d Fréchet
// distance in gonum's Dsymv, which walks the stored triangle twice, once
// across the cache lines; this one reads each stored row once (its dot
// product and its axpy fused) and splits the rows over the cores.
type frechetBLAS struct{ gonum.Implementation }

// useFrechetBLAS installs frechetBLAS as gonum's BLAS (lapack/gonum reads
// blas64's global implementation); the results differ from gonum's own by
// summation order only.
var useFrechetBLAS = sync.OnceFunc(func() { blas64.Use(frechetBLAS{}) })

// Dsymv computes y = alpha·A·x + beta·y for the n×n symmetric A stored in
// the ul triangle of a (row-major, leading dimension lda).
func (f frechetBLAS) Dsymv(ul blas.Uplo, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	if n < 64 || (ul != blas.Upper && ul != blas.Lower) || incX == 0 || incY == 0 || lda < n ||
		len(a) < lda*(n-1)+n || len(x) <= (n-1)*abs(incX) || len(y) <= (n-1)*abs(incY) {
		// Small, or arguments gonum's checks should answer.
		f.Implementation.Dsymv(ul, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	xs := gatherVec(x, n, incX)
	ys := make([]float64, n)
	workers := min(runtime.GOMAXPROCS(0), 4)
	// Split rows so that each worker reads about as much of the triangle.
	parts := make([][]float64, workers)
	var wg sync.WaitGroup
	lo := 0
	for w := range workers {
		hi := triangleSplit(n, w+1, workers, ul)
		part := ys
		if w > 0 {
			part = make([]float64, n)
		}
		parts[w] = part
		wg.Add(1)
		go func(lo, hi int, acc []float64) {
			defer wg.Done()
			symvRows(ul, n, a, lda, xs, acc, lo, hi)
		}(lo, hi, part)
		lo = hi
	}
	wg.Wait()
	for _, p := range parts[1:] {
		for i, v := range p {
			ys[i] += v
		}
	}
	for i := range n {
		j := i * incY
		if incY < 0 {
			j = (i - n + 1) * incY
		}
		if beta == 0 {
			y[j] = alpha * ys[i]
		} else {
			y[j] = alpha*ys[i] + beta*y[j]
		}
	}
}

// symvRows adds A·x's contributions of stored rows [lo, hi) to acc: a row
// of the upper triangle holds A[i][i..n), of the lower A[i][0..i].
func symvRows(ul blas.Uplo, n int, a []float64, lda int, x, acc []float64, lo, hi int) {
	for i := lo; i < hi; i++ {
		xi := x[i]
		var row, xo, yo []float64
		if ul == blas.Upper {
			row, xo, yo = a[i*lda+i+1:i*lda+n], x[i+1:n], acc[i+1:n]
		} else {
			row, xo, yo = a[i*lda:i*lda+i], x[:i], acc[:i]
		}
		dot := a[i*lda+i] * xi
		xo, yo = xo[:len(row)], yo[:len(row)]
		for k, v := range row {
			dot += v * xo[k]
			yo[k] += v * xi
		}
		acc[i] += dot
	}
}

// triangleSplit is the row where worker w of workers ends, so that the
// rows before it hold w/workers of the stored triangle.
func triangleSplit(n, w, workers int, ul blas.Uplo) int {
	if w == workers {
		return n
	}
	// Lower: rows [0, r) hold r²/2 of n²/2; upper: rows [0, r) hold
	// n²/2 - (n-r)²/2.
	f := float64(w) / float64(workers)
	var r float64
	if ul == blas.Lower {
		r = float64(n) * math.Sqrt(f)
	} else {
		r = float64(n) * (1 - math.Sqrt(1-f))
	}
	return min(max(int(r), 0), n)
}

// gatherVec copies the n elements of a BLAS vector with increment inc.
func gatherVec(x []float64, n, inc int) []float64 {
	out := make([]float64, n)
	for i := range n {
		j := i * inc
		if inc < 0 {
			j = (i - n + 1) * inc
		}
		out[i] = x[j]
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Dtrmm computes B = alpha·op(A)·B or alpha·B·op(A) for triangular A, with
// B's independent rows (A on the right) or columns (A on the left) split
// over the cores.
func (f frechetBLAS) Dtrmm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	if m*n < 1<<16 || workers < 2 || ldb < n || len(b) < ldb*(m-1)+n {
		f.Implementation.Dtrmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s == blas.Right { // rows [lo, hi) of B
				lo, hi := m*w/workers, m*(w+1)/workers
				if hi > lo {
					f.Implementation.Dtrmm(s, ul, tA, d, hi-lo, n, alpha, a, lda, b[lo*ldb:], ldb)
				}
				return
			}
			lo, hi := n*w/workers, n*(w+1)/workers // columns [lo, hi) of B
			if hi > lo {
				f.Implementation.Dtrmm(s, ul, tA, d, m, hi-lo, alpha, a, lda, b[lo:], ldb)
			}
		}()
	}
	wg.Wait()
}

// Dsyr2k computes the ul triangle of C = alpha·(A·Bᵀ + B·Aᵀ) + beta·C (A
// and B n×k, not transposed, as the tridiagonal reduction calls it) with C's
// rows split over the cores: each block of rows is a Dsyr2k on its diagonal
// block and two products for the rest of its stored part.
func (f frechetBLAS) Dsyr2k(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	if tA != blas.NoTrans || n*n*k < 1<<20 || workers < 2 || (ul != blas.Upper && ul != blas.Lower) ||
		k < 1 || lda < k || ldb < k || ldc < n || len(a) < lda*(n-1)+k || len(b) < ldb*(n-1)+k || len(c) < ldc*(n-1)+n {
		f.Implementation.Dsyr2k(ul, tA, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	lo := 0
	for w := range workers {
		hi := triangleSplit(n, w+1, workers, ul)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			if hi == lo {
				return
			}
			f.Implementation.Dsyr2k(ul, tA, hi-lo, k, alpha, a[lo*lda:], lda, b[lo*ldb:], ldb, beta, c[lo*ldc+lo:], ldc)
			// The rest of the block's rows in the stored triangle: columns
			// [hi, n) for the upper, [0, lo) for the lower.
			c0, c1 := hi, n
			if ul == blas.Lower {
				c0, c1 = 0, lo
			}
			if c1 == c0 {
				return
			}
			rest := c[lo*ldc+c0:]
			f.Implementation.Dgemm(blas.NoTrans, blas.Trans, hi-lo, c1-c0, k, alpha, a[lo*lda:], lda, b[c0*ldb:], ldb, beta, rest, ldc)
			f.Implementation.Dgemm(blas.NoTrans, blas.Trans, hi-lo, c1-c0, k, alpha, b[lo*ldb:], ldb, a[c0*lda:], lda, 1, rest, ldc)
		}(lo, hi)
		lo = hi
	}
	wg.Wait()
}
