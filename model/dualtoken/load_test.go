package dualtoken

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

// partsSet returns the fixture's config and checkpoint tensors in memory.
func partsSet(t *testing.T) (*Config, []*weights.Tensor) {
	t.Helper()
	dir := fixtures.Dir(t, "dualtoken_parts")
	cfg, err := LoadConfig(dir)
	if err != nil {
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
		ts = append(ts, &weights.Tensor{Name: n, DType: x.DType, Shape: x.Shape, Data: bytes.Clone(x.Data)})
	}
	return cfg, ts
}

// layout rewrites the fixture tensors as another checkpoint layout would hold them.
func layout(ts []*weights.Tensor, prefix string, repeatDepth int, extra ...*weights.Tensor) *weights.MemSet {
	m := weights.NewMemSet("test checkpoint " + prefix)
	for _, x := range ts {
		m.Add(&weights.Tensor{Name: prefix + x.Name, DType: x.DType, Shape: x.Shape, Data: x.Data})
		if rest, ok := strings.CutPrefix(x.Name, "quantizer_"); ok && strings.Contains(rest, ".codebooks.0.") {
			for d := 1; d < repeatDepth; d++ {
				n := strings.Replace(x.Name, ".codebooks.0.", fmt.Sprintf(".codebooks.%d.", d), 1)
				m.Add(&weights.Tensor{Name: prefix + n, DType: x.DType, Shape: x.Shape, Data: x.Data})
			}
		}
	}
	for _, x := range extra {
		m.Add(x)
	}
	return m
}

func loadInto(cfg *Config, set weights.Set) (*model.Store, *weights.Loader, string, error) {
	l := weights.NewLoader(set)
	store := model.NewStore()
	prefix, err := LoadWeights(l, store.RootScope(), cfg)
	return store, l, prefix, err
}

// TestLoadAuthorsLayouts: the fixture layout (shared codebook once), the
// torch-saved repeat per depth, the outer "rqvaesiglip." wrapper with the
// tower under "siglip_model." (ignored here: model/siglip loads it), the
// {"state_dict": ...} .pth nesting, and the pre-rename "pixel"/"semantic"
// names all load every tensor, with the same values.
func TestLoadAuthorsLayouts(t *testing.T) {
	cfg, ts := partsSet(t)
	depth := cfg.Pix.Depth()
	tower := func(prefix string) *weights.Tensor {
		return weights.FromFloat32(prefix+"siglip_model.vision_model.post_layernorm.weight", []int{2}, []float32{1, 1})
	}
	oldNamed := make([]*weights.Tensor, len(ts))
	for i, x := range ts {
		y := *x
		y.Name = oldNames.Replace(x.Name)
		oldNamed[i] = &y
	}
	cases := []struct {
		name, prefix string
		set          weights.Set
	}{
		{"fixture", "", layout(ts, "", 1)},
		{"torch repeats", "", layout(ts, "", depth)},
		{"rqvaesiglip wrapper", "rqvaesiglip.", layout(ts, "rqvaesiglip.", depth, tower("rqvaesiglip."))},
		{"pth state_dict", "state_dict.rqvaesiglip.", layout(ts, "state_dict.rqvaesiglip.", depth, tower("state_dict.rqvaesiglip."))},
		{"pre-rename names", "", layout(oldNamed, "", 1, tower(""))},
	}
	for _, c := range cases {
		store, l, prefix, err := loadInto(cfg, c.set)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if prefix != c.prefix {
			t.Errorf("%s: prefix %q, want %q", c.name, prefix, c.prefix)
		}
		if err := l.CheckConsumed(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, x := range ts {
			v := Variable(store.RootScope(), x.Name)
			if v == nil {
				t.Fatalf("%s: no variable for %s", c.name, x.Name)
			}
			got, _ := weights.FromGoMLX(x.Name, v.MustValue())
			if !bytes.Equal(got.Data, x.Data) {
				t.Fatalf("%s: %s differs after loading", c.name, x.Name)
			}
			if wantTrain := !strings.Contains(x.Name, "codebooks") && !strings.HasSuffix(x.Name, "zero_k_bias"); v.Trainable != wantTrain {
				t.Errorf("%s: %s trainable = %v, want %v", c.name, x.Name, v.Trainable, wantTrain)
			}
		}
	}
}

// TestLoadCoverageAndBadInput: every fixture tensor is in the name table
// (and vice versa), and bad checkpoints give one-line errors naming the
// tensor and what was expected.
func TestLoadCoverageAndBadInput(t *testing.T) {
	cfg, ts := partsSet(t)
	if got, want := len(Params(cfg)), len(ts); got != want {
		t.Errorf("name table has %d tensors, the fixture %d", got, want)
	}
	// An unknown tensor is reported by the coverage check.
	_, l, _, err := loadInto(cfg, layout(ts, "", 1, weights.FromFloat32("decoder.extra.weight", []int{1}, []float32{0})))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckConsumed(); err == nil || !strings.Contains(err.Error(), "decoder.extra.weight") {
		t.Errorf("unknown tensor: %v", err)
	}
	// A repeated "shared" codebook that differs.
	m := layout(ts, "", 2)
	w, _ := m.Get("quantizer_sem.codebooks.1.weight")
	bad := *w
	bad.Data = bytes.Clone(w.Data)
	bad.Data[0] ^= 0x40
	m.Add(&bad)
	if _, _, _, err := loadInto(cfg, m); err == nil || !strings.Contains(err.Error(), "quantizer_sem.codebooks.1.weight") || !strings.Contains(err.Error(), "shared") {
		t.Errorf("differing repeat: %v", err)
	}
	// A wrong shape names tensor, expected and found shapes.
	m = layout(ts, "", 1)
	m.Add(weights.FromFloat32("prequant_pix.proj.weight", []int{2, 2}, []float32{1, 2, 3, 4}))
	if _, _, _, err := loadInto(cfg, m); err == nil || !strings.Contains(err.Error(), "prequant_pix.proj.weight") || !strings.Contains(err.Error(), "[2 2]") {
		t.Errorf("wrong shape: %v", err)
	}
	// A missing tensor.
	m = weights.NewMemSet("partial")
	for _, x := range ts {
		if x.Name != "decoder.conv_out.bias" {
			m.Add(x)
		}
	}
	if _, _, _, err := loadInto(cfg, m); err == nil || !strings.Contains(err.Error(), "decoder.conv_out.bias") {
		t.Errorf("missing tensor: %v", err)
	}
	// No quantiser at all.
	if _, _, _, err := loadInto(cfg, weights.NewMemSet("empty", weights.FromFloat32("x", []int{1}, []float32{0}))); err == nil || !strings.Contains(err.Error(), "quantizer_pix.codebooks.0.weight") {
		t.Errorf("no quantiser: %v", err)
	}
}

// TestExportRoundTrip: Export gives back the loaded tensors by name, and
// InitParams creates every tensor of the table with its shape.
func TestExportRoundTrip(t *testing.T) {
	cfg, ts := partsSet(t)
	store, _, _, err := loadInto(cfg, layout(ts, "", 1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Export(store.RootScope(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*weights.Tensor{}
	for _, x := range out {
		byName[x.Name] = x
	}
	for _, x := range ts {
		if y := byName[x.Name]; y == nil || !bytes.Equal(y.Data, x.Data) {
			t.Errorf("%s not exported as loaded", x.Name)
		}
	}
	fresh := model.NewStore()
	if err := InitParams(fresh.RootScope(), cfg, 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range Params(cfg) {
		v := Variable(fresh.RootScope(), p.Name)
		if v == nil || fmt.Sprint(v.Shape().Dimensions) != fmt.Sprint(p.Shape) {
			t.Fatalf("InitParams: %s missing or misshaped", p.Name)
		}
	}
	w := tensors.MustCopyFlatData[float32](Variable(fresh.RootScope(), "quantizer_pix.codebooks.0.weight").MustValue())
	e := cfg.Pix.CodeDim()
	for _, x := range w[len(w)-e:] {
		if x != 0 {
			t.Fatalf("InitParams: codebook padding row %v is not zero", w[len(w)-e:])
		}
	}
}
