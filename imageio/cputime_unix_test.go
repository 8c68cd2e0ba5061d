//go:build unix

package imageio

import "syscall"

// cpuNanos is this process's user+system CPU time; benchmarks report it per
// op ("cpu-ns/op") because wall time on a shared machine is noisy.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
