package siglip

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

func openGolden(t *testing.T, dir string) weights.Set {
	t.Helper()
	g, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func goldenTensor(t *testing.T, g weights.Set, name string) *tensors.Tensor {
	t.Helper()
	x, err := g.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.ToGoMLX(false)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func goldenRows(t *testing.T, g weights.Set, name string) [][]float32 {
	t.Helper()
	x, err := g.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	d := x.Shape[len(x.Shape)-1]
	var rows [][]float32
	for i := 0; i < len(f); i += d {
		rows = append(rows, f[i:i+d])
	}
	return rows
}

// close1e4 is the fixtures README tolerance.
func close1e4(got, want float64) bool { return math.Abs(got-want) <= 1e-4+1e-4*math.Abs(want) }

func compareRows(t *testing.T, what string, got [][]float32, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s row %d: %d values, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			if !close1e4(float64(got[i][j]), float64(want[i][j])) {
				t.Fatalf("%s[%d][%d] = %g, want %g", what, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestParitySiglipEncoder embeds the golden inputs through the batching
// Encoder with batch limits that force padding and several chunks, and
// compares with image_embeds, text_embeds and logits_per_image.
func TestParitySiglipEncoder(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, dir)
	px, err := g.Get("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	pixels, err := px.Float32()
	if err != nil {
		t.Fatal(err)
	}
	idT, err := g.Get("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	flat, err := idT.Int64()
	if err != nil {
		t.Fatal(err)
	}
	var ids [][]int
	for i := 0; i < len(flat); i += idT.Shape[1] {
		row := make([]int, idT.Shape[1])
		for j := range row {
			row[j] = int(flat[i+j])
		}
		ids = append(ids, row)
	}
	wantImg, wantTxt := goldenRows(t, g, OutImageEmbeds), goldenRows(t, g, OutTextEmbeds)
	// One backend for every encoder, as in a real run: once the model's
	// weights are on an XLA device they cannot be used by another client.
	b := newBackend(t)
	for _, maxBatch := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("maxBatch%d", maxBatch), func(t *testing.T) {
			enc, err := NewEncoder(b, m, maxBatch)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			img, err := enc.EmbedImages(pixels)
			if err != nil {
				t.Fatal(err)
			}
			compareRows(t, "image_embeds", img, wantImg)
			txt, err := enc.EmbedTexts(ids)
			if err != nil {
				t.Fatal(err)
			}
			compareRows(t, "text_embeds", txt, wantTxt)
			logits, err := enc.Logits(img, txt)
			if err != nil {
				t.Fatal(err)
			}
			want := goldenRows(t, g, OutLogits)
			for i := range want {
				for j := range want[i] {
					if !close1e4(logits[i][j], float64(want[i][j])) {
						t.Errorf("logits[%d][%d] = %g, want %g", i, j, logits[i][j], want[i][j])
					}
				}
			}
		})
	}
}

// TestVisionFrom checks the DualToken entry point: continuing the tower from
// any hidden_states[k] with VisionFrom gives the golden last hidden state and
// pooled output.
func TestVisionFrom(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t, dir)
	c := &m.Config.Vision
	for k := 0; k <= c.NumLayers; k++ {
		h := goldenTensor(t, g, fmt.Sprintf(OutVisionHidden, k))
		outs, err := model.CallOnceN(newBackend(t), m.Store, func(root *model.Scope, x *graph.Node) []*graph.Node {
			last, pooled := VisionFrom(VisionScope(root), c, x, k)
			return []*graph.Node{last, pooled}
		}, h)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{OutVisionLast, OutVisionPooled} {
			got, err := weights.FromGoMLX(name, outs[i])
			if err != nil {
				t.Fatal(err)
			}
			gf, _ := got.Float32()
			want, _ := g.Get(name)
			wf, _ := want.Float32()
			for j := range wf {
				if !close1e4(float64(gf[j]), float64(wf[j])) {
					t.Fatalf("from layer %d: %s[%d] = %g, want %g", k, name, j, gf[j], wf[j])
				}
			}
		}
	}
}

func TestEncoderBadInput(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(newBackend(t), m, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	_, err = enc.EmbedImages(make([]float32, 5))
	wantErr(t, err, "not a whole number")
	_, err = enc.EmbedTexts([][]int{{1, 2}, {1}})
	wantErr(t, err, "text 1 has 1 ids")
	_, err = enc.EmbedTexts([][]int{{1, -1}})
	wantErr(t, err, "outside the vocabulary")
}
