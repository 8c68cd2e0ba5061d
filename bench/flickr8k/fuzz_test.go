package flickr8k

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
)

// FuzzRead feeds Flickr8k.token.txt and the split lists (official and
// Karpathy) arbitrary bytes: New must fail with an error naming the file, or
// give items with unique non-empty IDs, each with its captions.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/flickr8k
func FuzzRead(f *testing.F) {
	demo := f.TempDir()
	if err := WriteDemo(demo, 3, 0, 2, 8); err != nil {
		f.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(demo, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("Flickr8k.token.txt"), read("Flickr_8k.testImages.txt"))
	f.Add(read("Flickr8k.token.txt"), read("flickr8k_test_karpathy.txt"))
	f.Add([]byte("a.jpg#0\tA dog.\r\na.jpg#x\tbad\n"), []byte("a.jpg\n"))
	f.Add([]byte("a.jpg#1\t\nb.jpg#-1\tcat\n#0\tx\n"), []byte(" a.jpg \n\n.jpg,a caption\nb.jpg,c.jpg,\n"))
	f.Add([]byte(""), []byte(""))
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tokens, list []byte) {
		for name, data := range map[string][]byte{"Flickr8k.token.txt": tokens, "Flickr_8k.testImages.txt": list, "flickr8k_test_karpathy.txt": list} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "Images"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, split := range []string{"test", "karpathy"} {
			task, err := New(bench.Options{Data: dir, Extra: map[string]string{"split": split}})
			items, _, _ := benchtest.CheckLoaded(t, dir, task, err, nil)
			for i, it := range items {
				if len(it.Payload.(entry).Captions) == 0 {
					t.Fatalf("split %s: item %d (%s) has no captions", split, i, it.ID)
				}
			}
		}
	})
}

// FuzzScore feeds Score arbitrary prediction records (a corrupt or
// hand-edited predictions.jsonl): it must return metrics or an error, never
// panic or rank misaligned embeddings.
//
//	go test -run '^$' -fuzz '^FuzzScore$' -fuzztime 60s -parallel 1 ./bench/flickr8k
func FuzzScore(f *testing.F) {
	mk := func(img []float32, caps ...[]float32) []byte {
		b, _ := json.Marshal(pred{Image: img, Captions: caps})
		return b
	}
	f.Add(mk([]float32{1, 0}, []float32{1, 0}, []float32{0, 1}), mk([]float32{0, 1}, []float32{0, 1}, []float32{1, 1}))
	f.Add(mk([]float32{1, 0, 0}, []float32{1, 0}), mk([]float32{0}, []float32{0, 1, 1}))
	f.Add(mk(nil), mk([]float32{1}))
	f.Add([]byte(`{"image": [1, 2], "captions": [[1, 2], [3, 4], [5, 6]]}`), []byte(`{"image": "x"}`))
	f.Fuzz(func(t *testing.T, predA, predB []byte) {
		items := []bench.Item{
			{ID: "a.jpg", Payload: entry{Image: "a.jpg", Captions: []string{"a0", "a1"}}},
			{ID: "b.jpg", Payload: entry{Image: "b.jpg", Captions: []string{"b0", "b1"}}},
		}
		recs := []bench.Record{{ID: "a.jpg", Pred: predA}, {ID: "b.jpg", Pred: predB}}
		m, err := (&Task{}).Score(items, recs)
		if err != nil {
			if !strings.Contains(err.Error(), "a.jpg") && !strings.Contains(err.Error(), "b.jpg") {
				t.Fatalf("error names no item: %v", err)
			}
			return
		}
		var pa, pb pred
		json.Unmarshal(predA, &pa)
		json.Unmarshal(predB, &pb)
		d := len(pa.Image)
		for _, p := range []pred{pa, pb} {
			if len(p.Image) != d || d == 0 || len(p.Captions) != 2 {
				t.Fatalf("scored records of mismatched shapes: %s / %s -> %v", predA, predB, m.Values)
			}
			for _, c := range p.Captions {
				if len(c) != d {
					t.Fatalf("scored a caption of %d values against images of %d: %v", len(c), d, m.Values)
				}
			}
		}
	})
}
