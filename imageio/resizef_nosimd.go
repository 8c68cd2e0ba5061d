//go:build !goexperiment.simd || !amd64

package imageio

// Without GOEXPERIMENT=simd (or off amd64) the float resize runs the scalar loop.

func weightedRowsSIMD(dst []float32, rows [][]float32, c []float64) int { return 0 }
