//go:build !goexperiment.simd || !amd64

package imageio

// Without GOEXPERIMENT=simd (or off amd64) idctIslow runs the scalar code.

func idctSIMD(coef []int16, q *[64]uint16, dst []uint8, stride int) bool { return false }

func idctPlaneSIMD(coef []int16, q *[64]uint16, bw, cbw, cbh int, pix []uint8, stride int) bool {
	return false
}
