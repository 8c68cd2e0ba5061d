//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package depthhead

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/xladry"
)

// TestXLAProgramsBuild: the teacher-forced graph, every depth's guided
// graph and the features graph build as XLA CUDA programs (go-xla's
// StableHLO builder; nothing runs).
func TestXLAProgramsBuild(t *testing.T) {
	b, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	m := tiny(t)
	m.Backend = b
	body := randomBody(2, 3, m.Config.BodyDim, 1)
	if _, err := m.Logits(body, tensors.FromFlatDataAndDimensions(make([]int64, 2*3*m.Config.Depth), 2, 3, m.Config.Depth)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Generate(body, 3, Sampling{}); err != nil {
		t.Fatal(err)
	}
	if n, want := len(b.Programs()), 1+m.Config.Depth+1; n != want {
		t.Errorf("%d programs built, want %d (forward, one per depth, features)", n, want)
	}
}
