package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/perf"
)

func init() {
	register("bench", "Measure a model component: compile time, throughput, achieved FLOP/s and share of a matmul peak.", &benchCmd{})
}

type benchCmd struct {
	Component  string `required:"" help:"siglip-vision, siglip-text, dualtoken-encode, dualtoken-decode, dualtoken-tokenizer (both compiled at once, then encode+decode steps), dualtoken-reconstruct (the recon task's device call, uint8 in and out), llm-prefill, llm-decode, inception or recon-eval (the end-to-end reconstruction evaluation)."`
	Preset     string `help:"Size: siglip-*: so400m-384, b16-224, tiny; dualtoken-* and recon-eval: so400m-384, so400m-256, l16-256, tiny; llm-*: qwen2.5-3b, 100m, tiny; inception: fid-299 (default)."`
	Batch      int    `default:"1" help:"Images, texts or sequences per call."`
	DType      string `name:"dtype" default:"float32" help:"Compute dtype: float32 or bfloat16 (bf16): weight matrices stored and matmuls run in it, norms/softmax/quantisers/logits in float32; inception always runs float32."`
	Iters      int    `default:"10" help:"Timed calls (the median is reported); recon-eval: timed batches."`
	Warmup     int    `default:"2" help:"Untimed calls after the first one."`
	Layers     *int   `help:"Transformer layers instead of the preset's (siglip-*, llm-*), to fit compile time on a budget." placeholder:"N"`
	ScanLayers bool   `name:"scan-layers" help:"Run the transformer layers (siglip-*, the tokenizer's tower in dualtoken-encode and recon-eval, llm-*) as one loop over stacked weights instead of unrolled: compile time independent of depth. On the Go backend this runs as go:ops_sequential."`
	NoOverlap  bool   `name:"no-overlap" help:"recon-eval: run each batch whole, one after another, instead of overlapping batches as evalrun run does (the baseline for the overlap)."`
	PromptLen  *int   `name:"prompt-len" help:"llm-*: prompt tokens per row (default 128)." placeholder:"N"`
	SeqLen     *int   `name:"seq-len" help:"siglip-text: tokens per text (default: the preset's max positions)." placeholder:"N"`
	Seed       uint64 `default:"1" help:"Seed of the random weights and inputs."`

	PeakN     *int   `name:"peak-n" help:"Side of the reference matmul (default: 8192 on a GPU, 1024 on a CPU)." placeholder:"N"`
	PeakDType string `name:"peak-dtype" help:"Dtype of the reference matmul (default: bfloat16 on a GPU, plus the component's dtype when it differs; the component's dtype on a CPU)."`
	NoPeak    bool   `name:"no-peak" help:"Skip the reference matmul (no share of peak)."`
	JSON      bool   `name:"json" help:"Print the result as JSON (schema 1) instead of a table."`
}

func (c *benchCmd) Help() string {
	return `Builds the component with deterministic random weights at a preset size, then
measures: compile seconds (exec.Compile where the component's graph can compile
alone, else the first call minus the median step), the first call, the median
of --iters timed calls after --warmup untimed ones, throughput (img/s, texts/s
or tokens/s), achieved FLOP/s from an analytic count (package perf, flops.go),
its share of a large matmul's rate measured in the same process (its fastest
call; 8192³ bf16 on a GPU, the issue-7 definition, plus 8192³ in the
component's dtype when that is not bf16; 1024³ in the component's dtype on a
CPU), and peak memory (Go heap sampled, process RSS; backends report no device
memory: scripts/gpu/bench.sh samples nvidia-smi).

--dtype bfloat16 stores the weight matrices in bfloat16 and runs matmuls and
activations in it, with norms, softmax, RoPE, the quantisers and the logits
in float32 (package precision); the FLOP count is the same.

--scan-layers runs the transformer layers as While loops (package scan) over
a stacked copy of their weights made at setup, instead of one copy of the
layer per index in the graph: XLA's compile time then no longer grows with
the depth (issue 7). DualToken's tower loops between its taps. The JSON
records "scan_layers" (and config.stacked_weight_bytes). GoMLX's Go backend
deadlocks in such a loop with its default parallel op scheduling, so
--scan-layers switches it to go:ops_sequential (and says so). Inception runs
float32 whatever --dtype and reports float32. On the XLA CUDA backend float32
matmuls use TF32 (GoMLX's default); the Go backend's bfloat16 matmul is about
half as fast as its float32 one.

dualtoken-tokenizer compiles the tokenizer's Encode and DecodePixels
executables at once, in one process (dualtoken.Model.Compile; compile seconds
are its wall time: issue 7's tokenizer compile), then times steps of Encode
followed by DecodePixels of the codes it returned. dualtoken-reconstruct times
the recon task's device call: image bytes uploaded, ReconstructUint8 (tower to
the taps, pixel quantiser, decoder, byte conversions in one graph), bytes and
codes copied back.

recon-eval measures the whole reconstruction evaluation through the recon
task's own code (issue 7's recon_eval_end_to_end): procedural images written
as JPEG files, batches scheduled as evalrun run schedules them (the next
batch's files decoded ahead; a batch's metrics and Inception features beside
the next batch's reconstruction), the dualtoken model's Reconstruct at the
preset with random weights, PSNR and both SSIMs, JPEG q95 round trips and one
Inception pool3 call (random weights at pytorch-fid's shapes) on ground truth
and reconstructions, the predictions written to a file (--no-overlap runs each
batch whole, in turn). 1+--warmup+--iters batches run, a step is the interval
between two batch completions, and the JSON's "recon_eval" holds the
end-to-end img/s over the timed batches and each stage's seconds per image.
Compile seconds are the first Reconstruct and Inception calls minus their
median batch times.

Examples:
  evalrun bench --component siglip-vision --preset b16-224 --batch 4
  evalrun bench --component dualtoken-encode --preset tiny --batch 8 --dtype bf16
  evalrun bench --component llm-decode --preset 100m --batch 4 --iters 20 --json
  evalrun bench --component recon-eval --preset tiny --batch 8 --iters 10
  evalrun bench --backend go:ops_sequential --component siglip-vision --preset b16-224 --batch 4 --scan-layers
  GOMLX_BACKEND=xla:/opt/.../xla_cuda_plugin.so evalrun bench --component siglip-vision --preset so400m-384 --batch 32 --dtype bf16 --json`
}

func (c *benchCmd) Run(g *Globals) error {
	dt, err := perf.ParseDType(c.DType)
	if err != nil {
		return usageErr("%v", err)
	}
	if c.Preset == "" && c.Component == "inception" {
		c.Preset = "fid-299"
	}
	if perf.Presets(c.Component) == nil {
		return usageErr("unknown --component %q (known: %s)", c.Component, strings.Join(perf.Components, ", "))
	}
	if c.Preset == "" {
		return usageErr("--preset is required for %s (one of: %s)", c.Component, strings.Join(perf.Presets(c.Component), ", "))
	}
	if err := perf.CheckComponent(c.Component, c.Preset); err != nil {
		return usageErr("%v", err)
	}
	if err := c.checkFlags(); err != nil {
		return err
	}
	spec := backend.Resolve(g.Backend)
	gpu := strings.Contains(strings.ToLower(spec), "cuda")
	var plans []perf.PeakPlan
	if !c.NoPeak {
		plans = perf.DefaultPeakPlans(gpu, dt)
		if c.PeakDType != "" {
			pd, err := perf.ParsePeakDType(c.PeakDType)
			if err != nil {
				return usageErr("%v", err)
			}
			plans[0].DType = pd
		}
		if c.PeakN != nil {
			for i := range plans {
				plans[i].N = *c.PeakN
			}
		}
	}
	bspec := g.Backend
	if c.ScanLayers && backend.Resolve(bspec) == "go" {
		bspec = backend.ForLoops(bspec)
		fmt.Fprintf(os.Stderr, "bench: --scan-layers on the Go backend runs as %s (its parallel op scheduling deadlocks inside loops)\n", bspec)
	}
	b, err := backend.New(bspec)
	if err != nil {
		return usageErr("%v", err)
	}
	defer b.Finalize()
	r, err := perf.Run(b, spec, perf.Options{
		Component: c.Component, Preset: c.Preset, Batch: c.Batch, DType: dt, Layers: orZero(c.Layers), ScanLayers: c.ScanLayers,
		PromptLen: orZero(c.PromptLen), SeqLen: orZero(c.SeqLen), Seed: c.Seed, Warmup: c.Warmup, Iters: c.Iters, NoOverlap: c.NoOverlap,
	}, plans)
	if err != nil {
		if errors.Is(err, perf.ErrOptions) {
			return usageErr("%v", err)
		}
		return failErr("bench %s %s: %v", c.Component, c.Preset, err)
	}
	if c.JSON {
		return r.WriteJSON(os.Stdout)
	}
	return perf.WriteTable(os.Stdout, r)
}

// benchFlagComponents are the components a component-specific flag applies
// to; given with another it would be ignored, so it is refused
// (--scan-layers is checked by perf.Run, which knows why).
var benchFlagComponents = map[string][]string{
	"--layers":     {"siglip-vision", "siglip-text", "llm-prefill", "llm-decode"},
	"--seq-len":    {"siglip-text"},
	"--prompt-len": {"llm-prefill", "llm-decode"},
	"--no-overlap": {perf.ReconEvalComponent},
}

// checkFlags refuses numbers out of range and flags that do not apply to
// --component (or to --no-peak), one flag per message.
func (c *benchCmd) checkFlags() error {
	atLeast := func(name string, v *int, min int) error {
		if v != nil && *v < min {
			return usageErr("--%s %d: want a whole number >= %d", name, *v, min)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    *int
		min  int
	}{
		{"batch", &c.Batch, 1}, {"iters", &c.Iters, 1}, {"warmup", &c.Warmup, 0},
		{"layers", c.Layers, 1}, {"prompt-len", c.PromptLen, 1}, {"seq-len", c.SeqLen, 1}, {"peak-n", c.PeakN, 1},
	} {
		if err := atLeast(f.name, f.v, f.min); err != nil {
			return err
		}
	}
	given := map[string]bool{
		"--layers": c.Layers != nil, "--seq-len": c.SeqLen != nil, "--prompt-len": c.PromptLen != nil, "--no-overlap": c.NoOverlap,
	}
	for _, flag := range []string{"--layers", "--seq-len", "--prompt-len", "--no-overlap"} {
		if comps := benchFlagComponents[flag]; given[flag] && !slices.Contains(comps, c.Component) {
			return usageErr("%s does not apply to --component %s (only to %s)", flag, c.Component, strings.Join(comps, ", "))
		}
	}
	if c.NoPeak && (c.PeakN != nil || c.PeakDType != "") {
		return usageErr("--peak-n and --peak-dtype set the reference matmul, which --no-peak skips: drop one or the other")
	}
	return nil
}

// orZero is *p, or 0 (the package's "default") when the flag was not given.
func orZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
