//go:build !cgo || noxla || !((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package backend

// The build without XLA (no cgo, -tags noxla, or a platform GoMLX builds no
// XLA for): the Go backend only. Check refuses every XLA spec with
// noXLAReason; the helpers below answer as for a backend that is not XLA.

import (
	"errors"

	"github.com/gomlx/compute"
)

const xlaBuilt = false

// noXLAReason says why this build has no XLA.
const noXLAReason = "cgo was off, the noxla tag was set, or XLA is not built for this platform"

func disableAutoInstall() {}

func newDryRun(string) (compute.Backend, error) {
	return nil, errors.New("backend \"xladry\": this evalrun was built without XLA")
}

func setCUDAXLAFlags(string) {}

func withExecutableCache(b compute.Backend) (compute.Backend, error) { return b, nil }

func missingPlugin(spec, _ string) error {
	return errors.New("backend " + spec + ": this evalrun was built without XLA")
}

// ConvRoundsFloat32 is false: only XLA on CUDA rounds float32 convolutions.
func ConvRoundsFloat32(compute.Backend) bool { return false }

// IsCUDA is false: only XLA runs on NVIDIA GPUs.
func IsCUDA(compute.Backend) bool { return false }

// IsDryRun is false: the dry backend is XLA's.
func IsDryRun(compute.Backend) bool { return false }

// ExecutableCacheOf is false: the executable cache is XLA's.
func ExecutableCacheOf(compute.Backend) (CacheStats, bool) { return CacheStats{}, false }
