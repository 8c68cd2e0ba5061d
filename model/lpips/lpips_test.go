package lpips

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func goBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

func fixtureWeights(t *testing.T) (*weights.SafetensorsFile, *weights.MemSet) {
	t.Helper()
	dir := fixtures.Dir(t, "lpips")
	g, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, FormulaWeights(readSpecs(t, filepath.Join(dir, "tensors.json")))
}

func tensorOf(t *testing.T, s weights.Set, name string) *tensors.Tensor {
	t.Helper()
	w, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	x, err := w.ToGoMLX(false)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// compare checks got against want elementwise: |got − want| ≤ atol + rtol·|want|.
func compare(t *testing.T, name string, got *tensors.Tensor, want *weights.Tensor, atol, rtol float64) {
	t.Helper()
	if !slices.Equal(got.Shape().Dimensions, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape().Dimensions, want.Shape)
	}
	g := tensors.MustCopyFlatData[float32](got)
	w, _ := want.Float32()
	worstRel, worstAbs := 0.0, 0.0
	for i := range g {
		d := math.Abs(float64(g[i] - w[i]))
		worstAbs = max(worstAbs, d)
		if w[i] != 0 {
			worstRel = max(worstRel, d/math.Abs(float64(w[i])))
		}
		if d > atol+rtol*math.Abs(float64(w[i])) {
			t.Errorf("%s[%d]: got %g, want %g (|Δ| %.2g > %g + %g·|want|)", name, i, g[i], w[i], d, atol, rtol)
			return
		}
	}
	t.Logf("%s: max |Δ| %.2g, max relative error %.2g", name, worstAbs, worstRel)
}

// TestParityLPIPS: per-layer values, LPIPS and relu1_2 of x0 with the
// fixture's formula weights, against the lpips network in torch.
func TestParityLPIPS(t *testing.T) {
	g, w := fixtureWeights(t)
	b := goBackend(t)
	store := model.NewStore()
	if err := LoadVariables(store.RootScope(), w); err != nil {
		t.Fatal(err)
	}
	x0, x1 := tensorOf(t, g, "x0"), tensorOf(t, g, "x1")
	relu, err := g.Get("relu1_2_x0") // the first images of x0
	if err != nil {
		t.Fatal(err)
	}
	nRelu := relu.Shape[0]
	out := model.MustCallOnceN(b, store, func(scope *model.Scope, x0, x1 *Node) (*Node, *Node, *Node) {
		per := PerLayer(scope, x0, x1)
		relu12 := Features(scope, SliceAxis(x0, 0, AxisRange(0, nRelu)))[0]
		return per, Distance(scope, x0, x1), TransposeAllAxes(relu12, 0, 3, 1, 2)
	}, x0, x1)
	// per_layer and lpips within 1e-4 relative (the rule); the
	// activation map, which has near-zero entries, by the fixtures' default
	// |Δ| ≤ 1e-4 + 1e-4·|want|.
	for i, c := range []struct {
		name       string
		atol, rtol float64
	}{{"per_layer", 0, 1e-4}, {"lpips", 0, 1e-4}, {"relu1_2_x0", 1e-4, 1e-4}} {
		want, err := g.Get(c.name)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, c.name, out[i], want, c.atol, c.rtol)
	}
}

// TestDistanceGradient: LPIPS is differentiable in its inputs inside a graph
// and zero for identical images. The check runs in float64 (the graph follows
// the input's dtype) so that central differences with a small step are exact
// enough and rarely cross a ReLU or max-pool kink.
func TestDistanceGradient(t *testing.T) {
	b := goBackend(t)
	store := model.NewStore()
	if _, err := LoadUntrained(store.RootScope()); err != nil {
		t.Fatal(err)
	}
	n := 2 * 3 * 16 * 16
	v0, v1 := make([]float64, n), make([]float64, n)
	for i := range v0 {
		v0[i] = math.Sin(float64(i) * 0.37)
		v1[i] = math.Cos(float64(i) * 0.11)
	}
	x1 := tensors.FromFlatDataAndDimensions(v1, 2, 3, 16, 16)
	e := model.MustNewExec(b, store, func(scope *model.Scope, x0, x1 *Node) (*Node, *Node, *Node) {
		d := ReduceAllSum(Distance(scope, x0, x1))
		return d, Gradient(d, x0)[0], Distance(scope, x0, x0)
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(v0, 2, 3, 16, 16), x1)
	grad := tensors.MustCopyFlatData[float64](out[1])
	if same := tensors.MustCopyFlatData[float64](out[2]); same[0] != 0 || same[1] != 0 {
		t.Errorf("LPIPS(x, x) = %v, want 0", same)
	}
	for _, i := range []int{5, 300, 777, 1200} {
		at := func(delta float64) float64 {
			w := slices.Clone(v0)
			w[i] += delta
			return tensors.MustCopyFlatData[float64](e.MustExec(tensors.FromFlatDataAndDimensions(w, 2, 3, 16, 16), x1)[0])[0]
		}
		num := (at(1e-6) - at(-1e-6)) / 2e-6
		if math.Abs(num-grad[i]) > 1e-4*math.Abs(num)+1e-9 {
			t.Errorf("d LPIPS / d x0[%d]: autodiff %g, central difference %g", i, grad[i], num)
		}
	}
	for _, name := range []string{"features.0/kernel", "lin0/weight"} {
		if v := store.GetVariable("/" + name); v == nil || v.Trainable {
			t.Errorf("variable %s missing or trainable", name)
		}
	}
}

// TestWeightFiles: missing files are errors naming the file to supply and
// where it is published; running without them says so; a full LPIPS state
// dict (net.sliceK.N.*) loads like the two released files.
func TestWeightFiles(t *testing.T) {
	b := goBackend(t)
	if _, err := New(b, "", "", false); err == nil || !strings.Contains(err.Error(), VGGFile) || !strings.Contains(err.Error(), VGGURL) {
		t.Errorf("no paths: %v", err)
	}
	dir := t.TempDir()
	vgg := filepath.Join(dir, VGGFile)
	if _, err := New(b, vgg, filepath.Join(dir, LinFile), false); err == nil || !strings.Contains(err.Error(), vgg) || !strings.Contains(err.Error(), VGGURL) {
		t.Errorf("missing file: %v", err)
	}
	n, err := New(b, "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.Warning, "WITHOUT") || !strings.Contains(n.Warning, LinFile) {
		t.Errorf("warning %q", n.Warning)
	}
	// The same weights saved as two files (torchvision + lpips names) and as
	// one LPIPS state dict give the same network.
	w := FormulaWeights(StateDictSpecs())
	var vggT, linT, full []*weights.Tensor
	for _, name := range w.Names() {
		x, _ := w.Get(name)
		if strings.HasPrefix(name, "lin") {
			linT = append(linT, x)
			full = append(full, x)
		} else {
			vggT = append(vggT, x)
			c := *x
			idx := strings.Split(name, ".")[1]
			c.Name = "net.slice1." + idx + "." + strings.Split(name, ".")[2]
			full = append(full, &c)
		}
	}
	linPath := filepath.Join(dir, LinFile)
	if err := weights.WriteSafetensors(vgg+".safetensors", vggT, nil); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteSafetensors(linPath+".safetensors", linT, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(b, vgg+".safetensors", linPath+".safetensors", false); err != nil {
		t.Errorf("two files: %v", err)
	}
	if _, err := NewFromSets(b, weights.NewMemSet("lpips_full.pth", full...)); err != nil {
		t.Errorf("full LPIPS state dict: %v", err)
	}
	// An unknown tensor is named (the coverage check); VGG's classifier is not.
	extra := append(slices.Clone(full), weights.FromFloat32("net.slice9.99.weight", []int{1}, []float32{1}),
		weights.FromFloat32("classifier.0.weight", []int{1}, []float32{1}))
	if _, err := NewFromSets(b, weights.NewMemSet("extra.pth", extra...)); err == nil || !strings.Contains(err.Error(), "features.99.weight") || strings.Contains(err.Error(), "classifier") {
		t.Errorf("unknown tensor: %v", err)
	}
	// A missing head is named.
	if _, err := NewFromSets(b, weights.NewMemSet("vgg_only.pth", vggT...)); err == nil || !strings.Contains(err.Error(), "lin0.model.1.weight") {
		t.Errorf("missing heads: %v", err)
	}
}

// TestStateDictSpecsMatchFixture: the name/shape table equals tensors.json.
func TestStateDictSpecsMatchFixture(t *testing.T) {
	specs := readSpecs(t, filepath.Join(fixtures.Dir(t, "lpips"), "tensors.json"))
	mine := StateDictSpecs()
	if len(mine) != len(specs) {
		t.Fatalf("%d tensors, fixture has %d", len(mine), len(specs))
	}
	for i := range specs {
		if mine[i].Name != specs[i].Name || !slices.Equal(mine[i].Shape, specs[i].Shape) {
			t.Errorf("tensor %d: %s%v, fixture %s%v", i, mine[i].Name, mine[i].Shape, specs[i].Name, specs[i].Shape)
		}
	}
}

// readSpecs reads tensors.json ([{index, name, shape}]) ordered by index.
func readSpecs(t *testing.T, path string) []TensorSpec {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Index int
		Name  string
		Shape []int
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make([]TensorSpec, len(rows))
	for _, r := range rows {
		if r.Index < 0 || r.Index >= len(rows) || out[r.Index].Name != "" {
			t.Fatalf("%s: tensor %q has a bad or repeated index %d", path, r.Name, r.Index)
		}
		out[r.Index] = TensorSpec{r.Name, r.Shape}
	}
	return out
}
