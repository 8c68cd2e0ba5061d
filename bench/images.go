package bench

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
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
	ParallelFor(len(items), func(i int) { imgs[i], errs[i] = LoadImage(path(items[i])) })
	return imgs, errs
}

// LoadImage decodes the image at path, taking the runner's background
// decode when the task announced it (ImagePather).
func LoadImage(path string) (*imageio.Image, error) {
	if img, err, ok := takePrefetched(path); ok {
		return img, err
	}
	return imageio.Load(path)
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

// PackFloat32 encodes values compactly (base64 little-endian float32) for
// prediction records holding features.
func PackFloat32(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// UnpackFloat32 decodes PackFloat32's output.
func UnpackFloat32(s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return nil, fmt.Errorf("packed float32 data is corrupt")
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// PackInt32 and UnpackInt32 do the same for code indices.
func PackInt32(v []int32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func UnpackInt32(s string) ([]int32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return nil, fmt.Errorf("packed int32 data is corrupt")
	}
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
