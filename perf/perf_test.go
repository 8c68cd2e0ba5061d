package perf

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/backend"
)

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func TestMeasureCountsCallsAndEstimatesCompile(t *testing.T) {
	calls := 0
	w := &Workload{Component: "fake", ItemsPerCall: 1, Step: func() error {
		calls++
		if calls == 1 {
			time.Sleep(30 * time.Millisecond) // the "compile"
		}
		return nil
	}}
	tm, err := Measure(w, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1+2+5 || len(tm.Steps) != 5 {
		t.Errorf("%d calls, %d timed; want 8 and 5", calls, len(tm.Steps))
	}
	if tm.CompileMethod != "first call minus median step" || tm.CompileSeconds < 0.025 || tm.CompileSeconds > tm.FirstCall {
		t.Errorf("compile %.3f s by %q, first call %.3f s", tm.CompileSeconds, tm.CompileMethod, tm.FirstCall)
	}
	if !(tm.Min <= tm.Median && tm.Median <= tm.Max) {
		t.Errorf("min %v, median %v, max %v out of order", tm.Min, tm.Median, tm.Max)
	}

	compiled := 0
	w.Compile = func() error { compiled++; return nil }
	tm, err = Measure(w, 0, 1)
	if err != nil || compiled != 1 || tm.CompileMethod != "exec.Compile" {
		t.Errorf("with Compile: err %v, compiled %d times, method %q", err, compiled, tm.CompileMethod)
	}
	w.Step = func() error { return errors.New("boom") }
	if _, err := Measure(w, 0, 1); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failing step gave %v", err)
	}
}

func TestParseDType(t *testing.T) {
	if dt, err := ParseDType("float32"); err != nil || dt != dtypes.Float32 {
		t.Errorf("float32: %v %v", dt, err)
	}
	for _, s := range []string{"bf16", "bfloat16", "float16"} {
		_, err := ParseDType(s)
		var de *ErrDType
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "not done yet") {
			t.Errorf("%s: %v, want the not-implemented error", s, err)
		}
	}
	if _, err := ParseDType("int8"); err == nil {
		t.Error("int8 accepted")
	}
}

func TestCheckComponent(t *testing.T) {
	for _, c := range Components {
		for _, p := range Presets(c) {
			if err := CheckComponent(c, p); err != nil {
				t.Error(err)
			}
		}
	}
	if err := CheckComponent("vae", "tiny"); err == nil || !strings.Contains(err.Error(), "siglip-vision") {
		t.Errorf("unknown component: %v", err)
	}
	if err := CheckComponent("llm-decode", "7b"); err == nil || !strings.Contains(err.Error(), "qwen2.5-3b") {
		t.Errorf("unknown preset: %v", err)
	}
}

// Every component builds at its smallest preset and runs on the Go backend.
func TestComponentsRunTiny(t *testing.T) {
	b := goBackend(t)
	for _, c := range Components {
		preset := "tiny"
		if c == "inception" {
			preset = "fid-299"
		}
		t.Run(c, func(t *testing.T) {
			r, err := Run(b, "go", Options{Component: c, Preset: preset, Batch: 1, DType: dtypes.Float32, Seed: 1, PromptLen: 8, Iters: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Throughput <= 0 || math.IsInf(r.Throughput, 0) || r.FLOPsPerCall <= 0 || r.Params <= 0 || r.Median <= 0 {
				t.Errorf("throughput %v, FLOPs %v, params %v, median %v", r.Throughput, r.FLOPsPerCall, r.Params, r.Median)
			}
			if r.Peak != nil || r.ShareOfPeak != 0 {
				t.Errorf("no peak plan, yet peak %+v", r.Peak)
			}
			if r.Memory.GoHeapPeakBytes <= 0 {
				t.Errorf("no Go heap peak: %+v", r.Memory)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	b := goBackend(t)
	for _, o := range []Options{
		{Component: "siglip-vision", Preset: "tiny", Batch: 1, DType: dtypes.BFloat16},
		{Component: "siglip-vision", Preset: "tiny", Batch: 0, DType: dtypes.Float32},
		{Component: "siglip-text", Preset: "tiny", Batch: 1, DType: dtypes.Float32, SeqLen: 17},
		{Component: "dualtoken-encode", Preset: "tiny", Batch: 1, DType: dtypes.Float32, Layers: 2},
		{Component: "nope", Preset: "tiny", Batch: 1, DType: dtypes.Float32},
	} {
		if _, err := Build(b, o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: %v, want an ErrOptions", o, err)
		}
	}
}

// The peak matmul's count and timing are consistent on a small size.
func TestMeasurePeak(t *testing.T) {
	p, err := MeasurePeak(goBackend(t), PeakPlan{DType: dtypes.Float32, N: 128, Chain: 2, Iters: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.TFLOPs <= 0 || p.TFLOPs < p.TFLOPsMedian || p.CallMin > p.CallMedian || p.DType != "float32" {
		t.Errorf("%+v", p)
	}
	if got, want := p.TFLOPs*p.CallMin*1e12, 2*Matmul(128, 128, 128); math.Abs(got/want-1) > 1e-9 {
		t.Errorf("work %v, want %v", got, want)
	}
	if _, err := MeasurePeak(goBackend(t), PeakPlan{DType: dtypes.Float32, N: 0, Chain: 1, Iters: 1}); err == nil {
		t.Error("N 0 accepted")
	}
	// The GPU plan's graph (bf16 operands, chained, reduced in float32) builds and runs here too.
	if p, err := MeasurePeak(goBackend(t), PeakPlan{DType: dtypes.BFloat16, N: 64, Chain: 3, Iters: 2}); err != nil || p.DType != "bfloat16" {
		t.Errorf("bf16 peak: %+v, %v", p, err)
	}
}

func TestDefaultPeakPlans(t *testing.T) {
	gpu := DefaultPeakPlans(true, dtypes.Float32)
	if len(gpu) != 2 || gpu[0].DType != dtypes.BFloat16 || gpu[0].N != 8192 || gpu[1].DType != dtypes.Float32 {
		t.Errorf("GPU plans %+v: want bf16 8192³ first, then float32", gpu)
	}
	if cpu := DefaultPeakPlans(false, dtypes.Float32); len(cpu) != 1 || cpu[0].DType != dtypes.Float32 {
		t.Errorf("CPU plans %+v", cpu)
	}
}
