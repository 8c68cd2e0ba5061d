package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/train"
	"github.com/dualtoken/evalharness/train/tinysiglip"
)

func init() {
	register("train-tiny", "Train a tiny model on the procedural world (resumable), export it in HF layout and report held-out zero-shot accuracy.", &trainTinyCmd{})
}

type trainTinyCmd struct {
	Model           string   `arg:"" enum:"siglip" help:"Which tiny model: siglip."`
	Out             string   `required:"" help:"Model directory to write (HF layout). Checkpoints go to DIR/checkpoint while training; an interrupted run restarted with the same flags resumes there." placeholder:"DIR"`
	Steps           *int     `help:"Optimisation steps (default: the shipped recipe's)." placeholder:"N"`
	Seed            uint64   `default:"1" help:"Training world seed (also the weight-init seed); must differ from the held-out seed 2026."`
	Batch           *int     `help:"Image-caption pairs per step (default: the recipe's)." placeholder:"N"`
	LR              *float64 `name:"lr" help:"Peak learning rate, > 0 (default: the recipe's)." placeholder:"RATE"`
	CheckpointEvery *int     `help:"Steps between checkpoints (default: the recipe's 100; 0: only at the end and on Ctrl-C)." placeholder:"N"`
	EvalImages      *int     `help:"Held-out world scenes for the final zero-shot accuracy (default: the recipe's 480; 0 skips it)." placeholder:"N"`
	Patch           int      `default:"16" help:"Vision patch size on the 48 px images: 16 (3×3 tokens, the shipped model) or 8 (6×6 tokens, learns shapes more slowly)."`
	KeepCheckpoint  bool     `help:"Keep DIR/checkpoint after the export."`
	Quiet           bool     `help:"No progress bar."`
}

func (c *trainTinyCmd) Help() string {
	return `Trains SigLIP at toy scale from scratch on the repo's procedural image–caption world
with the sigmoid contrastive loss (AdamW, warmup + cosine), deterministically from --seed.
It checkpoints every --checkpoint-every steps; Ctrl-C saves and stops, and the same
command continues and ends bit-identical to an uninterrupted run. At the end it writes
config.json, model.safetensors, spiece.model and training.json to --out, loads that
directory through the bench adapter and prints the zero-shot top-1 accuracy on held-out
world scenes (seed 2026, the demo's) with the 80 OpenAI templates.

Example (the shipped model):
  evalrun train-tiny siglip --out assets/models/tiny-siglip`
}

func (c *trainTinyCmd) Run(g *Globals) error {
	o := tinysiglip.DefaultOptions()
	o.Out, o.Seed, o.KeepCheckpoint, o.PatchSize = dryOut(g, c.Out), c.Seed, c.KeepCheckpoint, c.Patch
	if c.Patch < 2 || 48%c.Patch != 0 {
		return usageErr("--patch %d: expected a divisor of the 48 px image size (8 or 16)", c.Patch)
	}
	for _, f := range []struct {
		dst    *int
		v      *int
		name   string
		zeroOK bool // 0 means something (see the flag's help)
	}{{&o.Steps, c.Steps, "steps", false}, {&o.Batch, c.Batch, "batch", false}, {&o.CheckpointEvery, c.CheckpointEvery, "checkpoint-every", true}, {&o.EvalImages, c.EvalImages, "eval-images", true}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || (*f.v == 0 && !f.zeroOK) {
			want := "a positive number"
			if f.zeroOK {
				want = "0 or a positive number"
			}
			return usageErr("--%s %d: expected %s", f.name, *f.v, want)
		}
		*f.dst = *f.v
	}
	if c.LR != nil {
		if !(*c.LR > 0) || math.IsInf(*c.LR, 0) {
			return usageErr("--lr %g: expected a finite number > 0", *c.LR)
		}
		o.LearningRate = *c.LR
		o.MinLearningRate = min(o.MinLearningRate, *c.LR)
	}
	if o.WarmupSteps >= o.Steps {
		o.WarmupSteps = o.Steps / 10
	}
	if o.Seed == tinysiglip.EvalSeed {
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
		return fmt.Sprintf("train-tiny siglip loss %.4f lr %.2e t %.1f b %.2f", r.Loss, r.LR, r.Metrics["t"], r.Metrics["b"])
	})
	fmt.Fprintf(os.Stderr, "tiny SigLIP recipe: %d steps × %d pairs, seed %d, backend %s; checkpoints in %s\n",
		o.Steps, o.Batch, o.Seed, b.Name(), tinysiglip.CheckpointDir(o.Out))
	rec, err := tinysiglip.Train(ctx, b, o, onStep)
	bar.finish()
	if errors.Is(err, context.Canceled) {
		return interruptedErr("interrupted; the checkpoint in %s resumes with the same command", tinysiglip.CheckpointDir(o.Out))
	}
	if err != nil {
		return err
	}
	if rec.Reused {
		fmt.Printf("model: %s (%d parameters), trained earlier with this recipe (its training.json); delete that file to train again\n", o.Out, rec.Parameters)
		if rec.ZeroShot != nil {
			fmt.Println(rec.ZeroShot.String())
		}
		return nil
	}
	fmt.Printf("model: %s (%d parameters)\n", o.Out, rec.Parameters)
	if rec.ResumedAt > 0 {
		fmt.Printf("resumed at step %d\n", rec.ResumedAt)
	}
	fmt.Printf("training: %d steps in %.1f s (%.2f steps/s this run), final loss %.4f (mean of the last 50 steps)\n",
		o.Steps-rec.ResumedAt, rec.WallSeconds, rec.StepsPerSecond, rec.FinalLoss)
	if rec.ZeroShot != nil {
		fmt.Println(rec.ZeroShot.String())
	}
	return nil
}
