package dualtoken

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func init() {
	verify.Register(VerifyFull, append([]string{ModelType}, AuthorsModelTypes...)...)
	// The authors' tokenizer-parts config.json (ddconfig, vq_sem, ...) has
	// no model_type.
	verify.RegisterDetector(func(cfg *config.Raw) string {
		if cfg.Has("ddconfig") && cfg.Has("vq_sem") && cfg.Has("layer_sem") {
			return "rqvaesiglip_model"
		}
		return ""
	})
}

// RunFull runs VerifyFull in float32 and returns its outputs by golden name
// and the golden inputs it read.
func RunFull(b compute.Backend, dir string, golden weights.Set) (map[string]*weights.Tensor, []string, error) {
	res, err := VerifyFull(b, dir, golden, verify.Options{})
	if err != nil {
		return nil, nil, err
	}
	return res.Outputs, res.Inputs, nil
}

// VerifyFull is the verify.Runner for whole tokenizers (our model_type
// "dualtoken" and the authors' RQVAESIGLIPTransformer configs). From golden
// "pixel_values" [B,3,S,S] (in [-1,1]) it computes, by name:
// "vision.hidden_states.{0..layer_sem}" (the tower's own states),
// "pixel_latent", "zq_pix", "codes_pix", "commit_pix", "semantic_latent",
// "zq_sem", "codes_sem", "commit_sem", "postquant_sem" (the state replacing
// layer_sem), "vision.last_hidden_state", "vision.pooler_output",
// "image_embeds", "images" — the names of the parts fixture and of
// model/siglip's golden files (latents [B,G,G,E] as the quantisers take
// them), so a golden made with the authors' RQVAESiglipModel.encode_image
// and decode can be checked. A golden holding tower states (h4, h6, h26)
// instead is run through VerifyParts.
//
// In bfloat16 (Model.SetDType) each quantiser, postquant_sem, the rest of
// the tower and the decoder are fed the golden value of their input where
// the golden file has it (FullFed), so that a flipped code does not show as
// an error downstream; the stage counts are FullBF16Stages'.
func VerifyFull(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	if !golden.Has("pixel_values") {
		return VerifyParts(b, dir, golden, opt)
	}
	m, err := Load(b, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	gt, err := golden.Get("pixel_values")
	if err != nil {
		return nil, err
	}
	px, err := gt.ToGoMLX(false)
	if err != nil {
		return nil, err
	}
	if err := m.CheckPixels(px); err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	if opt.DType == precision.BF16 {
		return fullBF16(m, golden, px)
	}
	outs, err := fullF32(m, px)
	if err != nil {
		return nil, err
	}
	return &verify.Result{Outputs: outs, Inputs: []string{"pixel_values"}}, nil
}

// fullF32 runs Forward on the pixels and names its outputs.
func fullF32(m *Model, px *tensors.Tensor) (map[string]*weights.Tensor, error) {
	b := m.Backend
	fc := m.Config
	var names []string
	fn := func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, fc, x, Options{Decode: true, Pooled: true})
		var outs []*Node
		emit := func(name string, n *Node) {
			if n != nil {
				names, outs = append(names, name), append(outs, n)
			}
		}
		names = names[:0]
		for i, h := range o.Hidden {
			emit(fmt.Sprintf(siglip.OutVisionHidden, i), h)
		}
		if !fc.ReconFromSemantic {
			emit("pixel_latent", o.PixInput)
			emit("zq_pix", o.Pix.ZQ)
			emit("codes_pix", o.Pix.Codes)
			emit("commit_pix", Reshape(o.Pix.Commit, 1))
		}
		if fc.SemanticBranch {
			emit("semantic_latent", o.SemInput)
			emit("zq_sem", o.Sem.ZQ)
			emit("codes_sem", o.Sem.Codes)
			emit("commit_sem", Reshape(o.Sem.Commit, 1))
			emit("postquant_sem", o.SemState)
		}
		emit(siglip.OutVisionLast, o.Last)
		emit(siglip.OutVisionPooled, o.Pooled)
		if o.Pooled != nil {
			emit(siglip.OutImageEmbeds, siglip.Normalize(o.Pooled))
		}
		emit("images", o.Decoded.Images)
		return outs
	}
	res, err := model.ExecOnceN(b, m.Store, fn, px)
	if err != nil {
		return nil, err
	}
	outs := map[string]*weights.Tensor{}
	for i, n := range names {
		if outs[n], err = weights.FromGoMLX(n, res[i]); err != nil {
			return nil, err
		}
		res[i].FinalizeAll()
	}
	return outs, nil
}

// fullBF16 stores m's matrices in bfloat16 and runs fullStaged on the
// pixels and the golden values of FullFed the golden file has.
func fullBF16(m *Model, golden weights.Set, px *tensors.Tensor) (*verify.Result, error) {
	if err := m.SetDType(precision.BF16); err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	names := []string{"pixel_values"}
	args := []any{px}
	for _, n := range FullFed {
		if !golden.Has(n) {
			continue
		}
		t, _ := golden.Get(n)
		v, err := t.ToGoMLX(false)
		if err != nil {
			return nil, fmt.Errorf("%w: golden %s: %v", verify.ErrBadInput, n, err)
		}
		names, args = append(names, n), append(args, v)
	}
	var staged []Staged
	res, err := model.ExecOnceN(m.Backend, m.Store, func(root *model.Scope, xs []*Node) []*Node {
		fed := map[string]*Node{}
		for i, n := range names[1:] {
			fed[n] = xs[i+1]
		}
		staged = fullStaged(root, m.Config, xs[0], fed)
		return stagedValues(staged)
	}, args...)
	if err != nil {
		return nil, err
	}
	return stagedResult(staged, res, []string{"pixel_values"})
}
