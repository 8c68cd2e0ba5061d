package imagenet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestBlankLinesAmongEntries: in synsets.txt, the ground truth and the
// class names line i is entry i, so a blank line among the entries (which
// would shift every later ID, label or name; in synsets.txt a line of spaces
// used to panic) is an error naming the file and line. Trailing blank lines
// are fine.
func TestBlankLinesAmongEntries(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 5, 3, 8); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"synsets.txt", "ILSVRC2012_validation_ground_truth.txt", "classnames.txt"} {
		path := filepath.Join(dir, name)
		good, _ := os.ReadFile(path)
		if err := os.WriteFile(path, append(good, "\n\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := New(bench.Options{Data: dir}); err != nil {
			t.Errorf("%s with trailing blank lines: %v", name, err)
		}
		first, rest, _ := strings.Cut(string(good), "\n")
		os.WriteFile(path, []byte(first+"\n   \n"+rest), 0o644)
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), path+":2: blank line") {
			t.Errorf("%s with a blank line 2: %v", name, err)
		}
		os.WriteFile(path, good, 0o644)
	}
}

// TestScoreRejectsBadRank: a record whose rank is outside the classes (a
// corrupt predictions file) is an error naming the item, not a hit.
func TestScoreRejectsBadRank(t *testing.T) {
	task := &Task{classNames: []string{"a", "b"}}
	items := []bench.Item{{ID: "x.JPEG", Payload: sample{Label: 1}}}
	for _, rank := range []string{"-1", "2"} {
		_, err := task.Score(items, []bench.Record{{ID: "x.JPEG", Pred: []byte(`{"rank": ` + rank + `}`)}})
		if err == nil || !strings.Contains(err.Error(), "item x.JPEG: bad prediction: rank "+rank) {
			t.Errorf("rank %s: %v", rank, err)
		}
	}
}
