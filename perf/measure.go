// Package perf measures the harness's model components: compile time,
// steady-state throughput, achieved FLOP/s against an analytic count (see
// flops.go), their share of a large matmul's throughput measured in the same
// process, and peak memory. `evalrun bench` is its command line; the GPU
// script scripts/gpu/bench.sh merges its JSON with PyTorch references.
package perf

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/compute/dtypes"
)

// Workload is one prepared component at one size: Step runs one call to
// completion (outputs on the host), so wall time is the call's latency.
type Workload struct {
	Component, Preset string
	Batch             int
	Unit              string       // throughput unit: "img/s", "texts/s", "tokens/s"
	ItemsPerCall      float64      // images, texts or tokens one Step produces
	FLOPsPerCall      float64      // analytic count of one Step (flops.go)
	Params            int64        // weights in the model (all of it, not only the part timed)
	DType             dtypes.DType // the compute dtype the component ran in
	Config            map[string]any
	Notes             []string
	SetupSeconds      float64 // building the random weights

	// Compile compiles the Step's graph without running it; nil when the
	// component compiles inside its first call (then compile time is
	// estimated as the first call minus the median step).
	Compile func() error
	Step    func() error
	Close   func()
	// Report, when set, adds the component's own measurements to the result
	// (after the timed steps, before Close).
	Report func(*Result)
}

// Timing is what Measure observed.
type Timing struct {
	CompileSeconds float64   `json:"compile_s"`
	CompileMethod  string    `json:"compile_method"`
	FirstCall      float64   `json:"first_call_s"`
	Warmup         int       `json:"warmup"`
	Iters          int       `json:"iters"`
	Median         float64   `json:"step_median_s"`
	Min            float64   `json:"step_min_s"`
	Mean           float64   `json:"step_mean_s"`
	Max            float64   `json:"step_max_s"`
	Steps          []float64 `json:"steps_s"`
}

// Measure compiles (when w can compile on its own), runs the first call,
// warmup more calls, then times iters calls one by one.
func Measure(w *Workload, warmup, iters int) (*Timing, error) {
	if iters < 1 {
		return nil, fmt.Errorf("iters must be at least 1, got %d", iters)
	}
	t := &Timing{Warmup: warmup, Iters: iters}
	if w.Compile != nil {
		start := time.Now()
		if err := w.Compile(); err != nil {
			return nil, fmt.Errorf("compiling %s: %w", w.Component, err)
		}
		t.CompileSeconds = time.Since(start).Seconds()
		t.CompileMethod = "exec.Compile"
	}
	start := time.Now()
	if err := w.Step(); err != nil {
		return nil, fmt.Errorf("first call of %s: %w", w.Component, err)
	}
	t.FirstCall = time.Since(start).Seconds()
	for range warmup {
		if err := w.Step(); err != nil {
			return nil, err
		}
	}
	for range iters {
		start := time.Now()
		if err := w.Step(); err != nil {
			return nil, err
		}
		t.Steps = append(t.Steps, time.Since(start).Seconds())
	}
	s := slices.Clone(t.Steps)
	slices.Sort(s)
	t.Median = median(s)
	t.Min, t.Max = s[0], s[len(s)-1]
	for _, x := range s {
		t.Mean += x / float64(len(s))
	}
	if w.Compile == nil {
		t.CompileSeconds = max(0, t.FirstCall-t.Median)
		t.CompileMethod = "first call minus median step"
	}
	return t, nil
}

// median of sorted values.
func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
