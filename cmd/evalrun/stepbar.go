package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"

	"github.com/dualtoken/evalharness/train"
)

// stepBar is the training progress bar on stderr: created at the first step
// seen (so a resumed run starts where it left off), described per step.
type stepBar struct {
	bar   *progressbar.ProgressBar
	steps int
	quiet bool
}

// onStep returns the train.Result callback that updates the bar with describe(r).
func (s *stepBar) onStep(describe func(train.Result) string) func(train.Result) {
	return func(r train.Result) {
		if s.quiet {
			return
		}
		if s.bar == nil {
			s.bar = progressbar.NewOptions(s.steps,
				progressbar.OptionSetWriter(progressOut()),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("steps"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200_000_000),
			)
			_ = s.bar.Set(r.Step - 1)
		}
		s.bar.Describe(describe(r))
		_ = s.bar.Set(r.Step)
	}
}

// finish closes the bar's line.
func (s *stepBar) finish() {
	if s.bar != nil {
		_ = s.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}
