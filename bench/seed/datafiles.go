package seed

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

// DataFiles names the question file, SEED-Bench.json or --opt file
// (bench.DataFiler).
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	path := t.fileOpt // as New resolves it
	if path == "" {
		path = FileName
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(t.data, path)
	}
	return t.data, []bench.DataFile{{Path: path}}, nil
}
