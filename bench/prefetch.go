package bench

import (
	"sync"

	"github.com/dualtoken/evalharness/imageio"
)

// ImagePather is implemented by tasks whose items are image files: the
// runner then decodes the next batch's images in the background while the
// model works on the current batch, and LoadImages picks them up.
type ImagePather interface {
	ImagePath(it Item) string
}

type prefetched struct {
	done chan struct{}
	img  *imageio.Image
	err  error
}

var (
	prefetchMu sync.Mutex
	prefetch   = map[string]*prefetched{}
)

// prefetchImages starts decoding paths in the background.
func prefetchImages(paths []string) {
	var todo []*prefetched
	var todoPaths []string
	prefetchMu.Lock()
	for _, p := range paths {
		if p == "" || prefetch[p] != nil {
			continue
		}
		e := &prefetched{done: make(chan struct{})}
		prefetch[p] = e
		todo, todoPaths = append(todo, e), append(todoPaths, p)
	}
	prefetchMu.Unlock()
	go ParallelFor(len(todo), func(i int) {
		todo[i].img, todo[i].err = imageio.Load(todoPaths[i])
		close(todo[i].done)
	})
}

// takePrefetched returns a prefetched decode of path (waiting for it if it
// is in flight), or ok=false.
func takePrefetched(path string) (img *imageio.Image, err error, ok bool) {
	prefetchMu.Lock()
	e := prefetch[path]
	delete(prefetch, path)
	prefetchMu.Unlock()
	if e == nil {
		return nil, nil, false
	}
	<-e.done
	return e.img, e.err, true
}

// dropPrefetched forgets the background decodes of paths that nobody took,
// waiting for those still running, so that none outlives its run.
func dropPrefetched(paths []string) {
	for _, p := range paths {
		prefetchMu.Lock()
		e := prefetch[p]
		delete(prefetch, p)
		prefetchMu.Unlock()
		if e != nil {
			<-e.done
		}
	}
}
