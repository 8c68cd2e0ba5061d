package perf

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// devMemSampler reads the GPUs' used memory from nvidia-smi every 100 ms
// while a run on a CUDA backend lasts: the backends report no device memory
// (compute v0.1.14), and nvidia-smi is on every machine with NVIDIA's driver.
type devMemSampler struct {
	cmd  *exec.Cmd
	done sync.WaitGroup
	peak atomic.Int64 // MiB, the largest memory.used of any GPU; -1 before a reading
	err  string
}

// startDevMemSampler starts nvidia-smi; a sampler that could not start says
// why in its note.
func startDevMemSampler() *devMemSampler {
	s := &devMemSampler{}
	s.peak.Store(-1)
	s.cmd = exec.Command("nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "100")
	out, err := s.cmd.StdoutPipe()
	if err == nil {
		err = s.cmd.Start()
	}
	if err != nil {
		s.cmd, s.err = nil, err.Error()
		return s
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64); err == nil && v > s.peak.Load() {
				s.peak.Store(v) // one writer
			}
		}
	}()
	return s
}

// stop ends sampling and fills m's device fields.
func (s *devMemSampler) stop(m *Memory) {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.done.Wait()
		s.cmd.Wait()
		s.cmd = nil
	}
	switch peak := s.peak.Load(); {
	case peak >= 0:
		b := peak << 20
		m.DeviceBytes = &b
		m.Note = "device_peak_bytes: nvidia-smi's memory.used, sampled every 100 ms, the largest of any GPU (the whole card: this process's CUDA context and XLA's allocator pool included)"
	case s.err != "":
		m.Note = "device memory not measured: nvidia-smi did not start (" + s.err + ")"
	default:
		m.Note = "device memory not measured: nvidia-smi printed no reading"
	}
}
