//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package backend

import (
	"os"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend/xlacache"
	"github.com/dualtoken/evalharness/backend/xladry"
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

// The executable cache wraps XLA backends only: the Go and dry backends come
// back as they were with $DUALTOKEN_XLA_CACHE set, and a cached XLA backend
// is still XLA to IsCUDA and ConvRoundsFloat32.
func TestExecutableCacheWrapsXLAOnly(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(xlacache.EnvDir, dir)
	for _, spec := range []string{"go", "xladry"} {
		b, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(*xlacache.Cache); ok {
			t.Errorf("%s was wrapped in the executable cache", spec)
		}
		b.Finalize()
	}
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	dry.Backend.DotGeneralUseTF32 = false
	c := &xlacache.Cache{Backend: dry.Backend}
	if !IsCUDA(c) || !ConvRoundsFloat32(c) {
		t.Errorf("a cached CUDA backend: IsCUDA %v, ConvRoundsFloat32 %v; want both true", IsCUDA(c), ConvRoundsFloat32(c))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the cache folder got %d entries without an XLA backend", len(entries))
	}
}

// CacheSummary says what an executable cache did, and nothing for other
// backends.
func TestCacheSummary(t *testing.T) {
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	if s := CacheSummary(dry); s != "" {
		t.Errorf("dry backend: %q", s)
	}
	if s := CacheSummary(&xlacache.Cache{Backend: dry.Backend}); !strings.Contains(s, "0 program(s) loaded, 0 compiled (0 stored)") {
		t.Errorf("empty cache: %q", s)
	}
}

func TestEnvDryRunDumpIsXLADrys(t *testing.T) {
	if EnvDryRunDump != xladry.EnvDump {
		t.Errorf("backend.EnvDryRunDump %q, xladry.EnvDump %q", EnvDryRunDump, xladry.EnvDump)
	}
}
