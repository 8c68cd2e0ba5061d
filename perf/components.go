package perf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/scan"
	"github.com/dualtoken/evalharness/model/siglip"
)

// Options size a workload.
type Options struct {
	Component, Preset string
	Batch             int
	DType             dtypes.DType // compute dtype: float32 (also the zero value) or bfloat16; inception always runs float32
	Layers            int          // transformer layers instead of the preset's (siglip, llm); 0 = preset
	// ScanLayers runs the transformer layers as one loop over stacked weights
	// (siglip.VisionConfig.ScanLayers, llm.Config.ScanLayers; for
	// dualtoken-encode the tower's, in runs between the taps) instead of
	// unrolled: compile time independent of the depth.
	ScanLayers    bool
	PromptLen     int // llm: prompt tokens per row (default 128)
	SeqLen        int // siglip-text: tokens per text (default: the preset's max positions)
	Seed          uint64
	Warmup, Iters int // llm-decode sizes its cache to fit them; recon-eval runs 1+Warmup+Iters batches
	// NoOverlap runs recon-eval's stages one after another instead of as a
	// pipeline (the baseline the overlap is measured against).
	NoOverlap bool
}

// TokenizerComponent is the whole tokenizer as issue 7's tokenizer_compile
// counts it: dualtoken.Model.Compile of Encode's and DecodePixels'
// executables at once (compile_s is its wall time), then steps of Encode
// followed by DecodePixels of the codes it returned.
const TokenizerComponent = "dualtoken-tokenizer"

// ReconstructComponent is Model.ReconstructUint8 as the recon task calls it:
// image bytes uploaded from the host and reconstructions and codes copied
// back every step, so its rate beside dualtoken-encode's and -decode's
// (inputs on the device) shows what the transfers and the one-graph form
// cost.
const ReconstructComponent = "dualtoken-reconstruct"

// ErrOptions marks errors in Options: bad input, not a failed run.
var ErrOptions = errors.New("bad benchmark options")

type optionsError struct{ msg string }

func (e *optionsError) Error() string { return e.msg }
func (e *optionsError) Unwrap() error { return ErrOptions }

func badOptions(format string, args ...any) error {
	return &optionsError{fmt.Sprintf(format, args...)}
}

// ParseDType maps a --dtype value to a compute dtype the models implement:
// float32 or bfloat16 (precision.Parse); anything else is an ErrOptions.
func ParseDType(name string) (dtypes.DType, error) {
	dt, err := precision.Parse(name)
	if err != nil {
		return dtypes.InvalidDType, &optionsError{err.Error()}
	}
	return dt, nil
}

// lowPrecisionNote says what a bfloat16 workload keeps in float32.
const lowPrecisionNote = "bfloat16: weight matrices stored in bfloat16 (Model.SetDType), matmuls and activations in bfloat16; norms, softmax, RoPE, quantisers and logits in float32"

// precisionNotes are the notes a workload in dt adds.
func precisionNotes(dt dtypes.DType) []string {
	if dt == precision.F32 {
		return nil
	}
	return []string{lowPrecisionNote}
}

// Build prepares the workload o names on backend b with deterministic random weights.
func Build(b compute.Backend, o Options) (*Workload, error) {
	if err := CheckComponent(o.Component, o.Preset); err != nil {
		return nil, badOptions("%v", err)
	}
	if o.Warmup < 0 || o.Iters < 0 {
		return nil, badOptions("--warmup %d and --iters %d must not be negative", o.Warmup, o.Iters)
	}
	if o.Batch < 1 {
		return nil, badOptions("--batch must be at least 1, got %d", o.Batch)
	}
	if err := precision.Check(o.DType); err != nil {
		return nil, badOptions("--dtype: %v", err)
	}
	o.DType = precision.Compute(o.DType)
	if o.Layers < 0 {
		return nil, badOptions("--layers must be positive, got %d", o.Layers)
	}
	if o.NoOverlap && o.Component != ReconEvalComponent {
		return nil, badOptions("--no-overlap applies to %s only", ReconEvalComponent)
	}
	if o.ScanLayers {
		switch o.Component {
		case "dualtoken-decode", "inception":
			return nil, badOptions("--scan-layers applies to siglip-*, dualtoken-encode, %s, %s, recon-eval and llm-*: %s has no transformer layers", TokenizerComponent, ReconstructComponent, o.Component)
		}
		if err := scan.CheckBackend(b); err != nil {
			return nil, badOptions("--scan-layers: %v", err)
		}
	}
	var build func(compute.Backend, Options) (*Workload, error)
	switch o.Component {
	case "siglip-vision":
		build = buildSiglipVision
	case "siglip-text":
		build = buildSiglipText
	case "dualtoken-encode", "dualtoken-decode", TokenizerComponent, ReconstructComponent:
		build = buildDualToken
	case "llm-prefill", "llm-decode":
		build = buildLLM
	case "inception":
		build = buildInception
	case ReconEvalComponent:
		build = buildReconEval
	default:
		return nil, badOptions("unknown component %q", o.Component)
	}
	w, err := build(b, o)
	if backend.IsDryRun(b) && err == nil {
		w.Notes = append(w.Notes, "xladry: the XLA programs were built (see "+backend.EnvDryRunDump+"), nothing was compiled or run: timings are the host side only")
	}
	return w, err
}

// uniform is a host tensor of values uniform in [-1,1) (pixels in the range
// the models expect), placed on the device once so steps time no upload.
func uniform(b compute.Backend, seed uint64, dims ...int) (*tensors.Tensor, error) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(2*rng.Float64() - 1)
	}
	t := tensors.FromFlatDataAndDimensions(v, dims...)
	return t, t.MaterializeOnDevice(b, false, 0)
}

// integers is a device tensor of values uniform in [0,hi).
func integers[T int32 | int64](b compute.Backend, seed uint64, hi int, dims ...int) (*tensors.Tensor, error) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 0x1d5))
	v := make([]T, n)
	for i := range v {
		v[i] = T(rng.IntN(hi))
	}
	t := tensors.FromFlatDataAndDimensions(v, dims...)
	return t, t.MaterializeOnDevice(b, false, 0)
}

// fetch brings outputs to the host (so the step has finished) and frees them.
func fetch(outs ...*tensors.Tensor) error {
	var first error
	for _, o := range outs {
		if o == nil {
			continue
		}
		if err := o.ToLocal(); err != nil && first == nil {
			first = err
		}
		o.FinalizeAll()
	}
	return first
}

// weightBytes records the memory of the model's weights and, with
// --scan-layers, of the stacked copy of its layer weights that the loops read
// (host memory; on a GPU only the stack goes to the device, not the layers).
func weightBytes(w *Workload, s *model.Store, stacked int64) {
	w.Config["weight_bytes"] = precision.Bytes(s.IterVariables()) - stacked
	if stacked > 0 {
		w.Config["stacked_weight_bytes"] = stacked
	}
}

func storeParams(s *model.Store) int64 {
	var n int64
	for v := range s.IterVariables() {
		if strings.Contains(v.Path(), "/"+llm.StackedScope+"/") || strings.Contains(v.Path(), "/"+siglip.StackedScope+"/") {
			continue // the stacked copy of layer weights (--scan-layers) holds no parameters of its own
		}
		n += int64(v.Shape().Size())
	}
	return n
}

// execWorkload fills Compile/Step/Close for a one-input exec.
func execWorkload(w *Workload, exec *model.Exec, input *tensors.Tensor) *Workload {
	w.Compile = func() error {
		_, err := exec.Compile(input.Shape())
		return err
	}
	w.Step = func() error {
		out, err := exec.Exec(input)
		if err != nil {
			return err
		}
		return fetch(out...)
	}
	w.Close = func() { exec.Finalize(); input.FinalizeAll() }
	return w
}

// layeredModel is a SigLIP or LLM model: dtype and layer formulation settable.
type layeredModel interface {
	SetDType(dtypes.DType) error
	SetScanLayers(bool) error
}

// prepare puts a random model in o's dtype (a no-op in float32) and layer
// formulation (unrolled or loops).
func prepare(m layeredModel, o Options) error {
	if err := m.SetDType(o.DType); err != nil {
		return err
	}
	return m.SetScanLayers(o.ScanLayers)
}

func buildSiglipVision(b compute.Backend, o Options) (*Workload, error) {
	cfg, err := SiglipVisionConfig(o.Preset)
	if err != nil {
		return nil, err
	}
	if o.Layers > 0 {
		cfg.Vision.NumLayers = o.Layers
	}
	v := &cfg.Vision
	start := time.Now()
	m, err := siglip.NewBenchRandom(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	if err := prepare(m, o); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, m.Store, func(root *model.Scope, px *Node) *Node {
		return siglip.Vision(siglip.VisionScope(root), v, px).Pooled
	})
	if err != nil {
		return nil, err
	}
	px, err := uniform(b, o.Seed+1, o.Batch, v.NumChannels, v.ImageSize, v.ImageSize)
	if err != nil {
		return nil, err
	}
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "img/s",
		ItemsPerCall: float64(o.Batch), FLOPsPerCall: float64(o.Batch) * SiglipVision(v),
		Params: storeParams(m.Store), SetupSeconds: time.Since(start).Seconds(),
		Config: map[string]any{"width": v.HiddenSize, "layers": v.NumLayers, "heads": v.NumHeads, "mlp": v.IntermediateSize,
			"patch": v.PatchSize, "image": v.ImageSize, "tokens": v.NumPatches()},
		Notes: append([]string{"pixels [B,3,S,S] to the MAP-head pooled embedding (siglip.Vision), input already on the device, output copied to the host"},
			precisionNotes(o.DType)...),
		DType: o.DType,
	}
	weightBytes(w, m.Store, m.StackedBytes())
	return execWorkload(w, exec, px), nil
}

func buildSiglipText(b compute.Backend, o Options) (*Workload, error) {
	cfg, err := SiglipTextConfig(o.Preset)
	if err != nil {
		return nil, err
	}
	t := cfg.Text
	if o.Layers > 0 {
		t.NumLayers = o.Layers
	}
	seq := o.SeqLen
	if seq == 0 {
		seq = t.MaxPositions
	}
	if seq < 1 || seq > t.MaxPositions {
		return nil, badOptions("--seq-len %d: the %s text tower takes 1..%d tokens", seq, o.Preset, t.MaxPositions)
	}
	start := time.Now()
	m, err := siglip.NewBenchRandom(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	if err := prepare(m, o); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, m.Store, func(root *model.Scope, ids *Node) *Node {
		return siglip.Text(siglip.TextScope(root), t, ids).Pooled
	})
	if err != nil {
		return nil, err
	}
	ids, err := integers[int32](b, o.Seed+1, t.VocabSize, o.Batch, seq)
	if err != nil {
		return nil, err
	}
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "texts/s",
		ItemsPerCall: float64(o.Batch), FLOPsPerCall: float64(o.Batch) * SiglipText(t, seq),
		Params: storeParams(m.Store), SetupSeconds: time.Since(start).Seconds(),
		Config: map[string]any{"width": t.HiddenSize, "layers": t.NumLayers, "heads": t.NumHeads, "mlp": t.IntermediateSize,
			"vocab": t.VocabSize, "seq_len": seq},
		Notes: append([]string{"ids [B,L] to the pooled text embedding (siglip.Text); params include a placeholder vision tower of a few weights"},
			precisionNotes(o.DType)...),
		DType: o.DType,
	}
	weightBytes(w, m.Store, m.StackedBytes())
	return execWorkload(w, exec, ids), nil
}

func buildInception(b compute.Backend, o Options) (*Workload, error) {
	start := time.Now()
	store := model.NewStore()
	if err := inception.LoadVariables(store.RootScope(), inception.FormulaWeights(inception.StateDictSpecs())); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, store, func(scope *model.Scope, x *Node) *Node {
		pool3, _ := inception.Forward(scope, x)
		return pool3
	})
	if err != nil {
		return nil, err
	}
	x, err := uniform(b, o.Seed+1, o.Batch, 3, inception.InputSize, inception.InputSize)
	if err != nil {
		return nil, err
	}
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "img/s",
		ItemsPerCall: float64(o.Batch), FLOPsPerCall: float64(o.Batch) * Inception(inception.InputSize),
		Params: storeParams(store), SetupSeconds: time.Since(start).Seconds(),
		Config: map[string]any{"image": inception.InputSize, "output": "pool3"},
		Notes:  []string{"pytorch-fid InceptionV3 to pool3 with the fixtures' formula weights (BatchNorm folded at load), NCHW input on the device"},
		DType:  precision.F32,
	}
	if o.DType != precision.F32 {
		w.Notes = append(w.Notes, fmt.Sprintf("runs in float32 whatever --dtype (%s asked): FID's pool3 features are defined by the float32 network, and the reported dtype says float32", precision.Name(o.DType)))
	}
	return execWorkload(w, exec, x), nil
}

func buildDualToken(b compute.Backend, o Options) (*Workload, error) {
	if o.Layers > 0 {
		return nil, badOptions("--layers does not apply to %s: the taps fix the tower depth", o.Component)
	}
	fc, err := DualTokenConfig(o.Preset)
	if err != nil {
		return nil, err
	}
	upsample, err := dualtoken.UpsampleConvForm()
	if err != nil {
		return nil, badOptions("%v", err)
	}
	start := time.Now()
	tower, err := siglip.NewBenchRandom(fc.Tower, o.Seed)
	if err != nil {
		return nil, err
	}
	m := dualtoken.NewModel(b, fc)
	if err := m.Init(tower, o.Seed+1); err != nil {
		return nil, err
	}
	if err := m.SetDType(o.DType); err != nil { // a no-op in float32
		return nil, err
	}
	view := m.Siglip() // the tower in the tokenizer's store: loops between the taps
	if err := view.SetScanLayers(o.ScanLayers); err != nil {
		return nil, err
	}
	v := &fc.Tower.Vision
	_, q := fc.PixelQuantizer()
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "img/s", ItemsPerCall: float64(o.Batch),
		Params: storeParams(m.Store),
		Config: map[string]any{"tower_width": v.HiddenSize, "tower_layers": v.NumLayers, "image": v.ImageSize, "patch": v.PatchSize,
			"grid": fc.Grid(), "depth": q.Depth(), "codes": q.NEmbed, "output": fc.Decoder.Resolution,
			"layer_recon": fc.LayerRecon, "layer_sem": fc.LayerSem, "upsample_conv": upsample},
		Notes: precisionNotes(o.DType), DType: o.DType,
	}
	weightBytes(w, m.Store, view.StackedBytes())
	switch o.Component {
	case "dualtoken-encode":
		px, err := uniform(b, o.Seed+2, o.Batch, v.NumChannels, v.ImageSize, v.ImageSize)
		if err != nil {
			return nil, err
		}
		w.FLOPsPerCall = float64(o.Batch) * DualTokenEncode(fc)
		w.Notes = append([]string{"dualtoken.Model.Encode: tower, both quantisers (eval), semantic postquant, rest of the tower and MAP head; pixel and semantic codes and pooled embedding copied to the host"}, w.Notes...)
		w.Step = func() error {
			enc, err := m.Encode(px)
			if err != nil {
				return err
			}
			return fetch(enc.PixelCodes, enc.SemanticCodes, enc.Pooled)
		}
		w.Close = func() { m.Reset(); px.FinalizeAll() }
	case TokenizerComponent:
		px, err := uniform(b, o.Seed+2, o.Batch, v.NumChannels, v.ImageSize, v.ImageSize)
		if err != nil {
			return nil, err
		}
		w.FLOPsPerCall = float64(o.Batch) * (DualTokenEncode(fc) + DualTokenDecode(fc))
		w.Config["compile"] = "encode and decode concurrently"
		w.Notes = append([]string{
			"compile_s: dualtoken.Model.Compile(batch, \"encode\", \"decode\"), the wall time of building and compiling Encode's and DecodePixels' executables at once, in goroutines (issue 7's tokenizer compile: tower, both quantisers, head and decoder); on XLA the weights go to the device in the first call, outside compile_s (dualtoken-encode's and -decode's compile_s, a first call minus the median step, include that upload)",
			"a step: Encode (as dualtoken-encode) then DecodePixels (as dualtoken-decode) of the pixel codes it returned, on the device; both calls' outputs copied to the host",
		}, w.Notes...)
		w.Compile = func() error { return m.Compile(o.Batch, "encode", "decode") }
		w.Step = func() error {
			enc, err := m.Encode(px)
			if err != nil {
				return err
			}
			img, err := m.DecodePixels(enc.PixelCodes)
			if err != nil {
				return errors.Join(err, fetch(enc.PixelCodes, enc.SemanticCodes, enc.Pooled))
			}
			return fetch(enc.PixelCodes, enc.SemanticCodes, enc.Pooled, img)
		}
		w.Close = func() { m.Reset(); px.FinalizeAll() }
	case ReconstructComponent:
		// Random bytes as the recon task's crops, kept on the host.
		rng := rand.New(rand.NewPCG(o.Seed+2, 0x5eed))
		pix := make([]uint8, o.Batch*v.ImageSize*v.ImageSize*v.NumChannels)
		for i := range pix {
			pix[i] = uint8(rng.IntN(256))
		}
		w.FLOPsPerCall = float64(o.Batch) * DualTokenReconstruct(fc)
		w.Config["input"] = "host uint8"
		w.Notes = append([]string{
			"dualtoken.Model.ReconstructUint8 as the recon task calls it: uint8 images uploaded from the host every step, normalised on the device, tower to the taps, pixel quantiser and decoder in one graph, uint8 reconstructions and int64 codes copied back",
			"compile_s: dualtoken.Model.Compile(batch, \"reconstruct-uint8\")",
		}, w.Notes...)
		w.Compile = func() error { return m.Compile(o.Batch, "reconstruct-uint8") }
		w.Step = func() error {
			x := tensors.FromFlatDataAndDimensions(pix, o.Batch, v.ImageSize, v.ImageSize, v.NumChannels)
			defer x.FinalizeAll()
			img, codes, err := m.ReconstructUint8(x)
			if err != nil {
				return err
			}
			defer img.FinalizeAll()
			defer codes.FinalizeAll()
			return errors.Join(tensors.ConstFlatData(img, func([]uint8) {}), tensors.ConstFlatData(codes, func([]int64) {}))
		}
		w.Close = func() { m.Reset() }
	default:
		codes, err := integers[int64](b, o.Seed+2, q.NEmbed, o.Batch, q.CodeShape[0], q.CodeShape[1], q.Depth())
		if err != nil {
			return nil, err
		}
		w.FLOPsPerCall = float64(o.Batch) * DualTokenDecode(fc)
		w.Notes = append([]string{"dualtoken.Model.DecodePixels: code lookup, postquant_pix, resize, post_quant_conv, VQGAN decoder; images copied to the host"}, w.Notes...)
		w.Step = func() error {
			img, err := m.DecodePixels(codes)
			if err != nil {
				return err
			}
			return fetch(img)
		}
		w.Close = func() { m.Reset(); codes.FinalizeAll() }
	}
	w.SetupSeconds = time.Since(start).Seconds()
	return w, nil
}

func buildLLM(b compute.Backend, o Options) (*Workload, error) {
	cfg, err := LLMConfig(o.Preset)
	if err != nil {
		return nil, err
	}
	if o.Layers > 0 {
		cfg.NumLayers = o.Layers
	}
	P := o.PromptLen
	if P == 0 {
		P = 128
	}
	if P < 1 {
		return nil, badOptions("--prompt-len must be at least 1, got %d", P)
	}
	start := time.Now()
	m, err := llm.New(b, cfg, llm.BenchWeights(cfg, o.Seed))
	if err != nil {
		return nil, err
	}
	if err := prepare(m, o); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed+1, 7))
	prompt := llm.Input{IDs: make([][]int, o.Batch)}
	step := llm.Input{IDs: make([][]int, o.Batch)}
	for r := range o.Batch {
		prompt.IDs[r] = make([]int, P)
		for i := range P {
			prompt.IDs[r][i] = rng.IntN(cfg.VocabSize)
		}
		step.IDs[r] = []int{rng.IntN(cfg.VocabSize)}
	}
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "tokens/s", Params: int64(cfg.NumParameters()),
		Config: map[string]any{"width": cfg.HiddenSize, "layers": cfg.NumLayers, "heads": cfg.NumHeads, "kv_heads": cfg.NumKVHeads,
			"head_dim": cfg.HeadDim, "mlp": cfg.Intermediate, "vocab": cfg.VocabSize, "prompt_len": P},
		DType: o.DType,
	}
	weightBytes(w, m.Store, m.StackedBytes())
	extra := precisionNotes(o.DType)
	if extra != nil {
		extra[0] += "; KV cache in bfloat16"
	}
	if o.Component == "llm-prefill" {
		w.ItemsPerCall = float64(o.Batch * P)
		w.FLOPsPerCall = float64(o.Batch) * LLMPrefill(cfg, P)
		w.Notes = append([]string{"State.Append of B prompts into an empty cache (llm.NewState), last-position logits copied to the host; tokens/s counts prompt tokens"}, extra...)
		w.Step = func() error {
			st, err := m.NewState(o.Batch, P)
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.Append(prompt, nil)
			return err
		}
		w.Close = func() {}
		w.SetupSeconds = time.Since(start).Seconds()
		return w, nil
	}
	// Decode: the prompt goes in untimed (it compiles the prefill graph);
	// then every Step appends one token per row.
	steps := 1 + o.Warmup + o.Iters
	st, err := m.NewState(o.Batch, P+steps)
	if err != nil {
		return nil, err
	}
	w.SetupSeconds = time.Since(start).Seconds()
	t0 := time.Now()
	if _, err := st.Append(prompt, nil); err != nil {
		return nil, err
	}
	prefill := time.Since(t0).Seconds()
	// Timed steps k = 1+warmup .. warmup+iters (0 = the first call) see
	// P+k+1 positions; FLOPs use their mean.
	meanContext := float64(P+1+o.Warmup) + float64(o.Iters+1)/2
	w.ItemsPerCall = float64(o.Batch)
	w.FLOPsPerCall = float64(o.Batch) * (LLMDecodeToken(cfg, 0) + llmAttendPairs(cfg, 1)*meanContext)
	w.Config["cache_slots"] = st.Capacity()
	w.Config["prefill_first_call_s"] = prefill
	w.Notes = []string{
		fmt.Sprintf("greedy decoding: State.Step of one token per row after a %d-token prompt (prefill incl. its compile: %.2f s, untimed), the argmax computed on the device and fed back (as generate() does); the logits stay on the device", P, prefill),
		fmt.Sprintf("attention FLOPs at the mean context of the timed steps (%.1f positions); the kernel attends over all %d cache slots with a mask", meanContext, st.Capacity()),
	}
	w.Notes = append(w.Notes, extra...)
	w.Step = func() error {
		if st.Used()+1 > st.Capacity() {
			return fmt.Errorf("llm-decode: the %d-slot cache is full (more steps than warmup+iters)", st.Capacity())
		}
		out, err := st.Step(step, nil, llm.FetchArgmax)
		if err != nil {
			return err
		}
		for r := range o.Batch {
			step.IDs[r][0] = out.Argmax[r][0]
		}
		return nil
	}
	w.Close = func() { st.Close() }
	return w, nil
}

// DTypeName is a dtype as the --dtype flag spells it ("float32", "bfloat16").
func DTypeName(dt dtypes.DType) string { return strings.ToLower(dt.String()) }
