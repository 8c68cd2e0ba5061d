package flickr8k

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

func TestDemoLayoutLoads(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 100, 6, 16); err != nil {
		t.Fatal(err)
	}
	var bySplit [][]bench.Item
	for _, split := range []string{"test", "karpathy"} {
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"split": split}})
		if err != nil {
			t.Fatal(err)
		}
		items, _ := task.Items()
		if len(items) != 6 {
			t.Fatalf("%s: %d items", split, len(items))
		}
		e := items[2].Payload.(entry)
		if len(e.Captions) != 5 || e.Image != "00000102_world.jpg" {
			t.Errorf("%s: entry %+v", split, e)
		}
		bySplit = append(bySplit, items)
	}
	// The demo's Karpathy file (header, then the same captions) gives the
	// same items as the official files: nothing lost to the header.
	if !reflect.DeepEqual(bySplit[0], bySplit[1]) {
		t.Errorf("karpathy split differs from test:\n%+v\n%+v", bySplit[1], bySplit[0])
	}
}

// Hand-made embeddings: 3 images, 2 captions each, in 2-D.
func TestScoreRanksKnownCase(t *testing.T) {
	task := &Task{}
	mk := func(id string, img []float32, caps ...[]float32) (bench.Item, bench.Record) {
		b, _ := json.Marshal(pred{Image: img, Captions: caps})
		return bench.Item{ID: id, Payload: entry{Captions: make([]string, len(caps))}}, bench.Record{ID: id, Pred: b}
	}
	s := float32(math.Sqrt(0.5))
	i0, r0 := mk("a", []float32{1, 0}, []float32{1, 0}, []float32{0, 1})    // caption 1 points at image b
	i1, r1 := mk("b", []float32{0, 1}, []float32{0, 1}, []float32{s, s})    // caption tie a/b? (cos .707 both) -> a first
	i2, r2 := mk("c", []float32{-1, 0}, []float32{-1, 0}, []float32{-1, 0}) // both right
	m, err := task.Score([]bench.Item{i0, i1, i2}, []bench.Record{r0, r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	// t2i R@1: captions correct = a0, b0, c0, c1 (a1 -> b, b1 tie -> a) = 4/6.
	if got := m.Values["t2i_r1"]; math.Abs(got-100*4.0/6) > 1e-9 {
		t.Errorf("t2i_r1 = %v", got)
	}
	// i2t R@1: every image's best caption is its own (a: a0; b: b0 ties a1 at
	// index 1 < 2 ... a1 = (0,1) has index 1, b0 index 2: a1 ranks first -> miss).
	if got := m.Values["i2t_r1"]; math.Abs(got-100*2.0/3) > 1e-9 {
		t.Errorf("i2t_r1 = %v", got)
	}
	if m.Values["t2i_r10"] != 100 || m.Values["i2t_r10"] != 100 {
		t.Errorf("R@10 %v", m.Values)
	}
}

func TestMalformedTokenFileAndMissingImage(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 0, 3, 16); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "Flickr8k.token.txt")
	b, _ := os.ReadFile(tok)
	lines := strings.Split(string(b), "\n")
	lines[3] = "no tab or hash here"
	os.WriteFile(tok, []byte(strings.Join(lines, "\n")), 0o644)
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), tok+":4") {
		t.Errorf("malformed line: %v", err)
	}
	WriteDemo(dir, 3, 0, 3, 16)
	os.WriteFile(filepath.Join(dir, "Flickr_8k.testImages.txt"), []byte("00000000_world.jpg\nmissing.jpg\n"), 0o644)
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Errorf("unknown image: %v", err)
	}
	// An unreadable image fails the whole retrieval run with a clear error.
	WriteDemo(dir, 3, 0, 3, 16)
	os.WriteFile(filepath.Join(dir, "Flicker8k_Dataset", "00000001_world.jpg"), []byte("junk"), 0o644)
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bench.Run(context.Background(), task, constEmbedder{}, bench.RunConfig{OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "1 of 3 images failed") {
		t.Errorf("unreadable image: %v", err)
	}
}

type constEmbedder struct{}

func (constEmbedder) Info() bench.ModelInfo { return bench.ModelInfo{Name: "const"} }
func (constEmbedder) EmbedImages(_ context.Context, imgs []*imageio.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i := range out {
		out[i] = []float32{1, 0}
	}
	return out, nil
}
func (constEmbedder) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = []float32{1, 0}
	}
	return out, nil
}
