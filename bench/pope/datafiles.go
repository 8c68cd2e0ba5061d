package pope

import "github.com/dualtoken/evalharness/bench"

// DataFiles names the question file of every split asked (bench.DataFiler).
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	var files []bench.DataFile
	for _, s := range t.splits {
		p, err := questionFile(t.data, s)
		if err != nil {
			return "", nil, err
		}
		files = append(files, bench.DataFile{Path: p})
	}
	return t.data, files, nil
}
