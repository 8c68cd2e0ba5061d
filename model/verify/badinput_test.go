package verify

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/model/weights"
)

// TestCheckTolerance: a negative or non-finite tolerance is bad input.
func TestCheckTolerance(t *testing.T) {
	for _, c := range []Check{{Atol: -1, Rtol: 1e-4}, {Atol: 1e-4, Rtol: -1}, {Atol: math.NaN()}, {Atol: math.Inf(1)}, {Rtol: math.Inf(-1)}} {
		if err := checkTolerance(c); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "want a finite number >= 0") {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := checkTolerance(Check{}); err != nil {
		t.Errorf("zero tolerance: %v", err)
	}
}

// TestGoldenErrorsNameTheFile: token ids stored as floats, and a runner's
// complaint about the golden file, name the file (and what it holds).
func TestGoldenErrorsNameTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "g.safetensors")
	if err := weights.WriteSafetensors(p, []*weights.Tensor{
		weights.FromFloat64("input_ids", []int{1, 2}, []float64{1, 2}),
		weights.FromFloat32("h4", []int{1}, []float32{0}),
	}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := weights.OpenSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := checkGoldenIDs(g); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "input_ids is F64[1 2]") {
		t.Errorf("float ids: %v", err)
	}
	err = nameGolden(fmt.Errorf("%w: golden file has no pixel_values", ErrBadInput), g)
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "golden file "+p+" has no pixel_values; it holds h4, input_ids") {
		t.Errorf("runner error: %v", err)
	}
	for _, other := range []error{
		fmt.Errorf("%w: config.json: field \"x\" = 1, expected a string", ErrBadInput),
		fmt.Errorf("%w: checkpoint folder m has no model.safetensors; golden.safetensors is not taken as the checkpoint", ErrBadInput),
	} {
		if err := nameGolden(other, g); err != other {
			t.Errorf("an error not about the golden file changed: %v", err)
		}
	}
	err = nameGolden(fmt.Errorf("%w: siglip: input_ids[0][0] = 194 is outside the vocabulary [0, 128) of m/config.json", ErrBadInput), g)
	if err == nil || !strings.HasSuffix(err.Error(), "of m/config.json (golden file "+p+")") {
		t.Errorf("ids outside the vocabulary: %v", err)
	}
	err = nameGolden(fmt.Errorf("%w: golden input_ids has shape [2], expected [batch, seq]", ErrBadInput), g)
	if err == nil || !strings.HasSuffix(err.Error(), "expected [batch, seq] (golden file "+p+")") {
		t.Errorf("golden input error: %v", err)
	}
}
