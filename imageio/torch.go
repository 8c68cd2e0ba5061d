package imageio

import "fmt"

// TorchBilinear resizes a float32 CHW tensor (c×h×w) to c×outH×outW as
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
// antialias=False) does on CPU: source index (dst+0.5)·(in/out) − 0.5,
// clamped below at 0, float32 arithmetic, rows blended after columns. This is
// pytorch-fid's resize to 299 and DualToken's latent resize; unlike PIL it
// does not widen the kernel when downscaling.
func TorchBilinear(chw []float32, c, h, w, outH, outW int) []float32 {
	if len(chw) != c*h*w {
		panic(fmt.Sprintf("imageio: TorchBilinear input has %d values, want %d×%d×%d", len(chw), c, h, w))
	}
	ys0, ys1, yl0, yl1 := linearTaps(h, outH)
	xs0, xs1, xl0, xl1 := linearTaps(w, outW)
	out := make([]float32, c*outH*outW)
	parallelFor(c*outH, c*outH*outW*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ch, oy := r/outH, r%outH
			plane := chw[ch*h*w : (ch+1)*h*w]
			row0 := plane[ys0[oy]*w : ys0[oy]*w+w]
			row1 := plane[ys1[oy]*w : ys1[oy]*w+w]
			h0, h1 := yl0[oy], yl1[oy]
			o := out[r*outW : (r+1)*outW]
			for ox := range o {
				a, b := xs0[ox], xs1[ox]
				w0, w1 := xl0[ox], xl1[ox]
				t0 := float32(row0[a]*w0) + float32(row0[b]*w1)
				t1 := float32(row1[a]*w0) + float32(row1[b]*w1)
				o[ox] = float32(t0*h0) + float32(t1*h1)
			}
		}
	})
	return out
}

// linearTaps returns, per output index, the two source indices and weights of
// torch's compute_source_index_and_lambda (align_corners=False, no scale
// factor given).
func linearTaps(in, out int) (i0, i1 []int, l0, l1 []float32) {
	i0, i1 = make([]int, out), make([]int, out)
	l0, l1 = make([]float32, out), make([]float32, out)
	scale := float32(in) / float32(out)
	for d := 0; d < out; d++ {
		if in == out {
			i0[d], i1[d], l0[d], l1[d] = d, d, 1, 0
			continue
		}
		src := float32(scale*float32(float32(d)+0.5)) - 0.5
		if src < 0 {
			src = 0
		}
		idx := int(src) // src ≥ 0: truncation is floor
		if idx > in-1 {
			idx = in - 1
		}
		lam := src - float32(idx)
		lam = min(max(lam, 0), 1)
		i0[d] = idx
		i1[d] = idx
		if idx < in-1 {
			i1[d] = idx + 1
		}
		l1[d] = lam
		l0[d] = 1 - lam
	}
	return
}
