package metrics

// Full-reference image quality: PSNR and SSIM in the conventions papers use.
//
// Images are interleaved HWC (the layout of decoded images), float64 in the
// data range (0..R) or uint8 (R = 255). Everything accumulates in float64.
//
// PSNR = 10·log10(R²/(MSE + Eps)). Choices that move the number: R (1 or
// 255), Eps (0 → +Inf for identical images as scikit-image; pyiqa adds 1e−8),
// all RGB channels or BT.601 luma Y, and per-image mean (MeanPSNR) vs one
// PSNR of the pooled MSE (PooledPSNR).
//
// SSIM (Wang et al. 2004, K1 0.01, K2 0.03, Gaussian window σ 1.5 truncated at
// 3.5σ → 11 taps, population covariance) in two variants:
//   - SSIMWang: skimage.metrics.structural_similarity(gaussian_weights=True,
//     sigma=1.5, use_sample_covariance=False) — the SSIM map is cropped by the
//     window radius (5 px), so only windows fully inside the image count;
//     identical to pytorch_msssim.ssim (valid convolution). Mean over channels.
//   - SSIMTorchmetrics: torchmetrics ≥ 1.5 structural_similarity_index_measure
//     — images padded by the radius with numpy/torch 'reflect' (no edge
//     repeat: d c b | a b c d), variances clamped at 0, mean over the full
//     C×H×W map including the border windows.
//
// Both are separable: a fused horizontal pass filters x, y, x², y², xy in one
// sweep, then a vertical pass; work is split over channels and row blocks.
// SSIMBoth gives both variants from one filtering (Wang's map is the interior
// of torchmetrics').

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// PSNROptions selects the PSNR convention. The zero value is scikit-image's
// peak_signal_noise_ratio on uint8-scale data: R = 255, all channels, no eps.
type PSNROptions struct {
	DataRange float64 // peak R: 255 (uint8 scale) or 1 ([0,1] floats); 0 means 255
	Y         bool    // compare BT.601 luma (needs 3 channels) instead of all channels
	Eps       float64 // added to the MSE; pyiqa uses 1e−8, scikit-image 0 (+Inf when identical)
}

func (o PSNROptions) dataRange() float64 {
	if o.DataRange == 0 {
		return 255
	}
	return o.DataRange
}

// BT.601 luma weights as scikit-image's rgb2ycbcr and pyiqa/BasicSR define Y:
// Y = 16/255·R + (65.481·r + 128.553·g + 24.966·b)/255 for data range R.
const (
	lumaR = 65.481 / 255
	lumaG = 128.553 / 255
	lumaB = 24.966 / 255
)

// LumaBT601 returns the BT.601 Y plane [H×W] of an interleaved RGB image in
// data range dataRange (Y in the same scale: 16/255·R .. 235/255·R).
func LumaBT601(rgb []float64, h, w int, dataRange float64) ([]float64, error) {
	if len(rgb) != h*w*3 {
		return nil, fmt.Errorf("luma: image has %d values, want H×W×3 = %d×%d×3", len(rgb), h, w)
	}
	y := make([]float64, h*w)
	off := 16.0 / 255 * dataRange
	for i := range y {
		p := rgb[3*i : 3*i+3]
		y[i] = off + lumaR*p[0] + lumaG*p[1] + lumaB*p[2]
	}
	return y, nil
}

// MSE returns the mean squared difference of two equally sized images
// (all channels, or BT.601 luma when y is set and c = 3).
func MSE(ref, dist []float64, h, w, c int, y bool) (float64, error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, fmt.Errorf("mse: %w", err)
	}
	if y {
		if c != 3 {
			return 0, fmt.Errorf("mse: luma needs 3 channels, image has %d", c)
		}
		s := 0.0
		for i := 0; i < h*w; i++ {
			d := lumaR*(ref[3*i]-dist[3*i]) + lumaG*(ref[3*i+1]-dist[3*i+1]) + lumaB*(ref[3*i+2]-dist[3*i+2])
			s += d * d
		}
		return s / float64(h*w), nil
	}
	s := 0.0
	for i, r := range ref {
		d := r - dist[i]
		s += d * d
	}
	return s / float64(len(ref)), nil
}

// PSNRFromMSE converts an MSE to dB: 10·log10(R²/(mse+eps)); +Inf when the sum is 0.
func PSNRFromMSE(mse float64, opt PSNROptions) float64 {
	r := opt.dataRange()
	return 10 * math.Log10(r*r/(mse+opt.Eps))
}

// PSNR of one pair of interleaved HWC images in the data range of opt.
func PSNR(ref, dist []float64, h, w, c int, opt PSNROptions) (float64, error) {
	mse, err := MSE(ref, dist, h, w, c, opt.Y)
	if err != nil {
		return 0, err
	}
	return PSNRFromMSE(mse, opt), nil
}

// PSNRPyiqaUint8 is pyiqa's psnr (data_range 1, eps 1e-8, all channels)
// of two uint8 images read as [0,1]: 10·log10(1/(MSE + 1e-8)), DualToken's
// reconstruction PSNR. The squared error is summed exactly in integers; an
// exact reconstruction gives 80 dB where scikit-image's formula gives +Inf.
func PSNRPyiqaUint8(ref, dist []uint8, h, w, c int) (float64, error) {
	if len(ref) != h*w*c || len(dist) != len(ref) || len(ref) == 0 {
		return 0, fmt.Errorf("psnr: images have %d and %d values, want %d×%d×%d", len(ref), len(dist), h, w, c)
	}
	var s uint64
	for i, r := range ref {
		d := int64(r) - int64(dist[i])
		s += uint64(d * d)
	}
	mse := float64(s) / float64(len(ref)) / (255 * 255)
	return PSNRFromMSE(mse, PSNROptions{DataRange: 1, Eps: 1e-8}), nil
}

// PSNRUint8 is PSNR on uint8 images with R = 255 over all channels
// (scikit-image's peak_signal_noise_ratio on uint8 arrays); +Inf when identical.
func PSNRUint8(ref, dist []uint8, h, w, c int) (float64, error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, fmt.Errorf("psnr: %w", err)
	}
	var s uint64 // exact: ≤ 255²·len fits easily
	for i, r := range ref {
		d := int64(r) - int64(dist[i])
		s += uint64(d * d)
	}
	return PSNRFromMSE(float64(s)/float64(len(ref)), PSNROptions{DataRange: 255}), nil
}

// MeanPSNR is the mean of per-image PSNRs (pyiqa, DualToken): each MSE → dB, then averaged.
func MeanPSNR(mses []float64, opt PSNROptions) float64 {
	if len(mses) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, m := range mses {
		s += PSNRFromMSE(m, opt)
	}
	return s / float64(len(mses))
}

// PooledPSNR is one PSNR of the MSE pooled over all pixels of all images:
// counts[i] is the number of values behind mses[i] (nil: equal sizes).
func PooledPSNR(mses []float64, counts []int, opt PSNROptions) float64 {
	if len(mses) == 0 || (counts != nil && len(counts) != len(mses)) {
		return math.NaN()
	}
	s, n := 0.0, 0.0
	for i, m := range mses {
		c := 1.0
		if counts != nil {
			c = float64(counts[i])
		}
		s += m * c
		n += c
	}
	return PSNRFromMSE(s/n, opt)
}

// SSIMVariant names an SSIM convention (see the file comment).
type SSIMVariant int

const (
	// SSIMWang is scikit-image's Gaussian SSIM = pytorch_msssim: border cropped by the window radius.
	SSIMWang SSIMVariant = iota
	// SSIMTorchmetrics is torchmetrics ≥ 1.5: reflect padding, clamped variances, full-area mean.
	SSIMTorchmetrics
)

// String names the variant as CSV columns do.
func (v SSIMVariant) String() string {
	switch v {
	case SSIMWang:
		return "ssim_wang"
	case SSIMTorchmetrics:
		return "ssim_torchmetrics"
	}
	return fmt.Sprintf("SSIMVariant(%d)", int(v))
}

// SSIM constants shared by both variants.
const (
	SSIMSigma    = 1.5
	SSIMTruncate = 3.5
	SSIMK1       = 0.01
	SSIMK2       = 0.03
)

// ssimKernel is the normalised 1-D Gaussian of radius int(3.5σ + 0.5) (5 for σ 1.5),
// as scipy.ndimage and torchmetrics build it.
var ssimKernel = func() []float64 {
	sigma, truncate := float64(SSIMSigma), float64(SSIMTruncate)
	r := int(truncate*sigma + 0.5)
	k := make([]float64, 2*r+1)
	s := 0.0
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-0.5 * x * x / (sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}()

// SSIM of one pair of interleaved HWC images with data range dataRange
// (255 for uint8-scale values, 1 for [0,1]); the mean over channels.
func SSIM(ref, dist []float64, h, w, c int, variant SSIMVariant, dataRange float64) (float64, error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, fmt.Errorf("ssim: %w", err)
	}
	return ssimCompute(h, w, c, variant, dataRange, rowsOf(ref, dist, w, c))
}

// SSIMUint8 is SSIM on uint8 images with data range 255.
func SSIMUint8(ref, dist []uint8, h, w, c int, variant SSIMVariant) (float64, error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, fmt.Errorf("ssim: %w", err)
	}
	return ssimCompute(h, w, c, variant, 255, rowsOf(ref, dist, w, c))
}

// SSIMBoth returns SSIMWang and SSIMTorchmetrics of one pair in one pass:
// the Wang map is the interior of the torchmetrics one (the windows that do
// not reach the reflected border), so the five filtered moments are computed
// once and each formula summed over its own area. Equal to the two SSIM calls
// up to rounding (~1e−16). Each side must be at least the 11-pixel window.
func SSIMBoth(ref, dist []float64, h, w, c int, dataRange float64) (wang, torchmetrics float64, err error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, 0, fmt.Errorf("ssim: %w", err)
	}
	return ssimBoth(h, w, c, dataRange, rowsOf(ref, dist, w, c))
}

// SSIMBothUint8 is SSIMBoth on uint8 images with data range 255.
func SSIMBothUint8(ref, dist []uint8, h, w, c int) (wang, torchmetrics float64, err error) {
	if err := imageCheckPair(len(ref), len(dist), h, w, c); err != nil {
		return 0, 0, fmt.Errorf("ssim: %w", err)
	}
	return ssimBoth(h, w, c, 255, rowsOf(ref, dist, w, c))
}

func ssimBoth(h, w, c int, dataRange float64, rowOf func(ch, i int, x, y []float64)) (wang, torchmetrics float64, err error) {
	r := len(ssimKernel) / 2
	if h <= 2*r || w <= 2*r {
		return 0, 0, fmt.Errorf("ssim: image %d×%d is smaller than the %d-pixel window plus one", h, w, 2*r+1)
	}
	res, err := ssimRun(h, w, c, dataRange, true, true, rowOf)
	return res.inner, res.full, err
}

// rowsOf returns the row reader the SSIM code takes: row i of channel ch of
// the interleaved H×W×C pair, as float64.
func rowsOf[T uint8 | float64](ref, dist []T, w, c int) func(ch, i int, x, y []float64) {
	return func(ch, i int, x, y []float64) {
		off := i*w*c + ch
		for j := range x {
			x[j] = float64(ref[off+j*c])
			y[j] = float64(dist[off+j*c])
		}
	}
}

func imageCheckPair(nref, ndist, h, w, c int) error {
	if h <= 0 || w <= 0 || c <= 0 {
		return fmt.Errorf("image size H×W×C = %d×%d×%d must be positive", h, w, c)
	}
	if nref != h*w*c {
		return fmt.Errorf("reference has %d values, want H×W×C = %d×%d×%d = %d", nref, h, w, c, h*w*c)
	}
	if ndist != h*w*c {
		return fmt.Errorf("distorted image has %d values, want H×W×C = %d×%d×%d = %d", ndist, h, w, c, h*w*c)
	}
	return nil
}

// ssimCompute checks the size for the variant and returns its channel mean
// (see ssimRun).
func ssimCompute(h, w, c int, variant SSIMVariant, dataRange float64, rowOf func(ch, i int, x, y []float64)) (float64, error) {
	r := len(ssimKernel) / 2
	switch variant {
	case SSIMWang:
		if h <= 2*r || w <= 2*r {
			return 0, fmt.Errorf("ssim: image %d×%d is smaller than the %d-pixel window plus one", h, w, 2*r+1)
		}
	case SSIMTorchmetrics:
		if h <= r || w <= r {
			return 0, fmt.Errorf("ssim: image %d×%d too small for reflect padding by %d", h, w, r)
		}
	default:
		return 0, fmt.Errorf("ssim: unknown variant %d", int(variant))
	}
	if variant == SSIMWang {
		res, err := ssimRun(h, w, c, dataRange, false, true, rowOf)
		return res.inner, err
	}
	res, err := ssimRun(h, w, c, dataRange, true, false, rowOf)
	return res.full, err
}

// ssimResult holds channel-mean SSIMs: full over the whole map, inner over
// the map's interior (the windows that stay inside the unpadded image).
type ssimResult struct{ full, inner float64 }

// ssimRun filters the reflect-padded planes once and sums the SSIM map:
// with full torchmetrics' whole map (variances clamped at 0), with inner
// Wang's formula over its interior, the windows inside the image (Wang's
// valid map: padding the planes keeps every row a multiple of the vector
// width long, which made Wang's SSIM alone faster than on unpadded planes).
func ssimRun(h, w, c int, dataRange float64, full, inner bool, rowOf func(ch, i int, x, y []float64)) (ssimResult, error) {
	r := len(ssimKernel) / 2
	if dataRange <= 0 {
		return ssimResult{}, fmt.Errorf("ssim: data range %g must be positive", dataRange)
	}
	ph, pw := h+2*r, w+2*r // padded plane size; the SSIM map is (ph−2r)×(pw−2r) = h×w
	c1 := (SSIMK1 * dataRange) * (SSIMK1 * dataRange)
	c2 := (SSIMK2 * dataRange) * (SSIMK2 * dataRange)
	oh, ow := ph-2*r, pw-2*r
	a := ssimArea{full: full, inner: inner, i0: r, i1: h - r, j0: r, j1: w - r}

	// Planes in pooled buffers (six 1.2 MB planes per 384² pair: allocating
	// them cost more than padding).
	xs := make([][]float64, c)
	ys := make([][]float64, c)
	var prep sync.WaitGroup
	for ch := range c {
		prep.Go(func() {
			x, y := ssimPlanePool.get(ph*pw), ssimPlanePool.get(ph*pw)
			ssimFillPlanes(x, y, h, w, r, func(i int, xr, yr []float64) { rowOf(ch, i, xr, yr) })
			xs[ch], ys[ch] = x, y
		})
	}
	prep.Wait()
	defer func() {
		for ch := range c {
			ssimPlanePool.put(xs[ch])
			ssimPlanePool.put(ys[ch])
		}
	}()

	// Tasks: (channel, block of 32 output rows). Each block re-filters 2r
	// halo rows, but its five rows of moments per input row stay in cache:
	// blocks of a whole channel (or half) ran 1.4× slower on 2 cores once
	// the filter passes were vectorised.
	const block = 32
	type task struct{ ch, r0, r1 int }
	var tasks []task
	for ch := range c {
		lo, hi := 0, oh
		if !full { // only Wang's rows
			lo, hi = a.i0, a.i1
		}
		for r0 := lo; r0 < hi; r0 += block {
			tasks = append(tasks, task{ch, r0, min(hi, r0+block)})
		}
	}
	sums := make([]ssimResult, len(tasks))
	next := make(chan int, len(tasks))
	for i := range tasks {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(tasks)) {
		wg.Go(func() {
			var buf ssimBuffers
			for i := range next {
				t := tasks[i]
				sums[i] = ssimBlock(xs[t.ch], ys[t.ch], pw, ow, t.r0, t.r1, c1, c2, a, &buf)
			}
		})
	}
	wg.Wait()
	// Per-channel means, then the channel mean (skimage); torchmetrics' C×H×W
	// mean is the same value since every channel has oh×ow entries.
	chSum := make([]ssimResult, c)
	for i, t := range tasks {
		chSum[t.ch].full += sums[i].full
		chSum[t.ch].inner += sums[i].inner
	}
	var res ssimResult
	for _, s := range chSum {
		res.full += s.full / float64(oh*ow)
		if inner {
			res.inner += s.inner / float64((a.i1-a.i0)*(a.j1-a.j0))
		}
	}
	res.full /= float64(c)
	res.inner /= float64(c)
	return res, nil
}

// ssimArea says which sums ssimBlock takes: with full the whole map's
// (variances clamped), with inner the unclamped sum over map rows [i0,i1)
// and columns [j0,j1).
type ssimArea struct {
	full, inner    bool
	i0, i1, j0, j1 int
}

// ssimFillPlanes writes two h×w planes, row i from row(i, xRow, yRow), into
// x and y of (h+2r)×(w+2r), padded by r on every side with numpy 'reflect'
// (mirror about the edge pixel, which is not repeated; needs h, w > r).
func ssimFillPlanes(x, y []float64, h, w, r int, row func(i int, xr, yr []float64)) {
	pw := w + 2*r
	for i := range h {
		xr, yr := x[(i+r)*pw:(i+r+1)*pw], y[(i+r)*pw:(i+r+1)*pw]
		row(i, xr[r:r+w], yr[r:r+w])
		for t := 1; t <= r; t++ {
			xr[r-t], xr[r+w-1+t] = xr[r+t], xr[r+w-1-t]
			yr[r-t], yr[r+w-1+t] = yr[r+t], yr[r+w-1-t]
		}
	}
	for t := 1; t <= r; t++ {
		for _, p := range [][]float64{x, y} {
			copy(p[(r-t)*pw:(r-t+1)*pw], p[(r+t)*pw:(r+t+1)*pw])
			copy(p[(r+h-1+t)*pw:(r+h+t)*pw], p[(r+h-1-t)*pw:(r+h-t)*pw])
		}
	}
}

// ssimReflectPad returns the h×w plane p padded by r as ssimFillPlanes pads.
func ssimReflectPad(p []float64, h, w, r int) []float64 {
	out := make([]float64, (h+2*r)*(w+2*r))
	scratch := make([]float64, len(out))
	ssimFillPlanes(out, scratch, h, w, r, func(i int, xr, _ []float64) { copy(xr, p[i*w:(i+1)*w]) })
	return out
}

// planePool recycles float64 planes.
type planePool struct{ p sync.Pool }

var ssimPlanePool planePool

func (pp *planePool) get(n int) []float64 {
	if v, ok := pp.p.Get().(*[]float64); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]float64, n)
}

func (pp *planePool) put(s []float64) { pp.p.Put(&s) }

// ssimBuffers are per-worker scratch planes for the horizontal pass.
type ssimBuffers struct {
	hx, hy, hxx, hyy, hxy []float64
	prod                  []float64
	v                     [5][]float64 // one output row per moment
}

func (b *ssimBuffers) vert(ow int) [5][]float64 {
	for i := range b.v {
		if cap(b.v[i]) < ow {
			b.v[i] = make([]float64, ow)
		}
		b.v[i] = b.v[i][:ow]
	}
	return b.v
}

func (b *ssimBuffers) grow(n, w int) {
	if cap(b.hx) < n {
		b.hx, b.hy = make([]float64, n), make([]float64, n)
		b.hxx, b.hyy, b.hxy = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	b.hx, b.hy, b.hxx, b.hyy, b.hxy = b.hx[:n], b.hy[:n], b.hxx[:n], b.hyy[:n], b.hxy[:n]
	if cap(b.prod) < 3*w {
		b.prod = make([]float64, 3*w)
	}
}

// ssimBlock returns the sums of the SSIM map (see ssimArea) over output rows
// [r0, r1) of a (padded) plane of width pw, whose map is ow wide; output
// (i, j) is the window centred on plane pixel (i+r, j+r).
func ssimBlock(x, y []float64, pw, ow, r0, r1 int, c1, c2 float64, a ssimArea, b *ssimBuffers) ssimResult {
	k := ssimKernel
	r := len(k) / 2
	rows := r1 - r0 + 2*r // input rows r0 .. r1+2r−1
	b.grow(rows*ow, pw)
	// Horizontal pass: 5 moments per input row, symmetric taps paired.
	for ri := range rows {
		xr := x[(r0+ri)*pw : (r0+ri+1)*pw]
		yr := y[(r0+ri)*pw : (r0+ri+1)*pw]
		o := ri * ow
		// All five moments at once where the vector form applies, then
		// the products and single-moment passes for the rest of the row.
		d := hpass11x5(b.hx[o:o+ow], b.hy[o:o+ow], b.hxx[o:o+ow], b.hyy[o:o+ow], b.hxy[o:o+ow], xr, yr, k)
		if d == ow {
			continue
		}
		xx, yy, xy := b.prod[:pw], b.prod[pw:2*pw], b.prod[2*pw:3*pw]
		for j := d; j < pw; j++ {
			xx[j] = xr[j] * xr[j]
			yy[j] = yr[j] * yr[j]
			xy[j] = xr[j] * yr[j]
		}
		ssimHPass(b.hx[o+d:o+ow], xr[d:], k)
		ssimHPass(b.hy[o+d:o+ow], yr[d:], k)
		ssimHPass(b.hxx[o+d:o+ow], xx[d:], k)
		ssimHPass(b.hyy[o+d:o+ow], yy[d:], k)
		ssimHPass(b.hxy[o+d:o+ow], xy[d:], k)
	}
	// Vertical pass, row-wise over contiguous rows (symmetric taps paired), then the SSIM formula.
	v := b.vert(ow)
	ux, uy, uxx, uyy, uxy := v[0], v[1], v[2], v[3], v[4]
	var sum ssimResult
	for oi := range r1 - r0 {
		ssimVPass(ux, b.hx, oi, ow, k)
		ssimVPass(uy, b.hy, oi, ow, k)
		ssimVPass(uxx, b.hxx, oi, ow, k)
		ssimVPass(uyy, b.hyy, oi, ow, k)
		ssimVPass(uxy, b.hxy, oi, ow, k)
		i := r0 + oi
		if a.full && a.inner && i >= a.i0 && i < a.i1 {
			if f, in, ok := ssimRowBoth(ux, uy, uxx, uyy, uxy, c1, c2, a.j0, a.j1); ok {
				sum.full += f
				sum.inner += in
				continue
			}
		}
		if a.full {
			sum.full += ssimRow(ux, uy, uxx, uyy, uxy, c1, c2, true)
		}
		if a.inner && i >= a.i0 && i < a.i1 {
			j0, j1 := a.j0, a.j1
			sum.inner += ssimRow(ux[j0:j1], uy[j0:j1], uxx[j0:j1], uyy[j0:j1], uxy[j0:j1], c1, c2, false)
		}
	}
	return sum
}

// ssimRowScalar returns the sum over one output row of the SSIM formula from the five local moments.
func ssimRowScalar(ux, uy, uxx, uyy, uxy []float64, c1, c2 float64, clamp bool) float64 {
	sum := 0.0
	for j := range ux {
		mx, my := ux[j], uy[j]
		vx := uxx[j] - mx*mx
		vy := uyy[j] - my*my
		vxy := uxy[j] - mx*my
		if clamp {
			vx, vy = max(vx, 0), max(vy, 0)
		}
		a1 := 2*mx*my + c1
		a2 := 2*vxy + c2
		b1 := mx*mx + my*my + c1
		b2 := vx + vy + c2
		sum += (a1 * a2) / (b1 * b2)
	}
	return sum
}

// ssimVPassScalar writes output row oi of the vertical correlation of the rows of h (width ow) into dst.
func ssimVPassScalar(dst, h []float64, oi, ow int, k []float64) {
	r := len(k) / 2
	c := h[(oi+r)*ow : (oi+r+1)*ow]
	kc := k[r]
	for j := range dst {
		dst[j] = kc * c[j]
	}
	for t := range r {
		top := h[(oi+t)*ow : (oi+t+1)*ow]
		bot := h[(oi+2*r-t)*ow : (oi+2*r-t+1)*ow]
		kt := k[t]
		for j := range dst {
			dst[j] += kt * (top[j] + bot[j])
		}
	}
}

// ssimHPassScalar correlates src with the symmetric kernel k into dst (valid: len(dst) = len(src)−len(k)+1).
func ssimHPassScalar(dst, src, k []float64) {
	r := len(k) / 2
	kc := k[r]
	for j := range dst {
		s := src[j : j+2*r+1]
		acc := kc * s[r]
		for t := range r {
			acc += k[t] * (s[t] + s[2*r-t])
		}
		dst[j] = acc
	}
}
