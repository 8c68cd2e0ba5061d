package dualtoken

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func init() {
	verify.Register(RunFull, append([]string{ModelType}, AuthorsModelTypes...)...)
}

// RunFull is the verify.Runner for whole tokenizers (our model_type
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
// instead is run through RunParts.
func RunFull(b compute.Backend, dir string, golden weights.Set) (map[string]*weights.Tensor, []string, error) {
	if !golden.Has("pixel_values") {
		return RunParts(b, dir, golden)
	}
	m, err := Load(b, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	gt, err := golden.Get("pixel_values")
	if err != nil {
		return nil, nil, err
	}
	px, err := gt.ToGoMLX(false)
	if err != nil {
		return nil, nil, err
	}
	if err := m.CheckPixels(px); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
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
		return nil, nil, err
	}
	outs := map[string]*weights.Tensor{}
	for i, n := range names {
		if outs[n], err = weights.FromGoMLX(n, res[i]); err != nil {
			return nil, nil, err
		}
		res[i].FinalizeAll()
	}
	return outs, []string{"pixel_values"}, nil
}
