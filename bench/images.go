package bench

import (
	"encoding/json"
	"runtime"
	"sync"

	"github.com/dualtoken/evalharness/imageio"
)

// LoadImages decodes the images of a batch in parallel (decoding and
// resizing would otherwise leave the model idle); a per-item error marks
// that item failed without failing the batch.
func LoadImages(items []Item, path func(Item) string) ([]*imageio.Image, []error) {
	imgs := make([]*imageio.Image, len(items))
	errs := make([]error, len(items))
	ParallelFor(len(items), func(i int) {
		imgs[i], errs[i] = imageio.Load(path(items[i]))
	})
	return imgs, errs
}

// ParallelFor runs f(0..n-1) on up to GOMAXPROCS goroutines.
func ParallelFor(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// ModelKey is a string identifying a model, for per-model caches in tasks.
func ModelKey(m Model) string {
	b, _ := json.Marshal(m.Info())
	return string(b)
}
