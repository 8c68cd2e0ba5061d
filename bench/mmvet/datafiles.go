package mmvet

import (
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

// DataFiles names mm-vet.json (bench.DataFiler).
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	return t.data, []bench.DataFile{{Path: filepath.Join(t.data, FileName)}}, nil
}
