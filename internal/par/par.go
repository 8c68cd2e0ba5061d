// Package par runs simple data-parallel loops over all cores: filling and
// converting the billions of values of a benchmark model or a checkpoint,
// where a single core (and the page faults of fresh memory, which it takes
// one at a time) would cost a GPU session minutes.
package par

import (
	"runtime"
	"sync"
)

// For calls fn(lo, hi) for the consecutive chunks [lo, hi) of [0, n), each
// chunk long but the last, on up to GOMAXPROCS goroutines. The chunks are
// the same whatever the number of cores.
func For(n, chunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks := (n + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		for lo := 0; lo < n; lo += chunk {
			fn(lo, min(lo+chunk, n))
		}
		return
	}
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				fn(c*chunk, min((c+1)*chunk, n))
			}
		}()
	}
	wg.Wait()
}

// Copy is the built-in copy over all cores; it returns the number of bytes
// copied, min(len(dst), len(src)).
func Copy(dst, src []byte) int {
	n := min(len(dst), len(src))
	For(n, 4<<20, func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
	return n
}
