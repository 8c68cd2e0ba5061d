package vqa

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestEmptyQuestions: a questions file whose list is empty is an error
// naming it, not a task with nothing to ask.
func TestEmptyQuestions(t *testing.T) {
	dir := t.TempDir()
	qpath := filepath.Join(dir, QuestionsFile("val2014"))
	os.WriteFile(qpath, []byte(`{"questions": []}`), 0o644)
	os.WriteFile(filepath.Join(dir, AnnotationsFile("val2014")), []byte(`{"annotations": []}`), 0o644)
	_, err := New(bench.Options{Data: dir})
	if err == nil || !strings.Contains(err.Error(), qpath) || !strings.Contains(err.Error(), `"questions" is empty`) {
		t.Errorf("empty questions: %v", err)
	}
}
