package perf

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/model/precision"
)

// Peak is the measured throughput of a large square matmul: the reference a
// component's achieved FLOP/s is divided by ("share of peak").
type Peak struct {
	DType          string  `json:"dtype"`
	N              int     `json:"n"`     // [N,N]·[N,N]
	Chain          int     `json:"chain"` // dependent matmuls per call
	Iters          int     `json:"iters"`
	CompileSeconds float64 `json:"compile_s"`
	CallMin        float64 `json:"call_min_s"`
	CallMedian     float64 `json:"call_median_s"`
	TFLOPs         float64 `json:"tflops"`        // Chain·2·N³ / CallMin / 1e12: the best the hardware reached
	TFLOPsMedian   float64 `json:"tflops_median"` // the same at the median call
}

// PeakPlan is the matmul to measure on a backend.
type PeakPlan struct {
	DType dtypes.DType
	N     int
	Chain int
	Iters int
}

// DefaultPeakPlans returns the matmuls measured by default: on a GPU the
// issue's definition, 8192³ in bf16 (8 chained per call so the per-call sync
// is under 1% of it), and then, when the component runs in another dtype,
// 8192³ in that dtype; on a CPU one matmul of 1024³ in the component's dtype
// (on the Go backend ~15 ms a call in float32, ~30 ms in bfloat16, under
// 0.5 s in all; larger sizes reach no higher rate there).
func DefaultPeakPlans(gpu bool, dtype dtypes.DType) []PeakPlan {
	dtype = precision.Compute(dtype)
	if !gpu {
		return []PeakPlan{{DType: dtype, N: 1024, Chain: 1, Iters: 10}}
	}
	plans := []PeakPlan{{DType: dtypes.BFloat16, N: 8192, Chain: 8, Iters: 10}}
	if dtype != dtypes.BFloat16 {
		plans = append(plans, PeakPlan{DType: dtype, N: 8192, Chain: 4, Iters: 5})
	}
	return plans
}

// ParsePeakDType accepts the dtypes a bare matmul runs in: bfloat16,
// float16 and float32 (the models run in float32 and bfloat16).
func ParsePeakDType(s string) (dtypes.DType, error) {
	switch strings.ToLower(s) {
	case "bfloat16", "bf16":
		return dtypes.BFloat16, nil
	case "float16", "f16", "fp16":
		return dtypes.Float16, nil
	case "float32", "f32", "fp32":
		return dtypes.Float32, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("--peak-dtype %q: use bfloat16, float16 or float32", s)
}

// MeasurePeak times p on backend b. The peak is the fastest call's rate
// (on a shared CPU the median mostly measures the neighbours; on an idle GPU
// the two agree); the median's is kept beside it. Operands are made on the device (a
// smooth pattern, no host transfer); each call chains p.Chain matmuls, each
// scaled by 1/√N to keep values bounded, and reduces the result to one
// scalar copied to the host, which waits for the call to finish.
func MeasurePeak(b compute.Backend, p PeakPlan) (*Peak, error) {
	if p.N < 1 || p.Chain < 1 || p.Iters < 1 {
		return nil, fmt.Errorf("peak matmul: bad plan %+v", p)
	}
	n, dt := p.N, p.DType
	gen, err := NewExec(b, func(g *Graph) (*Node, *Node) {
		s := shapes.Make(dtypes.Float32, n, n)
		x := Add(MulScalar(Iota(g, s, 0), 0.61803), MulScalar(Iota(g, s, 1), 1.3))
		return ConvertDType(Sin(x), dt), ConvertDType(Cos(x), dt)
	})
	if err != nil {
		return nil, err
	}
	defer gen.Finalize()
	operands, err := gen.Call()
	if err != nil {
		return nil, fmt.Errorf("peak matmul operands (%s %d²): %w", dt, n, err)
	}
	defer func() {
		for _, o := range operands {
			o.FinalizeAll()
		}
	}()
	scale := 1 / math.Sqrt(float64(n))
	mm, err := NewExec(b, func(x, y *Node) *Node {
		for range p.Chain {
			x = MulScalar(Dot(x, y).Product(), scale)
		}
		return ReduceAllSum(ConvertDType(x, dtypes.Float32))
	})
	if err != nil {
		return nil, err
	}
	defer mm.Finalize()
	out := &Peak{DType: DTypeName(dt), N: n, Chain: p.Chain, Iters: p.Iters}
	start := time.Now()
	if _, err := mm.Compile(operands[0].Shape(), operands[1].Shape()); err != nil {
		return nil, fmt.Errorf("peak matmul (%s %d³): %w", dt, n, err)
	}
	out.CompileSeconds = time.Since(start).Seconds()
	call := func() error {
		res, err := mm.Call(operands[0], operands[1])
		if err != nil {
			return err
		}
		defer res[0].FinalizeAll()
		_, err = tensors.CopyFlatData[float32](res[0])
		return err
	}
	if err := call(); err != nil { // warm-up
		return nil, fmt.Errorf("peak matmul (%s %d³): %w", dt, n, err)
	}
	var times []float64
	for range p.Iters {
		start := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		times = append(times, time.Since(start).Seconds())
	}
	slices.Sort(times)
	out.CallMin, out.CallMedian = times[0], median(times)
	work := float64(p.Chain) * Matmul(n, n, n) / 1e12
	out.TFLOPs, out.TFLOPsMedian = work/out.CallMin, work/out.CallMedian
	return out, nil
}
