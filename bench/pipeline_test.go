package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dualtoken/evalharness/imageio"
)

// stagedTask records the order of its parts. With overlap set, batch k's
// rest and batch k+1's first part each wait until the other has started, so
// a runner that does not run them at the same time times out; rests counts
// the rests running at once.
type stagedTask struct {
	mu          sync.Mutex
	log         []string
	started     map[int]chan struct{} // closed when PredictStaged of batch k begins
	restStarted map[int]chan struct{} // closed when batch k's rest begins
	failRest    int                   // batch whose rest fails (-1: none)
	failHead    int                   // batch whose first part fails (-1: none)
	overlap     bool
	rests       atomic.Int32 // rests running now
	maxRests    atomic.Int32 // most rests seen running at once
}

func (t *stagedTask) note(s string) {
	t.mu.Lock()
	t.log = append(t.log, s)
	t.mu.Unlock()
}

func (t *stagedTask) Name() string                             { return "staged" }
func (t *stagedTask) Version() int                             { return 1 }
func (t *stagedTask) Protocol() map[string]any                 { return nil }
func (t *stagedTask) Items() ([]Item, error)                   { return nil, nil }
func (t *stagedTask) Needs() string                            { return "" }
func (t *stagedTask) Score([]Item, []Record) (*Metrics, error) { return &Metrics{}, nil }

func (t *stagedTask) Predict(ctx context.Context, m Model, items []Item) ([]Record, error) {
	rest, err := t.PredictStaged(ctx, m, items)
	if err != nil {
		return nil, err
	}
	return rest()
}

func (t *stagedTask) PredictStaged(_ context.Context, _ Model, items []Item) (func() ([]Record, error), error) {
	k := items[0].Payload.(int)
	t.note(fmt.Sprintf("head %d", k))
	close(t.started[k])
	if t.overlap && k > 0 {
		select {
		case <-t.restStarted[k-1]:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("head %d: the previous batch's rest never ran beside it", k)
		}
	}
	if k == t.failHead {
		return nil, errors.New("head failed")
	}
	return func() ([]Record, error) {
		n := t.rests.Add(1)
		defer t.rests.Add(-1)
		for {
			m := t.maxRests.Load()
			if n <= m || t.maxRests.CompareAndSwap(m, n) {
				break
			}
		}
		close(t.restStarted[k])
		if t.overlap {
			if next, ok := t.started[k+1]; ok {
				select {
				case <-next:
				case <-time.After(5 * time.Second):
					return nil, fmt.Errorf("rest %d: the next batch's first part never started beside it", k)
				}
			}
		}
		t.note(fmt.Sprintf("rest %d", k))
		if k == t.failRest {
			return nil, errors.New("rest failed")
		}
		recs := make([]Record, len(items))
		for i := range recs {
			recs[i].Pred = json.RawMessage(fmt.Sprint(k))
		}
		return recs, nil
	}, nil
}

func newStagedTask(n int) (*stagedTask, [][]Item) {
	t := &stagedTask{started: map[int]chan struct{}{}, restStarted: map[int]chan struct{}{}, failRest: -1, failHead: -1}
	var batches [][]Item
	for k := range n {
		t.started[k] = make(chan struct{})
		t.restStarted[k] = make(chan struct{})
		batches = append(batches, []Item{{ID: fmt.Sprintf("a%d", k), Payload: k}, {ID: fmt.Sprintf("b%d", k), Payload: k}})
	}
	return t, batches
}

// TestRunBatchesOverlapsRests: batch k's rest runs while batch k+1's first
// part does (it waits for it and would time out otherwise), and records come
// out in batch order.
func TestRunBatchesOverlapsRests(t *testing.T) {
	task, batches := newStagedTask(4)
	task.overlap = true
	var got []int
	err := RunBatches(context.Background(), task, nil, batches, func(k int, recs []Record) error {
		if len(recs) != 2 || string(recs[0].Pred) != fmt.Sprint(k) {
			t.Errorf("batch %d: records %v", k, recs)
		}
		got = append(got, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Errorf("emitted %v, want batches in order", got)
	}
	if n := task.maxRests.Load(); n != 1 {
		t.Errorf("%d rests ran at once, want one at a time", n)
	}
}

// TestRunBatchesErrors: a failed rest or first part stops the run with the
// batch named; the batches before it are emitted (kept for a resumed run).
func TestRunBatchesErrors(t *testing.T) {
	for _, c := range []struct {
		name           string
		failRest, head int
		emitted        string
		msg            string
	}{
		{"rest", 1, -1, "[0]", "items a1..b1: rest failed"},
		{"first part", -1, 2, "[0 1]", "items a2..b2: head failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			task, batches := newStagedTask(4)
			task.failRest, task.failHead = c.failRest, c.head
			var got []int
			err := RunBatches(context.Background(), task, nil, batches, func(k int, _ []Record) error {
				got = append(got, k)
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want one with %q", err, c.msg)
			}
			if fmt.Sprint(got) != c.emitted {
				t.Errorf("emitted %v, want %s", got, c.emitted)
			}
		})
	}
}

// TestRunBatchesCancel: a cancelled context emits the batch in flight and
// starts no other.
func TestRunBatchesCancel(t *testing.T) {
	task, batches := newStagedTask(4)
	ctx, cancel := context.WithCancel(context.Background())
	var got []int
	err := RunBatches(ctx, task, nil, batches, func(k int, _ []Record) error {
		got = append(got, k)
		if k == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	task.mu.Lock()
	defer task.mu.Unlock()
	if fmt.Sprint(got) != "[0 1]" || len(task.log) != 4 {
		t.Errorf("emitted %v, parts run %v: want batches 0 and 1 finished and nothing after", got, task.log)
	}
}

// pathTask is stagedTask with image files (ImagePather): the runner decodes
// the next batch's files ahead.
type pathTask struct {
	*stagedTask
	dir string
}

func (p pathTask) ImagePath(it Item) string { return filepath.Join(p.dir, it.ID+".png") }

// TestRunBatchesDropsUnusedDecodes: a run cancelled after its first batch
// leaves no decode of the batch it did not run behind it.
func TestRunBatchesDropsUnusedDecodes(t *testing.T) {
	task, batches := newStagedTask(4)
	p := pathTask{task, t.TempDir()}
	img := imageio.New(2, 2)
	for _, b := range batches {
		for _, it := range b {
			if err := imageio.SavePNG(p.ImagePath(it), img); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := RunBatches(ctx, p, nil, batches, func(k int, _ []Record) error {
		if k == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	prefetchMu.Lock()
	defer prefetchMu.Unlock()
	for _, b := range batches {
		for _, it := range b {
			if prefetch[p.ImagePath(it)] != nil {
				t.Errorf("%s: a decode ahead was left behind", it.ID)
			}
		}
	}
}
