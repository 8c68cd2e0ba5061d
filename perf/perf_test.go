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
	for s, want := range map[string]dtypes.DType{"float32": dtypes.Float32, "f32": dtypes.Float32, "bf16": dtypes.BFloat16, "bfloat16": dtypes.BFloat16} {
		if dt, err := ParseDType(s); err != nil || dt != want {
			t.Errorf("%s: %v %v, want %s", s, dt, err, want)
		}
	}
	for s, msg := range map[string]string{"float16": "float16 is not implemented", "int8": "not a supported dtype"} {
		if _, err := ParseDType(s); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want an ErrOptions saying %q", s, err, msg)
		}
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

// Every component builds at its smallest preset and runs on the Go backend,
// in float32 and in bfloat16; the FLOP count does not depend on the dtype,
// and bfloat16 weights take about half the bytes. Inception runs once, asked
// for bfloat16: it stays float32 and says so.
func TestComponentsRunTiny(t *testing.T) {
	b := goBackend(t)
	for _, c := range Components {
		preset := "tiny"
		dts := []dtypes.DType{dtypes.Float32, dtypes.BFloat16}
		if c == "inception" {
			preset, dts = "fid-299", dts[1:]
		}
		flops := map[dtypes.DType]float64{}
		bytes := map[dtypes.DType]float64{}
		for _, dt := range dts {
			t.Run(c+"/"+DTypeName(dt), func(t *testing.T) {
				r, err := Run(b, "go", Options{Component: c, Preset: preset, Batch: 1, DType: dt, Seed: 1, PromptLen: 8, Iters: 1}, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := DTypeName(dt)
				if c == "inception" {
					want = "float32"
					if dt != dtypes.Float32 && !notesSay(r.Notes, "runs in float32") {
						t.Errorf("inception with --dtype bfloat16: notes %q do not say it ran float32", r.Notes)
					}
				} else if dt == dtypes.BFloat16 && !notesSay(r.Notes, "bfloat16") {
					t.Errorf("notes %q do not say what ran in bfloat16", r.Notes)
				}
				if r.DType != want {
					t.Errorf("result dtype %q, want %q", r.DType, want)
				}
				flops[dt] = r.FLOPsPerCall
				if wb, ok := r.Config["weight_bytes"].(int64); ok {
					bytes[dt] = float64(wb)
				}
				checkResult(t, r)
			})
		}
		if c != "inception" {
			if flops[dtypes.Float32] != flops[dtypes.BFloat16] {
				t.Errorf("%s: FLOPs per call %v in float32, %v in bfloat16", c, flops[dtypes.Float32], flops[dtypes.BFloat16])
			}
			if r := bytes[dtypes.BFloat16] / bytes[dtypes.Float32]; !(r > 0.45 && r < 0.6) {
				t.Errorf("%s: bfloat16 weights take %.2f of the float32 bytes (%v), want about half", c, r, bytes)
			}
		}
	}
}

func notesSay(notes []string, s string) bool {
	for _, n := range notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// checkResult checks a run measured without a peak plan.
func checkResult(t *testing.T, r *Result) {
	t.Helper()
	if r.Throughput <= 0 || math.IsInf(r.Throughput, 0) || r.FLOPsPerCall <= 0 || r.Params <= 0 || r.Median <= 0 {
		t.Errorf("throughput %v, FLOPs %v, params %v, median %v", r.Throughput, r.FLOPsPerCall, r.Params, r.Median)
	}
	if r.Peak != nil || r.ShareOfPeak != 0 {
		t.Errorf("no peak plan, yet peak %+v", r.Peak)
	}
	if r.Memory.GoHeapPeakBytes <= 0 {
		t.Errorf("no Go heap peak: %+v", r.Memory)
	}
}

func TestBuildRejects(t *testing.T) {
	b := goBackend(t)
	for _, o := range []Options{
		{Component: "siglip-vision", Preset: "tiny", Batch: 1, DType: dtypes.Float16},
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
	if gpu := DefaultPeakPlans(true, dtypes.BFloat16); len(gpu) != 1 || gpu[0].DType != dtypes.BFloat16 || gpu[0].N != 8192 {
		t.Errorf("GPU plans for a bfloat16 component %+v: want the bf16 8192³ reference only", gpu)
	}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		if cpu := DefaultPeakPlans(false, dt); len(cpu) != 1 || cpu[0].DType != dt || cpu[0].N > 1024 {
			t.Errorf("CPU plans for %s %+v: want one small matmul in that dtype", dt, cpu)
		}
	}
}
