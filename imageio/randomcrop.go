package imageio

import (
	"math"
	"math/rand/v2"
)

// DefaultCropRatio is torchvision RandomResizedCrop's default aspect-ratio
// range (width/height).
var DefaultCropRatio = [2]float64{3.0 / 4, 4.0 / 3}

// RandomResizedCropParams draws the crop window of torchvision's
// RandomResizedCrop.get_params for a w×h image: up to 10 attempts, each
// with area U(scale)·W·H and aspect ratio exp(U(log ratio)), window
// cw = round(sqrt(area·r)), ch = round(sqrt(area/r)) (Python's round: half
// to even), accepted when it fits (0 < cw <= w, 0 < ch <= h) and placed at
// top = randint(0, h−ch), left = randint(0, w−cw), both inclusive. When no
// attempt fits, the fallback is the centred window of the whole image
// clamped to the ratio range. The draws come from rng, so the window is a
// pure function of rng's state (torch's generator is not reproduced: the
// algorithm is, not its random numbers).
func RandomResizedCropParams(w, h int, scale, ratio [2]float64, rng *rand.Rand) (top, left, ch, cw int) {
	area := float64(w * h)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * uniform(rng, scale[0], scale[1])
		r := math.Exp(uniform(rng, logLo, logHi))
		cw = int(math.RoundToEven(math.Sqrt(target * r)))
		ch = int(math.RoundToEven(math.Sqrt(target / r)))
		if 0 < cw && cw <= w && 0 < ch && ch <= h {
			top = rng.IntN(h - ch + 1)
			left = rng.IntN(w - cw + 1)
			return top, left, ch, cw
		}
	}
	in := float64(w) / float64(h)
	lo, hi := min(ratio[0], ratio[1]), max(ratio[0], ratio[1])
	switch {
	case in < lo:
		cw = w
		ch = int(math.RoundToEven(float64(cw) / lo))
	case in > hi:
		ch = h
		cw = int(math.RoundToEven(float64(ch) * hi))
	default:
		cw, ch = w, h
	}
	return (h - ch) / 2, (w - cw) / 2, ch, cw
}

// uniform is torch's uniform_(lo, hi): lo + (hi−lo)·U[0,1).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// ResizedCrop is torchvision's resized_crop on a PIL image: the ch×cw window
// at (top, left), which must lie inside img, resampled to outH×outW with
// PIL's resize (img.crop(box).resize((outW, outH), filter)).
func ResizedCrop(img *Image, top, left, ch, cw, outH, outW int, f Filter) *Image {
	return Resize(img.Crop(top, left, ch, cw), outH, outW, f)
}

// RandomResizedCrop is torchvision's RandomResizedCrop(size, scale, ratio,
// BICUBIC) on a PIL image, drawing the window from rng.
func RandomResizedCrop(img *Image, size int, scale, ratio [2]float64, rng *rand.Rand) *Image {
	top, left, ch, cw := RandomResizedCropParams(img.W, img.H, scale, ratio, rng)
	return ResizedCrop(img, top, left, ch, cw, size, size, Bicubic)
}
