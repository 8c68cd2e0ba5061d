package backend

import (
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"

	"github.com/dualtoken/evalharness/backend/xladry"
)

// EnvAttention picks the attention kernel of the models: "auto" (the
// default), "fused" or "decomposed".
const EnvAttention = "DUALTOKEN_ATTENTION"

// FusedAttention reports whether models should ask b for its fused
// scaled-dot-product attention (cuDNN flash attention on XLA CUDA in bf16;
// the graph falls back to the decomposed form where the backend declines,
// e.g. float32). Auto means every backend but the Go one, whose fused kernel
// ran the ViT-B/16 tower 6x slower than the decomposed graph.
func FusedAttention(b compute.Backend) bool {
	switch strings.ToLower(os.Getenv(EnvAttention)) {
	case "fused":
		return true
	case "decomposed":
		return false
	}
	return b != nil && !isGo(b)
}

// isGo reports whether b is GoMLX's pure-Go backend (any configuration).
func isGo(b compute.Backend) bool {
	return b.String() == "go" || strings.HasPrefix(strings.ToLower(b.Name()), "go ")
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
	xb, ok := b.(*xla.Backend)
	return ok && xb.IsCUDA()
}

// asXLA is b's go-xla backend (the dry one's too), else nil.
func asXLA(b compute.Backend) *xla.Backend {
	switch v := b.(type) {
	case *xla.Backend:
		return v
	case *xladry.Backend:
		return v.Backend
	}
	return nil
}
