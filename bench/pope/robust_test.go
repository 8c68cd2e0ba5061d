package pope

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestEmptyQuestionFile: a question file with no questions (empty, or blank
// lines only) is an error naming it, not a task with nothing to ask.
func TestEmptyQuestionFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "coco_pope_random.json")
	if err := os.WriteFile(path, []byte("\n \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(bench.Options{Data: dir, Extra: map[string]string{"splits": "random"}})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no questions") {
		t.Errorf("empty question file: %v", err)
	}
}

// TestImageOutsideFolder: a question's image must be a file inside the
// image folder; "../x" or an absolute path in a data file is an error.
func TestImageOutsideFolder(t *testing.T) {
	for _, img := range []string{"../secret.jpg", "/etc/x.jpg"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "coco_pope_random.json")
		line := `{"question_id": 1, "image": "` + img + `", "text": "Is there a cat?", "label": "yes"}` + "\n"
		if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(bench.Options{Data: dir, Extra: map[string]string{"splits": "random"}})
		if err == nil || !strings.Contains(err.Error(), "expected a file inside") || !strings.Contains(err.Error(), img) {
			t.Errorf("image %q: %v", img, err)
		}
	}
}
