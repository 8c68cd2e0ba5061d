package models

import (
	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/bench"
)

// specDType is spec's compute dtype (float32 when unset); the error names
// the model and the field. bench.CheckModelOptions runs the same check
// before any model of a run is built.
func specDType(spec bench.ModelSpec) (dtypes.DType, error) {
	return bench.ParseModelDType(spec)
}
