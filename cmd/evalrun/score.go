package main

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

func init() {
	register("score", "Re-score saved predictions without the model (writes results.json beside them).", &scoreCmd{})
}

type scoreCmd struct {
	Results string            `arg:"" help:"A results.json of an earlier run (its task, protocol and predictions file are reused)." placeholder:"RESULTS"`
	Data    string            `help:"Data root, if it moved since the run." placeholder:"DIR"`
	Opt     map[string]string `help:"Task option key=value overriding the recorded protocol (e.g. a scorer rule variant)."`
	Limit   int               `help:"Only the first N items (as the run did with --limit)."`
}

func (c *scoreCmd) Help() string {
	return `Inference and scoring are joined by the prediction file: this re-reads it and
recomputes the metrics, e.g. after a scorer fix or to apply another scorer variant.

Example:
  evalrun score results/pope/tiny-llava/results.json --opt rule=vlmevalkit`
}

func (c *scoreCmd) Run(g *Globals) error {
	prev, err := bench.ReadResult(c.Results)
	if err != nil {
		return usageErr("%v", err)
	}
	opts := bench.Options{Data: stringOf(prev.Protocol["data"]), Extra: map[string]string{}}
	for k, v := range prev.Protocol {
		if k != "data" {
			opts.Extra[k] = stringOf(v)
		}
	}
	if c.Data != "" {
		opts.Data = c.Data
	}
	for k, v := range c.Opt {
		opts.Extra[k] = v
	}
	task, err := bench.New(prev.Task, opts)
	if err != nil {
		return usageErr("%v", err)
	}
	if prev.Predictions == "" {
		return usageErr("%s: field \"predictions\" is missing", c.Results)
	}
	res, err := bench.Rescore(task, filepath.Join(filepath.Dir(c.Results), prev.Predictions), c.Limit)
	if err != nil {
		return usageErr("%v", err)
	}
	res.Model, res.Run, res.Predictions = prev.Model, prev.Run, prev.Predictions
	if err := res.Write(c.Results); err != nil {
		return err
	}
	printResult(res)
	return nil
}

func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return jsonString(x)
	}
}
