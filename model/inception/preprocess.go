package inception

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Mode is an FID input pipeline. Both feed this network (pytorch-fid's
// weights); they differ in the resize and the normalisation.
type Mode int

const (
	// Clean is clean-fid's "clean" mode (what DualToken reports): each channel
	// resized as a float32 PIL "F" image with antialiased bicubic to 299,
	// clipped to [0,255] without rounding, then (x−128)/128. clean-fid itself
	// runs NVIDIA's TorchScript port of the TensorFlow Inception graph; here
	// pytorch-fid's port of the same weights runs instead, so values can differ
	// slightly from clean-fid's own numbers.
	Clean Mode = iota
	// PytorchFID is pytorch-fid 0.3.0: x/255, torch bilinear resize to 299
	// (align_corners=False, no antialiasing), then 2x−1.
	PytorchFID
)

// String is the mode's CLI name.
func (m Mode) String() string {
	if m == PytorchFID {
		return "pytorch-fid"
	}
	return "clean"
}

// ParseMode accepts "clean" and "pytorch-fid".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "clean", "clean-fid", "cleanfid":
		return Clean, nil
	case "pytorch-fid", "pytorch_fid", "pytorchfid":
		return PytorchFID, nil
	}
	return Clean, fmt.Errorf("unknown FID mode %q: use clean or pytorch-fid", s)
}

// Resize returns img resized to size×size as CHW float32 in the mode's range
// before normalisation: [0,1] for PytorchFID, [0,255] for Clean. These are
// the fixtures' resized_299 and cleanfid_resized_299.
func Resize(img *imageio.Image, mode Mode, size int) []float32 {
	h, w := img.H, img.W
	n := h * w
	planes := make([]float32, 3*n)
	p0, p1, p2 := planes[:n], planes[n:2*n], planes[2*n:]
	pix := img.Pix[:3*n]
	for i := range n {
		q := pix[3*i : 3*i+3]
		p0[i], p1[i], p2[i] = float32(q[0]), float32(q[1]), float32(q[2])
	}
	if mode == PytorchFID {
		for i, v := range planes {
			planes[i] = v / 255 // torchvision ToTensor: float32 division
		}
		return imageio.TorchBilinear(planes, 3, h, w, size, size)
	}
	out := make([]float32, 3*size*size)
	for c := range 3 {
		r := imageio.ResizeFloatPlane(planes[c*n:(c+1)*n], h, w, size, size, imageio.Bicubic)
		o := out[c*size*size : (c+1)*size*size]
		for i, v := range r {
			o[i] = min(max(v, 0), 255)
		}
	}
	return out
}

// Normalize maps Resize's output to the network's [-1,1] input in place.
func Normalize(x []float32, mode Mode) {
	for i, v := range x {
		if mode == PytorchFID {
			x[i] = 2*v - 1
		} else {
			x[i] = (v - 128) / 128
		}
	}
}

// Preprocess is Resize to 299 followed by Normalize: one network input [3,299,299].
func Preprocess(img *imageio.Image, mode Mode) []float32 {
	x := Resize(img, mode, InputSize)
	Normalize(x, mode)
	return x
}

// BatchPool3 preprocesses imgs and returns their pool3 features as float64
// rows (flat [len(imgs), 2048]), the precision FID statistics use.
func (n *Net) BatchPool3(imgs []*imageio.Image, mode Mode) ([]float64, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	per := 3 * InputSize * InputSize
	// Preprocessed straight into the input tensor's buffer (no batch-sized
	// copy: 34 MB for 32 images).
	x := tensors.FromShape(shapes.Make(dtypes.Float32, len(imgs), 3, InputSize, InputSize))
	defer x.FinalizeAll()
	if err := tensors.MutableFlatData(x, func(flat []float32) {
		parallel(len(imgs), func(i int) { copy(flat[i*per:(i+1)*per], Preprocess(imgs[i], mode)) })
	}); err != nil {
		return nil, err
	}
	out, err := n.Pool3(x)
	if err != nil {
		return nil, err
	}
	defer out.FinalizeAll()
	var rows []float64
	err = tensors.ConstFlatData(out, func(f []float32) {
		rows = make([]float64, len(f))
		for i, v := range f {
			rows[i] = float64(v)
		}
	})
	return rows, err
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines (resizing is per
// image; a GPU machine's 16 cores would otherwise wait on 4).
func parallel(n int, fn func(i int)) {
	workers := max(1, min(n, runtime.GOMAXPROCS(0)))
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	done := make(chan struct{})
	for range workers {
		go func() {
			for i := range next {
				fn(i)
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
}
