//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package scan

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/dualtoken/evalharness/backend/xladry"
)

// TestRunWithOnXLA: the loop of TestRunWithReductions on go-xla's builder
// (a dry XLA CUDA backend) must build with one while loop. Without
// resetXLACaches the builder refuses the second reduction ("reductionFn is
// not a StableHLO closure of main"), and a captured value in an
// elementwise op would be refused too (hence RunWith).
func TestRunWithOnXLA(t *testing.T) {
	fn, x0, scale, _ := reductionLoop()
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExec(dry, fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exec(x0, scale); err != nil {
		t.Fatalf("go-xla's builder refused the loop: %v", err)
	}
	ps := dry.Programs()
	if len(ps) != 1 || ps[0].Ops["stablehlo.while"] != 1 {
		t.Errorf("programs: %s", xladry.Summary(ps))
	}
}
