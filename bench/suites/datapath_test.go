package suites

import (
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// The data root is recorded absolute, so a run started elsewhere, or given
// the same folder relatively, resumes from the same predictions.
func TestDataRootRecordedAbsolute(t *testing.T) {
	for _, name := range bench.Names() {
		if _, ok := bench.Demo(name); !ok {
			continue
		}
		opts := demoOptions(t, name)
		abs, err := bench.New(name, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Chdir(filepath.Dir(opts.Data))
		rel := opts
		rel.Data = filepath.Base(opts.Data)
		relTask, err := bench.New(name, rel)
		if err != nil {
			t.Fatalf("%s relative: %v", name, err)
		}
		info := bench.ModelInfo{Name: "m"}
		if got := relTask.Protocol()["data"]; got != opts.Data && got != nil {
			t.Errorf("%s: data recorded as %v, want %s", name, got, opts.Data)
		}
		if bench.CacheKey(abs, info) != bench.CacheKey(relTask, info) {
			t.Errorf("%s: relative and absolute data roots give different cache keys", name)
		}
	}
}
