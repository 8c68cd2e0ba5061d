package backend

import (
	"os"
	"strings"

	"github.com/gomlx/compute"
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
