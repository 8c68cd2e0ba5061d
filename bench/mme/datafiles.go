package mme

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
)

// DataFiles names each subtask's question files as one set (bench.DataFiler):
// the folder holding them — the subtask's own, or its questions_answers_YN/
// beside images/, as readSubtask reads them — hashed over its *.txt files.
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	files := make([]bench.DataFile, 0, len(t.subtasks))
	for _, s := range t.subtasks {
		dir := filepath.Join(t.root, s)
		if qa.Dir(filepath.Join(dir, "images")) != "" {
			dir = filepath.Join(dir, "questions_answers_YN")
		}
		txts, err := filepath.Glob(filepath.Join(dir, "*.txt"))
		if err != nil {
			return "", nil, err
		}
		if txts == nil {
			txts = []string{} // still a set (of none): readSubtask refuses that anyway
		}
		files = append(files, bench.DataFile{Path: dir, Files: txts})
	}
	return t.data, files, nil
}
