package flickr8k

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

// writeKarpathyRoot writes a data root as CLIP_benchmark's flickr8k builder
// finds it (Kaggle's Images/ folder, no Flickr8k.token.txt) with the given
// flickr8k_test_karpathy.txt body and a tiny image per name.
func writeKarpathyRoot(t *testing.T, body string, images ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Images"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := imageio.New(4, 4)
	for _, n := range images {
		if err := imageio.SaveJPEG(filepath.Join(dir, "Images", n), img, 95); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "flickr8k_test_karpathy.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKarpathyFileAsCLIPBenchmarkReadsIt: CLIP_benchmark's Flickr dataset
// skips the file's first line (the "image,caption" header), splits each
// stripped line on ".jpg," and takes the captions from this file, grouped
// per image in the order images first appear. Before, the header became the
// image "image,caption.jpg" (New failed for want of its captions in
// Flickr8k.token.txt) and the captions came from Flickr8k.token.txt.
func TestKarpathyFileAsCLIPBenchmarkReadsIt(t *testing.T) {
	body := "image,caption\n" +
		"b.jpg,A dog runs , fast .\n" +
		"a.jpg,A cat sleeps .\r\n" +
		"  b.jpg,A dog again .  \n" +
		"\n" +
		"a.jpg,Cats, two of them, on a mat .\n"
	dir := writeKarpathyRoot(t, body, "a.jpg", "b.jpg")
	// The official caption file, with other captions, must not be used.
	tok := "a.jpg#0\tofficial a\nb.jpg#0\tofficial b\n"
	if err := os.WriteFile(filepath.Join(dir, "Flickr8k.token.txt"), []byte(tok), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := New(bench.Options{Data: dir, Extra: map[string]string{"split": "karpathy"}})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	var got []entry
	for _, it := range items {
		e := it.Payload.(entry)
		if it.ID != e.Image {
			t.Errorf("item id %q for image %q", it.ID, e.Image)
		}
		e.Path = filepath.Base(filepath.Dir(e.Path)) + "/" + filepath.Base(e.Path)
		got = append(got, e)
	}
	want := []entry{
		{Image: "b.jpg", Path: "Images/b.jpg", Captions: []string{"A dog runs , fast .", "A dog again ."}},
		{Image: "a.jpg", Path: "Images/a.jpg", Captions: []string{"A cat sleeps .", "Cats, two of them, on a mat ."}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items\n got %+v\nwant %+v", got, want)
	}
	if v := task.Version(); v < 2 {
		t.Errorf("Version %d: karpathy captions changed, results of version 1 must not be reused", v)
	}
}

// TestKarpathyImagesInRoot: CLIP_benchmark opens <root>/<image>; with no
// image subfolder the images are read from the data root itself.
func TestKarpathyImagesInRoot(t *testing.T) {
	dir := t.TempDir()
	if err := imageio.SaveJPEG(filepath.Join(dir, "a.jpg"), imageio.New(4, 4), 95); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "flickr8k_test_karpathy.txt"), []byte("image,caption\na.jpg,A cat .\n"), 0o644)
	task, err := New(bench.Options{Data: dir, Extra: map[string]string{"split": "karpathy"}})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	if len(items) != 1 || items[0].Payload.(entry).Path != filepath.Join(dir, "a.jpg") {
		t.Errorf("items %+v", items)
	}
}

// TestKarpathyBadLines: lines CLIP_benchmark cannot unpack (no ".jpg," or
// two of them) and a file whose first line is already a caption (it would
// be dropped as the header) are errors naming the file and line.
func TestKarpathyBadLines(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"no separator":   {"image,caption\na.jpg,ok\nb.png,a bird\n", ":3: expected \"<image>.jpg,<caption>\""},
		"two separators": {"image,caption\na.jpg,see b.jpg,too\n", ":2: expected \"<image>.jpg,<caption>\""},
		"no header":      {"a.jpg,A cat .\n", ":1: the first line is skipped as CLIP_benchmark's header"},
		"only header":    {"image,caption\n\n", "lists no images"},
	} {
		dir := writeKarpathyRoot(t, c.body, "a.jpg")
		path := filepath.Join(dir, "flickr8k_test_karpathy.txt")
		_, err := New(bench.Options{Data: dir, Extra: map[string]string{"split": "karpathy"}})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s and containing %q", name, err, path, c.want)
		}
	}
}
