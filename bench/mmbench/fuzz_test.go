package mmbench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/benchtest"
	"github.com/dualtoken/evalharness/bench/qa"
)

// FuzzRead feeds the TSV arbitrary bytes, read with and without circular
// evaluation: New must fail with an error naming the file, or give items
// with unique non-empty IDs whose prompts build and whose scoring with any
// answer does not panic.
//
//	go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s -parallel 1 ./bench/mmbench
func FuzzRead(f *testing.F) {
	// Seeds are small (the demo TSV with its base64 images is several KB):
	// the fuzzer minimises every new input in time quadratic in its size,
	// within the same minute. Images are only decoded when asked, so any
	// cell over 64 characters stands for one.
	head := strings.Join(Columns, "\t") + "\n"
	img := strings.Repeat("A", 70)
	main := "0\tWhat shape?\tnan\tcircle\tsquare\tstar\t\tB\tshape\t" + img + "\tworld\tcoarse_perception\t\tdev\n" +
		"1\tWhat colour?\tA hint.\tred\tblue\t\t\tA\tcolour\t" + img + "\tworld\tattribute\t\tdev\n"
	f.Add([]byte(head+main), "B")
	// VLMEvalKit's layout: pass rows whose image cell names the main row.
	f.Add([]byte(head+main+"1000000\tWhat shape?\tnan\tsquare\tstar\tcircle\t\tA\tshape\t0\tworld\tcoarse_perception\t\tdev\n"), "A")
	f.Add([]byte(head+"1\tq?\t\ta\tb\t\t\tC\tcat\t1000001\t\t\t\t\n1000001\tq?\tnan\tb\ta\t\t\tA\tcat\t"+strings.Repeat("A", 65)+"\n"), "A")
	f.Add([]byte("index\tquestion\tA\tB\timage\tg_index\tE\tanswer\n7\t\"q\t\"\tx\ty\t7\t7\tz\tE\n"), "E")
	f.Add([]byte(head), "")
	// A negative index: its generated pass -5+1e6 is the other row's index.
	f.Add([]byte("index\tquestion\tA\tB\tanswer\timage\n-5\tq1\tx\ty\tA\t"+img+"\n999995\tq2\tu\tv\tB\t"+img+"\n"), "A")
	// One input at a time per worker: the files are rewritten in place, which
	// is faster than a fresh folder per input.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tsv []byte, answer string) {
		path := filepath.Join(dir, DemoFile)
		if err := os.WriteFile(path, tsv, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, circular := range []string{"true", "false"} {
			task, err := New(bench.Options{Data: dir, Extra: map[string]string{"circular": circular}})
			benchtest.CheckLoaded(t, path, task, err, func(_ int, it bench.Item) any {
				return qa.Pred{Prompt: task.(*Task).query(it).Prompt, Raw: answer}
			})
		}
	})
}
