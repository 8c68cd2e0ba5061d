// Package randfill fills large weight tensors with deterministic
// pseudo-random values quickly: benchmark models of billions of parameters
// whose values do not matter, only that they are not degenerate. math/rand's
// NormFloat64 costs ~40 ns a value here (a Qwen2.5-3B-shaped model took
// minutes to make, inside a GPU session's time budget); this costs ~1-2 ns on
// one core and splits the work over all of them.
//
// The values depend only on (seed, stream) and the position in the slice,
// never on the number of cores: the slice is cut into fixed chunks, each
// drawn from its own SplitMix64 sequence.
package randfill

import (
	"math"

	"github.com/dualtoken/evalharness/internal/par"
)

// chunk is the number of values drawn from one sequence.
const chunk = 1 << 16

// irwinHallStd is the standard deviation of the sum of four independent
// uniform draws from {0, ..., 65535}: sqrt(4·(65536²−1)/12).
var irwinHallStd = math.Sqrt(4 * (65536*65536 - 1) / 12.0)

// Normal fills dst with values of mean 0 and standard deviation std,
// approximately normal: each is the centred sum of four uniform 16-bit
// draws (Irwin–Hall with n = 4, bounded at ±3.46 std).
func Normal(dst []float32, std float64, seed, stream uint64) {
	scale := std / irwinHallStd
	each(dst, seed, stream, func(out []float32, s uint64) {
		for i := range out {
			s += 0x9e3779b97f4a7c15
			z := mix(s)
			sum := (z & 0xffff) + (z >> 16 & 0xffff) + (z >> 32 & 0xffff) + (z >> 48)
			out[i] = float32((float64(sum) - 2*65535) * scale)
		}
	})
}

// Uniform fills dst with values uniform in [lo, hi).
func Uniform(dst []float32, lo, hi float64, seed, stream uint64) {
	top := float32(hi)
	below := math.Nextafter32(top, float32(math.Inf(-1)))
	each(dst, seed, stream, func(out []float32, s uint64) {
		for i := range out {
			s += 0x9e3779b97f4a7c15
			v := float32(lo + (hi-lo)*float64(mix(s)>>11)/(1<<53))
			if v >= top { // float32 rounding of a value just below hi
				v = below
			}
			out[i] = v
		}
	})
}

// each runs fill on every chunk of dst, in parallel, with the chunk's
// starting state.
func each(dst []float32, seed, stream uint64, fill func(out []float32, state uint64)) {
	base := mix(seed ^ mix(stream+0x632be59bd9b4e019))
	par.For(len(dst), chunk, func(lo, hi int) {
		fill(dst[lo:hi], mix(base+uint64(lo/chunk)*0xbf58476d1ce4e5b9))
	})
}

// mix is SplitMix64's output function.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
