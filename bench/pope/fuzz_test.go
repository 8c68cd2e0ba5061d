package pope

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds coco_pope_random.json arbitrary bytes: New must fail with
// an error naming the file or give items with unique non-empty IDs, whose
// prompts build and whose scoring with any answer does not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/pope
func FuzzRead(f *testing.F) {
	demo := f.TempDir()
	if err := WriteDemo(demo, seed, 100, 2, 8); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(demo, "coco_pope_random.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "Yes")
	f.Add([]byte(`{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "maybe"}`), "no")
	f.Add([]byte("{\"question_id\": 1, \"label\": \"yes\"}\n\n{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"q\", \"label\": \"no\"}\n"), "")
	f.Add([]byte(""), "yes")
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, answer string) {
		path := filepath.Join(dir, "coco_pope_random.json")
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"splits": "random"}})
		benchtest.CheckLoaded(t, path, task, err, func(_ int, it bench.Item) any {
			return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer}
		})
	})
}
