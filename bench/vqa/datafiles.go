package vqa

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

// DataFiles names the split's questions file and, for an annotated split,
// its annotations file (bench.DataFiler).
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	files := []bench.DataFile{{Path: filepath.Join(t.data, QuestionsFile(t.split))}}
	if t.annotated {
		files = append(files, bench.DataFile{Path: filepath.Join(t.data, AnnotationsFile(t.split))})
	}
	return t.data, files, nil
}
