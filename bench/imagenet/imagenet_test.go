package imagenet

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/world"
)

// oracle embeds an image as the one-hot of its true class (looked up by
// pixel hash) and a prompt as the one-hot of the class name it contains:
// a perfect classifier, so any wiring error (labels, ID mapping, class order,
// ranking) shows up as accuracy below 100%.
type oracle struct {
	byHash map[[32]byte]int
}

func (o oracle) Info() bench.ModelInfo { return bench.ModelInfo{Name: "oracle"} }
func (o oracle) EmbedImages(_ context.Context, imgs []*imageio.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i, im := range imgs {
		out[i] = make([]float32, world.NumClasses())
		out[i][o.byHash[sha256.Sum256(im.Pix)]] = 1
	}
	return out, nil
}
func (o oracle) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = make([]float32, world.NumClasses())
		for c := 0; c < world.NumClasses(); c++ {
			if strings.Contains(t, world.ClassName(c)) {
				out[i][c] = 1
			}
		}
	}
	return out, nil
}

func TestDemoLayoutScoresPerfectOracle(t *testing.T) {
	dir := t.TempDir()
	const n = 30
	if err := WriteDemo(dir, 5, n, 32); err != nil {
		t.Fatal(err)
	}
	task, err := New(bench.Options{Data: dir, Extra: map[string]string{"templates": "clip_best"}})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	if len(items) != n {
		t.Fatalf("%d items, want %d", len(items), n)
	}
	o := oracle{byHash: map[[32]byte]int{}}
	for i, it := range items {
		s := it.Payload.(sample)
		if want := world.Generate(5, i).Class; s.Label != want {
			t.Fatalf("item %s label %d, want %d (ID->WNID->index mapping)", it.ID, s.Label, want)
		}
		img, err := imageio.Load(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		o.byHash[sha256.Sum256(img.Pix)] = s.Label
	}
	res, err := bench.Run(context.Background(), task, o, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics["top1"] != 100 || res.Metrics["top5"] != 100 || res.Metrics["mean_per_class_recall"] != 100 {
		t.Errorf("oracle metrics %v", res.Metrics)
	}
}

func TestImageFolderLayoutAndUnreadableImage(t *testing.T) {
	dir := t.TempDir()
	for c, w := range []string{"n02", "n01"} { // sorted: n01 = class 0
		os.MkdirAll(filepath.Join(dir, "val", w), 0o755)
		img := world.Generate(1, c).Image(16)
		imageio.SavePNG(filepath.Join(dir, "val", w, "a.png"), img)
	}
	os.WriteFile(filepath.Join(dir, "val", "n01", "broken.JPEG"), []byte("not a jpeg"), 0o644)
	os.WriteFile(filepath.Join(dir, "classnames.txt"), []byte(world.ClassName(0)+"\n"+world.ClassName(1)+"\n"), 0o644)
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	if len(items) != 3 || items[0].Payload.(sample).Label != 0 || items[2].Payload.(sample).Label != 1 {
		t.Fatalf("items %+v", items)
	}
	o := oracle{byHash: map[[32]byte]int{}}
	res, err := bench.Run(context.Background(), task, o, bench.RunConfig{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The unreadable image is a counted failure, and still in the denominator.
	if res.NSamples.Failed != 1 || res.NSamples.Total != 3 {
		t.Errorf("counts %+v", res.NSamples)
	}
}

func TestMalformedFilesNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 5, 4, 16); err != nil {
		t.Fatal(err)
	}
	gt := filepath.Join(dir, "ILSVRC2012_validation_ground_truth.txt")
	os.WriteFile(gt, []byte("3\n1\nseven\n2\n"), 0o644)
	_, err := New(bench.Options{Data: dir})
	if err == nil || !strings.Contains(err.Error(), gt+":3") {
		t.Errorf("bad ground truth: %v", err)
	}
	os.WriteFile(gt, []byte("3\n1\n999\n2\n"), 0o644)
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), ":3") {
		t.Errorf("out-of-range ID: %v", err)
	}
	os.WriteFile(gt, []byte("3\n1\n2\n2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "classnames.txt"), []byte("a\nb\n"), 0o644)
	if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), "2 class names") {
		t.Errorf("class-name count: %v", err)
	}
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"templates": "fancy"}}); err == nil || !strings.Contains(err.Error(), "fancy") {
		t.Errorf("templates: %v", err)
	}
}

func TestTemplateSets(t *testing.T) {
	if len(openAITemplates) != 80 || len(clipBestTemplates) != 7 {
		t.Fatalf("%d/%d templates", len(openAITemplates), len(clipBestTemplates))
	}
	seen := map[string]bool{}
	for _, tpl := range openAITemplates {
		if strings.Count(tpl, "{}") != 1 || seen[tpl] {
			t.Errorf("template %q", tpl)
		}
		seen[tpl] = true
	}
	for _, tpl := range clipBestTemplates {
		if !seen[tpl] {
			t.Errorf("clip_best template %q not among the 80", tpl)
		}
	}
}
