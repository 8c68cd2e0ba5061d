//go:build !unix

package imageio

func cpuNanos() int64 { return 0 }
