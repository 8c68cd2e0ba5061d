//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package conv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/backend/xladry"
)

// TestConv2DKeepsFloat32OnCUDA: on XLA CUDA with tf32=false a float32
// convolution is built as gathers and a dot (go-xla gives a convolution no
// precision, so cuDNN would round it to TF32), a bfloat16 one as the
// backend's convolution; with TF32 allowed, and on the XLA CPU plugin, both
// stay convolutions.
func TestConv2DKeepsFloat32OnCUDA(t *testing.T) {
	for _, c := range []struct {
		plugin string
		tf32   bool
		dt     dtypes.DType
		conv   bool
	}{
		{"cuda", false, dtypes.Float32, false},
		{"cuda", false, dtypes.BFloat16, true},
		{"cuda", true, dtypes.Float32, true},
		{"cpu", false, dtypes.Float32, true},
	} {
		name := fmt.Sprintf("%s/tf32=%v/%s", c.plugin, c.tf32, c.dt)
		t.Run(name, func(t *testing.T) {
			dry, err := xladry.New(c.plugin)
			if err != nil {
				t.Fatal(err)
			}
			dry.DotGeneralUseTF32 = c.tf32
			if got := backend.ConvRoundsFloat32(dry); got != (c.plugin == "cuda" && !c.tf32) {
				t.Errorf("ConvRoundsFloat32 = %v", got)
			}
			e, err := NewExec(dry, func(x, k *Node) *Node {
				return Conv2D(ConvertDType(x, c.dt), ConvertDType(k, c.dt), 1, 1, Same(3, 3))
			})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			if _, err := e.Exec(randTensor(r, 1, 6, 6, 4), randTensor(r, 3, 3, 4, 2)); err != nil {
				t.Fatal(err)
			}
			ps := dry.Programs()
			if len(ps) != 1 {
				t.Fatalf("%d programs", len(ps))
			}
			if got := ps[0].Ops["stablehlo.convolution"] > 0; got != c.conv {
				t.Errorf("convolution op built: %v, want %v (%s)", got, c.conv, xladry.Summary(ps))
			}
			if !c.conv && ps[0].Ops["stablehlo.dot_general"] == 0 {
				t.Errorf("no dot_general in the matrix-product form (%s)", xladry.Summary(ps))
			}
		})
	}
}
