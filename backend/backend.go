// Package backend selects the GoMLX compute backend: the pure-Go backend by
// default (it needs no download and, built with GOEXPERIMENT=simd, is the fast
// CPU path), or XLA by name or by an absolute PJRT plugin path for GPUs.
package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"

	"github.com/dualtoken/evalharness/backend/xladry"
	_ "github.com/gomlx/gomlx/backends/default" // registers "go" and "xla"
)

// EnvAutoInstall opts in to GoMLX's plugin auto-installer (it downloads from
// the internet); off by default so offline machines fail fast instead of hanging.
const EnvAutoInstall = "DUALTOKEN_AUTO_INSTALL"

// Resolve returns the backend spec in effect: the flag value, else
// $GOMLX_BACKEND, else "go".
func Resolve(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(compute.ConfigEnvVar); env != "" {
		return env
	}
	return "go"
}

// New creates the backend named by spec ("go", "xla:cpu", "xla:cuda",
// "xla:/abs/path/xla_cuda_plugin.so[,options]", or "xladry[:cuda|cpu]": the
// XLA backend's programs built and recorded, nothing run; see package
// xladry), resolved as in Resolve.
// Errors are single lines that say how to fix them.
func New(spec string) (b compute.Backend, err error) {
	spec = Resolve(spec)
	switch a := strings.ToLower(os.Getenv(EnvAttention)); a {
	case "", "auto", "fused", "decomposed":
	default:
		return nil, fmt.Errorf("%s=%q: expected auto, fused or decomposed", EnvAttention, a)
	}
	if os.Getenv(EnvAutoInstall) != "1" {
		os.Setenv(xla.NoAutoInstallEnv, "1")
		xla.EnableAutoInstall(false)
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "xladry":
		return xladry.New(cfg)
	case "go":
		GuardHeapTail()
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("backend %q: %v (no plugin found offline; set %s=1 to let GoMLX download it, or use --backend go)", spec, firstLine(fmt.Sprint(r)), EnvAutoInstall)
		}
	}()
	b, err = compute.NewWithConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %s (set %s=1 to let GoMLX download a missing plugin, or use --backend go)", spec, firstLine(err.Error()), EnvAutoInstall)
	}
	return b, nil
}

// Check says whether spec (resolved as in Resolve) names a backend New
// knows, without creating it: commands that use no backend still refuse a
// misspelt --backend.
func Check(spec string) error {
	spec = Resolve(spec)
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "xladry", "go":
	case "xla", "stablehlo", "shlo", "hlo":
		plugin, _, _ := strings.Cut(cfg, ",")
		if strings.Contains(plugin, "/") {
			if !filepath.IsAbs(plugin) {
				return fmt.Errorf("backend %q: a PJRT plugin path must be absolute, e.g. xla:/opt/.../xla_cuda_plugin.so", spec)
			}
			if _, statErr := os.Stat(plugin); statErr != nil {
				return fmt.Errorf("backend %q: PJRT plugin %s not found: install JAX's CUDA plugin (pip install jax[cuda13]) and pass its xla_cuda_plugin.so path, or use --backend go", spec, plugin)
			}
		}
	default:
		return fmt.Errorf("unknown backend %q: use go, xla:cpu, xla:cuda, xla:/abs/path/to/xla_cuda_plugin.so or xladry[:cuda|cpu] (builds XLA programs, runs nothing)", spec)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ForLoops returns spec (resolved as in Resolve) in a configuration that can
// run layer loops (model/scan): the Go backend with sequential op
// scheduling, since its default parallel scheduling deadlocks inside a While
// on few cores. Other backends are returned as they are.
func ForLoops(spec string) string {
	if spec = Resolve(spec); spec == "go" {
		return "go:ops_sequential"
	}
	return spec
}
