package perf

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// CardSchema is the version of the card report's JSON.
const CardSchema = 1

// CardReport is reports/perf/<date>-<card>.json: issue 7's schema (card,
// date, device, matmul_bf16_tflops, components: NAME → ours, reference,
// unit, ratio, compile_cold_s, compile_warm_s) with a few additive fields
// that say what each number is, and the schema version every JSON document
// evalrun writes carries (CardSchema; the 2026-11-27 H200 report predates it).
type CardReport struct {
	Schema           int               `json:"schema"`
	Card             string            `json:"card"`
	Date             string            `json:"date"`
	Device           string            `json:"device"`
	MatmulBF16TFLOPs *float64          `json:"matmul_bf16_tflops"`
	Components       map[string]*Entry `json:"components"`
	Notes            []string          `json:"notes,omitempty"`
	Parity           []Parity          `json:"parity,omitempty"`
	// ParityExecutableCache: the parity tests run twice through one
	// executable cache (scripts/gpu/parity_xcache.sh).
	ParityExecutableCache []Parity     `json:"parity_executable_cache,omitempty"`
	Steps                 []Step       `json:"steps,omitempty"`
	Runs                  []RunSummary `json:"runs,omitempty"`
}

// Entry is one component of a CardReport. Reference and Ratio are set only
// where a PyTorch reference ran; CompileWarm is the compile time of the same
// component rerun in a new process after the cold run filled XLA's autotune
// cache (the script's *_warm steps), null when no warm run happened.
// ScanLayers says which formulation the main figure used; OursScan /
// CompileColdScan are a layer-loop rerun (*_scan steps) beside an unrolled
// main run, OursUnrolled / CompileColdUnrolled an unrolled rerun
// (*_unrolled steps) beside a layer-loop main run.
type Entry struct {
	Ours                *float64 `json:"ours"`
	Reference           *float64 `json:"reference,omitempty"`
	Unit                string   `json:"unit"`
	Ratio               *float64 `json:"ratio,omitempty"`
	CompileCold         *float64 `json:"compile_cold_s"`
	CompileWarm         *float64 `json:"compile_warm_s"`
	OursDType           string   `json:"ours_dtype,omitempty"`
	ReferenceName       string   `json:"reference_name,omitempty"`
	ShareOfPeak         *float64 `json:"share_of_peak,omitempty"`
	DevicePeakMiB       *float64 `json:"device_peak_mib,omitempty"`
	Source              string   `json:"source,omitempty"`
	Note                string   `json:"note,omitempty"`
	ScanLayers          bool     `json:"scan_layers"`
	OursScan            *float64 `json:"ours_scan,omitempty"`
	CompileColdScan     *float64 `json:"compile_cold_scan_s,omitempty"`
	OursUnrolled        *float64 `json:"ours_unrolled,omitempty"`
	CompileColdUnrolled *float64 `json:"compile_cold_unrolled_s,omitempty"`
	// OursTritonGEMM / CompileColdTritonGEMM: a rerun (*_triton steps) with
	// XLA's Triton GEMMs on, which backend.New turns off on CUDA.
	OursTritonGEMM        *float64 `json:"ours_triton_gemm,omitempty"`
	CompileColdTritonGEMM *float64 `json:"compile_cold_triton_gemm_s,omitempty"`
	// OursUpsamplePhases / CompileColdUpsamplePhases: a rerun (*_phases
	// step) with DUALTOKEN_UPSAMPLE_CONV=phases, the decoder's upsample
	// convolutions as four 2x2 phase convolutions.
	OursUpsamplePhases        *float64 `json:"ours_upsample_phases,omitempty"`
	CompileColdUpsamplePhases *float64 `json:"compile_cold_upsample_phases_s,omitempty"`
	// CompileColdSum / CompileWarmSum (tokenizer_compile only): the separate
	// dualtoken-encode and -decode runs' compile seconds summed, beside a
	// compile_cold_s / compile_warm_s from the dualtoken-tokenizer runs, which
	// compile both in one process at once.
	CompileColdSum *float64 `json:"compile_cold_sum_s,omitempty"`
	CompileWarmSum *float64 `json:"compile_warm_sum_s,omitempty"`
	// CompileWarmAutotune (tokenizer_compile only): the warm recompile with
	// XLA's autotune cache, kept here when compile_warm_s is a load from the
	// executable cache (tokenizer_xcache step).
	CompileWarmAutotune *float64 `json:"compile_warm_autotune_s,omitempty"`
	// CompileColdLLVMParallel (tokenizer_compile only): a cold compile with
	// --xla_gpu_enable_llvm_module_compilation_parallelism=true
	// (tokenizer_llvmpar step).
	CompileColdLLVMParallel *float64 `json:"compile_cold_llvm_parallel_s,omitempty"`
}

// Parity is one package's parity tests run on the card (raw/parity.tsv:
// package, exit code, seconds, passed, failed).
type Parity struct {
	Package string  `json:"package"`
	OK      bool    `json:"ok"`
	Passed  int     `json:"passed"`
	Failed  int     `json:"failed"`
	Seconds float64 `json:"seconds"`
	// Run, CacheFiles and Warnings are set in parity_executable_cache
	// (raw/parity_xcache.tsv): run 1 compiled into an empty executable cache,
	// run 2 ran on the programs loaded from it; CacheFiles counts the cached
	// programs after the run, Warnings the cache's warnings in its log. OK
	// there also needs no warning.
	Run        int  `json:"run,omitempty"`
	CacheFiles *int `json:"cache_files,omitempty"`
	Warnings   *int `json:"warnings,omitempty"`
}

// Step is one step of the GPU script (steps.tsv: name, exit code, seconds).
type Step struct {
	Name    string  `json:"name"`
	RC      int     `json:"rc"`
	Seconds float64 `json:"seconds"`
	Status  string  `json:"status"` // ok, failed, timed out, skipped
}

// RunSummary is one of our runs as merged.
type RunSummary struct {
	File           string   `json:"file"`
	Component      string   `json:"component"`
	Preset         string   `json:"preset"`
	Batch          int      `json:"batch"`
	DType          string   `json:"dtype"`
	Layers         any      `json:"layers,omitempty"`
	Throughput     float64  `json:"throughput"`
	Unit           string   `json:"unit"`
	AchievedTFLOPs float64  `json:"achieved_tflops"`
	ShareOfPeak    float64  `json:"share_of_peak"`
	CompileSeconds float64  `json:"compile_s"`
	DevicePeakMiB  *float64 `json:"device_peak_mib,omitempty"`
}

// TorchLLM is one line of scripts/gpu/torch_llm_bench.py's JSON output.
type TorchLLM struct {
	Batch            int     `json:"batch"`
	PromptLen        int     `json:"prompt_len"`
	NewTokens        int     `json:"new_tokens"`
	DType            string  `json:"dtype"`
	DecodeTokensPerS float64 `json:"decode_tokens_per_s"`
	Layers           int     `json:"layers"`
	Error            string  `json:"error,omitempty"`
}

// Inputs are the raw files of one GPU script run.
type Inputs struct {
	Runs   map[string]*Result         // file name → our result
	Siglip map[int]map[string]float64 // torch_siglip_bench.py: batch → variant → img/s
	LLM    map[int]TorchLLM           // batch → HF generate
	GPUMiB map[string]float64         // step name → peak nvidia-smi memory.used
	Parity []Parity
	// ParityXCache is raw/parity_xcache.tsv (run, package, exit code,
	// seconds, passed, failed, cache files, warnings).
	ParityXCache []Parity
	// XLACache is raw/xla_cache.txt: "on" when the script's *_warm reruns had
	// XLA's autotune cache, "off" when XLA refused the flag ("" unknown).
	XLACache string
	// XLAFlags is raw/xla_flags.txt: the cache flags XLA took (one a line).
	XLAFlags []string
	Steps    []Step
	Skips    []string // files that could not be read
}

var torchSiglipLine = regexp.MustCompile(`^torch (\S+) (\S+) B=(\d+): ([0-9.]+) ms/batch, ([0-9.]+) img/s`)

// ParseTorchSiglip reads the lines of shared/tools/device/torch_siglip_bench.py
// ("torch sdpa torch.compile B=32: 53.7 ms/batch, 596.0 img/s (warmup …)").
func ParseTorchSiglip(text string) map[int]map[string]float64 {
	out := map[int]map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		m := torchSiglipLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		b, _ := strconv.Atoi(m[3])
		v, err := strconv.ParseFloat(m[5], 64)
		if err != nil {
			continue
		}
		if out[b] == nil {
			out[b] = map[string]float64{}
		}
		out[b][m[2]] = v
	}
	return out
}

// ReadInputs reads a raw directory of the GPU script: *.json our results,
// torch_siglip.out, torch_llm.jsonl, <step>.gpumem (one MiB value a line)
// and steps.tsv. Unreadable files are listed in Skips, not fatal: a partial
// run still merges.
func ReadInputs(dir string) (*Inputs, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	in := &Inputs{Runs: map[string]*Result{}, Siglip: map[int]map[string]float64{}, LLM: map[int]TorchLLM{}, GPUMiB: map[string]float64{}}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(name, ".json"):
			r, err := ReadResult(data)
			if err != nil {
				in.Skips = append(in.Skips, fmt.Sprintf("%s: %v", name, firstLine(err.Error())))
				continue
			}
			in.Runs[name] = r
		case strings.HasPrefix(name, "torch_siglip") && strings.HasSuffix(name, ".out"):
			for b, vs := range ParseTorchSiglip(string(data)) {
				if in.Siglip[b] == nil {
					in.Siglip[b] = map[string]float64{}
				}
				for k, v := range vs {
					in.Siglip[b][k] = v
				}
			}
		case strings.HasPrefix(name, "torch_llm") && strings.HasSuffix(name, ".jsonl"):
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			found := false
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if !strings.HasPrefix(line, "{") {
					continue
				}
				found = true
				var t TorchLLM
				if err := json.Unmarshal([]byte(line), &t); err != nil || t.Error != "" || t.DecodeTokensPerS <= 0 {
					in.Skips = append(in.Skips, fmt.Sprintf("%s: line %q", name, truncate(line, 120)))
					continue
				}
				in.LLM[t.Batch] = t
			}
			if !found {
				in.Skips = append(in.Skips, fmt.Sprintf("%s: no JSON line (want one {\"batch\", \"decode_tokens_per_s\", ...} per batch size)", name))
			}
		case strings.HasSuffix(name, ".gpumem"):
			peak := math.NaN()
			for _, f := range strings.Fields(string(data)) {
				if v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64); err == nil && !(v <= peak) {
					peak = v
				}
			}
			if !math.IsNaN(peak) {
				in.GPUMiB[strings.TrimSuffix(name, ".gpumem")] = peak
			}
		case name == "xla_cache.txt":
			in.XLACache = strings.TrimSpace(string(data))
		case name == "xla_flags.txt":
			for _, l := range strings.Split(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					in.XLAFlags = append(in.XLAFlags, l)
				}
			}
		case name == "parity.tsv":
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Split(strings.TrimSpace(line), "\t")
				if len(f) < 5 {
					continue
				}
				rc, err1 := strconv.Atoi(f[1])
				sec, err2 := strconv.ParseFloat(f[2], 64)
				pass, err3 := strconv.Atoi(f[3])
				fail, err4 := strconv.Atoi(f[4])
				if err := errors.Join(err1, err2, err3, err4); err != nil {
					in.Skips = append(in.Skips, fmt.Sprintf("%s: line %q", name, truncate(line, 120)))
					continue
				}
				in.Parity = append(in.Parity, Parity{Package: f[0], OK: rc == 0 && fail == 0 && pass > 0, Passed: pass, Failed: fail, Seconds: sec})
			}
		case name == "parity_xcache.tsv":
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Split(strings.TrimSpace(line), "\t")
				if len(f) < 8 {
					continue
				}
				var n [6]int
				var errs []error
				for i, j := range []int{0, 2, 4, 5, 6, 7} { // run, rc, passed, failed, files, warnings
					var err error
					n[i], err = strconv.Atoi(f[j])
					errs = append(errs, err)
				}
				sec, err := strconv.ParseFloat(f[3], 64)
				if err = errors.Join(append(errs, err)...); err != nil {
					in.Skips = append(in.Skips, fmt.Sprintf("%s: line %q", name, truncate(line, 120)))
					continue
				}
				run, rc, pass, fail, files, warn := n[0], n[1], n[2], n[3], n[4], n[5]
				in.ParityXCache = append(in.ParityXCache, Parity{Package: f[1], Run: run, OK: rc == 0 && fail == 0 && pass > 0 && warn == 0,
					Passed: pass, Failed: fail, Seconds: sec, CacheFiles: &files, Warnings: &warn})
			}
		case name == "steps.tsv":
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Split(strings.TrimSpace(line), "\t")
				if len(f) < 3 {
					continue
				}
				rc, err1 := strconv.Atoi(f[1])
				s, err2 := strconv.ParseFloat(f[2], 64)
				if err1 != nil || err2 != nil {
					continue
				}
				in.Steps = append(in.Steps, Step{Name: f[0], RC: rc, Seconds: s, Status: stepStatus(rc)})
			}
		}
	}
	return in, nil
}

// stepStatus reads the script's exit codes: 124/137 timeout, 200 skipped.
func stepStatus(rc int) string {
	switch rc {
	case 0:
		return "ok"
	case 124, 137:
		return "timed out"
	case 200:
		return "skipped (time budget)"
	}
	return "failed"
}

func firstLine(s string) string { s, _, _ = strings.Cut(s, "\n"); return s }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func ptr(v float64) *float64 { return &v }

// find returns our run of component/preset/batch (the first by file name).
func (in *Inputs) find(component, preset string, batch int) (string, *Result) {
	names := make([]string, 0, len(in.Runs))
	for n := range in.Runs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := in.Runs[n]
		if variant(n) == "" && r.Component == component && r.Preset == preset && (batch == 0 || r.Batch == batch) {
			return n, r
		}
	}
	return "", nil
}

// variant is "warm", "scan", "unrolled", "triton", "xcache", "xcache_fill",
// "llvmpar" or "phases" for the script's rerun files (siglip_warm.json,
// encode_scan.json, tokenizer_xcache.json, decode_phases.json), "" for a
// main run.
func variant(file string) string {
	for _, v := range []string{"warm", "scan", "unrolled", "triton", "xcache_fill", "xcache", "llvmpar", "phases"} {
		if strings.HasSuffix(stem(file), "_"+v) {
			return v
		}
	}
	return ""
}

// rerun returns the variant run beside main file (siglip.json → siglip_warm.json).
func (in *Inputs) rerun(file, v string) *Result {
	return in.Runs[stem(file)+"_"+v+".json"]
}

// stem is a run file's step name (what its .gpumem is called).
func stem(file string) string { return strings.TrimSuffix(file, ".json") }

// Merge builds the card report from the raw inputs. The names follow issue
// 7: siglip_vision_bf16_b32 (so400m-384, batch 32; reference torch.compile,
// else eager), dualtoken_encode and dualtoken_decode (so400m-384),
// tokenizer_compile (the dualtoken-tokenizer run's compile, encode and
// decode compiled at once, when there is one — the separate runs' sum
// beside it — else their compile seconds summed), recon_eval_end_to_end
// (the recon-eval run at so400m-384 when there is one, else an upper bound
// from the encode, decode and Inception rates), llm_decode_b1 and
// llm_decode_b16 (qwen2.5-3b; reference HF generate).
func Merge(in *Inputs, card, date, device string) *CardReport {
	rep := &CardReport{Schema: CardSchema, Card: card, Date: date, Device: device, Components: map[string]*Entry{}, Steps: in.Steps, Parity: in.Parity,
		ParityExecutableCache: loadedRuns(in.ParityXCache)}
	for _, r := range in.Runs {
		if strings.HasPrefix(r.Backend, "xladry") {
			// A rehearsal (scripts/gpu/bench.sh with GOMLX_BACKEND=xladry).
			rep.Device = "dry run (xladry), not measurements: " + device
			rep.Notes = append(rep.Notes, "DRY RUN: the runs used the xladry backend (XLA programs built, nothing computed on a device); every figure here is meaningless")
			break
		}
	}
	if in.XLACache == "off" {
		rep.Notes = append(rep.Notes, "compile_warm_s: XLA refused the autotune-cache flag on this run, so the warm figures are plain recompiles in a new process")
	}
	if len(in.XLAFlags) > 0 {
		rep.Notes = append(rep.Notes, "compile_warm_s: a new process with the XLA caches the cold run filled ("+strings.Join(in.XLAFlags, " ")+")")
	}
	// The XLA flags our main runs compiled with (backend.New adds Triton
	// GEMMs off on CUDA; the *_triton reruns turn them on).
	flags := map[string]bool{}
	for f, r := range in.Runs {
		if variant(f) != "triton" && r.XLAFlags != "" {
			flags[r.XLAFlags] = true
		}
	}
	if len(flags) > 0 {
		rep.Notes = append(rep.Notes, "XLA_FLAGS of our runs: "+strings.Join(slices.Sorted(maps.Keys(flags)), " | "))
	}
	// Outside the executable-cache steps a cache hit means a "compile" was a load.
	for _, f := range slices.Sorted(maps.Keys(in.Runs)) {
		if c := in.Runs[f].ExecutableCache; c != nil && c.Hits > 0 && !strings.HasPrefix(variant(f), "xcache") {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %d program(s) loaded from an executable cache (%s): its compile seconds are partly loads, not compiles", f, c.Hits, c.Dir))
		}
	}
	entry := func(file string, r *Result) *Entry {
		e := &Entry{Ours: ptr(r.Throughput), Unit: r.Unit, CompileCold: ptr(r.CompileSeconds), OursDType: r.DType,
			ShareOfPeak: ptr(r.ShareOfPeak), Source: file}
		if v, ok := in.GPUMiB[stem(file)]; ok {
			e.DevicePeakMiB = ptr(v)
		} else if r.Memory.DeviceBytes != nil { // the run's own nvidia-smi samples
			e.DevicePeakMiB = ptr(float64(*r.Memory.DeviceBytes) / (1 << 20))
		}
		if l, ok := r.Config["layers"]; ok {
			e.Source += fmt.Sprintf(" (%v layers)", l)
		}
		if w := in.rerun(file, "warm"); w != nil {
			e.CompileWarm = ptr(w.CompileSeconds)
		}
		if sc := in.rerun(file, "scan"); sc != nil {
			e.OursScan, e.CompileColdScan = ptr(sc.Throughput), ptr(sc.CompileSeconds)
		}
		if u := in.rerun(file, "unrolled"); u != nil {
			e.OursUnrolled, e.CompileColdUnrolled = ptr(u.Throughput), ptr(u.CompileSeconds)
		}
		if tr := in.rerun(file, "triton"); tr != nil {
			e.OursTritonGEMM, e.CompileColdTritonGEMM = ptr(tr.Throughput), ptr(tr.CompileSeconds)
		}
		if ph := in.rerun(file, "phases"); ph != nil {
			e.OursUpsamplePhases, e.CompileColdUpsamplePhases = ptr(ph.Throughput), ptr(ph.CompileSeconds)
		}
		e.ScanLayers = r.ScanLayers
		return e
	}
	withRef := func(e *Entry, ref float64, name string) {
		e.Reference, e.ReferenceName = ptr(ref), name
		e.Ratio = ptr(*e.Ours / ref)
	}

	if f, r := in.find("siglip-vision", "so400m-384", 32); r != nil {
		e := entry(f, r)
		if refs := in.Siglip[32]; refs != nil {
			if v, ok := refs["torch.compile"]; ok {
				withRef(e, v, "HF SiglipVisionModel bf16 SDPA, torch.compile (torch_siglip_bench.py)")
			} else if v, ok := refs["eager-module"]; ok {
				withRef(e, v, "HF SiglipVisionModel bf16 SDPA, eager (torch.compile did not run)")
			}
		}
		rep.Components["siglip_vision_bf16_b32"] = e
	}
	var enc, dec, inc *Result
	var encF, decF string
	if f, r := in.find("dualtoken-encode", "so400m-384", 0); r != nil {
		enc, encF = r, f
		rep.Components["dualtoken_encode"] = entry(f, r)
	}
	if f, r := in.find("dualtoken-decode", "so400m-384", 0); r != nil {
		dec, decF = r, f
		rep.Components["dualtoken_decode"] = entry(f, r)
	}
	if _, r := in.find("inception", "fid-299", 0); r != nil {
		inc = r
	}
	if enc != nil && dec != nil {
		s := enc.CompileSeconds + dec.CompileSeconds
		e := &Entry{Ours: ptr(s), Unit: "s", CompileCold: ptr(s), OursDType: enc.DType,
			Note: "cold compile of Encode (tower, quantisers, head) plus DecodePixels (decoder), each in a fresh process; warm: the same in new processes with XLA's autotune cache filled by the cold runs"}
		if we, wd := in.rerun(encF, "warm"), in.rerun(decF, "warm"); we != nil && wd != nil {
			e.CompileWarm = ptr(we.CompileSeconds + wd.CompileSeconds)
		}
		rep.Components["tokenizer_compile"] = e
	}
	if f, r := in.find(TokenizerComponent, "so400m-384", 0); r != nil {
		e := tokenizerCompileEntry(f, r, in.rerun(f, "warm"), rep.Components["tokenizer_compile"])
		withExecutableCache(e, in.rerun(f, "xcache"))
		if p := in.rerun(f, "llvmpar"); p != nil {
			e.CompileColdLLVMParallel = ptr(p.CompileSeconds)
			e.Note += "; compile_cold_llvm_parallel_s: the same cold compile with --xla_gpu_enable_llvm_module_compilation_parallelism=true and an empty autotune cache of its own"
		}
		rep.Components["tokenizer_compile"] = e
	}
	if f, r := in.find(ReconEvalComponent, "so400m-384", 0); r != nil {
		rep.Components["recon_eval_end_to_end"] = reconEvalEntry(entry(f, r), r)
	} else if enc != nil && dec != nil && inc != nil {
		rate := 1 / (1/enc.Throughput + 1/dec.Throughput + 1/inc.Throughput)
		rep.Components["recon_eval_end_to_end"] = &Entry{Ours: ptr(rate), Unit: "img/s", OursDType: enc.DType,
			Note: "upper bound, not a measured end-to-end run: 1/(1/encode + 1/decode + 1/inception) from the separate runs; leaves out PSNR/SSIM, image I/O and resizing"}
	}
	for _, b := range []int{1, 16} {
		f, r := in.find("llm-decode", "qwen2.5-3b", b)
		if r == nil {
			continue
		}
		e := entry(f, r)
		if t, ok := in.LLM[b]; ok {
			if l, ok := r.Config["layers"].(float64); !ok || t.Layers == 0 || int(l) == t.Layers {
				withRef(e, t.DecodeTokensPerS, fmt.Sprintf("HF generate, %s, greedy, %d-token prompt (decode rate: (t(N)−t(1)) over N−1 tokens)", t.DType, t.PromptLen))
			} else {
				e.Note = fmt.Sprintf("reference skipped: it ran %d layers, ours %v", t.Layers, r.Config["layers"])
			}
		}
		rep.Components[fmt.Sprintf("llm_decode_b%d", b)] = e
	}

	var bf16 []float64
	names := make([]string, 0, len(in.Runs))
	for n := range in.Runs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := in.Runs[n]
		if r.Peak != nil && r.Peak.DType == "bfloat16" {
			bf16 = append(bf16, r.Peak.TFLOPs)
		}
		s := RunSummary{File: n, Component: r.Component, Preset: r.Preset, Batch: r.Batch, DType: r.DType, Layers: r.Config["layers"],
			Throughput: r.Throughput, Unit: r.Unit, AchievedTFLOPs: r.AchievedTFLOPs, ShareOfPeak: r.ShareOfPeak, CompileSeconds: r.CompileSeconds}
		if v, ok := in.GPUMiB[stem(n)]; ok {
			s.DevicePeakMiB = ptr(v)
		}
		rep.Runs = append(rep.Runs, s)
	}
	if len(bf16) > 0 {
		slices.Sort(bf16)
		rep.MatmulBF16TFLOPs = ptr(median(bf16))
		rep.Notes = append(rep.Notes, fmt.Sprintf("matmul_bf16_tflops: median over %d runs of the fastest of 10 calls of 8 chained 8192³ bf16 matmuls", len(bf16)))
	}
	for _, e := range rep.Components {
		if e.OursDType != "" && e.OursDType != "bfloat16" {
			rep.Notes = append(rep.Notes, "some of ours ran float32 (run evalrun bench with --dtype bfloat16 to compare like with like; on the XLA CUDA backend float32 matmuls use TF32), the PyTorch references bf16: ratios compare those")
			break
		}
	}
	for _, s := range in.Skips {
		rep.Notes = append(rep.Notes, "unreadable input: "+s)
	}
	return rep
}

// tokenizerCompileEntry is tokenizer_compile from the dualtoken-tokenizer
// runs (file, its cold run r and warm rerun w, nil if none), which compile
// Encode's and DecodePixels' executables at once in one process; sum, the
// entry of the separate encode and decode runs (nil if they did not both
// run), stays beside it as compile_cold_sum_s / compile_warm_sum_s.
func tokenizerCompileEntry(file string, r, w *Result, sum *Entry) *Entry {
	e := &Entry{Ours: ptr(r.CompileSeconds), Unit: "s", CompileCold: ptr(r.CompileSeconds), OursDType: r.DType,
		Source: file, ScanLayers: r.ScanLayers,
		Note: fmt.Sprintf("cold compile of Encode (tower, quantisers, head) and DecodePixels (decoder) compiled concurrently in one process (%s: dualtoken.Model.Compile's wall time, batch %d); warm: the same in a new process with XLA's autotune cache filled by that cold run", TokenizerComponent, r.Batch)}
	if w != nil {
		e.CompileWarm = ptr(w.CompileSeconds)
	} else {
		e.Note += " (no warm run)"
	}
	if sum != nil {
		e.CompileColdSum, e.CompileWarmSum = sum.CompileCold, sum.CompileWarm
		e.Note += "; compile_cold_sum_s / compile_warm_sum_s: the separate dualtoken-encode and dualtoken-decode runs' compile seconds summed, each in its own process (first call minus median step, weight upload included)"
	}
	return e
}

// loadedRuns marks run 2 of parity_xcache.tsv not OK unless run 1 stored
// programs and run 2 added none (a run that compiled anything stored it:
// its tests then ran on compiled, not loaded, programs).
func loadedRuns(rows []Parity) []Parity {
	first := map[string]int{}
	for _, p := range rows {
		if p.Run == 1 && p.CacheFiles != nil {
			first[p.Package] = *p.CacheFiles
		}
	}
	out := slices.Clone(rows)
	for i, p := range out {
		if p.Run != 2 {
			continue
		}
		n, ok := first[p.Package]
		if !ok || n == 0 || p.CacheFiles == nil || *p.CacheFiles != n {
			out[i].OK = false
		}
	}
	return out
}

// withExecutableCache makes a run that loaded every program from the
// executable cache (x, the tokenizer_xcache step; nil if none) the warm
// figure, keeping the autotune-cache recompile as compile_warm_autotune_s. A
// run that compiled anything, or failed to load or store, is only noted.
func withExecutableCache(e *Entry, x *Result) {
	if x == nil {
		return
	}
	c := x.ExecutableCache
	switch {
	case c == nil:
		e.Note += "; tokenizer_xcache ran without the executable cache (no xla_executable_cache in its output): not used"
	case c.Hits == 0 || c.Misses > 0 || c.Errors > 0:
		e.Note += fmt.Sprintf("; tokenizer_xcache did not load every program from the executable cache (hits %d, misses %d, errors %d): compile_warm_s stays the autotune-cache recompile", c.Hits, c.Misses, c.Errors)
	case e.CompileWarm == nil:
		e.CompileWarm = ptr(x.CompileSeconds)
		e.Note = strings.Replace(e.Note, " (no warm run)", "", 1)
		e.Note += fmt.Sprintf("; compile_warm_s: a new process loading its %d compiled programs from the executable cache (DUALTOKEN_XLA_CACHE, backend/xlacache) that another process filled (no autotune-cache recompile ran)", c.Hits)
	default:
		e.CompileWarmAutotune, e.CompileWarm = e.CompileWarm, ptr(x.CompileSeconds)
		e.Note += fmt.Sprintf("; compile_warm_s: a new process loading its %d compiled programs from the executable cache (DUALTOKEN_XLA_CACHE, backend/xlacache) that another process filled; compile_warm_autotune_s: the recompile with XLA's autotune cache", c.Hits)
	}
}

// reconEvalEntry makes the measured recon-eval run issue 7's
// recon_eval_end_to_end: ours is the end-to-end rate over the timed batches
// (ReconEval.ImgPerS; the median step's rate for a run without the breakdown),
// compile the two graphs' first-call cost, and the note says what ran and
// where the time went.
func reconEvalEntry(e *Entry, r *Result) *Entry {
	re := r.ReconEval
	if re == nil || re.ImgPerS <= 0 {
		e.Note = fmt.Sprintf("measured end to end: recon-eval %s, batch %d, %s (median step; no stage breakdown in the file)", r.Preset, r.Batch, r.DType)
		return e
	}
	e.Ours = ptr(re.ImgPerS)
	mode := "batches as evalrun run schedules them"
	if !re.Overlapped {
		mode = "each batch in turn (--no-overlap)"
	}
	var stages []string
	for _, n := range StageNames {
		stages = append(stages, fmt.Sprintf("%s %.2f", n, 1e3*re.StagePerImage[n]))
	}
	e.Note = fmt.Sprintf("measured end to end: recon-eval %s, batch %d, %s, %s, %d timed images in %.1f s (the recon task's Predict on image files: decode, crop, Reconstruct, PSNR/SSIM, JPEG q95 round trips and Inception pool3 of ground truth and reconstruction, predictions written; random weights); ms/img: %s; bottleneck %s; device-bound rate %.0f img/s; 50,000 images would take %.1f min",
		r.Preset, r.Batch, r.DType, mode, re.TimedImages, re.Window, strings.Join(stages, ", "), re.Bottleneck, re.DeviceBound, 50000/re.ImgPerS/60)
	return e
}

// Names lists the report's components in issue 7's order.
func (r *CardReport) Names() []string {
	order := []string{"siglip_vision_bf16_b32", "dualtoken_encode", "dualtoken_decode", "recon_eval_end_to_end",
		"tokenizer_compile", "llm_decode_b1", "llm_decode_b16"}
	var out []string
	for _, n := range order {
		if _, ok := r.Components[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// WriteJSON writes the report, indented, to path.
func (r *CardReport) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
