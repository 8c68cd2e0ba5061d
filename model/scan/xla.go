//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package scan

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

	"github.com/dualtoken/evalharness/backend/goxla"
)

// xlaClosureCaches are go-xla v0.4.13's per-builder caches of the small
// functions its ops take (a reduction's combiner, arg-min/max's, a select's).
// They are keyed by dtype and op only, yet each cached function is a closure
// of the function it was first made in: a ReduceSum in a While body followed
// by a ReduceSum of the same dtype in main (a layer loop's LayerNorm, then
// the final norm) fails to build, "reductionFn is not a StableHLO closure of
// main". Emptying them whenever the function being built changes (around
// each loop closure) makes every function build its own.
var xlaClosureCaches = []string{"cacheReductions", "cacheArgMinMax", "cacheSelections"}

// resetXLACaches empties go-xla's closure caches of g's builder; other
// backends' builders are left alone. Builders that wrap another (package
// xladry's) are looked through by their Unwrap method.
func resetXLACaches(g *Graph) {
	f := reflect.ValueOf(g).Elem().FieldByName("builder")
	if !f.IsValid() {
		panic(fmt.Errorf("scan: this GoMLX version's Graph has no builder field; revisit scan.resetXLACaches"))
	}
	b, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(compute.Builder)
	xb, err := goxla.Builder(b)
	if err != nil {
		return // not go-xla's: nothing to reset
	}
	for _, name := range xlaClosureCaches {
		c, err := goxla.FieldValue(xb, name)
		if err == nil && c.Kind() != reflect.Map {
			err = fmt.Errorf("it is %s (written for go-xla %s)", c.Type(), goxla.Version)
		}
		if err != nil {
			panic(fmt.Errorf("scan: go-xla's Builder has no map %s: %v; revisit scan.resetXLACaches", name, err))
		}
		c.Clear()
	}
}
