package imagenet

import (
	"os"
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

// DataFiles names the class names file (unless built in) and, in the flat
// layout, the ground truth and the ID -> WNID list (bench.DataFiler).
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	var files []bench.DataFile
	if t.namesPath != BuiltinClassNames { // the built-in list's SHA-256 is in the protocol
		files = append(files, bench.DataFile{Path: t.namesPath})
	}
	// The flat layout is the one with the ground-truth file (scan).
	gt := filepath.Join(t.data, "ILSVRC2012_validation_ground_truth.txt")
	if _, err := os.Stat(gt); err == nil {
		synsets := t.synsetsOpt
		if synsets == "" {
			synsets = filepath.Join(t.data, "synsets.txt")
		}
		files = append(files, bench.DataFile{Path: gt}, bench.DataFile{Path: synsets})
	}
	return t.data, files, nil
}
