package perf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/internal/jsonerr"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Schema is the version of Result's JSON form.
const Schema = 1

// Result is one `evalrun bench` run (JSON schema 1).
type Result struct {
	Schema      int    `json:"schema"`
	Tool        string `json:"tool"`
	Date        string `json:"date"` // RFC 3339, UTC
	Component   string `json:"component"`
	Preset      string `json:"preset"`
	Batch       int    `json:"batch"`
	DType       string `json:"dtype"`
	ScanLayers  bool   `json:"scan_layers"`  // transformer layers run as one loop (--scan-layers), not unrolled
	Backend     string `json:"backend"`      // the spec, e.g. "go" or "xla:/…/xla_cuda_plugin.so"
	BackendName string `json:"backend_name"` // compute.Backend.Name()
	Device      string `json:"device"`       // compute.Backend.Description()
	// XLAFlags is $XLA_FLAGS as the XLA backend ran with it (backend.New adds
	// Triton GEMMs off for CUDA plugins); empty on other backends.
	XLAFlags string `json:"xla_flags,omitempty"`
	// ExecutableCache is what the XLA executable cache did in this run
	// ($DUALTOKEN_XLA_CACHE, package backend/xlacache); absent without one.
	ExecutableCache *ExecutableCache `json:"xla_executable_cache,omitempty"`

	Config       map[string]any `json:"config"`
	Params       int64          `json:"params"`
	Unit         string         `json:"unit"`
	ItemsPerCall float64        `json:"items_per_call"`
	FLOPsPerItem float64        `json:"flops_per_item"`
	FLOPsPerCall float64        `json:"flops_per_call"`
	SetupSeconds float64        `json:"setup_s"` // random weights and model construction

	Timing
	Throughput     float64 `json:"throughput"`      // items per second at the median step
	AchievedTFLOPs float64 `json:"achieved_tflops"` // FLOPsPerCall / median step

	// Peak is the reference matmul (bf16 8192³ on a GPU, float32 on a CPU);
	// PeakSameDType, on a GPU, is the same matmul in the component's dtype.
	Peak             *Peak    `json:"peak"`
	ShareOfPeak      float64  `json:"share_of_peak"`
	PeakSameDType    *Peak    `json:"peak_same_dtype,omitempty"`
	ShareOfSameDType float64  `json:"share_of_same_dtype_peak,omitempty"`
	PeakError        string   `json:"peak_error,omitempty"`
	Memory           Memory   `json:"memory"`
	Notes            []string `json:"notes"`
	Host             Host     `json:"host"`

	// ReconEval is the recon-eval component's pipeline throughput and stage
	// breakdown (absent for other components; an additive field of schema 1).
	ReconEval *ReconEvalReport `json:"recon_eval,omitempty"`
}

// Host describes the process that measured.
type Host struct {
	GoVersion  string `json:"go"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Experiment string `json:"goexperiment"`
	Hostname   string `json:"hostname"`
}

// Run builds the workload o, measures it, then measures the peak matmuls
// (the first plan is the reference), and returns the result. Peak failures
// are recorded, not fatal.
func Run(b compute.Backend, spec string, o Options, plans []PeakPlan) (*Result, error) {
	mem := StartMemSampler()
	defer mem.Stop()
	var dev *devMemSampler
	if backend.IsCUDA(b) {
		dev = startDevMemSampler()
		defer dev.stop(&Memory{}) // ends nvidia-smi on an early return
	}
	w, err := Build(b, o)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	t, err := Measure(w, o.Warmup, o.Iters)
	if err != nil {
		return nil, err
	}
	r := &Result{
		Schema: Schema, Tool: "evalrun bench", Date: time.Now().UTC().Format(time.RFC3339),
		Component: w.Component, Preset: w.Preset, Batch: w.Batch, DType: precision.Name(w.DType), ScanLayers: o.ScanLayers,
		Backend: spec, BackendName: b.Name(), Device: b.Description(), XLAFlags: xlaFlags(b.Name()),
		Config: w.Config, Params: w.Params, Unit: w.Unit, ItemsPerCall: w.ItemsPerCall,
		FLOPsPerItem: w.FLOPsPerCall / w.ItemsPerCall, FLOPsPerCall: w.FLOPsPerCall, SetupSeconds: w.SetupSeconds,
		Timing: *t, Throughput: w.ItemsPerCall / t.Median, AchievedTFLOPs: w.FLOPsPerCall / t.Median / 1e12,
		Notes: w.Notes, Host: hostInfo(),
	}
	if w.Report != nil {
		w.Report(r)
	}
	if r.Config == nil {
		r.Config = map[string]any{}
	}
	// Which attention SigLIP's self-attention asked the backend for
	// (backend.FusedAttention; $DUALTOKEN_ATTENTION can force it).
	r.Config["attention"] = map[bool]string{true: "fused", false: "decomposed"}[backend.FusedAttention(b)]
	if o.Layers > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("layers overridden to %d (--layers)", o.Layers))
	}
	if o.ScanLayers {
		r.Notes = append(r.Notes, "transformer layers run as While loops over a stacked copy of the layer weights made once at setup (--scan-layers; stacked_weight_bytes); each iteration picks its layer's slice (DynamicSlice on XLA, Gather — a copy — on the Go backend)")
	}
	for i, p := range plans {
		pk, err := MeasurePeak(b, p)
		if err != nil {
			r.PeakError = strings.Join([]string{r.PeakError, err.Error()}, "; ")
			continue
		}
		if i == 0 {
			r.Peak, r.ShareOfPeak = pk, r.AchievedTFLOPs/pk.TFLOPs
		} else {
			r.PeakSameDType, r.ShareOfSameDType = pk, r.AchievedTFLOPs/pk.TFLOPs
		}
	}
	r.PeakError = strings.TrimPrefix(r.PeakError, "; ")
	if s, ok := backend.ExecutableCacheOf(b); ok {
		r.ExecutableCache = &ExecutableCache{Dir: s.Dir, Hits: s.Hits, Misses: s.Misses, Stored: s.Stored, Errors: s.Errors}
		if s.Hits > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("compile_s: %d executable(s) loaded from the executable cache %s instead of compiled", s.Hits, s.Dir))
		}
	}
	r.Memory = mem.Stop()
	if dev != nil {
		dev.stop(&r.Memory)
	}
	return r, nil
}

// ExecutableCache counts the XLA executable cache's lookups in one run:
// hits were loaded, misses compiled (and stored unless errors says
// otherwise).
type ExecutableCache struct {
	Dir    string `json:"dir"`
	Hits   int64  `json:"hits"`
	Misses int64  `json:"misses"`
	Stored int64  `json:"stored"`
	Errors int64  `json:"errors"`
}

func hostInfo() Host {
	h := Host{GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Experiment: os.Getenv("GOEXPERIMENT")}
	h.Hostname, _ = os.Hostname()
	return h
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadResult parses one Result, checking the schema.
func ReadResult(data []byte) (*Result, error) {
	var head struct {
		Schema *int    `json:"schema"`
		Tool   *string `json:"tool"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("not an evalrun bench --json output: %v", jsonerr.Describe(err))
		}
		return nil, fmt.Errorf("not valid JSON (cut short or not JSON): %v", err)
	}
	switch {
	case head.Tool == nil:
		return nil, fmt.Errorf(`not an evalrun bench --json output: field "tool" is missing (want "evalrun bench")`)
	case *head.Tool != "evalrun bench":
		return nil, fmt.Errorf(`not an evalrun bench --json output: field "tool" = %q (want "evalrun bench")`, *head.Tool)
	case head.Schema == nil:
		return nil, fmt.Errorf(`field "schema" is missing (this evalrun reads schema %d)`, Schema)
	case *head.Schema != Schema:
		return nil, fmt.Errorf(`field "schema" = %d: this evalrun reads schema %d (written by another version)`, *head.Schema, Schema)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("not what evalrun bench schema %d writes: %v", Schema, jsonerr.Describe(err))
	}
	return &r, nil
}

// FLOPRate formats FLOP/s in GFLOP/s below 1 TFLOP/s, else TFLOP/s.
func FLOPRate(tflops float64) string {
	if tflops < 1 {
		return fmt.Sprintf("%.1f GFLOP/s", tflops*1e3)
	}
	return fmt.Sprintf("%.1f TFLOP/s", tflops)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// WriteTable prints results as a human-readable table with their notes.
func WriteTable(w io.Writer, rs ...*Result) error {
	tb := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft,
			tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}}))
	tb.Header([]string{"component", "preset", "batch", "compile s", "step ms (median)", "throughput", "achieved", "peak matmul", "share", "RSS peak"})
	for _, r := range rs {
		peak, share := "—", "—"
		if r.Peak != nil {
			peak = fmt.Sprintf("%s (%s %d³)", FLOPRate(r.Peak.TFLOPs), r.Peak.DType, r.Peak.N)
			share = fmt.Sprintf("%.1f%%", 100*r.ShareOfPeak)
		}
		if err := tb.Append([]string{r.Component, r.Preset, fmt.Sprint(r.Batch),
			fmt.Sprintf("%.2f", r.CompileSeconds), fmt.Sprintf("%.2f", r.Median*1e3),
			fmt.Sprintf("%.2f %s", r.Throughput, r.Unit), FLOPRate(r.AchievedTFLOPs), peak, share, mib(r.Memory.RSSPeakBytes)}); err != nil {
			return err
		}
	}
	if err := tb.Render(); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%s %s: %s, %.3g params, %.4g GFLOP/item (analytic), compile: %s, first call %.2f s, setup %.2f s, %d warm-up + %d timed steps (min %.2f / max %.2f ms)\n",
			r.Component, r.Preset, r.Device, float64(r.Params), r.FLOPsPerItem/1e9, r.CompileMethod, r.FirstCall, r.SetupSeconds,
			r.Warmup, r.Iters, r.Min*1e3, r.Max*1e3)
		if r.PeakSameDType != nil {
			fmt.Fprintf(w, "  %s matmul %d³: %s; share of it %.1f%%\n", r.PeakSameDType.DType, r.PeakSameDType.N,
				FLOPRate(r.PeakSameDType.TFLOPs), 100*r.ShareOfSameDType)
		}
		if r.PeakError != "" {
			fmt.Fprintf(w, "  peak matmul failed: %s\n", r.PeakError)
		}
		if re := r.ReconEval; re != nil {
			writeReconEval(w, re)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  * %s\n", n)
		}
		dev := ""
		if r.Memory.DeviceBytes != nil {
			dev = ", device peak " + mib(*r.Memory.DeviceBytes)
		}
		fmt.Fprintf(w, "  * memory: Go heap peak %s, process RSS peak %s%s; %s\n", mib(r.Memory.GoHeapPeakBytes), mib(r.Memory.RSSPeakBytes), dev, r.Memory.Note)
	}
	return nil
}

// xlaFlags is $XLA_FLAGS for the XLA backend (the flags its compiler ran
// with), "" for the others.
func xlaFlags(backendName string) string {
	if backendName != "xla" {
		return ""
	}
	return os.Getenv(backend.EnvXLAFlags)
}
