package depthhead

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func init() {
	verify.Register(runVerify, ModelType)
	// The head's own config (VILA-U's RQTransformerConfig as saved) may lack
	// model_type.
	verify.RegisterDetector(func(cfg *config.Raw) string {
		if cfg.Has("input_embed_dim_1") && cfg.Has("block_size") && cfg.Has("head") {
			return ModelType
		}
		return ""
	})
}

// runVerify computes, from golden "body" [B,L,H] and "codes" [B,L,D],
// "logits" (teacher forcing), and from "body_cfg" [2N,1,H] ([conditional;
// unconditional] states of one position), "generated_codes" and
// "generated_features" by argmax generation with the config's cfg_scale —
// the names of fixtures/depth_transformer. Float32 only.
func runVerify(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	if opt.DType != 0 && opt.DType != precision.F32 {
		return nil, fmt.Errorf("%w: the depth head runs in float32 only (asked for %s)", verify.ErrBadInput, opt.DType)
	}
	m, err := Load(b, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	res := &verify.Result{Outputs: map[string]*weights.Tensor{}}
	input := func(name string) (*weights.Tensor, error) {
		t, err := golden.Get(name)
		if err != nil {
			return nil, fmt.Errorf("%w: golden %s: %v", verify.ErrBadInput, name, err)
		}
		res.Inputs = append(res.Inputs, name)
		return t, nil
	}
	if golden.Has("body") && golden.Has("codes") {
		body, err := input("body")
		if err != nil {
			return nil, err
		}
		codes, err := input("codes")
		if err != nil {
			return nil, err
		}
		bt, err := body.ToGoMLX(false)
		if err != nil {
			return nil, err
		}
		ct, err := codes.ToGoMLX(false)
		if err != nil {
			return nil, err
		}
		logits, err := m.Logits(bt, ct)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
		}
		if res.Outputs["logits"], err = weights.FromGoMLX("logits", logits); err != nil {
			return nil, err
		}
	}
	if golden.Has("body_cfg") {
		body, err := input("body_cfg")
		if err != nil {
			return nil, err
		}
		bt, err := body.ToGoMLX(false)
		if err != nil {
			return nil, err
		}
		codes, feats, err := m.Generate(bt, m.Config.CFGScale, Sampling{})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
		}
		if res.Outputs["generated_codes"], err = weights.FromGoMLX("generated_codes", codes); err != nil {
			return nil, err
		}
		if res.Outputs["generated_features"], err = weights.FromGoMLX("generated_features", feats); err != nil {
			return nil, err
		}
	}
	if len(res.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the golden file has neither body+codes nor body_cfg", verify.ErrBadInput)
	}
	return res, nil
}
