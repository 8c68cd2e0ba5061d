package perf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeNvidiaSMI puts an nvidia-smi on PATH that prints script's output.
func fakeNvidiaSMI(t *testing.T, script string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestDevMemSamplerPeak(t *testing.T) {
	// Two GPUs a tick, then nvidia-smi keeps running until killed, as -lms does.
	fakeNvidiaSMI(t, `printf '1200\n300\n35000\n310\n20000\n 300\n'; exec sleep 30`)
	s := startDevMemSampler()
	for deadline := time.Now().Add(20 * time.Second); s.peak.Load() < 35000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	var m Memory
	start := time.Now()
	s.stop(&m)
	if time.Since(start) > 5*time.Second {
		t.Errorf("stop took %v: nvidia-smi not killed", time.Since(start))
	}
	if m.DeviceBytes == nil || *m.DeviceBytes != 35000<<20 {
		t.Fatalf("device bytes %v, want 35000 MiB", m.DeviceBytes)
	}
	if !strings.Contains(m.Note, "nvidia-smi") {
		t.Errorf("note %q", m.Note)
	}
}

func TestDevMemSamplerWithoutNvidiaSMI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var m Memory
	startDevMemSampler().stop(&m)
	if m.DeviceBytes != nil || !strings.Contains(m.Note, "did not start") {
		t.Errorf("memory %+v: want no device bytes and a note that nvidia-smi did not start", m)
	}
	fakeNvidiaSMI(t, `echo "NVIDIA-SMI has failed"; exit 9`)
	m = Memory{}
	startDevMemSampler().stop(&m)
	if m.DeviceBytes != nil || !strings.Contains(m.Note, "no reading") {
		t.Errorf("memory %+v: want no device bytes and a note that there was no reading", m)
	}
}
