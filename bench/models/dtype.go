package models

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/precision"
)

// specDType is spec's compute dtype (float32 when unset); the error names
// the model and the field.
func specDType(spec bench.ModelSpec) (dtypes.DType, error) {
	if spec.DType == "" {
		return precision.F32, nil
	}
	dt, err := precision.Parse(spec.DType)
	if err != nil {
		return dt, fmt.Errorf("model %s: dtype %q: expected float32 or bfloat16", spec.Path, spec.DType)
	}
	return dt, nil
}
