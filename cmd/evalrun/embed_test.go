package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/siglip"
)

// TestEmbedImages runs `evalrun embed --json` on two fixture images and
// checks each embedding against the model run directly on the SigLIP
// preprocessing of the same file: same values, unit length, config width.
func TestEmbedImages(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	pre := fixtures.Dir(t, "preprocess")
	files := []string{filepath.Join(pre, "src0.png"), filepath.Join(pre, "src1.png")}
	code, out := runStdout(t, "embed", "--model", dir, "--image", files[0], "--image", files[1], "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var doc embedOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m, err := siglip.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Images) != len(files) || doc.Dim != m.Config.Vision.HiddenSize {
		t.Fatalf("%d images of dim %d, want %d of %d", len(doc.Images), doc.Dim, len(files), m.Config.Vision.HiddenSize)
	}
	for i, f := range files {
		img, err := imageio.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		s := m.Config.Vision.ImageSize
		outs, err := m.Forward(b, tensors.FromFlatDataAndDimensions(imageio.SiglipPixels(img, s), 1, 3, s, s), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := tensors.MustCopyFlatData[float32](outs[siglip.OutImageEmbeds])
		got := doc.Images[i].Embedding
		var norm float64
		for j := range want {
			norm += float64(got[j]) * float64(got[j])
			if math.Abs(float64(got[j]-want[j])) > 1e-5 {
				t.Fatalf("%s: embedding[%d] = %g, direct forward %g", f, j, got[j], want[j])
			}
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("%s: |embedding|² = %g, want 1", f, norm)
		}
	}
}

func TestEmbedBadInput(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	if code, _ := runStdout(t, "embed", "--model", dir); code != 2 {
		t.Errorf("no inputs: exit %d, want 2", code)
	}
	if code, _ := runStdout(t, "embed", "--model", dir, "--image", filepath.Join(t.TempDir(), "missing.png")); code != 2 {
		t.Errorf("missing image: exit %d, want 2", code)
	}
	if code, _ := runStdout(t, "embed", "--model", t.TempDir(), "--text", "x"); code != 2 {
		t.Errorf("empty model dir: exit %d, want 2", code)
	}
	if code, _ := runStdout(t, "embed", "--model", dir, "--text", "a cat"); code != 2 {
		t.Errorf("text without a tokenizer: exit %d, want 2", code)
	}
}

// A --tokenizer with no --text does nothing: refused (exit 2, one line
// naming it) rather than ignored, so a missing tokenizer file is not
// silently passed over. It used to exit 0.
func TestEmbedTokenizerWithoutText(t *testing.T) {
	model := fixtures.Dir(t, "siglip")
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	reconSave(t, img, reconTestImage(16, 16, 0))
	tok := filepath.Join(dir, "missing.model")
	code, _, errOut := runCaptured(t, "embed", "--model", model, "--image", img, "--tokenizer", tok)
	if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--tokenizer "+tok) || !strings.Contains(errOut, "--text") {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line naming --tokenizer %s and --text", code, errOut, tok)
	}
}
