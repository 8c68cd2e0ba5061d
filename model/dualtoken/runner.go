package dualtoken

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// PartsInputs are the golden inputs of fixtures/dualtoken_parts: tower
// states [B, L, C] standing for the shortcut, pixel and semantic taps.
var PartsInputs = []string{"h4", "h6", "h26"}

// LoadParts reads dir's config.json and checkpoint into a new store, checking
// that every checkpoint tensor is used (the tower's are ignored).
func LoadParts(dir string) (*Config, *model.Store, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	defer set.Close()
	l := weights.NewLoader(set)
	store := model.NewStore()
	if _, err := LoadWeights(l, store.RootScope(), cfg); err != nil {
		return nil, nil, err
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "model.safetensors"), err)
	}
	return cfg, store, nil
}

// RunParts runs VerifyParts in float32 and returns its outputs by golden
// name and the golden inputs it read.
func RunParts(b compute.Backend, dir string, golden weights.Set) (map[string]*weights.Tensor, []string, error) {
	res, err := VerifyParts(b, dir, golden, verify.Options{})
	if err != nil {
		return nil, nil, err
	}
	return res.Outputs, res.Inputs, nil
}

// VerifyParts is the verify.Runner for fixtures/dualtoken_parts: from the
// golden tower states it computes, by golden name, the projections, both
// eval-mode quantisers (quantised latents, codes, commitment losses,
// per-depth code embeddings), the pixel decoder's stages, the 2025 conv
// blocks, and one train-mode step of each quantiser from the loaded state
// (fed with the golden pre-quantisation latents, as the reference was)
// giving the codebook state after the EMA update
// ("train.{pix,sem}.{weight,cluster_size_ema,embed_ema}", with a
// ".d<depth>" before the buffer for per-depth codebooks).
//
// In bfloat16 the matrices are stored in it (the quantisers kept float32,
// as Model.SetDType does) and each stage is fed its golden input (BF16Parts),
// so the golden file must also hold PartsFed; the codes are the bfloat16
// path's end to end (BF16PartsCodes); the train step runs with bfloat16
// parts and is a float32 island.
func VerifyParts(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	cfg, store, err := LoadParts(dir)
	if err != nil {
		return nil, err
	}
	var in []*tensors.Tensor
	for _, n := range PartsInputs {
		t, err := golden.Get(n)
		if err != nil {
			return nil, err
		}
		if err := t.ExpectShape(-1, cfg.Grid()*cfg.Grid(), cfg.HiddenSize); err != nil {
			return nil, err
		}
		v, err := t.ToGoMLX(false)
		if err != nil {
			return nil, err
		}
		in = append(in, v)
	}
	var res *verify.Result
	if opt.DType == precision.BF16 {
		if res, err = partsBF16(b, store, cfg, golden, in); err != nil {
			return nil, err
		}
	} else {
		outs, err := partsF32(b, store, cfg, in)
		if err != nil {
			return nil, err
		}
		res = &verify.Result{Outputs: outs, Inputs: PartsInputs}
	}
	if err := quantiserTrainStep(b, store, cfg, golden, opt.DType, res); err != nil {
		return nil, err
	}
	return res, nil
}

// partsF32 runs the parts end to end from the tower states in (PartsInputs).
func partsF32(b compute.Backend, store *model.Store, cfg *Config, in []*tensors.Tensor) (map[string]*weights.Tensor, error) {
	var names []string
	evalFn := func(scope *model.Scope, xs []*Node) []*Node {
		p := NewParts(scope, xs[0].Graph())
		h4, h6, h26 := xs[0], xs[1], xs[2]
		var outs []*Node
		emit := func(name string, n *Node) { names = append(names, name); outs = append(outs, n) }
		names = names[:0]
		emit("prequant_pix", Prequant(p, cfg, cfg.Pix, "prequant_pix", h6))
		if cfg.HasShortcut() {
			emit("prequant_shortcut", Prequant(p, cfg, cfg.Pix, "prequant_shortcut", h4))
		}
		zp := PixelLatent(p, cfg, h6, h4)
		qp := QuantizePixels(p, cfg, zp, false)
		emit("zq_pix", qp.ZQ)
		emit("codes_pix", qp.Codes)
		emit("commit_pix", Reshape(qp.Commit, 1))
		emit("code_emb_pix", CodeEmbeddings(p.At("quantizer_pix"), cfg.Pix, qp.Codes))
		emit("embed_code_pix", EmbedCodes(p.At("quantizer_pix"), cfg.Pix, qp.Codes))
		dec := DecodePixels(p, cfg, qp.ZQ)
		emit("postquant_pix", dec.Postquant)
		emit("latent_resized", dec.LatentResized)
		emit("post_quant_conv", dec.PostQuantConv)
		emit("images", dec.Images)
		emit("prequant_sem", Prequant(p, cfg, cfg.Sem, "prequant_sem", h26))
		qs := QuantizeSemantic(p, cfg, SemanticLatent(p, cfg, h26), false)
		emit("zq_sem", qs.ZQ)
		emit("codes_sem", qs.Codes)
		emit("commit_sem", Reshape(qs.Commit, 1))
		emit("code_emb_sem", CodeEmbeddings(p.At("quantizer_sem"), cfg.Sem, qs.Codes))
		emit("embed_code_sem", EmbedCodes(p.At("quantizer_sem"), cfg.Sem, qs.Codes))
		emit("postquant_sem", SemanticPostquant(p, cfg, qs.ZQ))
		var down *Node
		for _, blk := range cfg.ConvBlocks {
			switch blk.Name {
			case "proj_down_2025": // of h6 as a map
				down = ConvBlockForward(p, blk.Name, tokensToMap(h6))
				emit(blk.Name, down)
			}
		}
		for _, blk := range cfg.ConvBlocks {
			if blk.Name == "proj_up_2025" && down != nil { // of proj_down_2025's output
				emit(blk.Name, ConvBlockForward(p, blk.Name, down))
			}
		}
		return outs
	}
	exec, err := model.NewExec(b, store, evalFn)
	if err != nil {
		return nil, err
	}
	res, err := exec.Exec(in[0], in[1], in[2])
	if err != nil {
		return nil, err
	}
	outs := map[string]*weights.Tensor{}
	for i, n := range names {
		t, err := weights.FromGoMLX(n, res[i])
		if err != nil {
			return nil, err
		}
		outs[n] = t
	}
	return outs, nil
}

// partsBF16 converts store's matrices to bfloat16 and runs BF16Parts on
// the golden values; in holds PartsInputs.
func partsBF16(b compute.Backend, store *model.Store, cfg *Config, golden weights.Set, in []*tensors.Tensor) (*verify.Result, error) {
	if _, _, err := precision.StoreAs(store.IterVariables(), precision.BF16, isQuantizerVar); err != nil {
		return nil, err
	}
	names := BF16PartsInputs(cfg, golden.Has)
	args := make([]any, len(names))
	for i := range in {
		args[i] = in[i]
	}
	for i := len(in); i < len(names); i++ {
		t, err := golden.Get(names[i])
		if err != nil {
			return nil, fmt.Errorf("%w: golden file has no %s: verify in bfloat16 feeds each stage its golden input (%v)", verify.ErrBadInput, names[i], PartsFed(cfg))
		}
		if args[i], err = t.ToGoMLX(false); err != nil {
			return nil, err
		}
	}
	var staged []Staged
	res, err := model.ExecOnceN(b, store, func(scope *model.Scope, xs []*Node) []*Node {
		fed := map[string]*Node{}
		for i, n := range names {
			fed[n] = xs[i]
		}
		p := NewParts(scope, xs[0].Graph())
		p.DType = precision.BF16
		staged = BF16Parts(p, cfg, fed)
		// The codes reported are the bfloat16 path's, not those the
		// quantisers (float32 islands) pick from the golden latents.
		pix, sem := BF16PartsCodes(p, cfg, fed)
		for i, s := range staged {
			switch s.Name {
			case "codes_pix":
				staged[i].Value = pix
			case "codes_sem":
				staged[i].Value = sem
			}
		}
		return stagedValues(staged)
	}, args...)
	if err != nil {
		return nil, err
	}
	return stagedResult(staged, res, PartsInputs)
}

// stagedValues are the graph outputs of staged, in order.
func stagedValues(staged []Staged) []*Node {
	outs := make([]*Node, len(staged))
	for i, s := range staged {
		outs[i] = s.Value
	}
	return outs
}

// stagedResult pairs a bfloat16 check graph's outputs with their names and
// stage counts.
func stagedResult(staged []Staged, values []*tensors.Tensor, inputs []string) (*verify.Result, error) {
	r := &verify.Result{Outputs: map[string]*weights.Tensor{}, Inputs: inputs, BF16: map[string]verify.BF16{}}
	for i, s := range staged {
		t, err := weights.FromGoMLX(s.Name, values[i])
		if err != nil {
			return nil, err
		}
		values[i].FinalizeAll()
		r.Outputs[s.Name] = t
		if s.Stages >= 0 {
			r.BF16[s.Name] = verify.BF16{Stages: s.Stages}
		}
	}
	return r, nil
}

// quantiserTrainStep runs one train-mode step of each quantiser from the
// loaded state, fed the golden pre-quantisation latents, with parts in dt,
// and adds the codebook state after the EMA update to res (float32
// islands).
func quantiserTrainStep(b compute.Backend, store *model.Store, cfg *Config, golden weights.Set, dt dtypes.DType, res *verify.Result) error {
	var trainIn []*tensors.Tensor
	for _, n := range []string{"prequant_pix", "prequant_shortcut", "prequant_sem"} {
		if !golden.Has(n) {
			continue
		}
		t, _ := golden.Get(n)
		v, err := t.ToGoMLX(false)
		if err != nil {
			return err
		}
		trainIn = append(trainIn, v)
	}
	if len(trainIn) != 3 && (len(trainIn) != 2 || cfg.HasShortcut()) {
		return nil
	}
	trainFn := func(scope *model.Scope, xs []*Node) []*Node {
		g := xs[0].Graph()
		scope.SetTraining(g, true)
		p := NewParts(scope, g)
		p.DType = dt
		zp, zs := xs[0], xs[len(xs)-1]
		if cfg.HasShortcut() {
			zp = Add(zp, MulScalar(xs[1], cfg.WeightShortcut))
		}
		qp := QuantizePixels(p, cfg, tokensToGrid(zp), true)
		qs := QuantizeSemantic(p, cfg, tokensToGrid(zs), true)
		return []*Node{qp.Commit, qs.Commit}
	}
	exec, err := model.NewExec(b, store, trainFn)
	if err != nil {
		return err
	}
	args := make([]any, len(trainIn))
	for i := range trainIn {
		args[i] = trainIn[i]
	}
	if _, err := exec.Exec(args...); err != nil {
		return err
	}
	scope := store.RootScope()
	for _, br := range []struct {
		short, module string
		vq            VQConfig
	}{{"pix", "quantizer_pix", cfg.Pix}, {"sem", "quantizer_sem", cfg.Sem}} {
		for d := range br.vq.NumCodebooks() {
			for _, f := range []string{"weight", "cluster_size_ema", "embed_ema"} {
				v := Variable(scope, fmt.Sprintf("%s.codebooks.%d.%s", br.module, d, f))
				val, err := v.Value()
				if err != nil {
					return err
				}
				name := trainOutputName(br.short, br.vq, d, f)
				if res.Outputs[name], err = weights.FromGoMLX(name, val); err != nil {
					return err
				}
				if res.BF16 != nil {
					res.BF16[name] = verify.BF16{Stages: 0}
				}
			}
		}
	}
	return nil
}

// trainOutputName is the golden name of a codebook buffer after the train
// step: "train.pix.weight" for a shared codebook, "train.pix.d<depth>.weight"
// for per-depth ones (scripts/fixtures/dualtoken_variants.py).
func trainOutputName(short string, vq VQConfig, depth int, buffer string) string {
	if vq.SharedCodebook {
		return fmt.Sprintf("train.%s.%s", short, buffer)
	}
	return fmt.Sprintf("train.%s.d%d.%s", short, depth, buffer)
}
