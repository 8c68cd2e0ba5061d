package depthhead

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/backend/xladry"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// TestParityDepthTransformer runs fixtures/depth_transformer (VILA-U's
// RQTransformer) through verify: teacher-forced logits within 1e-4 +
// 1e-4|want|, the argmax-guided generation's codes exactly and its
// features within tolerance. Every golden output must be produced.
func TestParityDepthTransformer(t *testing.T) {
	dir := fixtures.Dir(t, "depth_transformer")
	rep, err := verify.Run(backendtest.New(t), dir, filepath.Join(dir, "golden.safetensors"), 1e-4, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		t.Logf("%-20s %-14s %-8s max|Δ| %.3g  worst/tol %.3g", r.Name, fmt.Sprint(r.Shape), r.Status, r.MaxAbsErr, r.WorstRatio)
		switch {
		case r.Status == verify.StatusSkipped:
			t.Errorf("golden %s was not produced", r.Name)
		case !r.OK:
			t.Errorf("%s: max |Δ| %.3g (worst ratio to tolerance %.3g) %s", r.Name, r.MaxAbsErr, r.WorstRatio, r.Note)
		}
	}
	if rep.ModelType != ModelType || rep.Compared != 3 {
		t.Errorf("model type %q, compared %d outputs; want %q and 3 (logits, generated_codes, generated_features)", rep.ModelType, rep.Compared, ModelType)
	}
}

// tiny is a head with every size distinct, on seeded random weights and codebook.
func tiny(t *testing.T) *Model {
	t.Helper()
	c := &Config{Path: "tiny", CodeDim: 3, BodyDim: 5, Width: 8, VocabSize: 11, Grid: [2]int{2, 2}, Depth: 4, Layers: 2, Heads: 2, CFGScale: 3}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	set := weights.NewMemSet("tiny")
	for _, p := range append(Params(c), Param{CodebookName, []int{c.VocabSize, c.CodeDim}}) {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		set.Add(weights.WrapFloat32(p.Name, p.Shape, v))
	}
	m, err := New(backendtest.New(t), c, set, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomBody(rows, l, h int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, rows*l*h)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, rows, l, h)
}

func flat[T float32 | int64](t *testing.T, x *tensors.Tensor) []T {
	t.Helper()
	v, err := tensors.CopyFlatData[T](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTeacherForcingIsCausal: depth d's logits do not change when codes at
// depths >= d do, and do change with a code before d.
func TestTeacherForcingIsCausal(t *testing.T) {
	m := tiny(t)
	c := m.Config
	B, L, D, V := 2, 3, c.Depth, c.VocabSize
	body := randomBody(B, L, c.BodyDim, 3)
	codes := make([]int64, B*L*D)
	for i := range codes {
		codes[i] = int64(i % V)
	}
	logits := func(codes []int64) []float32 {
		out, err := m.Logits(body, tensors.FromFlatDataAndDimensions(codes, B, L, D))
		if err != nil {
			t.Fatal(err)
		}
		return flat[float32](t, out)
	}
	base := logits(codes)
	for d := range D {
		changed := slices.Clone(codes)
		for p := range B * L {
			changed[p*D+d] = (changed[p*D+d] + 5) % int64(V)
		}
		got := logits(changed)
		for p := range B * L {
			for dd := range D {
				row := (p*D + dd) * V
				same := slices.Equal(got[row:row+V], base[row:row+V])
				if dd <= d && !same {
					t.Fatalf("changing the code at depth %d changed the logits of depth %d (position %d)", d, dd, p)
				}
				if dd > d && same {
					t.Fatalf("changing the code at depth %d left the logits of depth %d unchanged (position %d)", d, dd, p)
				}
			}
		}
	}
}

// TestGenerateAgreesWithTeacherForcing: each generated code is the argmax
// of u + s(c − u) computed from the teacher-forced logits of the
// conditional and unconditional rows fed the generated codes, and the
// features are the sums of the codes' codebook rows.
func TestGenerateAgreesWithTeacherForcing(t *testing.T) {
	m := tiny(t)
	c := m.Config
	N, L, D, V, E := 3, 2, c.Depth, c.VocabSize, c.CodeDim
	body := randomBody(2*N, L, c.BodyDim, 5)
	const scale = 2.5
	codesT, featsT, err := m.Generate(body, scale, Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	codes, feats := flat[int64](t, codesT), flat[float32](t, featsT)
	if got := codesT.Shape().Dimensions; !slices.Equal(got, []int{2 * N, L, D}) {
		t.Fatalf("codes %v, want [%d %d %d]", got, 2*N, L, D)
	}
	out, err := m.Logits(body, codesT)
	if err != nil {
		t.Fatal(err)
	}
	logits := flat[float32](t, out) // [2N,L,D,V]
	for i := range N * L {
		for d := range D {
			cond := logits[(i*D+d)*V:][:V]
			uncond := logits[((N*L+i)*D+d)*V:][:V]
			guided := make([]float32, V)
			for v := range guided {
				guided[v] = uncond[v] + scale*(cond[v]-uncond[v])
			}
			want := argmaxFinite(guided)
			got := codes[i*D+d]
			if got != int64(want) && math.Abs(float64(guided[got]-guided[want])) > 1e-4 {
				t.Errorf("position %d depth %d: generated %d, teacher-forced guided argmax %d", i, d, got, want)
			}
			if codes[(N*L+i)*D+d] != got {
				t.Errorf("position %d depth %d: the unconditional half holds %d, not the conditional code %d", i, d, codes[(N*L+i)*D+d], got)
			}
		}
	}
	cb := flat[float32](t, codebookOf(t, m))
	for r := range 2 * N * L {
		for e := range E {
			var want float32
			for d := range D {
				want += cb[int(codes[r*D+d])*E+e]
			}
			if got := feats[r*E+e]; math.Abs(float64(got-want)) > 1e-5 {
				t.Fatalf("features[%d][%d] = %g, want the sum of the code embeddings %g", r, e, got, want)
			}
		}
	}
}

func codebookOf(t *testing.T, m *Model) *tensors.Tensor {
	t.Helper()
	v := m.Store.RootScope().GetVariable(CodebookName)
	if v == nil {
		t.Fatal("no codebook")
	}
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return val
}

// TestSampling: top-k 1 is argmax; a seed repeats its draws; temperature
// sampling reaches codes other than the argmax.
func TestSampling(t *testing.T) {
	m := tiny(t)
	body := randomBody(8, 1, m.Config.BodyDim, 9)
	gen := func(s Sampling) []int64 {
		codes, _, err := m.Generate(body, 1.5, s)
		if err != nil {
			t.Fatal(err)
		}
		return flat[int64](t, codes)
	}
	greedy := gen(Sampling{})
	if got := gen(Sampling{Temperature: 1, TopK: 1, Seed: 4}); !slices.Equal(got, greedy) {
		t.Errorf("top-k 1 sampling %v differs from argmax %v", got, greedy)
	}
	hot := Sampling{Temperature: 5, Seed: 11}
	a, b := gen(hot), gen(hot)
	if !slices.Equal(a, b) {
		t.Errorf("one seed gave %v and %v", a, b)
	}
	if slices.Equal(a, greedy) {
		t.Errorf("temperature 5 sampling equals argmax on all %d codes", len(a))
	}
	if _, _, err := m.Generate(body, 1, Sampling{TopP: 2}); !errors.Is(err, ErrBadInput) {
		t.Errorf("top-p 2: err %v, want ErrBadInput", err)
	}
}

// TestBadInputs: errors name what was expected.
func TestBadInputs(t *testing.T) {
	m := tiny(t)
	c := m.Config
	if _, _, err := m.Generate(randomBody(3, 1, c.BodyDim, 1), 3, Sampling{}); err == nil || !strings.Contains(err.Error(), "unconditional") {
		t.Errorf("odd rows: %v", err)
	}
	if _, err := m.Logits(randomBody(2, 1, c.BodyDim+1, 1), tensors.FromFlatDataAndDimensions(make([]int64, 2*c.Depth), 2, 1, c.Depth)); !errors.Is(err, ErrBadInput) {
		t.Errorf("wrong body width: %v", err)
	}
	if _, err := m.Logits(randomBody(2, 1, c.BodyDim, 1), tensors.FromFlatDataAndDimensions(make([]int64, 2*(c.Depth-1)), 2, 1, c.Depth-1)); err == nil || !strings.Contains(err.Error(), "expected integers") {
		t.Errorf("wrong depth: %v", err)
	}
	if err := m.SetCodebook(tensors.FromFlatDataAndDimensions(make([]float32, 4), 2, 2)); err == nil || !strings.Contains(err.Error(), "vocab_size") {
		t.Errorf("wrong codebook: %v", err)
	}
}

// TestConfig: the head's own config and a tower config with an
// "rqtransformer" section; a missing key names file and key.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	head := `{"input_embed_dim_1": 8, "input_embed_dim_2": 48, "embed_dim": 32, "vocab_size": 40,
		"block_size": [3, 3, 4], "head": {"n_layer": 3, "block": {"n_head": 4}}}`
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, json string }{
		{"head.json", head},
		{"tower.json", `{"model_type": "rqvaesigliptransformer_model", "rqvaesiglip": {}, "rqtransformer": ` + head + `}`},
	} {
		raw, err := config.Load(write(tc.name, tc.json))
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := Config{Path: c.Path, CodeDim: 8, BodyDim: 48, Width: 32, VocabSize: 40, Grid: [2]int{3, 3}, Depth: 4, Layers: 3, Heads: 4, CFGScale: 3}
		if *c != want {
			t.Errorf("%s: %+v, want %+v", tc.name, *c, want)
		}
	}
	raw, _ := config.Load(write("bad.json", strings.Replace(head, `"embed_dim": 32,`, "", 1)))
	if _, err := ParseConfig(raw); err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "embed_dim") {
		t.Errorf("missing embed_dim: %v", err)
	}
	raw, _ = config.Load(write("heads.json", strings.Replace(head, `"n_head": 4`, `"n_head": 5`, 1)))
	if _, err := ParseConfig(raw); err == nil || !strings.Contains(err.Error(), "divisible") {
		t.Errorf("32 wide, 5 heads: %v", err)
	}
}

// TestNameTable: the fixture checkpoint holds exactly Params and the codebook.
func TestNameTable(t *testing.T) {
	dir := fixtures.Dir(t, "depth_transformer")
	raw, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	set, err := weights.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var want []string
	for _, p := range Params(c) {
		want = append(want, p.Name)
		got, err := set.Get(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Shape, p.Shape) {
			t.Errorf("%s: checkpoint %v, table %v", p.Name, got.Shape, p.Shape)
		}
	}
	want = append(want, CodebookName)
	got := set.Names()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("checkpoint names %v\ntable %v", got, want)
	}
	// A head without its codebook loads; using it says what is missing.
	mem := weights.NewMemSet("no codebook")
	for _, n := range set.Names() {
		if n != CodebookName {
			v, _ := set.Get(n)
			mem.Add(v)
		}
	}
	m, err := New(backendtest.New(t), c, mem, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.Generate(randomBody(2, 1, c.BodyDim, 1), 3, Sampling{})
	if err == nil || !strings.Contains(err.Error(), "SetCodebook") {
		t.Errorf("no codebook: %v", err)
	}
}

// TestXLAProgramsBuild: the teacher-forced graph, every depth's guided
// graph and the features graph build as XLA CUDA programs (go-xla's
// StableHLO builder; nothing runs).
func TestXLAProgramsBuild(t *testing.T) {
	b, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	m := tiny(t)
	m.Backend = b
	body := randomBody(2, 3, m.Config.BodyDim, 1)
	if _, err := m.Logits(body, tensors.FromFlatDataAndDimensions(make([]int64, 2*3*m.Config.Depth), 2, 3, m.Config.Depth)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Generate(body, 3, Sampling{}); err != nil {
		t.Fatal(err)
	}
	if n, want := len(b.Programs()), 1+m.Config.Depth+1; n != want {
		t.Errorf("%d programs built, want %d (forward, one per depth, features)", n, want)
	}
}
