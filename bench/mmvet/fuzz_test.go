package mmvet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds mm-vet.json arbitrary bytes: New must fail with an error
// naming the file, or give items with unique non-empty IDs whose prompts
// build and whose scoring (offline substring grader) with any answer does
// not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/mmvet
func FuzzRead(f *testing.F) {
	demo := f.TempDir()
	if err := WriteDemo(demo, seed, 400, 2, 8); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(demo, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "red circle")
	f.Add([]byte(`{"v1_0": {"imagename": "a.png", "capability": ["ocr", "ocr"], "question": "", "answer": "<OR><AND>"}, "v1_0": {}}`), "")
	f.Add([]byte(`{"": {"imagename": "a.png", "capability": ["x"], "question": "q", "answer": "a"}} trailing`), "a")
	f.Add([]byte(`[]`), "")
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, answer string) {
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"grader": GraderSubstring, "judge_cache": filepath.Join(dir, "judge")}})
		benchtest.CheckLoaded(t, path, task, err, func(_ int, it bench.Item) any {
			return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer}
		})
	})
}
