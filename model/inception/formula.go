package inception

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/dualtoken/evalharness/model/weights"
)

// FormulaBase is the fixtures' deterministic weight pattern (fixtures/README):
// for tensor index j and flat element index i, u = (i·2654435761 +
// (j+1)·97531) mod 2³² and base = u/2³¹ − 1 in [-1, 1), in float64.
func FormulaBase(j, i int) float64 {
	u := (uint64(i)*2654435761 + uint64(j+1)*97531) & 0xFFFFFFFF
	return float64(u)/(1<<31) - 1
}

// FormulaWeights builds the fid_inception fixture's test weights: specs[j] is
// the tensor with index j (state-dict names sorted), values per
// fixtures/README computed in float64 and cast to float32. They exercise the
// network as the released weights would, without shipping 95 MB.
func FormulaWeights(specs []TensorSpec) *weights.MemSet {
	set := weights.NewMemSet("formula weights")
	for j, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		fanIn := 1
		for _, d := range s.Shape[min(1, len(s.Shape)):] {
			fanIn *= d
		}
		v := make([]float32, n)
		for i := range v {
			base := FormulaBase(j, i)
			var x float64
			switch name := s.Name; {
			case strings.HasSuffix(name, "running_var"):
				x = 0.5 + float64(0.5*base*base)
			case strings.HasSuffix(name, "running_mean"), strings.HasSuffix(name, "bn.bias"), strings.HasSuffix(name, "fc.bias"):
				x = 0.1 * base
			case strings.HasSuffix(name, "bn.weight"):
				x = 1 + float64(0.1*base)
			case strings.HasSuffix(name, "fc.weight"):
				x = 0.01 * base
			default: // convolutions, He-scaled: uniform[-1,1) has variance 1/3
				x = base * math.Sqrt(3) * math.Sqrt(2/float64(fanIn))
			}
			v[i] = float32(x)
		}
		set.Add(weights.FromFloat32(s.Name, s.Shape, v))
	}
	return set
}

// ReadTensorSpecs reads a fixture's tensors.json ([{index, name, shape}]) and
// returns the specs ordered by index.
func ReadTensorSpecs(path string) ([]TensorSpec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Index int    `json:"index"`
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := make([]TensorSpec, len(rows))
	seen := make([]bool, len(rows))
	for _, r := range rows {
		if r.Index < 0 || r.Index >= len(rows) || seen[r.Index] {
			return nil, fmt.Errorf("%s: tensor %q: index %d out of range or repeated", path, r.Name, r.Index)
		}
		seen[r.Index] = true
		out[r.Index] = TensorSpec{r.Name, r.Shape}
	}
	return out, nil
}
