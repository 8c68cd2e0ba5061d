package perf

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the peak memory of a run. DeviceBytes is nil except on XLA
// CUDA, where nvidia-smi is sampled beside the run (devMemSampler): the
// compute backends (Go, XLA PJRT via compute v0.1.14) report no device
// memory use.
type Memory struct {
	RSSPeakBytes    int64  `json:"rss_peak_bytes"`      // process resident set high-water mark (VmHWM): Go heap + C/XLA allocations, host only
	GoHeapPeakBytes int64  `json:"go_heap_peak_bytes"`  // Go heap objects, sampled every 10 ms
	GoTotalPeak     int64  `json:"go_total_peak_bytes"` // memory the Go runtime holds (mapped minus released to the OS)
	DeviceBytes     *int64 `json:"device_peak_bytes"`
	Note            string `json:"note,omitempty"`
}

// MemSampler tracks the Go runtime's peak heap while it runs.
type MemSampler struct {
	stop     chan struct{}
	done     sync.WaitGroup
	heap     int64
	total    int64
	samples  []metrics.Sample
	stopOnce sync.Once
}

// StartMemSampler starts sampling the Go runtime every 10 ms.
func StartMemSampler() *MemSampler {
	s := &MemSampler{stop: make(chan struct{}), samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
	s.read()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.read()
			}
		}
	}()
	return s
}

func (s *MemSampler) read() {
	metrics.Read(s.samples)
	if v := s.samples[0].Value; v.Kind() == metrics.KindUint64 {
		s.heap = max(s.heap, int64(v.Uint64()))
	}
	// Mapped minus released: address space the Go backend's heap guard
	// (backend.GuardHeapTail) maps and releases at once is not memory used.
	if v, r := s.samples[1].Value, s.samples[2].Value; v.Kind() == metrics.KindUint64 && r.Kind() == metrics.KindUint64 {
		s.total = max(s.total, int64(v.Uint64())-int64(r.Uint64()))
	}
}

// Stop ends sampling and returns the peaks, with the process's VmHWM.
func (s *MemSampler) Stop() Memory {
	s.stopOnce.Do(func() { close(s.stop) })
	s.done.Wait()
	s.read()
	return Memory{RSSPeakBytes: rssPeak(), GoHeapPeakBytes: s.heap, GoTotalPeak: s.total,
		Note: "device memory is not reported by this backend"}
}

// rssPeak reads VmHWM from /proc/self/status (0 where there is none).
func rssPeak() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
