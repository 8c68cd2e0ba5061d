package mmbench

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
)

// DataFiles names the TSV (bench.DataFiler); when --data is the TSV itself,
// its folder is the root.
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	root := t.data
	if qa.File(root) != "" {
		root = filepath.Dir(root)
	}
	return root, []bench.DataFile{{Path: t.path}}, nil
}
