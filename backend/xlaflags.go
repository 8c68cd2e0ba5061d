package backend

import (
	"os"
	"path/filepath"
	"strings"
)

// EnvXLAFlags is XLA's own flag variable, read when a plugin's first client
// starts.
const EnvXLAFlags = "XLA_FLAGS"

// cudaXLAFlags are added to $XLA_FLAGS for a CUDA plugin, each unless
// $XLA_FLAGS already sets that flag (XLA_FLAGS=--xla_gpu_enable_triton_gemm=true
// brings Triton back):
//   - Triton GEMMs off, so XLA calls cuBLAS(Lt). On an H200 (2026-11-27) the
//     SigLIP-SO400M tower at batch 32 ran 672-680 img/s against 616-630 and
//     compiled in 1.5 s against 6.0; the DualToken encoder compiled in 5.4 s
//     against 14.0 (378 img/s against 389, one run each); the end-to-end
//     reconstruction evaluation ran 167.6 img/s against 166.3.
var cudaXLAFlags = []string{"--xla_gpu_enable_triton_gemm=false"}

// withCUDAXLAFlags returns flags with each of cudaXLAFlags appended that
// flags does not already set.
func withCUDAXLAFlags(flags string) string {
	have := map[string]bool{}
	for _, f := range strings.Fields(flags) {
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		have[name] = true
	}
	out := strings.TrimSpace(flags)
	for _, f := range cudaXLAFlags {
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if !have[name] {
			out = strings.TrimSpace(out + " " + f)
		}
	}
	return out
}

// isCUDASpec reports whether an XLA backend spec names a CUDA plugin:
// xla:cuda (any case, with or without options) or the path of a plugin whose
// file name says cuda (JAX's xla_cuda_plugin.so).
func isCUDASpec(spec string) bool {
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "xla", "stablehlo", "shlo", "hlo":
	default:
		return false
	}
	plugin, _, _ := strings.Cut(cfg, ",")
	if strings.Contains(plugin, "/") {
		plugin = filepath.Base(plugin)
	}
	return strings.Contains(strings.ToLower(plugin), "cuda")
}

// setCUDAXLAFlags adds cudaXLAFlags to $XLA_FLAGS when spec is a CUDA
// plugin; XLA reads the variable when the plugin's client starts.
func setCUDAXLAFlags(spec string) {
	if isCUDASpec(spec) {
		os.Setenv(EnvXLAFlags, withCUDAXLAFlags(os.Getenv(EnvXLAFlags)))
	}
}
