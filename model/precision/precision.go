// Package precision holds what the models share about compute dtypes: which
// dtypes they run in, graph-side conversions, matrix products with float32
// results, and converting stored weights for bfloat16 inference.
//
// The models' convention (siglip, llm, dualtoken): matmuls, convolutions and
// activations run in the compute dtype (float32, or bfloat16 on
// accelerators); "f32 islands" — norm statistics, softmax, RoPE angles, the
// quantisers, logits and losses — convert to float32 and back. Weights may be
// stored in either dtype and are converted where they are used: inference
// stores matrices in bfloat16 (half the memory), training keeps float32
// master variables so that gradients land on them.
package precision

import (
	"fmt"
	"iter"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/par"
)

// F32 and BF16 are the compute dtypes the models implement.
const (
	F32  = dtypes.Float32
	BF16 = dtypes.BFloat16
)

// Compute returns the compute dtype a model setting stands for: float32 when
// unset (the zero value), else dt.
func Compute(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.InvalidDType {
		return F32
	}
	return dt
}

// Check reports whether dt (after Compute) is a dtype the models run in.
func Check(dt dtypes.DType) error {
	switch Compute(dt) {
	case F32, BF16:
		return nil
	}
	return fmt.Errorf("compute dtype %s is not supported (float32 or bfloat16)", Name(dt))
}

// Parse maps a --dtype value to a compute dtype: float32 (f32, fp32) or
// bfloat16 (bf16). float16 is refused: its 5-bit exponent overflows in
// activations these models produce, and nothing here implements loss scaling.
func Parse(name string) (dtypes.DType, error) {
	switch strings.ToLower(name) {
	case "float32", "f32", "fp32":
		return F32, nil
	case "bfloat16", "bf16":
		return BF16, nil
	case "float16", "f16", "fp16", "half":
		return dtypes.InvalidDType, fmt.Errorf("--dtype %s: float16 is not implemented (its range overflows in activations); use bfloat16 or float32", name)
	}
	return dtypes.InvalidDType, fmt.Errorf("--dtype %q: not a supported dtype (float32 or bfloat16)", name)
}

// Name is a dtype as the --dtype flag spells it ("float32", "bfloat16").
func Name(dt dtypes.DType) string { return strings.ToLower(Compute(dt).String()) }

// As converts x to dt, adding no node when x already is dt (so float32
// graphs stay exactly as they were).
func As(x *Node, dt dtypes.DType) *Node {
	if x.DType() == dt {
		return x
	}
	return ConvertDType(x, dt)
}

// ToF32 is As(x, float32).
func ToF32(x *Node) *Node { return As(x, F32) }

// DotF32 is DotGeneral with a float32 result: for float32 operands exactly
// DotGeneral; for bfloat16 ones the products accumulate in float32 and are
// not rounded to bfloat16 on the way out (attention scores and logits feed a
// softmax or an argmax, where bfloat16's 8-bit significand would cost
// accuracy). Einsum ignores an output dtype, hence the explicit axes.
func DotF32(lhs *Node, lhsContract, lhsBatch []int, rhs *Node, rhsContract, rhsBatch []int) *Node {
	if lhs.DType() == F32 && rhs.DType() == F32 {
		return DotGeneral(lhs, lhsContract, lhsBatch, rhs, rhsContract, rhsBatch)
	}
	return Dot(lhs, rhs).WithOutputDType(F32).General(lhsContract, lhsBatch, rhsContract, rhsBatch)
}

// CastTensor returns t converted to dt (float32 <-> bfloat16 on the host,
// round to nearest even); t itself when it already is dt.
func CastTensor(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dt {
		return t, nil
	}
	if !(t.DType() == F32 && dt == BF16) && !(t.DType() == BF16 && dt == F32) {
		return nil, fmt.Errorf("precision: no conversion from %s to %s", t.DType(), dt)
	}
	out := tensors.FromShape(shapes.Make(dt, t.Shape().Dimensions...))
	var err error
	if dt == BF16 {
		err = castFlat(t, out, bfloat16.FromFloat32)
	} else {
		err = castFlat(t, out, bfloat16.BFloat16.Float32)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// castFlat writes conv of every value of src into dst (same size), in
// parallel: a 3B-parameter benchmark model converts 3·10⁹ values.
func castFlat[S, D float32 | bfloat16.BFloat16](src, dst *tensors.Tensor, conv func(S) D) error {
	var inner error
	err := tensors.ConstFlatData(src, func(from []S) {
		inner = tensors.MutableFlatData(dst, func(to []D) {
			par.For(len(from), 1<<18, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					to[i] = conv(from[i])
				}
			})
		})
	})
	if err != nil {
		return err
	}
	return inner
}

// StoreAs converts, for inference, the stored value of every floating-point
// variable of rank >= 2 (weight matrices, convolution kernels, embedding
// tables) to dt, except those keep32 reports (quantiser codebooks, say). Vectors —
// biases, norm gains, scalars — stay float32: they are a negligible share of
// the memory and norms read them in float32. Converting back to float32 is
// allowed (it does not restore the rounded bits). It returns the bytes the
// converted variables held before and after.
func StoreAs(vars iter.Seq[*model.Variable], dt dtypes.DType, keep32 func(v *model.Variable) bool) (before, after int64, err error) {
	if err := Check(dt); err != nil {
		return 0, 0, err
	}
	dt = Compute(dt)
	for v := range vars {
		s := v.Shape()
		if s.Rank() < 2 || !s.DType.IsFloat() || s.DType == dt || (keep32 != nil && keep32(v)) {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return before, after, fmt.Errorf("precision: variable %s: %w", v.Path(), err)
		}
		c, err := CastTensor(val, dt)
		if err != nil {
			return before, after, fmt.Errorf("precision: variable %s: %w", v.Path(), err)
		}
		before += s.ByteSize()
		if err := v.SetValue(c); err != nil {
			return before, after, fmt.Errorf("precision: variable %s: %w", v.Path(), err)
		}
		after += c.Shape().ByteSize()
	}
	return before, after, nil
}

// Bytes sums the memory of vars' values (as their shapes say).
func Bytes(vars iter.Seq[*model.Variable]) int64 {
	var n int64
	for v := range vars {
		n += v.Shape().ByteSize()
	}
	return n
}

// UnitBF16 is bfloat16's unit roundoff, 2⁻⁸: 8 significant bits (7 stored),
// round to nearest, so one rounding changes a value by at most 2⁻⁸ of itself.
const UnitBF16 = 1.0 / 256

// PerStage is how many unit roundoffs, relative to a tensor's scale, one
// stage of a network may add to it in bfloat16. A stage — an embedding, a
// residual sublayer (attention or MLP), a head, a convolution block — rounds
// its operands, weights, products and sum to bfloat16 a handful of times;
// each rounding adds at most UnitBF16 of the value rounded, and the values
// rounded are at most the stage's scale. Four covers them with margin on
// the fixtures (measured: up to 3.2 units after five stages).
const PerStage = 4

// Agreement describes how close a bfloat16 result is to a float32
// reference after a number of stages.
type Agreement struct {
	N          int
	Stages     int
	MaxAbs     float64 // max |got − want|
	Scale      float64 // max |want|
	RMS        float64 // rms(got − want)
	RMSWant    float64 // rms(want)
	Bound      float64 // allowed MaxAbs: PerStage·UnitBF16·Stages·Scale (errors adding up linearly)
	RMSBound   float64 // allowed RMS: PerStage·UnitBF16·√Stages·RMSWant (independent errors adding up)
	Units      float64 // MaxAbs in units of UnitBF16·Scale, for reports
	NonFinite  int     // NaN or ±Inf values in got
	OK         bool
	Mismatched string // first offending element, when not OK
}

// CompareBF16 checks got against want for a result that went through
// stages bfloat16 stages (at least 1): every |got−want| within Bound and the
// RMS error within RMSBound (see Agreement), and no NaN or Inf.
func CompareBF16(got, want []float32, stages int) Agreement {
	a := Agreement{N: len(want), Stages: max(stages, 1)}
	if len(got) != len(want) {
		a.Mismatched = fmt.Sprintf("%d values, want %d", len(got), len(want))
		return a
	}
	var se, sw float64
	worst := -1
	for i := range want {
		w := float64(want[i])
		a.Scale = max(a.Scale, math.Abs(w))
		sw += w * w
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			a.NonFinite++
			continue
		}
		d := math.Abs(g - w)
		se += d * d
		if d > a.MaxAbs {
			a.MaxAbs, worst = d, i
		}
	}
	if a.N > 0 {
		a.RMS, a.RMSWant = math.Sqrt(se/float64(a.N)), math.Sqrt(sw/float64(a.N))
	}
	s := float64(a.Stages)
	a.Bound = PerStage * UnitBF16 * s * a.Scale
	a.RMSBound = PerStage * UnitBF16 * math.Sqrt(s) * a.RMSWant
	if a.Scale > 0 {
		a.Units = a.MaxAbs / (UnitBF16 * a.Scale)
	}
	a.OK = a.NonFinite == 0 && a.MaxAbs <= a.Bound && a.RMS <= a.RMSBound
	if !a.OK && worst >= 0 {
		a.Mismatched = fmt.Sprintf("element %d: got %g, want %g", worst, got[worst], want[worst])
	}
	return a
}

// String summarises a for test logs.
func (a Agreement) String() string {
	return fmt.Sprintf("%d stages: max|Δ| %.3g = %.2f units of max|want| %.3g (bound %.3g), rms %.3g (bound %.3g)%s",
		a.Stages, a.MaxAbs, a.Units, a.Scale, a.Bound, a.RMS, a.RMSBound,
		map[bool]string{true: "", false: fmt.Sprintf(", %d non-finite", a.NonFinite)}[a.NonFinite == 0])
}
