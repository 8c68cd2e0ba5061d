package mme

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds two images' question files of one subtask arbitrary bytes:
// New must fail with an error naming the file, or give items with unique
// non-empty IDs whose prompts build and whose scoring with any answer does
// not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/mme
func FuzzRead(f *testing.F) {
	demo := f.TempDir()
	if err := WriteDemo(demo, seed, 1000, 2, 8); err != nil {
		f.Fatal(err)
	}
	txts, err := filepath.Glob(filepath.Join(demo, RootName, "existence", "*.txt"))
	if err != nil || len(txts) != 2 {
		f.Fatalf("demo question files: %v %v", txts, err)
	}
	a, _ := os.ReadFile(txts[0])
	b, _ := os.ReadFile(txts[1])
	f.Add(a, b, "Yes")
	f.Add(a, []byte("Is there a cat?\tMaybe\nIs there a dog?\tNo\n"), "no")
	f.Add([]byte("q1\tYes\r\n\r\nq2\tNO\r\n"), []byte("only one\tyes"), "n")
	f.Add([]byte("\tYes\nq\tNo\tx\n"), []byte(""), "")
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, txtA, txtB []byte, answer string) {
		sub := filepath.Join(dir, RootName, "existence")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"a.png": nil, "a.txt": txtA, "b.jpg": nil, "b.txt": txtB} {
			if err := os.WriteFile(filepath.Join(sub, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"subtasks": "existence"}})
		items, _, err := benchtest.CheckLoaded(t, sub, task, err, func(_ int, it bench.Item) any {
			return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer}
		})
		if items == nil {
			return
		}
		if len(items) != 4 {
			t.Fatalf("%d items from two question files, want 4", len(items))
		}
		if err != nil {
			t.Fatalf("Score of a loaded task: %v", err)
		}
	})
}
