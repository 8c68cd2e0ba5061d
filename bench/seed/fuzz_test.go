package seed

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds SEED-Bench.json arbitrary bytes, in both modes: New must
// fail with an error naming the file, or give items with unique non-empty
// IDs whose prompts build and whose scoring with any answer (generation) or
// any four losses (likelihood) does not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/seed
func FuzzRead(f *testing.F) {
	// Seeds are small (the demo file is 1 KB): the fuzzer minimises every
	// new input in time quadratic in its size, within the same minute.
	f.Add([]byte(`{"questions": [{"answer": "A", "choice_a": "red", "choice_b": "blue", "choice_c": "green", "choice_d": "grey", "data_id": "1.jpg", "data_type": "image", "question": "What colour?", "question_id": "1", "question_type_id": 2}, {"answer": "B", "data_id": "v.mp4", "data_type": "video", "question_id": "v1", "question_type_id": 10}], "question_type": {"Instance Attributes": 2}}`), "A", 0.5)
	f.Add([]byte(`{"questions": [{"answer": "B", "choice_a": "x", "choice_b": "y", "choice_c": "z", "choice_d": "w", "data_id": 12, "data_type": "image", "question": "q", "question_id": 1.5, "question_type_id": 99}], "question_type": {"Scene Understanding": 99}}`), "B", -1.0)
	f.Add([]byte(`{"questions": [{"answer": "E", "data_type": "image", "question_id": "1", "question_type_id": 1}]}`), "", 0.0)
	f.Add([]byte(`{"questions": [{"data_type": "video", "question_id": "v", "question_type_id": 10}]}`), "", 0.0)
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, answer string, loss float64) {
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"generation", "likelihood"} {
			task, err := New(bench.Options{Data: dir, Extra: map[string]string{"mode": mode}})
			// A NaN or infinite loss does not marshal: that record has no
			// prediction, like a corrupt one.
			items, _, _ := benchtest.CheckLoaded(t, path, task, err, func(i int, it bench.Item) any {
				return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer, Losses: []float64{1, loss, 0.5, float64(i)}}
			})
			if items == nil {
				// The file is read the same way in both modes.
				return
			}
		}
	})
}
