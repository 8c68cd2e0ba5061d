//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package perf

import (
	"fmt"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
	"github.com/dualtoken/evalharness/model/precision"
)

// fmha is the custom call of cuDNN's fused attention in go-xla's programs.
const fmha = "__cudnn$fmhaSoftmax"

// dryRun builds o on a dry XLA backend for plugin and runs one step: every
// program the GPU benchmark would compile is built by go-xla's StableHLO
// builder (nothing runs). It returns the programs.
func dryRun(t *testing.T, plugin string, o Options) []xladry.Program {
	t.Helper()
	b, err := xladry.New(plugin)
	if err != nil {
		t.Fatal(err)
	}
	if o.Batch == 0 {
		o.Batch = 2
	}
	w, err := Build(b, o)
	if err != nil {
		t.Fatalf("%s %s: %v", o.Component, o.Preset, err)
	}
	defer w.Close()
	if _, err := Measure(w, 0, 1); err != nil {
		t.Fatalf("%s %s on xla:%s: %v", o.Component, o.Preset, plugin, err)
	}
	ps := b.Programs()
	if len(ps) == 0 {
		t.Fatalf("%s %s: no program was built", o.Component, o.Preset)
	}
	t.Logf("%s", xladry.Summary(ps))
	return ps
}

func whileLoops(ps []xladry.Program) (n []int) {
	for _, p := range ps {
		n = append(n, p.Ops["stablehlo.while"])
	}
	return n
}

// Every component of scripts/gpu/bench.sh, in each formulation it runs, must
// build as an XLA CUDA program: before layer loops were checked this way,
// every --scan-layers graph failed in go-xla's builder (scan.resetXLACaches,
// scan.RunWith), which only a GPU session would have found.
func TestXLAProgramsBuild(t *testing.T) {
	for _, c := range []Options{
		{Component: "siglip-text", Preset: "tiny", DType: precision.BF16, ScanLayers: true},
		{Component: "dualtoken-encode", Preset: "tiny", DType: precision.BF16, ScanLayers: true},
		{Component: "dualtoken-encode", Preset: "tiny", DType: precision.BF16},
		{Component: "dualtoken-decode", Preset: "tiny", DType: precision.BF16},
		{Component: "llm-prefill", Preset: "tiny", DType: precision.BF16, ScanLayers: true},
		{Component: "inception", Preset: "fid-299", Batch: 1},
		{Component: ReconEvalComponent, Preset: "tiny", DType: precision.BF16, ScanLayers: true, Iters: 1},
	} {
		t.Run(fmt.Sprintf("%s-%s-scan=%v", c.Component, DTypeName(precision.Compute(c.DType)), c.ScanLayers), func(t *testing.T) {
			dryRun(t, "cuda", c)
		})
	}
}

// SigLIP's attention becomes cuDNN's flash attention on the CUDA plugin in
// bfloat16: once per layer unrolled, once in a layer loop's body; never in
// float32 (cuDNN's call is half precision only) or on the CPU plugin.
func TestXLASiglipFusedAttention(t *testing.T) {
	cfg, err := SiglipVisionConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	L := cfg.Vision.NumLayers
	for _, c := range []struct {
		plugin      string
		o           Options
		calls, loop int
	}{
		{"cuda", Options{DType: precision.BF16}, L, 0},
		{"cuda", Options{DType: precision.BF16, ScanLayers: true}, 1, 1},
		{"cuda", Options{DType: precision.F32}, 0, 0},
		{"cpu", Options{DType: precision.BF16}, 0, 0},
	} {
		c.o.Component, c.o.Preset = "siglip-vision", "tiny"
		t.Run(fmt.Sprintf("%s-%s-scan=%v", c.plugin, DTypeName(c.o.DType), c.o.ScanLayers), func(t *testing.T) {
			ps := dryRun(t, c.plugin, c.o)
			if got := ps[0].CustomCalls[fmha]; got != c.calls {
				t.Errorf("%d %s calls, want %d", got, fmha, c.calls)
			}
			if got := ps[0].Ops["stablehlo.while"]; got != c.loop {
				t.Errorf("%d while loops, want %d", got, c.loop)
			}
		})
	}
}

// The LLM's prefill and decoding-step programs: one while loop each with
// layer loops, none unrolled; the step's argmax (Fetch) is part of them.
func TestXLALLMDecode(t *testing.T) {
	for _, scan := range []bool{false, true} {
		t.Run(fmt.Sprintf("scan=%v", scan), func(t *testing.T) {
			ps := dryRun(t, "cuda", Options{Component: "llm-decode", Preset: "tiny", DType: precision.BF16, ScanLayers: scan, Iters: 1})
			if len(ps) != 2 {
				t.Fatalf("%d programs, want the prefill and the step", len(ps))
			}
			want := 0
			if scan {
				want = 1
			}
			for i, n := range whileLoops(ps) {
				if n != want {
					t.Errorf("program %d has %d while loops, want %d", i, n, want)
				}
			}
		})
	}
}
