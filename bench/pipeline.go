package bench

import (
	"context"
	"fmt"
)

// Staged is implemented by tasks whose batch work is a first part that uses
// the model (the tokenizer on the device) followed by a rest that does not
// need it to be free (metrics, features on another network, packing): the
// runner then runs batch k's rest while batch k+1's first part runs. Predict
// must stay equivalent to the first part followed by the rest, and the first
// part loads the batch's images (the runner drops what it decoded ahead and
// the first part did not take).
type Staged interface {
	// PredictStaged runs the first part on a batch and returns the rest,
	// which gives one record per item, in order, as Predict does. The rest
	// may run on another goroutine, at the same time as the next batch's
	// PredictStaged.
	PredictStaged(ctx context.Context, m Model, items []Item) (rest func() ([]Record, error), err error)
}

// RunBatches predicts batches in order as `evalrun run` does and passes each
// batch's records to emit, in batch order: the next batch's images are
// decoded in the background (ImagePather), and a Staged task's rest of batch
// k runs while batch k+1's first part does (one rest in flight). Nothing runs
// after it returns: a decode started ahead for a batch that did not run is
// waited for and dropped.
func RunBatches(ctx context.Context, task Task, m Model, batches [][]Item, emit func(k int, recs []Record) error) error {
	// Paths decoded ahead for this batch and the next: what a batch did not
	// take is dropped once its first part has run, and on return.
	var cur, ahead []string
	defer func() { dropPrefetched(cur); dropPrefetched(ahead) }()
	staged, _ := task.(Staged)
	type pending struct {
		k    int
		done chan struct{}
		recs []Record
		err  error
	}
	var inflight *pending
	wait := func() error {
		if inflight == nil {
			return nil
		}
		p := inflight
		inflight = nil
		<-p.done
		if p.err != nil {
			return batchErr(task, batches[p.k], p.err)
		}
		return emit(p.k, p.recs)
	}
	for k, batch := range batches {
		if err := ctx.Err(); err != nil {
			return firstError(wait(), err)
		}
		cur, ahead = ahead, nil
		if ip, ok := task.(ImagePather); ok && k+1 < len(batches) {
			next := batches[k+1]
			ahead = make([]string, len(next))
			for i, it := range next {
				ahead[i] = ip.ImagePath(it)
			}
			prefetchImages(ahead)
		}
		if staged == nil {
			recs, err := task.Predict(ctx, m, batch)
			dropPrefetched(cur)
			if err != nil {
				return batchErr(task, batch, err)
			}
			if err := emit(k, recs); err != nil {
				return err
			}
			continue
		}
		rest, err := staged.PredictStaged(ctx, m, batch)
		dropPrefetched(cur)
		if err != nil {
			err = batchErr(task, batch, err)
			if werr := wait(); werr != nil {
				return fmt.Errorf("%w; then %v", werr, err)
			}
			return err
		}
		if err := wait(); err != nil {
			// This batch's rest is not started: nothing is left running.
			return err
		}
		p := &pending{k: k, done: make(chan struct{})}
		inflight = p
		go func() {
			defer close(p.done)
			p.recs, p.err = rest()
		}()
	}
	return wait()
}

func batchErr(task Task, batch []Item, err error) error {
	return fmt.Errorf("%s: predicting items %s..%s: %w", task.Name(), batch[0].ID, batch[len(batch)-1].ID, err)
}

// firstError is the first non-nil error.
func firstError(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
