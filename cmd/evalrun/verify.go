package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/verify"
)

func init() {
	register("verify", "Check a model directory against golden outputs (parity with the reference implementation).", &verifyCmd{})
}

type verifyCmd struct {
	Model  string  `required:"" help:"HF-format model directory (config.json + model.safetensors); the architecture comes from config.json's model_type." placeholder:"DIR"`
	Golden string  `required:"" help:"Golden safetensors: model inputs (e.g. pixel_values, input_ids) and reference outputs by name." placeholder:"FILE"`
	Atol   float64 `default:"1e-4" help:"Absolute tolerance."`
	Rtol   float64 `default:"1e-4" help:"Relative tolerance: pass when |got-want| <= atol + rtol*|want| elementwise; integer tensors must match exactly."`
	JSON   bool    `name:"json" help:"Print the report as JSON (schema 1)."`
}

func (c *verifyCmd) Help() string {
	return `Runs the model on the inputs stored in the golden file and compares every output
tensor the architecture produces. Golden keys the architecture does not produce are
listed as skipped. Exit 0 when all match, 1 on a mismatch, 2 on bad input.

Example:
  evalrun verify --model ../shared/fixtures/siglip --golden ../shared/fixtures/siglip/golden.safetensors`
}

func (c *verifyCmd) Run(g *Globals) error {
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	rep, err := verify.Run(b, c.Model, c.Golden, c.Atol, c.Rtol)
	if err != nil {
		if errors.Is(err, verify.ErrBadInput) {
			return usageErr("%v", err)
		}
		return usageErr("verify %s: %v", c.Model, err)
	}
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
			case "compared":
				ok := "ok"
				if !r.OK {
					ok = "FAIL " + r.Note
				}
				fmt.Fprintf(tw, "%s\t%v\t%.3g\t%g+%g|want|\t%s\n", r.Name, r.Shape, r.MaxAbsErr, rep.Atol, rep.Rtol, ok)
			default:
				fmt.Fprintf(tw, "%s\t%v\t-\t-\t%s\n", r.Name, r.Shape, r.Status)
			}
		}
		tw.Flush()
		fmt.Printf("%s (%s): %d compared, %d failed\n", rep.Model, rep.ModelType, rep.Compared, rep.Failed)
	}
	if !rep.OK {
		return failErr("verify %s: %d of %d tensors differ from %s", c.Model, rep.Failed, rep.Compared, c.Golden)
	}
	return nil
}
