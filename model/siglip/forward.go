package siglip

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func init() {
	verify.Register(runVerify, ModelTypeSiglip, ModelTypeVisionOnly)
}

// Output names, as in fixtures/README.md (the golden files use them).
const (
	OutVisionHidden = "vision.hidden_states.%d" // 0 = embeddings, i = after layer i
	OutVisionLast   = "vision.last_hidden_state"
	OutVisionPooled = "vision.pooler_output"
	OutTextHidden   = "text.hidden_states.%d"
	OutTextLast     = "text.last_hidden_state"
	OutTextPooled   = "text.pooler_output"
	OutImageEmbeds  = "image_embeds"
	OutTextEmbeds   = "text_embeds"
	OutLogits       = "logits_per_image"
)

// Forward runs the model once on pixels [B,C,H,W] float32 and/or ids [B,L]
// (either may be nil) and returns every output by its golden name: all hidden
// states, last hidden states, pooled outputs, normalised embeddings and, when
// both inputs are given, logits_per_image — float32 tensors whatever the
// compute dtype. With ScanLayers the hidden states between the embeddings and
// the last layer are not produced. It compiles a fresh graph: for repeated
// calls use an Encoder.
func (m *Model) Forward(b compute.Backend, pixels, ids *tensors.Tensor) (map[string]*tensors.Tensor, error) {
	c := m.Config
	if pixels == nil && ids == nil {
		return nil, errors.New("siglip: Forward needs pixel values or input ids")
	}
	if ids != nil && c.Text == nil {
		return nil, fmt.Errorf("siglip: %s is a vision-only model (model_type %q): it takes no input_ids", c.Path, c.ModelType)
	}
	var args []any
	if pixels != nil {
		if err := m.CheckPixels(pixels.Shape().Dimensions); err != nil {
			return nil, err
		}
		args = append(args, pixels)
	}
	if ids != nil {
		if err := m.CheckIDs(ids); err != nil {
			return nil, err
		}
		args = append(args, ids)
	}

	var names []string
	fn := func(root *model.Scope, in []*Node) []*Node {
		names = names[:0]
		var outs []*Node
		emit := func(name string, n *Node) {
			if n == nil { // a state a scanned loop did not keep
				return
			}
			names = append(names, name)
			outs = append(outs, precision.ToF32(n))
		}
		var imgEmb, txtEmb *Node
		if pixels != nil {
			v := Vision(VisionScope(root), &c.Vision, in[0])
			for i, h := range v.Hidden {
				emit(fmt.Sprintf(OutVisionHidden, i), h)
			}
			emit(OutVisionLast, v.Last)
			if v.Pooled != nil {
				emit(OutVisionPooled, v.Pooled)
				imgEmb = Normalize(v.Pooled)
				emit(OutImageEmbeds, imgEmb)
			}
		}
		if ids != nil {
			t := Text(TextScope(root), c.Text, in[len(in)-1])
			for i, h := range t.Hidden {
				emit(fmt.Sprintf(OutTextHidden, i), h)
			}
			emit(OutTextLast, t.Last)
			emit(OutTextPooled, t.Pooled)
			txtEmb = Normalize(t.Pooled)
			emit(OutTextEmbeds, txtEmb)
		}
		if imgEmb != nil && txtEmb != nil {
			emit(OutLogits, Logits(root, imgEmb, txtEmb))
		}
		return outs
	}
	exec, err := model.NewExec(b, m.Store, fn)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	res, err := exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("siglip: %w", err)
	}
	out := make(map[string]*tensors.Tensor, len(res))
	for i, t := range res {
		out[names[i]] = t
	}
	return out, nil
}

// CheckPixels validates a pixel batch shape [B,C,H,W] against the config.
func (m *Model) CheckPixels(dims []int) error {
	v := &m.Config.Vision
	if len(dims) != 4 || dims[0] < 1 || dims[1] != v.NumChannels {
		return fmt.Errorf("siglip: pixel_values shape %v, expected [batch, %d, %d, %d] (from %s)", dims, v.NumChannels, v.ImageSize, v.ImageSize, m.Config.Path)
	}
	if (dims[2]/v.PatchSize)*(dims[3]/v.PatchSize) != v.NumPatches() {
		return fmt.Errorf("siglip: pixel_values shape %v gives %dx%d patches of %d px; the model has %d positions (image_size %d in %s)",
			dims, dims[2]/v.PatchSize, dims[3]/v.PatchSize, v.PatchSize, v.NumPatches(), v.ImageSize, m.Config.Path)
	}
	return nil
}

// CheckIDs validates input_ids [B,L]: an integer tensor with L <=
// max_position_embeddings and every id inside the vocabulary (Gather would
// silently clamp an out-of-range id).
func (m *Model) CheckIDs(ids *tensors.Tensor) error {
	t := m.Config.Text
	dims := ids.Shape().Dimensions
	if !ids.DType().IsInt() || len(dims) != 2 || dims[0] < 1 || dims[1] < 1 || dims[1] > t.MaxPositions {
		return fmt.Errorf("siglip: input_ids %s, expected an integer [batch, L] with 1 <= L <= %d (max_position_embeddings in %s)", ids.Shape(), t.MaxPositions, m.Config.Path)
	}
	var bad, err error
	check := func(i int, id int64) {
		if bad == nil && (id < 0 || id >= int64(t.VocabSize)) {
			bad = fmt.Errorf("siglip: input_ids[%d][%d] = %d is outside the vocabulary [0, %d) of %s", i/dims[1], i%dims[1], id, t.VocabSize, m.Config.Path)
		}
	}
	switch ids.DType() {
	case dtypes.Int64:
		err = tensors.ConstFlatData(ids, func(f []int64) {
			for i, v := range f {
				check(i, v)
			}
		})
	case dtypes.Int32:
		err = tensors.ConstFlatData(ids, func(f []int32) {
			for i, v := range f {
				check(i, int64(v))
			}
		})
	default:
		return fmt.Errorf("siglip: input_ids dtype %s, expected int64 or int32", ids.DType())
	}
	if err != nil {
		return err
	}
	return bad
}

// runVerify is the verify.Runner: it loads dir, feeds the golden inputs
// (pixel_values and, for a two-tower model, input_ids) and returns every
// output it computes by golden name. In bfloat16 the matrices are stored in
// it (Model.SetDType); every float output carries its BF16Stages, and the
// logits are compared as cosines, (logit - logit_bias)/exp(logit_scale), the
// quantity the towers produce.
func runVerify(b compute.Backend, dir string, golden weights.Set, opt verify.Options) (*verify.Result, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	if opt.DType == precision.BF16 {
		if err := m.SetDType(opt.DType); err != nil {
			return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
		}
	}
	var inputs []string
	var pixels, ids *tensors.Tensor
	if golden.Has("pixel_values") {
		if pixels, err = goldenInput(golden, "pixel_values"); err != nil {
			return nil, err
		}
		inputs = append(inputs, "pixel_values")
	}
	if golden.Has("input_ids") {
		inputs = append(inputs, "input_ids")
		if m.Config.Text != nil {
			if ids, err = goldenInput(golden, "input_ids"); err != nil {
				return nil, err
			}
		}
	}
	if pixels == nil && ids == nil {
		return nil, fmt.Errorf("%w: golden file has no pixel_values%s", verify.ErrBadInput,
			map[bool]string{true: " or input_ids", false: ""}[m.Config.Text != nil])
	}
	outs, err := m.Forward(b, pixels, ids)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	res := &verify.Result{Outputs: make(map[string]*weights.Tensor, len(outs)), Inputs: inputs, BF16: map[string]verify.BF16{}}
	for name, t := range outs {
		if res.Outputs[name], err = weights.FromGoMLX(name, t); err != nil {
			return nil, err
		}
		if s := BF16Stages(m.Config, name); s > 0 {
			res.BF16[name] = verify.BF16{Stages: s}
		}
	}
	if chk, ok := res.BF16[OutLogits]; ok {
		scale, bias, _ := m.LogitScaleBias()
		chk.Offset, chk.Scale = bias, scale
		res.BF16[OutLogits] = chk
	}
	return res, nil
}

func goldenInput(golden weights.Set, name string) (*tensors.Tensor, error) {
	t, err := golden.Get(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	v, err := t.ToGoMLX(false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrBadInput, err)
	}
	return v, nil
}
