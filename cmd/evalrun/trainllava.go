package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/llava/tinyllava"
	"github.com/dualtoken/evalharness/train"
)

func init() {
	register("train-tiny-llava", "Train the tiny LLaVA on procedural-world questions (resumable), export it as a LLaVA folder and report held-out accuracy per question kind.", &trainTinyLlavaCmd{})
}

type trainTinyLlavaCmd struct {
	Out            string `required:"" help:"LLaVA folder to write. Checkpoints go to DIR/checkpoint while training; an interrupted run restarted with the same flags resumes there." placeholder:"DIR"`
	Steps          *int   `help:"Optimisation steps (default: the shipped recipe's)." placeholder:"N"`
	Seed           uint64 `default:"1" help:"Training world seed (also the weight-init seed); must differ from the held-out seed 2026."`
	EvalPerKind    *int   `help:"Held-out questions per kind for the final accuracy (default: the recipe's 200; 0 skips it)." placeholder:"N"`
	KeepCheckpoint bool   `help:"Keep DIR/checkpoint after the export."`
	Quiet          bool   `help:"No progress bar."`
}

func (c *trainTinyLlavaCmd) Help() string {
	return `Trains a LLaVA-style model at toy scale from scratch (SigLIP tower 64 wide, mlp2x_gelu
projector, Qwen2 decoder 64 wide, Qwen chat template) on questions about the repo's
procedural world — POPE/MME-style yes/no, VQA-style how-many/what-colour, lettered
choices — with next-token loss on the answers plus training-only scene classifiers on
the tower. It checkpoints as it goes (Ctrl-C saves; the same command resumes), writes
the LLaVA folder and training.json to --out, loads that folder through model/llava and
prints the accuracy on held-out world scenes (seed 2026) per question kind beside chance.

Example (the shipped model):
  evalrun train-tiny-llava --out assets/models/tiny-llava`
}

func (c *trainTinyLlavaCmd) Run(g *Globals) error {
	o := tinyllava.DefaultOptions()
	o.Out, o.Seed, o.KeepCheckpoint = dryOut(g, c.Out), c.Seed, c.KeepCheckpoint
	o.Command = "evalrun " + strings.Join(os.Args[1:], " ")
	if c.Steps != nil {
		if *c.Steps <= 0 {
			return usageErr("--steps %d: expected a positive number", *c.Steps)
		}
		o.Steps = *c.Steps
		o.WarmupSteps = min(o.WarmupSteps, o.Steps/10)
	}
	if c.EvalPerKind != nil {
		if *c.EvalPerKind < 0 {
			return usageErr("--eval-per-kind %d: expected 0 or more", *c.EvalPerKind)
		}
		o.EvalPerKind = *c.EvalPerKind
	}
	if o.Seed == tinyllava.EvalSeed {
		return usageErr("--seed %d is the held-out evaluation seed; choose another", o.Seed)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return usageErr("--out %s: %v", o.Out, err)
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := &stepBar{steps: o.Steps, quiet: c.Quiet}
	onStep := bar.onStep(func(r train.Result) string {
		return fmt.Sprintf("train-tiny-llava loss %.4f answer-acc %.3f", r.Loss, r.Metrics["answer_acc"])
	})
	fmt.Fprintf(os.Stderr, "tiny LLaVA recipe: %d steps × %d questions, seed %d, backend %s; checkpoints in %s\n",
		o.Steps, o.Batch, o.Seed, b.Name(), tinyllava.CheckpointDir(o.Out))
	rec, err := tinyllava.Train(ctx, b, o, onStep)
	bar.finish()
	if errors.Is(err, context.Canceled) {
		return interruptedErr("interrupted; the checkpoint in %s resumes with the same command", tinyllava.CheckpointDir(o.Out))
	}
	if err != nil {
		return err
	}
	fmt.Printf("model: %s (%d parameters, vocabulary %d)\n", o.Out, rec.Parameters, rec.Vocab)
	if rec.Reused {
		fmt.Println("trained earlier with this recipe (its training.json); delete that file to train again")
	} else {
		fmt.Printf("training: %d steps in %.1f s (%.2f steps/s), final loss %.4f (mean of the last 50 steps)\n",
			o.Steps-rec.ResumedAt, rec.WallSeconds, rec.StepsPerSecond, rec.FinalLoss)
	}
	if e := rec.Eval; e != nil {
		kinds := make([]string, 0, len(e.Kinds))
		for k := range e.Kinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		var lines []string
		for _, k := range kinds {
			r := e.Kinds[k]
			lines = append(lines, fmt.Sprintf("  %-13s %5.1f%%  (chance %4.1f%%, n %d)", k, r.Accuracy, r.Chance, r.N))
		}
		fmt.Printf("held-out accuracy (world seed %d):\n%s\n  %-13s %5.1f%%  (chance %4.1f%%)\n", e.Seed, strings.Join(lines, "\n"), "mean", e.Overall.Accuracy, e.Overall.Chance)
	}
	return nil
}
