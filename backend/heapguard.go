package backend

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// The Go backend's SIMD kernels (GoMLX compute v0.1.14 built with go1.27.3's
// simd/archsimd) read the tail of a float32 row with LoadFloat32x16Part,
// which loads a full 64 bytes and masks afterwards. When a buffer ends on the
// last page of the highest mapped heap arena, the over-read touches reserved,
// unmapped address space and the process dies with SIGSEGV (seen as rare CI
// crashes in simdV2V1MulFloat32). Until the library masks the load itself, we
// map heap address space well above what the process will use: allocating
// large blocks once and dropping them leaves their arenas mapped (Go never
// unmaps heap memory; freed pages are only madvised away), so later buffers
// sit below mapped memory and the over-read is harmless. The blocks are
// never touched, so they cost address space, not RAM.
var heapGuardOnce sync.Once

// heapGuardBytes is the ballast size: half the machine's memory, at most
// 16 GiB (a single mapping larger than RAM may be refused by the kernel's
// overcommit heuristic, and Go treats that as fatal).
//
// Under strict overcommit (vm.overcommit_memory = 2) mapped heap counts
// against the commit limit even untouched, so the ballast shrinks to 1 GiB.
func heapGuardBytes() int {
	const max = 16 << 30
	total := memTotal()
	if total <= 0 {
		return 2 << 30
	}
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil && strings.TrimSpace(string(b)) == "2" {
		return min(total/8, 1<<30)
	}
	return min(total/2, max)
}

// heapGuardSize is heapGuardBytes, replaceable in tests.
var heapGuardSize = heapGuardBytes

// GuardHeapTail maps the ballast described above; only the first call does
// work. New calls it for the Go backend.
//
// The ballast is taken in 64 MiB blocks, all held until the last is made:
// one block of many GiB is zeroed whole by the runtime when any of its pages
// were used before (a process that has freed memory by the time it makes its
// first Go backend), which touched every page of it — 12 GiB of RAM and 24 s
// on this machine, seen as stalls of the first Fréchet distance in a test
// run. A block that reuses freed pages is zeroed alone; new ones are fresh
// from the OS and cost address space only.
func GuardHeapTail() {
	heapGuardOnce.Do(func() {
		size := heapGuardSize()
		if size <= 0 {
			return
		}
		block := min(64<<20, size) // a machine under 128 MiB still gets one
		held := make([][]byte, 0, size/block)
		for range cap(held) {
			held = append(held, make([]byte, block))
		}
		runtime.KeepAlive(held)
		held = nil
		debug.FreeOSMemory() // collect it and mark its pages released at once
	})
}

// memTotal reads MemTotal from /proc/meminfo in bytes (0 when unknown).
func memTotal() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
