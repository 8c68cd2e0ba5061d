package depthhead

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

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
// "logits" (teacher forcing), and from "body_cfg" [2N,L,H] ([conditional;
// unconditional] states), "generated_codes" and "generated_features" by
// argmax generation with the config's cfg_scale — the names of
// fixtures/depth_transformer. A golden output whose inputs are missing is
// bad input, not a skip. Float32 only.
func runVerify(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	if opt.DType != 0 && opt.DType != precision.F32 {
		return nil, fmt.Errorf("%w: the depth head runs in float32 only (asked for %s)", verify.ErrBadInput, opt.DType)
	}
	for _, need := range []struct {
		output string
		inputs []string
	}{{"logits", []string{"body", "codes"}}, {"generated_codes", []string{"body_cfg"}}, {"generated_features", []string{"body_cfg"}}} {
		for _, in := range need.inputs {
			if golden.Has(need.output) && !golden.Has(in) {
				return nil, fmt.Errorf("%w: the golden file has %q but not its input %q", verify.ErrBadInput, need.output, in)
			}
		}
	}
	m, err := Load(b, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	res := &verify.Result{Outputs: map[string]*weights.Tensor{}}
	input := func(name string) (*tensors.Tensor, error) {
		t, err := golden.Get(name)
		if err != nil {
			return nil, fmt.Errorf("%w: golden %s: %v", verify.ErrBadInput, name, err)
		}
		res.Inputs = append(res.Inputs, name)
		return t.ToGoMLX(false)
	}
	// about names the golden tensor behind an error of the model's.
	about := func(names string, err error) error { return fmt.Errorf("golden %s: %w", names, err) }
	output := func(name string, t *tensors.Tensor) (err error) {
		res.Outputs[name], err = weights.FromGoMLX(name, t)
		return err
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
		logits, err := m.Logits(body, codes)
		if err != nil {
			return nil, about("body, codes", err)
		}
		if err := output("logits", logits); err != nil {
			return nil, err
		}
	}
	if golden.Has("body_cfg") {
		body, err := input("body_cfg")
		if err != nil {
			return nil, err
		}
		codes, feats, err := m.Generate(body, m.Config.CFGScale, Sampling{})
		if err != nil {
			return nil, about("body_cfg", err)
		}
		if err := output("generated_codes", codes); err != nil {
			return nil, err
		}
		if err := output("generated_features", feats); err != nil {
			return nil, err
		}
	}
	if len(res.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the golden file has neither body+codes nor body_cfg", verify.ErrBadInput)
	}
	return res, nil
}
