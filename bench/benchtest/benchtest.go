// Package benchtest holds the checks every benchmark reader's fuzz target
// makes once New has read its fuzzed files: a refusal names the file, a task
// that loads has items with unique non-empty IDs, and scoring them with
// arbitrary predictions fails cleanly instead of panicking.
package benchtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// CheckLoaded checks the outcome of New(opts) on fuzzed files: task and err
// are what New returned, where is the file or folder a refusal must name.
//
// When err is non-nil its text must contain where; CheckLoaded then returns
// nil items and the caller moves on. Otherwise the task must list at least one
// item, each with a non-empty ID seen once. With pred non-nil it then builds
// one record per item whose Pred is pred(i, item) marshalled to JSON (nil, or
// a value that does not marshal such as a NaN, leaves the record without a
// prediction, as a corrupt record would), calls Protocol, and calls Score,
// which must not panic and must not fail with an empty error. It returns the
// items and Score's result for the suite's own checks; with pred nil nothing
// is scored and the metrics and error are nil.
func CheckLoaded(t testing.TB, where string, task bench.Task, err error, pred func(i int, it bench.Item) any) ([]bench.Item, *bench.Metrics, error) {
	t.Helper()
	if err != nil {
		if !strings.Contains(err.Error(), where) {
			t.Fatalf("error does not name %s: %v", where, err)
		}
		return nil, nil, nil
	}
	// The protocol names the variant in force (split, mode, ...) for suites
	// that load the same files several ways; it is only built on failure.
	variant := func() string { return fmt.Sprint(task.Name(), " ", task.Protocol()) }
	items, ierr := task.Items()
	if ierr != nil || len(items) == 0 {
		t.Fatalf("%s: loaded with no items (Items error: %v)", variant(), ierr)
	}
	seen := map[string]bool{}
	for i, it := range items {
		if it.ID == "" || seen[it.ID] {
			t.Fatalf("%s: item %d: id %q is empty or repeated", variant(), i, it.ID)
		}
		seen[it.ID] = true
	}
	if pred == nil {
		return items, nil, nil
	}
	recs := make([]bench.Record, len(items))
	for i, it := range items {
		recs[i].ID = it.ID
		if p := pred(i, it); p != nil {
			recs[i].Pred, _ = json.Marshal(p)
		}
	}
	task.Protocol()
	m, serr := task.Score(items, recs)
	if serr != nil && serr.Error() == "" {
		t.Fatalf("%s: Score failed with an empty error", variant())
	}
	return items, m, serr
}
