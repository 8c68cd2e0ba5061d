package par

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
)

// For covers [0, n) exactly once in the fixed chunks, on one core or many.
func TestFor(t *testing.T) {
	for _, procs := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 7, 100, 1000} {
			seen := make([]int32, n)
			var bad atomic.Int32
			For(n, 7, func(lo, hi int) {
				if lo%7 != 0 || (hi-lo != 7 && hi != n) {
					bad.Add(1)
				}
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&seen[i], 1)
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("GOMAXPROCS %d, n %d: index %d visited %d times", procs, n, i, c)
				}
			}
			if bad.Load() != 0 {
				t.Errorf("GOMAXPROCS %d, n %d: %d chunks off the grid", procs, n, bad.Load())
			}
		}
		runtime.GOMAXPROCS(prev)
	}
}

func TestCopy(t *testing.T) {
	src := make([]byte, 9<<20+3)
	for i := range src {
		src[i] = byte(i * 31)
	}
	dst := make([]byte, len(src)+5)
	if n := Copy(dst, src); n != len(src) || !slices.Equal(dst[:len(src)], src) || dst[len(src)] != 0 {
		t.Errorf("copied %d bytes, equal %v", n, slices.Equal(dst[:len(src)], src))
	}
	short := make([]byte, 10)
	if n := Copy(short, src); n != 10 || !slices.Equal(short, src[:10]) {
		t.Errorf("short copy: %d bytes", n)
	}
}
