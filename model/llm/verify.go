package llm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func init() {
	verify.Register(runVerify, ModelTypeQwen2, ModelTypeLlama)
}

// runVerify computes, from the golden input_ids (and attention_mask when
// present): logits and hidden_states.{0..N} of one uncached forward pass (as
// transformers' forward: positions 0..S-1 on every row), and generated_ids =
// input_ids[0] followed by greedy tokens through the KV-cache path, eos
// suppressed, as many as the golden row holds beyond the prompt. In
// bfloat16 the weight matrices and the KV cache are bfloat16
// (Model.SetDType) and every float output carries its BF16Stages.
func runVerify(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	m, err := Load(b, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	if opt.DType == precision.BF16 {
		if err := m.SetDType(opt.DType); err != nil {
			return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
		}
	}
	outs, inputs, err := VerifyOutputs(m, golden)
	if err != nil {
		return nil, err
	}
	res := &verify.Result{Outputs: outs, Inputs: inputs, BF16: map[string]verify.BF16{}}
	for name, t := range outs {
		if s := BF16Stages(m.Config, name); s > 0 && t.DType.IsFloat() {
			res.BF16[name] = verify.BF16{Stages: s}
		}
	}
	return res, nil
}

// BF16Stages is the number of bfloat16 stages (see precision.CompareBF16)
// behind a verify output of a decoder with c's layers, or 0 for a name it
// does not know: the embedding is stage 1, each layer adds two (attention,
// MLP), the final RMSNorm one (hidden_states.N is after it, as in
// transformers), the lm_head product one.
func BF16Stages(c *Config, name string) int {
	N := c.NumLayers
	if name == "logits" {
		return 1 + 2*N + 2
	}
	s, ok := strings.CutPrefix(name, "hidden_states.")
	i, err := strconv.Atoi(s)
	if !ok || err != nil || i < 0 || i > N {
		return 0
	}
	if i == N {
		return 1 + 2*N + 1
	}
	return 1 + 2*i
}

// VerifyOutputs computes runVerify's outputs with a loaded model (in any
// compute dtype; see Model.SetDType): logits, hidden_states.{0..N} (only 0
// and N with Config.ScanLayers) and generated_ids, by golden name, and the
// golden inputs it read.
func VerifyOutputs(m *Model, golden weights.Set) (map[string]*weights.Tensor, []string, error) {
	inputs := []string{"input_ids"}
	idsT, err := golden.Get("input_ids")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: golden file has no input_ids: %v", verify.ErrBadInput, err)
	}
	if len(idsT.Shape) != 2 {
		return nil, nil, fmt.Errorf("%w: golden input_ids has shape %v, expected [batch, seq]", verify.ErrBadInput, idsT.Shape)
	}
	B, S := idsT.Shape[0], idsT.Shape[1]
	ids64, err := idsT.Int64()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: golden input_ids: %v", verify.ErrBadInput, err)
	}
	in := Input{IDs: make([][]int, B), Positions: make([][]int, B)}
	for r := range B {
		in.IDs[r] = make([]int, S)
		in.Positions[r] = make([]int, S)
		for i := range S {
			in.IDs[r][i] = int(ids64[r*S+i])
			in.Positions[r][i] = i
		}
	}
	if golden.Has("attention_mask") {
		inputs = append(inputs, "attention_mask")
		mt, _ := golden.Get("attention_mask")
		if err := mt.ExpectShape(B, S); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
		}
		mask, err := mt.Int64()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: golden attention_mask: %v", verify.ErrBadInput, err)
		}
		in.Mask = make([][]bool, B)
		for r := range B {
			in.Mask[r] = make([]bool, S)
			for i := range S {
				in.Mask[r][i] = mask[r*S+i] != 0
			}
		}
	}

	fwd, err := m.Forward(in)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	outs := map[string]*weights.Tensor{}
	if outs["logits"], err = weights.FromGoMLX("logits", fwd.Logits); err != nil {
		return nil, nil, err
	}
	for i, h := range fwd.Hidden {
		if h == nil { // inside a layer loop (Config.ScanLayers)
			continue
		}
		name := fmt.Sprintf("hidden_states.%d", i)
		if outs[name], err = weights.FromGoMLX(name, h); err != nil {
			return nil, nil, err
		}
	}

	if gen, err := golden.Get("generated_ids"); err == nil {
		if len(gen.Shape) != 2 || gen.Shape[0] != 1 || gen.Shape[1] <= S {
			return nil, nil, fmt.Errorf("%w: golden generated_ids has shape %v, expected [1, >%d] (prompt input_ids[0] and new tokens)", verify.ErrBadInput, gen.Shape, S)
		}
		n := gen.Shape[1] - S
		row := Input{IDs: in.IDs[:1]}
		if in.Mask != nil {
			row.Mask = in.Mask[:1]
		}
		opts := GenerateOptions{MaxNewTokens: n, MinNewTokens: n}
		if m.Gen != nil && m.Gen.RepetitionPenalty > 0 {
			opts.RepetitionPenalty = m.Gen.RepetitionPenalty // generate() applies it even when greedy
		}
		res, err := m.GenerateFrom(row, opts)
		if err != nil {
			return nil, nil, err
		}
		all := make([]int64, 0, S+n)
		for _, id := range in.IDs[0] {
			all = append(all, int64(id))
		}
		for _, id := range res[0].Tokens {
			all = append(all, int64(id))
		}
		outs["generated_ids"] = weights.FromInt64("generated_ids", []int{1, len(all)}, all)
	}
	return outs, inputs, nil
}
