//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package backend

// XLA specifics: the flags added for CUDA plugins and what a go-xla backend
// does with float32.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	_ "github.com/gomlx/gomlx/backends/default" // GoMLX's default set: "xla" with its plugin installer (and onnx under -tags onnx)

	"github.com/dualtoken/evalharness/backend/xlacache"
	"github.com/dualtoken/evalharness/backend/xladry"
)

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

// ConvRoundsFloat32 reports whether b's own convolution op would run float32
// convolutions in TF32 although b was asked for float32 matrix products
// (XLA on CUDA with tf32=false). go-xla v0.4.13 builds every convolution at
// DEFAULT precision, which cuDNN runs in TF32 (a 10-bit mantissa: relative
// errors near 1e-3, seen on an H200 in the dualtoken parity test), while
// its DotGeneral honours tf32=false; model/conv then takes its
// matrix-product form for float32.
func ConvRoundsFloat32(b compute.Backend) bool {
	xb := asXLA(b)
	return xb != nil && xb.IsCUDA() && !xb.DotGeneralUseTF32
}

// IsCUDA reports whether b runs on NVIDIA GPUs (XLA's CUDA plugin; not the
// dry backend, which runs nothing).
func IsCUDA(b compute.Backend) bool {
	switch v := b.(type) {
	case *xla.Backend:
		return v.IsCUDA()
	case *xlacache.Cache:
		return v.IsCUDA()
	}
	return false
}

// asXLA is b's go-xla backend (the dry one's and the cached one's too),
// else nil.
func asXLA(b compute.Backend) *xla.Backend {
	switch v := b.(type) {
	case *xla.Backend:
		return v
	case *xladry.Backend:
		return v.Backend
	case *xlacache.Cache:
		return v.Backend
	}
	return nil
}

// ExecutableCacheOf returns what b's executable cache did so far, and false
// when b has none.
func ExecutableCacheOf(b compute.Backend) (CacheStats, bool) {
	c, ok := b.(*xlacache.Cache)
	if !ok {
		return CacheStats{}, false
	}
	s := c.Stats()
	return CacheStats{Dir: c.Dir(), Hits: s.Hits, Misses: s.Misses, Stored: s.Stored, Errors: s.Errors}, true
}

// xlaBuilt: this build has the XLA backends (noxla.go is the other case).
const xlaBuilt = true

// noXLAReason is empty: XLA is built in.
const noXLAReason = ""

// disableAutoInstall keeps GoMLX from downloading PJRT plugins (New unless
// $DUALTOKEN_AUTO_INSTALL=1).
func disableAutoInstall() {
	os.Setenv(xla.NoAutoInstallEnv, "1")
	xla.EnableAutoInstall(false)
}

// newDryRun is the xladry backend (package xladry).
func newDryRun(cfg string) (compute.Backend, error) { return xladry.New(cfg) }

// IsDryRun reports whether b is the xladry backend, which builds programs
// and runs nothing.
func IsDryRun(b compute.Backend) bool {
	_, ok := b.(*xladry.Backend)
	return ok
}

// withExecutableCache wraps an XLA backend in an executable cache when
// $DUALTOKEN_XLA_CACHE names a folder (package xlacache).
func withExecutableCache(b compute.Backend) (compute.Backend, error) {
	dir := os.Getenv(xlacache.EnvDir)
	xb, ok := b.(*xla.Backend)
	if dir == "" || !ok {
		return b, nil
	}
	c, err := xlacache.New(xb, dir)
	if err != nil {
		b.Finalize()
		return nil, fmt.Errorf("%s=%s: %w (unset it to compile without the cache)", xlacache.EnvDir, dir, err)
	}
	return c, nil
}

// missingPlugin is the error for an XLA plugin asked for by name that is not
// installed: which plugins are, and the ways to get one (GoMLX's own
// message speaks of Go imports).
func missingPlugin(spec, plugin string) error {
	have := "none is installed"
	if ps := xla.GetAvailablePlugins(); len(ps) > 0 {
		have = "installed: " + strings.Join(ps, ", ")
	}
	if plugin == "" {
		plugin = "any"
	}
	return fmt.Errorf("backend %q: no XLA PJRT plugin %q on this machine (%s; plugins are looked up in $PJRT_PLUGIN_LIBRARY_PATH): "+
		"pass an installed plugin's absolute path (--backend xla:/path/to/xla_cuda_plugin.so, e.g. from pip install jax[cuda13]), "+
		"set %s=1 to let GoMLX download it, or use --backend go", spec, plugin, have, EnvAutoInstall)
}
