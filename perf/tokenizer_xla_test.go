//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package perf

import (
	"fmt"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
	"github.com/dualtoken/evalharness/model/precision"
)

// TestXLATokenizerCompilesOnce: on the dry XLA CUDA backend, as
// scripts/gpu/bench.sh runs it (bfloat16, the tower as layer loops or
// unrolled), the component's Compile builds the two programs, Encode's and
// DecodePixels', and its steps build none: compile_s holds the whole compile.
func TestXLATokenizerCompilesOnce(t *testing.T) {
	for _, scan := range []bool{true, false} {
		t.Run(fmt.Sprintf("scan=%v", scan), func(t *testing.T) {
			b, err := xladry.New("cuda")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Finalize()
			w, err := Build(b, Options{Component: TokenizerComponent, Preset: "tiny", Batch: 2, DType: precision.BF16, ScanLayers: scan})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Compile(); err != nil {
				t.Fatal(err)
			}
			ps := b.Programs()
			if len(ps) != 2 {
				t.Fatalf("Compile built %d programs, want 2 (encode, decode):\n%s", len(ps), xladry.Summary(ps))
			}
			loops := whileLoops(ps)
			if scan && loops[0]+loops[1] == 0 {
				t.Errorf("--scan-layers, yet no program has a while loop: %v", loops)
			}
			for range 2 {
				if err := w.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if ps := b.Programs(); len(ps) != 2 {
				t.Errorf("%d programs after two steps, want still 2:\n%s", len(ps), xladry.Summary(ps))
			}
		})
	}
}
