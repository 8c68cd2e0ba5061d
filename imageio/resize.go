package imageio

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Resampling as Pillow 9.4's Image.resize does it (libImaging/Resample.c):
// separable, horizontal pass first into a uint8 (or float32, mode "F")
// intermediate, then vertical; antialiased (the filter support grows with
// the downscale factor); coefficients normalised per output pixel in double
// and, for uint8 images, converted to 22-bit fixed point with round-half-away
// and accumulated in int32 from a 0.5 bias, then clipped.

// Filter selects the resampling kernel.
type Filter int

const (
	// Bicubic is PIL's BICUBIC (Keys cubic, a = -0.5, support 2).
	Bicubic Filter = iota
	// Bilinear is PIL's BILINEAR (triangle, support 1).
	Bilinear
)

func (f Filter) String() string {
	switch f {
	case Bicubic:
		return "bicubic"
	case Bilinear:
		return "bilinear"
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

func (f Filter) support() float64 {
	if f == Bilinear {
		return 1
	}
	return 2
}

// eval is the kernel; explicit float64 conversions keep the compiler from
// fusing multiply-adds, so the result is the same as C's on every platform.
func (f Filter) eval(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if f == Bilinear {
		if x < 1 {
			return 1 - x
		}
		return 0
	}
	const a = -0.5
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// precisionBits is PIL's PRECISION_BITS = 32 - 8 - 2.
const precisionBits = 32 - 8 - 2

// kernel holds the coefficients of one 1-D resampling (in → out samples).
type kernel struct {
	ksize  int
	bounds []int     // per output: first input index, number of taps
	kd     []float64 // normalised coefficients, ksize per output
	ki     []int32   // the same in fixed point
}

type kernelKey struct {
	in, out int
	f       Filter
}

var kernelCache sync.Map // kernelKey → *kernel

// kernelFor returns the (cached) coefficients for resizing in → out samples.
func kernelFor(in, out int, f Filter) *kernel {
	key := kernelKey{in, out, f}
	if k, ok := kernelCache.Load(key); ok {
		return k.(*kernel)
	}
	k := precompute(in, out, f)
	actual, _ := kernelCache.LoadOrStore(key, k)
	return actual.(*kernel)
}

// precompute is PIL's precompute_coeffs + normalize_coeffs_8bpc for the box
// (0, in).
func precompute(inSize, outSize int, f Filter) *kernel {
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support() * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	k := &kernel{
		ksize:  ksize,
		bounds: make([]int, 2*outSize),
		kd:     make([]float64, outSize*ksize),
		ki:     make([]int32, outSize*ksize),
	}
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64(xx) + 0.5
		center = float64(center * scale)
		xmin := int(center - support + 0.5) // C's (int) truncates
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		w := k.kd[xx*ksize : (xx+1)*ksize]
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := f.eval(float64(float64(x+xmin)-center+0.5) * ss)
			w[x] = v
			ww += v
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				w[x] /= ww
			}
		}
		for x, v := range w {
			if v < 0 {
				k.ki[xx*ksize+x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k.ki[xx*ksize+x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		k.bounds[2*xx], k.bounds[2*xx+1] = xmin, xmax
	}
	return k
}

// clip8 is PIL's clip8: drop the fixed-point fraction and saturate.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// parallelFor runs fn over [0, n) in contiguous chunks on up to GOMAXPROCS
// goroutines when the job is big enough (work = multiply-adds) to pay for
// them; callers batching many images in parallel get no extra goroutines
// for small images.
func parallelFor(n int, work int, fn func(lo, hi int)) {
	const minWork = 1 << 20
	p := runtime.GOMAXPROCS(0)
	if p > n {
		p = n
	}
	if w := work / minWork; w < p {
		p = w
	}
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < p; i++ {
		lo, hi := i*n/p, (i+1)*n/p
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Resize resamples img to outH×outW as PIL's Image.resize((outW, outH), f)
// does on an RGB image (uint8 arithmetic, bit-exact).
// It panics on empty input or output sizes, as on any programming error.
func Resize(img *Image, outH, outW int, f Filter) *Image {
	if outH <= 0 || outW <= 0 || img.H <= 0 || img.W <= 0 || len(img.Pix) != img.H*img.W*3 {
		panic(fmt.Sprintf("imageio: resize of a %dx%d image (%d bytes) to %dx%d", img.H, img.W, len(img.Pix), outH, outW))
	}
	if outH == img.H && outW == img.W {
		return img.Clone()
	}
	kv := kernelFor(img.H, outH, f)
	src, shift := img.Pix, 0
	if outW != img.W {
		// Only the rows the vertical pass reads are resampled horizontally.
		first := kv.bounds[0]
		last := kv.bounds[2*outH-2] + kv.bounds[2*outH-1]
		kh := kernelFor(img.W, outW, f)
		tmp := make([]uint8, (last-first)*outW*3)
		in := img.Pix[first*img.W*3 : last*img.W*3]
		parallelFor(last-first, (last-first)*outW*kh.ksize*3, func(lo, hi int) {
			horizontal8(tmp[lo*outW*3:hi*outW*3], in[lo*img.W*3:hi*img.W*3], img.W, outW, kh)
		})
		src, shift = tmp, first
	}
	if outH == img.H {
		return &Image{H: outH, W: outW, Pix: src}
	}
	out := New(outH, outW)
	parallelFor(outH, outH*outW*kv.ksize*3, func(lo, hi int) {
		vertical8(out.Pix, src, outW*3, lo, hi, shift, kv)
	})
	return out
}

// horizontal8 resamples rows of RGB pixels (in: width w, dst: width ow),
// two rows at a time so that each coefficient load serves six sums.
func horizontal8(dst, in []uint8, w, ow int, k *kernel) {
	rows := len(in) / (w * 3)
	const half = int32(1) << (precisionBits - 1)
	y := 0
	for ; y+1 < rows; y += 2 {
		src0 := in[y*w*3 : (y+1)*w*3]
		src1 := in[(y+1)*w*3 : (y+2)*w*3]
		o0 := dst[y*ow*3 : (y+1)*ow*3]
		o1 := dst[(y+1)*ow*3 : (y+2)*ow*3]
		for xx := 0; xx < ow; xx++ {
			xmin, n := k.bounds[2*xx], k.bounds[2*xx+1]
			c := k.ki[xx*k.ksize : xx*k.ksize+n]
			p0 := src0[xmin*3 : (xmin+n)*3]
			p1 := src1[xmin*3 : (xmin+n)*3]
			a0, a1, a2, b0, b1, b2 := half, half, half, half, half, half
			for i, cv := range c {
				q := p0[3*i : 3*i+3]
				r := p1[3*i : 3*i+3]
				a0 += int32(q[0]) * cv
				a1 += int32(q[1]) * cv
				a2 += int32(q[2]) * cv
				b0 += int32(r[0]) * cv
				b1 += int32(r[1]) * cv
				b2 += int32(r[2]) * cv
			}
			q := o0[3*xx : 3*xx+3]
			q[0], q[1], q[2] = clip8(a0), clip8(a1), clip8(a2)
			q = o1[3*xx : 3*xx+3]
			q[0], q[1], q[2] = clip8(b0), clip8(b1), clip8(b2)
		}
	}
	if y < rows {
		src := in[y*w*3 : (y+1)*w*3]
		o := dst[y*ow*3 : (y+1)*ow*3]
		for xx := 0; xx < ow; xx++ {
			xmin, n := k.bounds[2*xx], k.bounds[2*xx+1]
			c := k.ki[xx*k.ksize : xx*k.ksize+n]
			p := src[xmin*3 : (xmin+n)*3]
			a0, a1, a2 := half, half, half
			for i, cv := range c {
				q := p[3*i : 3*i+3]
				a0 += int32(q[0]) * cv
				a1 += int32(q[1]) * cv
				a2 += int32(q[2]) * cv
			}
			q := o[3*xx : 3*xx+3]
			q[0], q[1], q[2] = clip8(a0), clip8(a1), clip8(a2)
		}
	}
}

// vertical8 computes output rows [lo, hi) from src rows (row length rowLen
// bytes); kernel bounds are shifted up by shift (the first row src holds).
// Taps are applied two rows at a time to halve accumulator traffic; the
// integer sums are the same in any order.
func vertical8(dst, src []uint8, rowLen, lo, hi, shift int, k *kernel) {
	acc := make([]int32, rowLen)
	for yy := lo; yy < hi; yy++ {
		ymin, n := k.bounds[2*yy]-shift, k.bounds[2*yy+1]
		c := k.ki[yy*k.ksize : yy*k.ksize+n]
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		j := 0
		for ; j+1 < n; j += 2 {
			c0, c1 := c[j], c[j+1]
			r0 := src[(ymin+j)*rowLen : (ymin+j+1)*rowLen]
			r1 := src[(ymin+j+1)*rowLen : (ymin+j+2)*rowLen]
			a := acc[:len(r0)]
			r1 = r1[:len(r0)]
			for i, v := range r0 {
				a[i] += int32(v)*c0 + int32(r1[i])*c1
			}
		}
		if j < n {
			c0 := c[j]
			r0 := src[(ymin+j)*rowLen : (ymin+j+1)*rowLen]
			a := acc[:len(r0)]
			for i, v := range r0 {
				a[i] += int32(v) * c0
			}
		}
		o := dst[yy*rowLen : (yy+1)*rowLen]
		o = o[:len(acc)]
		for i, v := range acc {
			o[i] = clip8(v)
		}
	}
}

// ResizeFloatPlane resamples one float32 plane (h×w, row-major) as PIL does
// for a mode "F" image: the same normalised coefficients, double accumulation,
// float32 storage after each pass, no rounding or clipping. clean-fid resizes
// each channel this way.
//
// Both passes are weighted sums of whole rows (weightedRows): the horizontal
// one runs on the transposed plane, so that each output column is a sum of
// input columns in tap order, as PIL's is, and vectorises the same way.
func ResizeFloatPlane(p []float32, h, w, outH, outW int, f Filter) []float32 {
	if len(p) != h*w {
		panic(fmt.Sprintf("imageio: float plane has %d values, want %dx%d", len(p), h, w))
	}
	if outH <= 0 || outW <= 0 || h <= 0 || w <= 0 {
		panic(fmt.Sprintf("imageio: resize of a %dx%d plane to %dx%d", h, w, outH, outW))
	}
	if outH == h && outW == w {
		return append([]float32(nil), p...)
	}
	kv := kernelFor(h, outH, f)
	src, shift := p, 0
	if outW != w {
		first := kv.bounds[0]
		last := kv.bounds[2*outH-2] + kv.bounds[2*outH-1]
		if outH == h {
			first, last = 0, h
		}
		n := last - first
		kh := kernelFor(w, outW, f)
		pt := transposeF32(scratchF32(n*w), p[first*w:last*w], n, w) // [w][n]
		defer releaseF32(pt)
		tmpT := scratchF32(outW * n)
		defer releaseF32(tmpT)
		parallelFor(outW, outW*n*kh.ksize, func(lo, hi int) {
			rows := make([][]float32, kh.ksize)
			for xx := lo; xx < hi; xx++ {
				xmin, k := kh.bounds[2*xx], kh.bounds[2*xx+1]
				for i := range k {
					rows[i] = pt[(xmin+i)*n : (xmin+i+1)*n]
				}
				weightedRows(tmpT[xx*n:(xx+1)*n], rows[:k], kh.kd[xx*kh.ksize:xx*kh.ksize+k])
			}
		})
		if outH == h {
			return transposeF32(make([]float32, n*outW), tmpT, outW, n)
		}
		src, shift = transposeF32(scratchF32(n*outW), tmpT, outW, n), first
		defer releaseF32(src)
	}
	out := make([]float32, outH*outW)
	parallelFor(outH, outH*outW*kv.ksize, func(lo, hi int) {
		rows := make([][]float32, kv.ksize)
		for yy := lo; yy < hi; yy++ {
			ymin, k := kv.bounds[2*yy]-shift, kv.bounds[2*yy+1]
			for j := range k {
				rows[j] = src[(ymin+j)*outW : (ymin+j+1)*outW]
			}
			weightedRows(out[yy*outW:(yy+1)*outW], rows[:k], kv.kd[yy*kv.ksize:yy*kv.ksize+k])
		}
	})
	return out
}

// maxFloatTaps bounds the taps the SIMD weighted sum keeps in registers
// (more fall back to the scalar loop: downscales by more than ~7×).
const maxFloatTaps = 24

// weightedRows sets dst[i] = float32(Σ_j float64(rows[j][i])·c[j]), the sum in
// float64 from +0 in tap order with each product rounded before it is added
// (as PIL's double accumulation; Go fuses nothing across the explicit
// conversion).
func weightedRows(dst []float32, rows [][]float32, c []float64) {
	i := weightedRowsSIMD(dst, rows, c)
	for ; i < len(dst); i++ {
		s := 0.0
		for j, cv := range c {
			s += float64(float64(rows[j][i]) * cv)
		}
		dst[i] = float32(s)
	}
}

// transposeF32 writes the h×w matrix p transposed (w×h) into out and
// returns it. Eight input rows are read side by side, so that each output
// row gets eight contiguous values at a time (writing single values down a
// column was slower than the resize's arithmetic).
func transposeF32(out, p []float32, h, w int) []float32 {
	out = out[:len(p)]
	i := 0
	for ; i+8 <= h; i += 8 {
		r0, r1, r2, r3 := p[i*w:(i+1)*w], p[(i+1)*w:(i+2)*w], p[(i+2)*w:(i+3)*w], p[(i+3)*w:(i+4)*w]
		r4, r5, r6, r7 := p[(i+4)*w:(i+5)*w], p[(i+5)*w:(i+6)*w], p[(i+6)*w:(i+7)*w], p[(i+7)*w:(i+8)*w]
		for j := range w {
			o := (*[8]float32)(out[j*h+i : j*h+i+8])
			o[0], o[1], o[2], o[3] = r0[j], r1[j], r2[j], r3[j]
			o[4], o[5], o[6], o[7] = r4[j], r5[j], r6[j], r7[j]
		}
	}
	for ; i < h; i++ {
		row := p[i*w : (i+1)*w]
		for j, v := range row {
			out[j*h+i] = v
		}
	}
	return out
}

// f32Pool recycles the resize's scratch planes (a 384² → 299² resize used
// to allocate and clear 1.5 MB per channel).
var f32Pool sync.Pool

func scratchF32(n int) []float32 {
	if v, ok := f32Pool.Get().(*[]float32); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]float32, n)
}

func releaseF32(s []float32) { f32Pool.Put(&s) }
