//go:build !goexperiment.simd || !amd64

package imageio

// Without GOEXPERIMENT=simd (or off amd64) the output stage runs the scalar
// loops: these report that they did no samples
// (fancyRowSIMD: its end of the interior samples [1, end) is 0).

func fancyRowSIMD(dst, y, nb, fb, nr, fr []uint8, p fancyParams) int { return 0 }

func yccRowSIMD(dst, y, cb, cr []uint8) int { return 0 }
