package vqa

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds the val2014 questions and annotations files arbitrary
// bytes: New must fail with an error naming the data folder's file, or give
// items with unique non-empty IDs whose prompts build and whose scoring with
// any answer does not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/vqa
func FuzzRead(f *testing.F) {
	// Seeds are small (the demo files are 2 KB): the fuzzer minimises every
	// new input in time quadratic in its size, within the same minute.
	qs := []byte(`{"questions": [{"image_id": 5, "question": "How many?", "question_id": 50}, {"image_id": 5, "question": "Is it red?", "question_id": 51}]}`)
	f.Add(qs, []byte(`{"annotations": [{"question_id": 50, "question_type": "how many", "answer_type": "number", "multiple_choice_answer": "2", "answers": [{"answer": "2"}, {"answer": "two"}, {"answer": "2"}]}, {"question_id": 51, "answer_type": "yes/no", "answers": [{"answer": "yes"}]}]}`), "2")
	f.Add(qs, []byte(`{"annotations": [{"question_id": 50, "answers": [{"answer": "2"}]}]}`), "two")
	f.Add([]byte(`{"questions": [{"image_id": -1, "question": "", "question_id": 1}]}`),
		[]byte(`{"annotations": [{"question_id": 1, "answer_type": "number", "answers": [{"answer": "1"}], "multiple_choice_answer": 3}]}`), "1")
	f.Add([]byte(`{"questions": []}`), []byte(`{"annotations": []}`), "")
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, questions, annotations []byte, answer string) {
		for name, data := range map[string][]byte{QuestionsFile("val2014"): questions, AnnotationsFile("val2014"): annotations} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		task, err := New(bench.Options{Data: dir})
		benchtest.CheckLoaded(t, dir, task, err, func(_ int, it bench.Item) any {
			return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer}
		})
	})
}
