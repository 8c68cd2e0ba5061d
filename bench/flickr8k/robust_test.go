package flickr8k

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestCorruptTokenAndListFiles: files that would silently change the
// benchmark (a caption given twice, an empty caption, an empty split list,
// a line too long to read) are errors naming the file and line.
func TestCorruptTokenAndListFiles(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 0, 2, 8); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "Flickr8k.token.txt")
	list := filepath.Join(dir, "Flickr_8k.testImages.txt")
	good, _ := os.ReadFile(tok)
	goodList, _ := os.ReadFile(list)
	for name, c := range map[string]struct {
		tokens, list, want string
	}{
		"repeated caption": {string(good) + "00000000_world.jpg#01\tagain\n", string(goodList), tok + ":11: caption 00000000_world.jpg#1 already given on line 2"},
		"empty caption":    {"a.jpg#0\t  \n", "a.jpg\n", tok + ":1: caption a.jpg#0 is empty"},
		"empty list":       {string(good), "\n\n", list + " lists no images"},
		"long line":        {"a.jpg#0\t" + strings.Repeat("x", 70000) + "\n", "a.jpg\n", tok + ":1: "},
	} {
		os.WriteFile(tok, []byte(c.tokens), 0o644)
		os.WriteFile(list, []byte(c.list), 0o644)
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

// TestScoreRejectsMisalignedRecords: records whose embeddings do not line
// up (sizes differing between images or between an image and its captions,
// a caption missing) are errors naming the item; before, sizes that summed
// to the right total were ranked shifted.
func TestScoreRejectsMisalignedRecords(t *testing.T) {
	mk := func(img []float32, caps ...[]float32) json.RawMessage {
		b, _ := json.Marshal(pred{Image: img, Captions: caps})
		return b
	}
	items := []bench.Item{
		{ID: "a.jpg", Payload: entry{Captions: []string{"a0"}}},
		{ID: "b.jpg", Payload: entry{Captions: []string{"b0"}}},
		{ID: "c.jpg", Payload: entry{Captions: []string{"c0"}}},
	}
	for name, c := range map[string]struct {
		recs [3]json.RawMessage
		want string
	}{
		// sizes 1, 3, 2 sum to 3 images × d=2: the old total check passed.
		"image sizes": {[3]json.RawMessage{mk([]float32{1}, []float32{1}), mk([]float32{1, 0, 0}, []float32{1, 0, 0}), mk([]float32{0, 1}, []float32{0, 1})},
			"item b.jpg: bad prediction: image embedding has 3 values, want 1"},
		"caption size": {[3]json.RawMessage{mk([]float32{1, 0}, []float32{1}), mk([]float32{0, 1}, []float32{0, 1}), mk([]float32{1, 1}, []float32{1, 1})},
			"item a.jpg: bad prediction: caption 0 embedding has 1 values, want 2"},
		"caption count": {[3]json.RawMessage{mk([]float32{1, 0}, []float32{1, 0}), mk([]float32{0, 1}), mk([]float32{1, 1}, []float32{1, 1})},
			"item b.jpg: bad prediction: 0 caption embeddings, want 1"},
		"empty": {[3]json.RawMessage{mk(nil), mk([]float32{0, 1}), mk([]float32{1, 1})}, "item a.jpg: bad prediction: empty image embedding"},
	} {
		recs := []bench.Record{{ID: "a.jpg", Pred: c.recs[0]}, {ID: "b.jpg", Pred: c.recs[1]}, {ID: "c.jpg", Pred: c.recs[2]}}
		if _, err := (&Task{}).Score(items, recs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}
