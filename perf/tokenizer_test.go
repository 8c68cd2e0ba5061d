package perf

import (
	"fmt"
	"math"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
	"github.com/dualtoken/evalharness/model/precision"
)

// TestTokenizerComponent: dualtoken-tokenizer on the Go backend at the tiny
// preset compiles with Model.Compile (compile_s timed around it), counts
// the FLOPs of an Encode plus a DecodePixels per image, and says how it
// compiled.
func TestTokenizerComponent(t *testing.T) {
	const batch = 2
	r, err := Run(goBackend(t), "go", Options{Component: TokenizerComponent, Preset: "tiny", Batch: batch, Seed: 1, Iters: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r)
	if r.CompileMethod != "exec.Compile" || !(r.CompileSeconds > 0) {
		t.Errorf("compile %v s by %q, want Model.Compile's wall time", r.CompileSeconds, r.CompileMethod)
	}
	if got := r.Config["compile"]; got != "encode and decode concurrently" {
		t.Errorf("config compile = %v", got)
	}
	fc, err := DualTokenConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	if want := batch * (DualTokenEncode(fc) + DualTokenDecode(fc)); math.Abs(r.FLOPsPerCall/want-1) > 1e-12 {
		t.Errorf("FLOPs per call %v, want encode + decode %v", r.FLOPsPerCall, want)
	}
	if r.Unit != "img/s" || r.ItemsPerCall != batch {
		t.Errorf("unit %q, items per call %v", r.Unit, r.ItemsPerCall)
	}
	if !notesSay(r.Notes, "Model.Compile(batch, \"encode\", \"decode\")") || !notesSay(r.Notes, "then DecodePixels") {
		t.Errorf("notes %q do not say what compile_s and a step are", r.Notes)
	}
}

// TestXLATokenizerCompilesOnce: on the dry XLA CUDA backend, as
// scripts/gpu/bench.sh runs it (bfloat16, the tower as layer loops or
// unrolled), the component's Compile builds the two programs, Encode's and
// DecodePixels', and its steps build none: compile_s holds the whole compile.
func TestXLATokenizerCompilesOnce(t *testing.T) {
	for _, scan := range []bool{true, false} {
		t.Run(fmt.Sprintf("scan=%v", scan), func(t *testing.T) {
			b, err := xladry.New("cuda")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Finalize()
			w, err := Build(b, Options{Component: TokenizerComponent, Preset: "tiny", Batch: 2, DType: precision.BF16, ScanLayers: scan})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Compile(); err != nil {
				t.Fatal(err)
			}
			ps := b.Programs()
			if len(ps) != 2 {
				t.Fatalf("Compile built %d programs, want 2 (encode, decode):\n%s", len(ps), xladry.Summary(ps))
			}
			loops := whileLoops(ps)
			if scan && loops[0]+loops[1] == 0 {
				t.Errorf("--scan-layers, yet no program has a while loop: %v", loops)
			}
			for range 2 {
				if err := w.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if ps := b.Programs(); len(ps) != 2 {
				t.Errorf("%d programs after two steps, want still 2:\n%s", len(ps), xladry.Summary(ps))
			}
		})
	}
}

// TestReconstructComponent: dualtoken-reconstruct compiles ReconstructUint8's
// one graph with Model.Compile, counts Reconstruct's FLOPs (the tower to the
// taps and the decoder, not the semantic branch) and says its images come
// from the host every step.
func TestReconstructComponent(t *testing.T) {
	const batch = 2
	r, err := Run(goBackend(t), "go", Options{Component: ReconstructComponent, Preset: "tiny", Batch: batch, Seed: 1, Iters: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r)
	if r.CompileMethod != "exec.Compile" || r.Config["input"] != "host uint8" {
		t.Errorf("compile method %q, config input %v", r.CompileMethod, r.Config["input"])
	}
	fc, err := DualTokenConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	if want := batch * DualTokenReconstruct(fc); math.Abs(r.FLOPsPerCall/want-1) > 1e-12 || !(DualTokenReconstruct(fc) < DualTokenEncode(fc)+DualTokenDecode(fc)) {
		t.Errorf("FLOPs per call %v, want Reconstruct's %v (less than encode + decode)", r.FLOPsPerCall, want)
	}
	if !notesSay(r.Notes, "uint8 images uploaded from the host every step") {
		t.Errorf("notes %q do not say where the pixels come from", r.Notes)
	}
}
