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
