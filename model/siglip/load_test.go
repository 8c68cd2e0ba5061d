package siglip

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// fixtureModel returns the fixture's config.json (parsed as a map) and a copy
// of every checkpoint tensor.
func fixtureModel(t *testing.T) (string, map[string]any, []*weights.Tensor) {
	t.Helper()
	dir := fixtures.Dir(t, "siglip")
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	set, err := weights.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var ts []*weights.Tensor
	for _, n := range set.Names() {
		x, err := set.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		c := *x
		c.Data, c.Shape, c.Source = slices.Clone(x.Data), slices.Clone(x.Shape), ""
		ts = append(ts, &c)
	}
	return dir, cfg, ts
}

// writeModel writes config.json and model.safetensors into a temp dir.
func writeModel(t *testing.T, cfg map[string]any, ts []*weights.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestLoadMissingTensor(t *testing.T) {
	_, cfg, ts := fixtureModel(t)
	var kept []*weights.Tensor
	var dropped *weights.Tensor
	for _, x := range ts {
		if x.Name == "vision_model.head.probe" {
			dropped = x
			continue
		}
		kept = append(kept, x)
	}
	dir := writeModel(t, cfg, kept)
	_, err := Load(dir)
	wantErr(t, err, `"vision_model.head.probe"`, filepath.Join(dir, "model.safetensors"), fmt.Sprint(dropped.Shape))
}

func TestLoadWrongShape(t *testing.T) {
	_, cfg, ts := fixtureModel(t)
	const name = "text_model.encoder.layers.0.mlp.fc1.weight"
	var want, found []int
	for _, x := range ts {
		if x.Name == name { // [I,D] -> [I+1,D]: one extra row of zeros
			want = slices.Clone(x.Shape)
			x.Shape[0]++
			x.Data = append(x.Data, make([]byte, 4*x.Shape[1])...)
			found = slices.Clone(x.Shape)
		}
	}
	dir := writeModel(t, cfg, ts)
	_, err := Load(dir)
	wantErr(t, err, `"`+name+`"`, filepath.Join(dir, "model.safetensors"), "expected shape "+fmt.Sprint(want), "found "+fmt.Sprint(found))
}

func TestLoadUnusedTensor(t *testing.T) {
	_, cfg, ts := fixtureModel(t)
	ts = append(ts, weights.FromFloat32("vision_model.encoder.layers.0.extra", []int{2}, []float32{1, 2}))
	_, err := Load(writeModel(t, cfg, ts))
	wantErr(t, err, "vision_model.encoder.layers.0.extra", "not used")
}

func TestUnknownModelType(t *testing.T) {
	_, cfg, ts := fixtureModel(t)
	cfg["model_type"] = "clip"
	dir := writeModel(t, cfg, ts)
	_, err := LoadConfig(dir)
	wantErr(t, err, filepath.Join(dir, "config.json"), `"clip"`, ModelTypeSiglip)
	// evalrun verify path: bad input, not a failed comparison.
	_, err = verify.Run(newBackend(t), dir, filepath.Join(dir, "model.safetensors"), 1e-4, 1e-4)
	if !errors.Is(err, verify.ErrBadInput) {
		t.Errorf("verify.Run: %v, want ErrBadInput", err)
	}
}

func TestBadConfig(t *testing.T) {
	_, cfg, ts := fixtureModel(t)
	vc := cfg["vision_config"].(map[string]any)
	hidden := int(vc["hidden_size"].(float64))
	vc["num_attention_heads"] = float64(hidden + 1)
	dir := writeModel(t, cfg, ts)
	_, err := LoadConfig(dir)
	wantErr(t, err, "config.json#vision_config", "num_attention_heads")

	vc["num_attention_heads"] = float64(1)
	cfg["text_config"].(map[string]any)["hidden_act"] = "swoosh"
	_, err = LoadConfig(writeModel(t, cfg, ts))
	wantErr(t, err, "config.json#text_config", "hidden_act", `"swoosh"`)
}

// TestPrefixedCheckpoint loads the tower from DualToken-style names
// ("rqvaesiglip.siglip_model.*") and gets the same embeddings.
func TestPrefixedCheckpoint(t *testing.T) {
	dir, _, ts := fixtureModel(t)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LoadFrom(cfg, weights.NewMemSet("plain", ts...))
	if err != nil {
		t.Fatal(err)
	}
	var pre []*weights.Tensor
	for _, x := range ts {
		c := *x
		c.Name = "rqvaesiglip.siglip_model." + x.Name
		c.Source = ""
		pre = append(pre, &c)
	}
	prefixed, err := LoadFrom(cfg, weights.NewMemSet("prefixed", pre...))
	if err != nil {
		t.Fatal(err)
	}
	golden := openGolden(t, dir)
	px := goldenTensor(t, golden, "pixel_values")
	b := newBackend(t)
	a, err := plain.Forward(b, px, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prefixed.Forward(b, px, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.MustCopyFlatData[float32](a[OutImageEmbeds])
	y := tensors.MustCopyFlatData[float32](p[OutImageEmbeds])
	if !slices.Equal(x, y) {
		t.Errorf("prefixed checkpoint gives other embeddings")
	}
}

// TestParitySiglipVisionOnly checks the vision-only model type on the same
// fixture: a SiglipVisionModel config over the full checkpoint (the text
// tower is deliberately ignored) reproduces every vision.* golden tensor and
// image_embeds (the normalised pooled output), and nothing of the text tower.
func TestParitySiglipVisionOnly(t *testing.T) {
	dir, cfg, ts := fixtureModel(t)
	vc := cfg["vision_config"].(map[string]any)
	vc["model_type"] = ModelTypeVisionOnly
	vdir := writeModel(t, vc, ts)
	rep, err := verify.Run(newBackend(t), vdir, filepath.Join(dir, "golden.safetensors"), 1e-4, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	full, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	layers := full.Vision.NumLayers // transformers' default when the file leaves it out
	compared := 0
	for _, r := range rep.Rows {
		isVision := strings.HasPrefix(r.Name, "vision.") || r.Name == OutImageEmbeds
		switch {
		case isVision && r.Status != "compared":
			t.Errorf("%s: %s", r.Name, r.Status)
		case isVision && !r.OK:
			t.Errorf("%s: max |Δ| %.3g", r.Name, r.MaxAbsErr)
		case !isVision && r.Status == "compared":
			t.Errorf("%s compared by a vision-only model", r.Name)
		}
		if r.Status == "compared" {
			compared++
		}
	}
	if want := layers + 1 + 3; compared != want {
		t.Errorf("%d tensors compared, want %d (hidden states 0..%d, last, pooled, image_embeds)", compared, want, layers)
	}
}

func TestForwardBadInputs(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	v, tc := m.Config.Vision, m.Config.Text
	px := tensors.FromScalarAndDimensions(float32(0), 2, v.NumChannels, v.ImageSize+v.PatchSize, v.ImageSize)
	_, err = m.Forward(b, px, nil)
	wantErr(t, err, "pixel_values shape", "config.json")

	ids := make([]int64, tc.MaxPositions)
	ids[3] = int64(tc.VocabSize)
	_, err = m.Forward(b, nil, tensors.FromFlatDataAndDimensions(ids, 1, tc.MaxPositions))
	wantErr(t, err, "input_ids[0][3]", fmt.Sprint(tc.VocabSize), "vocabulary")

	long := make([]int64, tc.MaxPositions+1)
	_, err = m.Forward(b, nil, tensors.FromFlatDataAndDimensions(long, 1, tc.MaxPositions+1))
	wantErr(t, err, "max_position_embeddings")
}

// NewBenchRandom makes the variables NewRandom makes (paths, shapes,
// dtypes, constants), with other draws of the same scale.
func TestNewBenchRandomMatchesNewRandom(t *testing.T) {
	cfg := BaseConfig(64, 2, 4, 256, 4, 32)
	a, err := NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBenchRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]float32{}
	for v := range a.Store.IterVariables() {
		t0, _ := v.Value()
		vals[v.Path()] = tensors.MustCopyFlatData[float32](t0)
	}
	n := 0
	for v := range b.Store.IterVariables() {
		n++
		want, ok := vals[v.Path()]
		t1, _ := v.Value()
		got := tensors.MustCopyFlatData[float32](t1)
		if !ok || len(got) != len(want) {
			t.Errorf("%s: %d values, NewRandom has %d (present %v)", v.Path(), len(got), len(want), ok)
			continue
		}
		var sg, sw float64
		same := 0
		for i := range got {
			sg += float64(got[i]) * float64(got[i])
			sw += float64(want[i]) * float64(want[i])
			if got[i] == want[i] {
				same++
			}
		}
		rg, rw := math.Sqrt(sg/float64(len(got))), math.Sqrt(sw/float64(len(got)))
		if len(got) >= 4096 && (same == len(got) || math.Abs(rg-rw) > 0.1*rw) {
			t.Errorf("%s: rms %.4f vs NewRandom's %.4f, %d of %d values equal", v.Path(), rg, rw, same, len(got))
		}
		if len(got) < 4096 && same != len(got) && rw != 0 && math.Abs(rg-rw) > 0.5*rw {
			t.Errorf("%s: rms %.4f vs NewRandom's %.4f", v.Path(), rg, rw)
		}
	}
	if n != len(vals) {
		t.Errorf("%d variables, NewRandom makes %d", n, len(vals))
	}
}
