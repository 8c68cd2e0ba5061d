//go:build goexperiment.simd && amd64

package backend

import (
	"os"
	"os/exec"
	"simd/archsimd"
	"testing"
)

// overReadTails allocates many exact-size 1 KiB float32 buffers, as the Go
// backend does, and reads the last 8 floats of each with the 16-lane partial
// load the kernels use. Without the guard one of them ends at the top of the
// mapped heap within the first few megabytes and the read faults.
func overReadTails() float32 {
	keep := make([][]float32, 0, 100_000)
	var sum float32
	var out [16]float32
	for range cap(keep) {
		s := make([]float32, 256)
		keep = append(keep, s)
		v, _ := archsimd.LoadFloat32x16Part(s[248:])
		v.Store(out[:])
		sum += out[0]
	}
	return sum
}

const heapGuardChildEnv = "DUALTOKEN_HEAPGUARD_CHILD"

func TestHeapGuardChild(t *testing.T) {
	mode := os.Getenv(heapGuardChildEnv)
	if mode == "" {
		t.Skip("helper process for TestHeapGuardStopsTailOverReadFaults")
	}
	if mode == "guarded" {
		GuardHeapTail()
	}
	if overReadTails() != 0 {
		t.Fatal("fresh buffers not zero")
	}
}

func runHeapGuardChild(t *testing.T, mode string) error {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeapGuardChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), heapGuardChildEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%s child: %v\n%.600s", mode, err, out)
	}
	return err
}

func TestHeapGuardStopsTailOverReadFaults(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("no AVX-512: the 16-lane kernels are not used on this CPU")
	}
	if err := runHeapGuardChild(t, "guarded"); err != nil {
		t.Fatalf("guarded process crashed: %v", err)
	}
	// Unguarded, the same loop faulted on go1.27.3; log the outcome so a
	// toolchain that masks the load (making the guard unnecessary) shows up.
	if err := runHeapGuardChild(t, "unguarded"); err == nil {
		t.Log("unguarded run did not fault: the toolchain may mask partial loads now")
	}
}
