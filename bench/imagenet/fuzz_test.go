package imagenet

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
)

// FuzzRead feeds the flat layout's synsets.txt, ground-truth file and
// classnames.txt arbitrary bytes: New must fail with an error naming the
// file, or give items with unique non-empty IDs and labels among the classes.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/imagenet
func FuzzRead(f *testing.F) {
	// Seeds are small (the demo's files are 1 KB): the fuzzer minimises
	// every new input in time quadratic in its size, within the same minute.
	f.Add([]byte("n03 shark\nn01 tench fish\nn02 goldfish\n"), []byte("2\n1\n3\n"), []byte("tench\ngoldfish\nshark\n"))
	f.Add([]byte("n01 tench\n \nn02\n"), []byte("1\n2\n"), []byte("tench\ngoldfish\n"))
	f.Add([]byte("n01\nn01\n"), []byte(" 1 \r\n0\n"), []byte("a\r\n"))
	f.Add([]byte("n02\nn01\n"), []byte("2\n"), []byte(""))
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, synsets, gt, classnames []byte) {
		if err := os.MkdirAll(filepath.Join(dir, "val"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"synsets.txt": synsets, "ILSVRC2012_validation_ground_truth.txt": gt, "classnames.txt": classnames} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		task, err := New(bench.Options{Data: dir})
		items, m, err := benchtest.CheckLoaded(t, dir, task, err, func(i int, it bench.Item) any {
			// Checked here, before Score reads the label.
			tk := task.(*Task)
			if l := it.Payload.(sample).Label; l < 0 || l >= len(tk.classNames) {
				t.Fatalf("item %d (%s): label %d of %d classes", i, it.ID, l, len(tk.classNames))
			}
			return pred{Rank: i % len(tk.classNames), Top5: []int{0}}
		})
		if items == nil {
			return
		}
		if err != nil {
			t.Fatalf("Score of valid predictions: %v", err)
		}
		for k, v := range m.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("metric %s = %v", k, v)
			}
		}
	})
}

// FuzzScore feeds Score arbitrary prediction records (a corrupt or
// hand-edited predictions.jsonl) for a three-class task: it must return
// finite metrics or an error naming the item, never panic.
//
//	go test -run '^$' -fuzz '^FuzzScore$' -fuzztime 60s -parallel 1 ./bench/imagenet
func FuzzScore(f *testing.F) {
	f.Add([]byte(`{"rank": 0, "top5": [1, 0, 2]}`), []byte(`{"rank": 2, "top5": [0, 1, 2]}`))
	f.Add([]byte(`{"rank": -1, "top5": []}`), []byte(`{"rank": 3}`))
	f.Add([]byte(`{"rank": 1e3}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, predA, predB []byte) {
		task := &Task{classNames: []string{"tench", "goldfish", "shark"}}
		items := []bench.Item{{ID: "a.JPEG", Payload: sample{Path: "a.JPEG", Label: 1}}, {ID: "b.JPEG", Payload: sample{Path: "b.JPEG", Label: 2}}}
		recs := []bench.Record{{ID: "a.JPEG", Pred: predA}, {ID: "b.JPEG", Pred: predB}}
		m, err := task.Score(items, recs)
		if err != nil {
			if !strings.Contains(err.Error(), "a.JPEG") && !strings.Contains(err.Error(), "b.JPEG") {
				t.Fatalf("error names no item: %v", err)
			}
			return
		}
		for _, p := range [][]byte{predA, predB} {
			var x pred
			json.Unmarshal(p, &x)
			if x.Rank < 0 || x.Rank >= 3 {
				t.Fatalf("scored a prediction with rank %d of 3 classes: %s -> %v", x.Rank, p, m.Values)
			}
		}
		for k, v := range m.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("metric %s = %v", k, v)
			}
		}
	})
}
