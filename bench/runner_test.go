package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countTask scores accuracy of a fake model that answers item i with i%3==0.
type countTask struct {
	n         int
	predicted *int
	failAt    int // Predict errors (simulating a crash) once this many items were predicted
}

func (c countTask) Name() string             { return "count" }
func (c countTask) Version() int             { return 1 }
func (c countTask) Protocol() map[string]any { return map[string]any{"rule": "mod3"} }
func (c countTask) Needs() string            { return "any" }
func (c countTask) Items() ([]Item, error) {
	out := make([]Item, c.n)
	for i := range out {
		out[i] = Item{ID: fmt.Sprintf("q%03d", i), Payload: i}
	}
	return out, nil
}
func (c countTask) Predict(_ context.Context, _ Model, items []Item) ([]Record, error) {
	if c.failAt > 0 && *c.predicted >= c.failAt {
		return nil, errors.New("killed")
	}
	recs := make([]Record, len(items))
	for i, it := range items {
		*c.predicted++
		v := it.Payload.(int)
		if v == 7 {
			recs[i] = Record{Error: "unreadable image"}
			continue
		}
		b, _ := json.Marshal(v%3 == 0)
		recs[i] = Record{Pred: b}
	}
	return recs, nil
}
func (c countTask) Score(items []Item, recs []Record) (*Metrics, error) {
	m := &Metrics{}
	correct, n := 0, 0
	for _, r := range recs {
		if r.Error != "" {
			continue
		}
		var yes bool
		if err := json.Unmarshal(r.Pred, &yes); err != nil {
			return nil, err
		}
		n++
		if yes {
			correct++
		}
	}
	m.Set("accuracy", 100*float64(correct)/float64(len(items)), true)
	return m, nil
}

type fakeModel struct{}

func (fakeModel) Info() ModelInfo {
	return ModelInfo{Name: "fake", ConfigSHA256: "c", WeightsSHA256: "w"}
}

func TestResumeAfterKillGivesIdenticalResults(t *testing.T) {
	dir := t.TempDir()
	cfg := RunConfig{OutDir: dir, BatchSize: 4, Log: io.Discard}
	full := 0
	want, err := Run(context.Background(), countTask{n: 20, predicted: &full}, fakeModel{}, RunConfig{OutDir: filepath.Join(dir, "ref"), BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want.NSamples.Failed != 1 || want.NSamples.Total != 20 {
		t.Fatalf("counts %+v", want.NSamples)
	}
	// Accuracy counts a failed item as wrong: denominator is all 20 items.
	if want.Metrics["accuracy"] != 100*7.0/20 {
		t.Errorf("accuracy %v", want.Metrics["accuracy"])
	}

	// First attempt dies after 8 items.
	n := 0
	if _, err := Run(context.Background(), countTask{n: 20, predicted: &n, failAt: 8}, fakeModel{}, cfg); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("want crash, got %v", err)
	}
	// Simulate a torn final line from the kill.
	p := PredictionsPath(cfg, countTask{}, fakeModel{}.Info())
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"q0`)
	f.Close()

	n2 := 0
	got, err := Run(context.Background(), countTask{n: 20, predicted: &n2}, fakeModel{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n2 != 13 { // the 12 not reached, and q007, which failed, again
		t.Errorf("resumed run recomputed %d items, want 13", n2)
	}
	if got.Metrics["accuracy"] != want.Metrics["accuracy"] || got.NSamples != want.NSamples {
		t.Errorf("resumed %+v %+v, want %+v %+v", got.Metrics, got.NSamples, want.Metrics, want.NSamples)
	}
	if got.Run.Cached != 7 || got.Run.Computed != 13 {
		t.Errorf("run info %+v", got.Run)
	}
	// Re-scoring the saved predictions without the model gives the same.
	res, err := Rescore(countTask{n: 20}, p, Selection{})
	if err != nil || res.Metrics["accuracy"] != want.Metrics["accuracy"] {
		t.Errorf("rescore %v %v", res, err)
	}
	// results.json round-trips with the schema.
	rr, err := ReadResult(filepath.Join(RunDir(cfg, countTask{}, fakeModel{}.Info()), "results.json"))
	if err != nil || rr.Task != "count" || rr.Metrics["accuracy"] != got.Metrics["accuracy"] {
		t.Errorf("results.json: %+v %v", rr, err)
	}
}

func TestCorruptPredictionLineIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.jsonl")
	os.WriteFile(p, []byte("{\"id\":\"a\",\"pred\":1}\nnot json\n{\"id\":\"b\",\"pred\":2}\n"), 0o644)
	if _, err := LoadRecords(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("want error naming line 2, got %v", err)
	}
}

func TestSubsetAndLimit(t *testing.T) {
	n := 0
	res, err := Run(context.Background(), countTask{n: 20, predicted: &n}, fakeModel{}, RunConfig{OutDir: t.TempDir(), Subset: []string{"q003", "q006", "q007", "q010"}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	// q003, q006 correct (multiples of 3), q007 fails: 2 of 3.
	if n != 3 || res.NSamples.Total != 3 || res.NSamples.Failed != 1 || res.Metrics["accuracy"] != 100*2.0/3 {
		t.Errorf("predicted %d, %+v %v", n, res.NSamples, res.Metrics)
	}
	if _, err := Run(context.Background(), countTask{n: 20, predicted: &n}, fakeModel{}, RunConfig{OutDir: t.TempDir(), Subset: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown subset id: %v", err)
	}
}

// TestCacheKeyDType: predictions made in bfloat16 are cached apart from
// float32 ones, and float32 keys are those of a model that names no dtype.
func TestCacheKeyDType(t *testing.T) {
	task := countTask{n: 1}
	info := ModelInfo{Name: "m", ConfigSHA256: "c", WeightsSHA256: "w"}
	plain := CacheKey(task, info)
	info.DType = "float32"
	if k := CacheKey(task, info); k != plain {
		t.Errorf("float32 key %s, want the dtype-less key %s", k, plain)
	}
	info.DType = "bfloat16"
	if k := CacheKey(task, info); k == plain {
		t.Error("bfloat16 predictions share the float32 cache key")
	}
}

// A dry run of the XLA path (stand-in outputs) goes by "<model>@xladry":
// its folder, cache key and results.json's model name never meet the real
// model's, so reports and checks keep them apart.
func TestDryRunsAreAnotherModel(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, backend := range []string{"xla:cuda", "xladry:cuda"} {
		cfg := RunConfig{OutDir: dir, BatchSize: 4, Backend: backend}
		if _, err := Run(context.Background(), countTask{n: 6, predicted: &n}, fakeModel{}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if n != 12 {
		t.Errorf("%d items predicted over both runs, want 12: the dry run reused the real run's cache or the reverse", n)
	}
	found, _, err := FindResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range found {
		names[r.Model.Name] = r.Run.Backend
	}
	real := fakeModel{}.Info().Name
	if len(names) != 2 || names[real] != "xla:cuda" || names[real+"@xladry"] != "xladry:cuda" {
		t.Errorf("results by model name: %v", names)
	}
}
