package flickr8k

import (
	"fmt"
	"path/filepath"

	"github.com/dualtoken/evalharness/bench"
)

// DataFiles names the files New reads for the split (bench.DataFiler): the
// captions file and the split's image list, or for karpathy CLIP_benchmark's
// file alone, which holds the captions too. Keep in step with New.
func (t *Task) DataFiles() (string, []bench.DataFile, error) {
	if t.split == "karpathy" {
		return t.data, []bench.DataFile{{Path: filepath.Join(t.data, "flickr8k_test_karpathy.txt")}}, nil
	}
	return t.data, []bench.DataFile{
		{Path: filepath.Join(t.data, "Flickr8k.token.txt")},
		{Path: filepath.Join(t.data, fmt.Sprintf("Flickr_8k.%sImages.txt", t.split))},
	}, nil
}
