package perf

import (
	"math"
	"testing"
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
