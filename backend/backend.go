// Package backend selects the GoMLX compute backend: the pure-Go backend by
// default (it needs no download and, built with GOEXPERIMENT=simd, is the fast
// CPU path), or XLA by name or by an absolute PJRT plugin path for GPUs.
//
// The XLA backends need cgo (go-xla's PJRT bindings) and one of the
// platforms GoMLX builds them for (linux amd64/arm64, darwin arm64, windows
// amd64). A build without cgo (CGO_ENABLED=0, or a machine without a C
// compiler), with GoMLX's -tags noxla, or for another platform has the Go
// backend only (noxla.go) and says so when an XLA backend is asked for.
package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go" (xla.go registers "xla")
)

// XLABuilt reports whether this build has the XLA backends (cgo on, no
// noxla tag, a platform go-xla supports).
func XLABuilt() bool { return xlaBuilt }

// EnvXLAFlags is XLA's own flag variable, read when a plugin's first client
// starts.
const EnvXLAFlags = "XLA_FLAGS"

// CacheSummary is one line on what the executable cache
// ($DUALTOKEN_XLA_CACHE) did so far, or "" when b has none.
func CacheSummary(b compute.Backend) string {
	s, ok := ExecutableCacheOf(b)
	if !ok {
		return ""
	}
	line := fmt.Sprintf("XLA executable cache %s: %d program(s) loaded, %d compiled (%d stored)", s.Dir, s.Hits, s.Misses, s.Stored)
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d error(s): see the first xlacache line above", s.Errors)
	}
	return line
}

// EnvDryRunDump is package xladry's EnvDump (xla_test.go keeps them equal),
// here for builds without XLA.
const EnvDryRunDump = "DUALTOKEN_XLADRY_DUMP"

// CacheStats is what an XLA executable cache ($DUALTOKEN_XLA_CACHE, package
// xlacache) did so far: programs loaded (hits), compiled (misses), stored,
// and loads or stores that failed.
type CacheStats struct {
	Dir                          string
	Hits, Misses, Stored, Errors int64
}

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
		disableAutoInstall()
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "xladry":
		return newDryRun(cfg)
	case "go":
		GuardHeapTail()
	default:
		setCUDAXLAFlags(spec)
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("backend %q: %v (no plugin found offline; set %s=1 to let GoMLX download it, or use --backend go)", spec, firstLine(fmt.Sprint(r)), EnvAutoInstall)
		}
	}()
	b, err = compute.NewWithConfig(goDefaults(spec))
	if err != nil {
		if msg := err.Error(); name != "go" && (strings.Contains(msg, "no plugins found") || strings.Contains(msg, "not found: available plugins")) {
			plugin, _, _ := strings.Cut(cfg, ",")
			return nil, missingPlugin(spec, plugin)
		}
		return nil, fmt.Errorf("backend %q: %s (%s)", spec, firstLine(err.Error()), backendsHelp)
	}
	return withExecutableCache(b)
}

// backendsHelp lists the backends in the terms of the --backend flag.
const backendsHelp = "backends: --backend go (default, CPU), xla:cuda or xla:cpu (an installed XLA PJRT plugin), " +
	"xla:/abs/path/to/xla_cuda_plugin.so, or xladry[:cuda|cpu]; $GOMLX_BACKEND sets the default"

// goOptions are the Go backend's configuration options (compute's
// gobackend.New); those with a value take an integer.
var goOptions = map[string]bool{"parallelism": true, "num_executors": true,
	"ops_sequential": false, "ops_parallel": false, "dependency_order": false, "creation_order": false, "no_ops": false}

const goOptionsHelp = "parallelism=N, num_executors=N, ops_sequential, ops_parallel, dependency_order, creation_order, no_ops; comma-separated, e.g. go:ops_sequential"

// checkGoOptions validates "go:<options>" as the Go backend parses them.
func checkGoOptions(spec, cfg string) error {
	for _, part := range strings.Split(cfg, ",") {
		if part == "" {
			continue
		}
		// A value after a flag option (ops_sequential=1) is ignored by the
		// Go backend, so it is accepted here too.
		key, val, _ := strings.Cut(part, "=")
		takesInt, ok := goOptions[key]
		switch {
		case !ok:
			return fmt.Errorf("backend %q: unknown Go backend option %q (options: %s)", spec, key, goOptionsHelp)
		case takesInt:
			// Any integer, as the backend takes it: parallelism < 0 is
			// unlimited and 0 off; num_executors <= 0 is its default.
			if _, err := strconv.Atoi(val); err != nil {
				return fmt.Errorf("backend %q: option %s wants a whole number, e.g. %s=4, found %q", spec, key, key, val)
			}
		}
	}
	return nil
}

// Check says whether spec (resolved as in Resolve) names a backend New
// knows, without creating it: commands that use no backend still refuse a
// misspelt --backend.
func Check(spec string) error {
	spec = Resolve(spec)
	name, cfg, _ := strings.Cut(spec, ":")
	if !xlaBuilt && (name == "xladry" || name == "xla" || name == "stablehlo" || name == "shlo" || name == "hlo") {
		return fmt.Errorf("backend %q: this evalrun was built without XLA (%s): rebuild with cgo (CGO_ENABLED=1 and a C compiler, without -tags noxla) for the XLA backends, or use --backend go", spec, noXLAReason)
	}
	switch name {
	case "go":
		return checkGoOptions(spec, cfg)
	case "xladry":
		if cfg != "" && cfg != "cuda" && cfg != "cpu" {
			return fmt.Errorf("backend %q: xladry builds the programs of XLA's cuda or cpu plugin: use xladry (cuda), xladry:cuda or xladry:cpu", spec)
		}
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
		return fmt.Errorf("unknown backend %q: use go (default, CPU), xla:cuda, xla:cpu, xla:/abs/path/to/xla_cuda_plugin.so or xladry[:cuda|cpu] (builds XLA programs, runs nothing)", spec)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// goDefaults gives the plain Go backend ("go") one op executor per core
// (at most its default 8). Its worker pool has 2×GOMAXPROCS slots and by
// default 8 executors run ready ops in parallel; on few cores they take every
// slot, and a matrix product, which asks the same pool for its own workers,
// runs on one core. Measured on 2 cores: a ViT-B encoder stack 3.3 -> 6.1
// images/s, Inception-v3 6.3 -> 9.1. A spec with options is the user's.
func goDefaults(spec string) string {
	if spec != "go" {
		return spec
	}
	return fmt.Sprintf("go:num_executors=%d", min(8, max(1, runtime.GOMAXPROCS(0))))
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
