package bench

import (
	"context"
	"io"
	"testing"
)

// RunConfig.Failed receives the failed records of the run's items (item
// 7 of countTask), also when they come from the cache, and is not called
// when the selection has none.
func TestRunReportsFailedRecords(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		limit, want int
	}{{0, 1}, {0, 1}, {5, 0}} { // the second run is all cached
		var got []Record
		calls := 0
		n := 0
		cfg := RunConfig{OutDir: dir, BatchSize: 4, Limit: c.limit, Log: io.Discard, Failed: func(f []Record) { got = f; calls++ }}
		res, err := Run(context.Background(), countTask{n: 12, predicted: &n}, fakeModel{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.NSamples.Failed != c.want || len(got) != c.want || calls != min(c.want, 1) {
			t.Errorf("limit %d: failed %d, callback %d call(s) with %v; want %d", c.limit, res.NSamples.Failed, calls, got, c.want)
		}
		if c.want == 1 && (got[0].ID != "q007" || got[0].Error != "unreadable image") {
			t.Errorf("failed record %+v, want q007: unreadable image", got[0])
		}
	}
}

// flakyTask fails item "b" while *broken is true (an unreadable image that
// is later fixed).
type flakyTask struct {
	idTask
	broken *bool
}

func (f flakyTask) Predict(ctx context.Context, m Model, items []Item) ([]Record, error) {
	recs, err := f.idTask.Predict(ctx, m, items)
	for i, it := range items {
		if it.ID == "b" && *f.broken {
			recs[i] = Record{Error: "unreadable image"}
		}
	}
	return recs, err
}

// Score scores the items that did not fail, as tasks do.
func (f flakyTask) Score(items []Item, recs []Record) (*Metrics, error) {
	var ok []Item
	var okRecs []Record
	for i, r := range recs {
		if r.Error == "" {
			ok, okRecs = append(ok, items[i]), append(okRecs, r)
		}
	}
	return f.idTask.Score(ok, okRecs)
}

// A rerun tries a failed item again: fixed, it is scored, and the
// predictions file keeps both records, the later one counting (also for
// Rescore).
func TestRerunRetriesFailedItems(t *testing.T) {
	broken := true
	task := flakyTask{idTask{ids: []string{"a", "b", "c"}}, &broken}
	cfg := RunConfig{OutDir: t.TempDir(), Log: io.Discard}
	res, err := Run(context.Background(), task, fakeModel{}, cfg)
	if err != nil || res.NSamples.Failed != 1 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	res, err = Run(context.Background(), task, fakeModel{}, cfg)
	if err != nil || res.NSamples.Failed != 1 || res.Run.Computed != 1 || res.Run.Cached != 2 {
		t.Fatalf("still broken: %+v, %v; want b retried and failed again", res, err)
	}
	broken = false
	res, err = Run(context.Background(), task, fakeModel{}, cfg)
	if err != nil || res.NSamples.Failed != 0 || res.NSamples.Scored != 3 || res.Run.Computed != 1 {
		t.Fatalf("fixed: %+v, %v; want b retried and scored", res, err)
	}
	p := PredictionsPath(cfg, task, fakeModel{}.Info())
	recs, err := LoadRecords(p)
	if err != nil || recs["b"].Error != "" || !recs["b"].hasPred() {
		t.Errorf("records %+v, %v", recs, err)
	}
	again, err := Rescore(task, p, Selection{})
	if err != nil || again.NSamples.Failed != 0 {
		t.Errorf("rescore %+v, %v", again, err)
	}
	res, err = Run(context.Background(), task, fakeModel{}, cfg)
	if err != nil || res.Run.Computed != 0 {
		t.Errorf("fourth run computed %d items, want 0", res.Run.Computed)
	}
}
