package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/verify"

	// The architectures verify knows: each registers its runner.
	_ "github.com/dualtoken/evalharness/model/depthhead"
	_ "github.com/dualtoken/evalharness/model/dualtoken"
	_ "github.com/dualtoken/evalharness/model/llm"
	_ "github.com/dualtoken/evalharness/model/siglip"
)

func init() {
	register("verify", "Check a model directory against golden outputs (parity with the reference implementation).", &verifyCmd{})
}

// Default float32 tolerance (fixtures/README.md).
const defaultTol = 1e-4

type verifyCmd struct {
	Model  string   `required:"" help:"HF-format model directory (config.json + model.safetensors), or its Hub repo id when the local Hugging Face cache holds it; the architecture comes from config.json's model_type." placeholder:"DIR"`
	Golden string   `required:"" help:"Golden safetensors: model inputs (e.g. pixel_values, input_ids) and reference outputs by name." placeholder:"FILE"`
	DType  string   `name:"dtype" default:"float32" help:"Compute dtype the model runs in: float32, or bfloat16 (bf16; weight matrices stored in it) checked against the same float32 golden with bfloat16's error bounds (see below)."`
	Atol   *float64 `help:"Absolute tolerance (default 1e-4). float32 only: not accepted with --dtype bfloat16." placeholder:"TOL"`
	Rtol   *float64 `help:"Relative tolerance (default 1e-4): pass when |got-want| <= atol + rtol*|want| elementwise; integer tensors must match exactly. float32 only: not accepted with --dtype bfloat16." placeholder:"TOL"`
	JSON   bool     `name:"json" help:"Print the report as JSON (schema 1)."`
}

func (c *verifyCmd) Help() string {
	return `Runs the model on the inputs stored in the golden file and compares every output
tensor the architecture produces. Golden keys the architecture does not produce are
listed as skipped. Exit 0 when all match, 1 on a mismatch, 2 on bad input.

--dtype bfloat16 runs the model with its weight matrices in bfloat16 and checks it
against the float32 golden outputs. --atol/--rtol do not apply: each float output
passes when precision.CompareBF16 passes at the number of bfloat16 stages behind it
(embedding 1, each transformer layer 2, final norm 1, heads and projections 1-2; the
row's "stages"): max|got-want| <= 4*2^-8*stages*max|want| and
rms(got-want) <= 4*2^-8*sqrt(stages)*rms(want). The table shows that bound in place
of atol+rtol. Values computed in float32 from golden inputs (DualToken's quantisers
fed the golden latents) keep the float32 tolerance 1e-4+1e-4|want|; stages after a
quantiser are fed its golden output, since a flipped code is not a rounding error.
Integer outputs (codes, generated token ids; the bfloat16 model's own, end to end)
come from an argmin or argmax, which flips wherever two candidates are closer than
bfloat16's error, so they cannot be required equal: they are listed as "agreement"
with the share equal to the golden ones, and do not fail.

Golden files come from the reference implementation (transformers, the authors'
code) run on the same checkpoint: a safetensors file holding the inputs and the
outputs by the names below. The project's parity fixtures are such files.

Examples (with a checkout of the fixtures beside the repository, ../shared/fixtures):
  evalrun verify --model ../shared/fixtures/siglip --golden ../shared/fixtures/siglip/golden.safetensors
  evalrun verify --model ../shared/fixtures/qwen2 --golden ../shared/fixtures/qwen2/golden.safetensors --dtype bfloat16
  evalrun verify --model ../shared/fixtures/depth_transformer --golden ../shared/fixtures/depth_transformer/golden.safetensors

Architectures: SigLIP (model_type siglip), Qwen2/Qwen2.5 and LLaMA decoders, DualToken
tokenizers (ours and the authors' configs, whole or parts), and the depth transformer
head (VILA-U's rqtransformer_model: teacher-forced logits, and argmax generation with
classifier-free guidance; float32 only).`
}

func (c *verifyCmd) Run(g *Globals) error {
	dt, err := precision.Parse(c.DType)
	if err != nil {
		return usageErr("%v", err)
	}
	chk := verify.Check{DType: dt, Atol: defaultTol, Rtol: defaultTol}
	if dt == precision.BF16 && (c.Atol != nil || c.Rtol != nil) {
		return usageErr("--atol/--rtol are the float32 tolerance; with --dtype bfloat16 float outputs are checked against bfloat16's bound at their stage count: drop them")
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *float64
	}{{"--atol", c.Atol, &chk.Atol}, {"--rtol", c.Rtol, &chk.Rtol}} {
		if f.v == nil {
			continue
		}
		if v := *f.v; v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return usageErr("%s %g: want a finite non-negative number (default 1e-4)", f.name, v)
		}
		*f.dst = *f.v
	}
	c.Model = hubOrPath(c.Model)
	if st, err := os.Stat(c.Model); err != nil {
		return usageErr("--model %s: %v", c.Model, pathErrText(err))
	} else if !st.IsDir() {
		return usageErr("--model %s is a file: want the model folder (config.json + model.safetensors)", c.Model)
	}
	if st, err := os.Stat(c.Golden); err != nil {
		return usageErr("--golden %s: %v", c.Golden, pathErrText(err))
	} else if st.IsDir() {
		return usageErr("--golden %s is a folder: want the golden .safetensors file in it", c.Golden)
	}
	if spec := backend.Resolve(g.Backend); strings.HasPrefix(spec, "xladry") {
		return usageErr("--backend %s computes no values (it only builds XLA programs): verify needs go or an xla backend", spec)
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	rep, err := verify.RunWith(b, c.Model, c.Golden, chk)
	if err != nil {
		if errors.Is(err, verify.ErrBadInput) { // exit 2 says it; the words add nothing
			return usageErr("%s", strings.TrimPrefix(err.Error(), verify.ErrBadInput.Error()+": "))
		}
		return usageErr("verify %s: %v", c.Model, err)
	}
	bf16 := dt == precision.BF16
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "tensor\tshape\tmax_abs_err\ttolerance\tok\n")
		for _, r := range rep.Rows {
			switch r.Status {
			case verify.StatusCompared:
				ok := "ok"
				if !r.OK {
					ok = "FAIL " + r.Note
				}
				tol := fmt.Sprintf("%g+%g|want|", rep.Atol, rep.Rtol)
				if r.Stages > 0 { // bfloat16: the bound on max|got-want|
					tol = fmt.Sprintf("%.3g (bf16, %d stage%s)", r.Bound, r.Stages, map[bool]string{true: "s"}[r.Stages > 1])
					if r.OK && r.Note != "" {
						ok += " (" + r.Note + ")"
					}
				}
				fmt.Fprintf(tw, "%s\t%v\t%.3g\t%s\t%s\n", r.Name, r.Shape, r.MaxAbsErr, tol, ok)
			case verify.StatusAgreement:
				fmt.Fprintf(tw, "%s\t%v\t%.3g\t-\tagreement: %s\n", r.Name, r.Shape, r.MaxAbsErr, r.Note)
			default:
				fmt.Fprintf(tw, "%s\t%v\t-\t-\t%s\n", r.Name, r.Shape, r.Status)
			}
		}
		tw.Flush()
		if bf16 {
			fmt.Printf("%s (%s, bfloat16): %d compared, %d failed, %d integer tensors by agreement\n", rep.Model, rep.ModelType, rep.Compared, rep.Failed, rep.Agreement)
		} else {
			fmt.Printf("%s (%s): %d compared, %d failed\n", rep.Model, rep.ModelType, rep.Compared, rep.Failed)
		}
	}
	if !rep.OK {
		return failErr("verify %s: %d of %d tensors differ from %s", c.Model, rep.Failed, rep.Compared, c.Golden)
	}
	return nil
}

// pathErrText is a failed os.Stat's reason without the repeated path
// ("no such file or directory" rather than "stat X: no such file or directory").
func pathErrText(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
