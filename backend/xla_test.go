package backend

import (
	"os"
	"testing"
)

func TestWithCUDAXLAFlags(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "--xla_gpu_enable_triton_gemm=false"},
		{"--xla_gpu_per_fusion_autotune_cache_dir=/tmp/c", "--xla_gpu_per_fusion_autotune_cache_dir=/tmp/c --xla_gpu_enable_triton_gemm=false"},
		// The user's setting wins, either way, with one dash or two.
		{"--xla_gpu_enable_triton_gemm=true", "--xla_gpu_enable_triton_gemm=true"},
		{" -xla_gpu_enable_triton_gemm=false  --a=1 ", "-xla_gpu_enable_triton_gemm=false  --a=1"},
		// A flag whose name only starts the same is another flag.
		{"--xla_gpu_enable_triton_gemm_any=true", "--xla_gpu_enable_triton_gemm_any=true --xla_gpu_enable_triton_gemm=false"},
	} {
		if got := withCUDAXLAFlags(c.in); got != c.want {
			t.Errorf("withCUDAXLAFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIsCUDASpec(t *testing.T) {
	for spec, want := range map[string]bool{
		"xla:cuda":            true,
		"xla:CUDA,tf32=false": true,
		"xla:/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so":            true,
		"xla:/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so,tf32=false": true,
		"xla:cpu": false,
		"xla:/opt/cuda/lib/pjrt_c_api_cpu_plugin.so": false, // the folder says cuda, the plugin does not
		"xla":         false,
		"go":          false,
		"go:cuda":     false,
		"xladry:cuda": false, // builds programs, starts no XLA client
	} {
		if got := isCUDASpec(spec); got != want {
			t.Errorf("isCUDASpec(%q) = %v, want %v", spec, got, want)
		}
	}
}

// TestSetCUDAXLAFlags: the Go and XLA CPU backends leave $XLA_FLAGS alone,
// a CUDA spec adds the flags (no CUDA plugin can start here, so New itself is
// run with go only).
func TestSetCUDAXLAFlags(t *testing.T) {
	t.Setenv(EnvXLAFlags, "--a=1")
	b, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	setCUDAXLAFlags("xla:cpu")
	if got := os.Getenv(EnvXLAFlags); got != "--a=1" {
		t.Errorf("XLA_FLAGS = %q after go and xla:cpu, want it unchanged", got)
	}
	setCUDAXLAFlags("xla:cuda")
	if got := os.Getenv(EnvXLAFlags); got != "--a=1 --xla_gpu_enable_triton_gemm=false" {
		t.Errorf("XLA_FLAGS = %q after xla:cuda", got)
	}
}
