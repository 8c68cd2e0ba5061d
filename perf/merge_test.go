package perf

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeRaw writes the raw folder of a GPU run with made-up numbers.
func fakeRaw(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	put := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	result := func(file, component, preset string, batch int, thr, compile, peak float64, layers int) {
		r := &Result{Schema: Schema, Tool: "evalrun bench", Component: component, Preset: preset, Batch: batch,
			DType: "float32", Unit: "img/s", Throughput: thr, AchievedTFLOPs: 100, ShareOfPeak: 100 / peak,
			Timing: Timing{CompileSeconds: compile}, Config: map[string]any{"layers": layers},
			Peak: &Peak{DType: "bfloat16", N: 8192, TFLOPs: peak}}
		if strings.HasPrefix(component, "llm") {
			r.Unit = "tokens/s"
		}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		put(file, string(data))
	}
	result("siglip.json", "siglip-vision", "so400m-384", 32, 600, 90, 700, 27)
	result("llm_b1.json", "llm-decode", "qwen2.5-3b", 1, 50, 30, 710, 36)
	result("llm_b16.json", "llm-decode", "qwen2.5-3b", 16, 640, 31, 720, 8) // the reference ran 36 layers
	result("encode.json", "dualtoken-encode", "so400m-384", 16, 400, 100, 705, 27)
	result("decode.json", "dualtoken-decode", "so400m-384", 16, 200, 40, 705, 0)
	result("inception.json", "inception", "fid-299", 64, 2000, 10, 705, 0)
	// Reruns: warm compiles (XLA autotune cache filled) and the layer loop.
	result("encode_warm.json", "dualtoken-encode", "so400m-384", 16, 390, 20, 705, 27)
	result("decode_warm.json", "dualtoken-decode", "so400m-384", 16, 199, 8, 705, 0)
	result("siglip_scan.json", "siglip-vision", "so400m-384", 32, 580, 15, 705, 27)
	result("encode_unrolled.json", "dualtoken-encode", "so400m-384", 16, 410, 120, 705, 27)
	result("siglip_triton.json", "siglip-vision", "so400m-384", 32, 560, 60, 705, 27)
	result("decode_phases.json", "dualtoken-decode", "so400m-384", 16, 240, 35, 705, 0)
	put("xla_cache.txt", "off\n")
	put("xla_flags.txt", "--xla_gpu_kernel_cache_file=/x/kernels.bin\n\n")
	put("parity.tsv", "siglip\t0\t12\t9\t0\nllm\t1\t8\t3\t1\ndualtoken\t0\t20\t6\t0\n")
	put("broken.json", `{"schema": 1, "tool": "something else"}`)
	put("torch_siglip.out", "load sdpa fine\n"+
		"torch sdpa eager-module B=32: 70.0 ms/batch, 457.0 img/s (warmup 3.1s)\n"+
		"torch sdpa torch.compile B=32: 53.7 ms/batch, 500.0 img/s (warmup 40.2s)\n")
	put("torch_llm.jsonl", `{"batch": 1, "prompt_len": 128, "new_tokens": 64, "dtype": "bfloat16", "layers": 36, "decode_tokens_per_s": 40.0}`+"\n"+
		`{"batch": 16, "prompt_len": 128, "new_tokens": 64, "dtype": "bfloat16", "layers": 36, "decode_tokens_per_s": 500.0}`+"\n"+
		`{"batch": 64, "error": "OutOfMemoryError: CUDA out of memory"}`+"\n")
	put("siglip.gpumem", "1200\n35000\n20000\n")
	put("steps.tsv", "siglip\t0\t120.5\ntorch_siglip\t0\t80.0\nllm_b1\t124\t200.0\ninception\t200\t0\n")
	return dir
}

func TestMergeFakeRun(t *testing.T) {
	in, err := ReadInputs(fakeRaw(t))
	if err != nil {
		t.Fatal(err)
	}
	rep := Merge(in, "h100", "2026-12-01", "NVIDIA H100 80GB HBM3")
	want := []string{"siglip_vision_bf16_b32", "dualtoken_encode", "dualtoken_decode", "recon_eval_end_to_end",
		"tokenizer_compile", "llm_decode_b1", "llm_decode_b16"}
	if got := rep.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("components %v, want %v", got, want)
	}
	near := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9*math.Abs(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	sv := rep.Components["siglip_vision_bf16_b32"]
	near("siglip reference (torch.compile)", sv.Reference, 500)
	near("siglip ratio", sv.Ratio, 600.0/500)
	near("siglip compile", sv.CompileCold, 90)
	near("siglip device MiB", sv.DevicePeakMiB, 35000)
	if sv.CompileWarm != nil {
		t.Errorf("compile_warm_s %v, want null (no warm rerun of siglip)", *sv.CompileWarm)
	}
	near("siglip ours is the unrolled run", sv.Ours, 600)
	near("siglip scan throughput", sv.OursScan, 580)
	near("siglip scan compile", sv.CompileColdScan, 15)
	near("encode warm compile", rep.Components["dualtoken_encode"].CompileWarm, 20)
	near("tokenizer warm compile", rep.Components["tokenizer_compile"].CompileWarm, 28)
	near("encode ours is the cold run", rep.Components["dualtoken_encode"].Ours, 400)
	near("encode unrolled throughput", rep.Components["dualtoken_encode"].OursUnrolled, 410)
	near("encode unrolled compile", rep.Components["dualtoken_encode"].CompileColdUnrolled, 120)
	near("siglip with Triton GEMMs", sv.OursTritonGEMM, 560)
	near("siglip with Triton GEMMs, compile", sv.CompileColdTritonGEMM, 60)
	near("decode ours is the plain run", rep.Components["dualtoken_decode"].Ours, 200)
	near("decode with phase upsample convolutions", rep.Components["dualtoken_decode"].OursUpsamplePhases, 240)
	near("decode with phase upsample convolutions, compile", rep.Components["dualtoken_decode"].CompileColdUpsamplePhases, 35)
	if len(rep.Parity) != 3 || !rep.Parity[0].OK || rep.Parity[1].OK || rep.Parity[1].Failed != 1 || !rep.Parity[2].OK {
		t.Errorf("parity %+v", rep.Parity)
	}
	near("llm b1 ratio", rep.Components["llm_decode_b1"].Ratio, 50.0/40)
	if e := rep.Components["llm_decode_b16"]; e.Ratio != nil || !strings.Contains(e.Note, "36 layers") {
		t.Errorf("llm b16 with 8 layers against a 36-layer reference: ratio %v, note %q", e.Ratio, e.Note)
	}
	for _, n := range []string{"dualtoken_encode", "dualtoken_decode", "tokenizer_compile", "recon_eval_end_to_end"} {
		if e := rep.Components[n]; e.Reference != nil || e.Ratio != nil {
			t.Errorf("%s has a reference without a PyTorch run", n)
		}
	}
	near("tokenizer_compile", rep.Components["tokenizer_compile"].Ours, 140)
	near("recon_eval_end_to_end", rep.Components["recon_eval_end_to_end"].Ours, 1/(1/400.0+1/200.0+1/2000.0))
	near("matmul_bf16_tflops (median of 6)", rep.MatmulBF16TFLOPs, 705)
	if len(rep.Steps) != 4 || rep.Steps[2].Status != "timed out" || rep.Steps[3].Status != "skipped (time budget)" {
		t.Errorf("steps %+v", rep.Steps)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, s := range []string{"broken.json", "OutOfMemoryError", "float32", "plain recompiles", "caches the cold run filled (--xla_gpu_kernel_cache_file=/x/kernels.bin)"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes do not mention %q:\n%s", s, notes)
		}
	}

	// The file carries issue 7's keys; reference and ratio only where one ran.
	path := filepath.Join(t.TempDir(), "2026-12-01-h100.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"card", "date", "device", "matmul_bf16_tflops", "components"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if raw["schema"] != float64(CardSchema) {
		t.Errorf("report schema %v, want %d", raw["schema"], CardSchema)
	}
	comps := raw["components"].(map[string]any)
	for name, v := range comps {
		e := v.(map[string]any)
		for _, k := range []string{"ours", "unit", "compile_cold_s", "compile_warm_s"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%s lacks %q", name, k)
			}
		}
		_, hasRef := e["reference"]
		_, hasRatio := e["ratio"]
		if hasRef != hasRatio {
			t.Errorf("%s: reference %v but ratio %v", name, hasRef, hasRatio)
		}
	}

	png1 := filepath.Join(t.TempDir(), "ratios.png")
	if err := PlotRatios(rep, png1); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, png1)
}

// A run where nothing but one of ours finished still merges and plots.
func TestMergePartialRun(t *testing.T) {
	dir := fakeRaw(t)
	for _, f := range []string{"torch_siglip.out", "torch_llm.jsonl", "llm_b1.json", "llm_b16.json", "encode.json"} {
		os.Remove(filepath.Join(dir, f))
	}
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := Merge(in, "h200", "2026-12-02", "")
	if got := strings.Join(rep.Names(), ","); got != "siglip_vision_bf16_b32,dualtoken_decode" {
		t.Errorf("components %s", got)
	}
	if rep.Components["siglip_vision_bf16_b32"].Ratio != nil {
		t.Error("ratio without a reference")
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := PlotRatios(rep, path); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	if err := PlotRatios(&CardReport{Card: "h100", Date: "2026-12-03", Components: map[string]*Entry{}}, path); err != nil {
		t.Fatalf("empty report: %v", err)
	}
}

// writeReconEvalRun adds a recon-eval result to a fake raw folder: the
// median step says 150 img/s, the timed window 140 img/s.
func writeReconEvalRun(t *testing.T, dir, file, preset string) {
	t.Helper()
	r := &Result{Schema: Schema, Tool: "evalrun bench", Component: ReconEvalComponent, Preset: preset, Batch: 16,
		DType: "bfloat16", Unit: "img/s", Throughput: 150, AchievedTFLOPs: 100, ShareOfPeak: 0.1,
		Timing: Timing{CompileSeconds: 95}, Config: map[string]any{"image": 384},
		Peak: &Peak{DType: "bfloat16", N: 8192, TFLOPs: 705},
		ReconEval: &ReconEvalReport{Overlapped: true, Images: 352, TimedImages: 320, Window: 320.0 / 140, ImgPerS: 140,
			DeviceBound: 180, Bottleneck: "reconstruct", StagePerImage: map[string]float64{"reconstruct": 0.004, "inception": 0.0015}}}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recon_eval_end_to_end is the measured recon-eval run at so400m-384 where
// one exists (its end-to-end window rate, not the median step), and the upper
// bound from the separate runs otherwise — also beside a recon-eval run at
// another preset.
func TestMergeReconEvalMeasured(t *testing.T) {
	dir := fakeRaw(t)
	writeReconEvalRun(t, dir, "recon_tiny.json", "tiny")
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := Merge(in, "h100", "2026-12-01", "").Components["recon_eval_end_to_end"]
	if e == nil || e.Ours == nil || math.Abs(*e.Ours-1/(1/400.0+1/200.0+1/2000.0)) > 1e-9 || !strings.HasPrefix(e.Note, "upper bound") {
		t.Fatalf("with only a tiny recon-eval run: %+v, want the upper bound", e)
	}

	writeReconEvalRun(t, dir, "recon_eval.json", "so400m-384")
	os.WriteFile(filepath.Join(dir, "recon_eval.gpumem"), []byte("1000\n41000\n"), 0o644)
	if in, err = ReadInputs(dir); err != nil {
		t.Fatal(err)
	}
	e = Merge(in, "h100", "2026-12-01", "").Components["recon_eval_end_to_end"]
	if e == nil || e.Ours == nil || *e.Ours != 140 {
		t.Fatalf("measured entry %+v, want ours 140 (the window rate)", e)
	}
	if !strings.HasPrefix(e.Note, "measured end to end: ") || !strings.Contains(e.Note, "bottleneck reconstruct") || !strings.Contains(e.Note, "reconstruct 4.00") {
		t.Errorf("note %q", e.Note)
	}
	if e.CompileCold == nil || *e.CompileCold != 95 || e.Source != "recon_eval.json" || e.OursDType != "bfloat16" || e.Unit != "img/s" {
		t.Errorf("entry %+v", e)
	}
	if e.DevicePeakMiB == nil || *e.DevicePeakMiB != 41000 {
		t.Errorf("device MiB %v, want 41000", e.DevicePeakMiB)
	}
	if e.Reference != nil || e.Ratio != nil {
		t.Error("a reference without a PyTorch run")
	}

	// Without the breakdown (an older file), the median step's rate stands.
	r := in.Runs["recon_eval.json"]
	r.ReconEval = nil
	e = Merge(in, "h100", "2026-12-01", "").Components["recon_eval_end_to_end"]
	if *e.Ours != 150 || !strings.HasPrefix(e.Note, "measured end to end: ") {
		t.Errorf("without recon_eval: ours %v, note %q", *e.Ours, e.Note)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("%s is %v", path, b)
	}
}

func TestParseTorchSiglip(t *testing.T) {
	got := ParseTorchSiglip("torch sdpa eager-module B=32: 70.0 ms/batch, 457.0 img/s (warmup 3.1s)\nbench fail sdpa torch.compile boom\n")
	if len(got) != 1 || got[32]["eager-module"] != 457 || len(got[32]) != 1 {
		t.Errorf("%v", got)
	}
}

// A rehearsal's runs (backend xladry) make a report that says it is one.
func TestMergeMarksDryRuns(t *testing.T) {
	in := &Inputs{Runs: map[string]*Result{"siglip.json": {Schema: Schema, Component: "siglip-vision", Preset: "so400m-384",
		Batch: 32, Backend: "xladry", Unit: "img/s", Throughput: 1e5}}}
	rep := Merge(in, "h100", "2026-11-27", "NVIDIA H100")
	if !strings.HasPrefix(rep.Device, "dry run") || !strings.Contains(strings.Join(rep.Notes, "\n"), "DRY RUN") {
		t.Errorf("device %q, notes %v", rep.Device, rep.Notes)
	}
	in.Runs["siglip.json"].Backend = "xla:/opt/x/xla_cuda_plugin.so"
	if rep := Merge(in, "h100", "2026-11-27", "NVIDIA H100"); rep.Device != "NVIDIA H100" {
		t.Errorf("a real run's device: %q", rep.Device)
	}
}

// A torch_llm.jsonl with no JSON line at all (the script's output went
// elsewhere, or the file is garbage) is named among the skipped files.
func TestReadInputsNamesGarbageTorchFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "torch_llm.jsonl"), []byte("Traceback (most recent call last):\n  oops\n"), 0o644)
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Skips) != 1 || !strings.Contains(in.Skips[0], "torch_llm.jsonl: no JSON line") {
		t.Errorf("skips %q", in.Skips)
	}
}

// TestMergeNotesXLAFlags: the flags our main runs compiled with are noted
// once each; a *_triton rerun's are not. Without .gpumem files the device
// peak is the run's own.
func TestMergeNotesXLAFlags(t *testing.T) {
	dir := t.TempDir()
	for file, flags := range map[string]string{
		"siglip.json":        "--xla_gpu_enable_triton_gemm=false",
		"encode.json":        "--xla_gpu_enable_triton_gemm=false",
		"siglip_triton.json": "--xla_gpu_enable_triton_gemm=true",
	} {
		comp := "siglip-vision"
		if file == "encode.json" {
			comp = "dualtoken-encode"
		}
		dev := int64(3000) << 20
		r := &Result{Schema: Schema, Tool: "evalrun bench", Component: comp, Preset: "so400m-384", Batch: 32,
			DType: "bfloat16", Unit: "img/s", Throughput: 100, XLAFlags: flags, Memory: Memory{DeviceBytes: &dev}}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := Merge(in, "h200", "2026-12-01", "NVIDIA H200")
	var got []string
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "XLA_FLAGS of our runs: ") {
			got = append(got, n)
		}
	}
	if want := "XLA_FLAGS of our runs: --xla_gpu_enable_triton_gemm=false"; len(got) != 1 || got[0] != want {
		t.Errorf("notes %q, want one %q", got, want)
	}
	if e := rep.Components["siglip_vision_bf16_b32"]; e == nil || e.OursTritonGEMM == nil {
		t.Errorf("siglip entry %+v: want the triton rerun beside it", e)
	} else if e.DevicePeakMiB == nil || *e.DevicePeakMiB != 3000 {
		t.Errorf("device MiB %v: want the run's own 3000 (no .gpumem file)", e.DevicePeakMiB)
	}
}

// writeTokenizerRun adds a dualtoken-tokenizer result (so400m-384, batch 16)
// with the given compile seconds to a fake raw folder.
func writeTokenizerRun(t *testing.T, dir, file string, compile float64) {
	t.Helper()
	r := &Result{Schema: Schema, Tool: "evalrun bench", Component: TokenizerComponent, Preset: "so400m-384", Batch: 16,
		DType: "bfloat16", ScanLayers: true, Unit: "img/s", Throughput: 130, AchievedTFLOPs: 100, ShareOfPeak: 0.1,
		Timing:  Timing{CompileSeconds: compile, CompileMethod: "exec.Compile"},
		Config:  map[string]any{"compile": "encode and decode concurrently"},
		Peak:    &Peak{DType: "bfloat16", N: 8192, TFLOPs: 705},
		Backend: "xla:/opt/x/xla_cuda_plugin.so"}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tokenizer_compile: from the dualtoken-tokenizer runs (encode and decode
// compiled at once in one process) where tokenizer.json and
// tokenizer_warm.json exist, with the separate runs' sums beside it; the
// sums alone, as before, without them.
func TestMergeTokenizerCompile(t *testing.T) {
	dir := fakeRaw(t)
	merge := func() *Entry {
		t.Helper()
		in, err := ReadInputs(dir)
		if err != nil {
			t.Fatal(err)
		}
		return Merge(in, "h200", "2026-12-04", "NVIDIA H200").Components["tokenizer_compile"]
	}
	eq := func(what string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	// Without tokenizer*.json: encode + decode summed (100+40 cold, 20+8 warm), no sum fields.
	e := merge()
	eq("ours (sum)", e.Ours, 140)
	eq("cold (sum)", e.CompileCold, 140)
	eq("warm (sum)", e.CompileWarm, 28)
	if e.CompileColdSum != nil || e.CompileWarmSum != nil || !strings.HasPrefix(e.Note, "cold compile of Encode (tower, quantisers, head) plus DecodePixels") {
		t.Errorf("without tokenizer runs: sums %v %v, note %q", e.CompileColdSum, e.CompileWarmSum, e.Note)
	}

	writeTokenizerRun(t, dir, "tokenizer.json", 70)
	writeTokenizerRun(t, dir, "tokenizer_warm.json", 6)
	e = merge()
	eq("ours (concurrent)", e.Ours, 70)
	eq("cold (concurrent)", e.CompileCold, 70)
	eq("warm (concurrent)", e.CompileWarm, 6)
	eq("cold sum", e.CompileColdSum, 140)
	eq("warm sum", e.CompileWarmSum, 28)
	if e.Unit != "s" || e.Source != "tokenizer.json" || e.OursDType != "bfloat16" || !e.ScanLayers || e.Reference != nil || e.Ratio != nil {
		t.Errorf("entry %+v", e)
	}
	for _, s := range []string{"compiled concurrently in one process", "dualtoken-tokenizer", "batch 16", "compile_cold_sum_s / compile_warm_sum_s: the separate"} {
		if !strings.Contains(e.Note, s) {
			t.Errorf("note %q does not say %q", e.Note, s)
		}
	}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"compile_cold_s":70`, `"compile_warm_s":6`, `"compile_cold_sum_s":140`, `"compile_warm_sum_s":28`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("JSON %s lacks %s", data, k)
		}
	}

	// Without the separate runs' warm reruns the warm sum is absent; without
	// the tokenizer's warm rerun its warm compile is null and the note says so.
	os.Remove(filepath.Join(dir, "decode_warm.json"))
	os.Remove(filepath.Join(dir, "tokenizer_warm.json"))
	e = merge()
	eq("cold (concurrent, no warm)", e.CompileCold, 70)
	eq("cold sum (no warm)", e.CompileColdSum, 140)
	if e.CompileWarm != nil || e.CompileWarmSum != nil || !strings.Contains(e.Note, "(no warm run)") {
		t.Errorf("no warm runs: warm %v, warm sum %v, note %q", e.CompileWarm, e.CompileWarmSum, e.Note)
	}

	// Without the separate encode run: the concurrent figure alone.
	os.Remove(filepath.Join(dir, "encode.json"))
	e = merge()
	eq("cold (concurrent only)", e.CompileCold, 70)
	if e.CompileColdSum != nil || strings.Contains(e.Note, "sum") {
		t.Errorf("without encode.json: cold sum %v, note %q", e.CompileColdSum, e.Note)
	}
}

// tokenizer_compile with the executable cache: a tokenizer_xcache run that
// loaded every program is the warm figure, the autotune recompile moves to
// compile_warm_autotune_s; a run that compiled anything is only noted; the
// fill run and the LLVM-parallel run are not taken for the main run.
func TestMergeTokenizerExecutableCache(t *testing.T) {
	dir := fakeRaw(t)
	writeTokenizerRun(t, dir, "tokenizer.json", 70)
	writeTokenizerRun(t, dir, "tokenizer_warm.json", 6)
	writeTokenizerRun(t, dir, "tokenizer_llvmpar.json", 31)
	writeCached := func(file string, compile float64, c ExecutableCache) {
		t.Helper()
		writeTokenizerRun(t, dir, file, compile)
		path := filepath.Join(dir, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		r.ExecutableCache = &c
		if data, err = json.Marshal(&r); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The fill run sorts before tokenizer.json's variants but is one of them.
	writeCached("tokenizer_xcache_fill.json", 75, ExecutableCache{Dir: "/c", Misses: 2, Stored: 2})
	writeCached("tokenizer_xcache.json", 0.8, ExecutableCache{Dir: "/c", Hits: 2})
	merge := func() *Entry {
		t.Helper()
		in, err := ReadInputs(dir)
		if err != nil {
			t.Fatal(err)
		}
		return Merge(in, "h200", "2026-12-04", "NVIDIA H200").Components["tokenizer_compile"]
	}
	e := merge()
	if e.Source != "tokenizer.json" || *e.CompileCold != 70 {
		t.Fatalf("main run %s cold %v, want tokenizer.json 70", e.Source, *e.CompileCold)
	}
	if e.CompileWarm == nil || *e.CompileWarm != 0.8 || e.CompileWarmAutotune == nil || *e.CompileWarmAutotune != 6 {
		t.Errorf("warm %v, warm autotune %v; want 0.8 and 6", e.CompileWarm, e.CompileWarmAutotune)
	}
	if e.CompileColdLLVMParallel == nil || *e.CompileColdLLVMParallel != 31 {
		t.Errorf("LLVM-parallel cold %v, want 31", e.CompileColdLLVMParallel)
	}
	for _, s := range []string{"loading its 2 compiled programs from the executable cache", "compile_warm_autotune_s", "llvm_module_compilation_parallelism"} {
		if !strings.Contains(e.Note, s) {
			t.Errorf("note %q does not say %q", e.Note, s)
		}
	}
	// One program compiled on the "warm" run: not a cache load.
	writeCached("tokenizer_xcache.json", 3, ExecutableCache{Dir: "/c", Hits: 1, Misses: 1, Stored: 1})
	e = merge()
	if *e.CompileWarm != 6 || e.CompileWarmAutotune != nil || !strings.Contains(e.Note, "hits 1, misses 1, errors 0") {
		t.Errorf("partial load: warm %v, autotune %v, note %q", *e.CompileWarm, e.CompileWarmAutotune, e.Note)
	}
	// Without the autotune rerun a full load is the warm figure, and the
	// note does not also say there was no warm run.
	writeCached("tokenizer_xcache.json", 0.8, ExecutableCache{Dir: "/c", Hits: 2})
	os.Remove(filepath.Join(dir, "tokenizer_warm.json"))
	e = merge()
	if e.CompileWarm == nil || *e.CompileWarm != 0.8 || e.CompileWarmAutotune != nil || strings.Contains(e.Note, "no warm run") {
		t.Errorf("load without autotune rerun: warm %v, autotune %v, note %q", e.CompileWarm, e.CompileWarmAutotune, e.Note)
	}
	// A main run whose programs came from an executable cache is called out.
	writeCached("tokenizer.json", 0.5, ExecutableCache{Dir: "/user", Hits: 2})
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := Merge(in, "h200", "2026-12-04", "NVIDIA H200")
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "tokenizer.json: 2 program(s) loaded") }) ||
		slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "tokenizer_xcache") }) {
		t.Errorf("notes %q: want tokenizer.json's loads called out, the xcache steps' not", rep.Notes)
	}
}

// raw/parity_xcache.tsv becomes parity_executable_cache: a run with a cache
// warning is not OK even when its tests passed; a bad line is skipped and
// noted.
func TestMergeParityExecutableCache(t *testing.T) {
	dir := fakeRaw(t)
	tsv := "1\tdualtoken\t0\t21\t3\t0\t7\t0\n2\tdualtoken\t0\t9\t3\t0\t7\t1\nbad\tline\n2\tsiglip\tx\t1\t1\t0\t1\t0\n"
	if err := os.WriteFile(filepath.Join(dir, "parity_xcache.tsv"), []byte(tsv), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := Merge(in, "h200", "2026-12-04", "NVIDIA H200")
	p := rep.ParityExecutableCache
	if len(p) != 2 {
		t.Fatalf("%d rows %+v, want 2", len(p), p)
	}
	if p[0].Run != 1 || !p[0].OK || p[0].Passed != 3 || *p[0].CacheFiles != 7 || p[0].Seconds != 21 {
		t.Errorf("run 1: %+v", p[0])
	}
	if p[1].Run != 2 || p[1].OK || *p[1].Warnings != 1 {
		t.Errorf("run 2 with a warning: %+v, want not OK", p[1])
	}
	// Run 2 passes only when it added no program to the cache.
	for files, ok := range map[string]bool{"7": true, "9": false} {
		tsv := "1\tdualtoken\t0\t21\t3\t0\t7\t0\n2\tdualtoken\t0\t9\t3\t0\t" + files + "\t0\n"
		if err := os.WriteFile(filepath.Join(dir, "parity_xcache.tsv"), []byte(tsv), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := ReadInputs(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := Merge(in, "h200", "2026-12-04", "NVIDIA H200").ParityExecutableCache; len(got) != 2 || !got[0].OK || got[1].OK != ok {
			t.Errorf("run 2 with %s cache files after run 1's 7: %+v, want ok %v", files, got, ok)
		}
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "parity_xcache.tsv") && strings.Contains(n, "siglip") }) {
		t.Errorf("the unreadable line is not noted: %q", rep.Notes)
	}
}
