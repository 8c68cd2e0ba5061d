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
	return newTiny(t, nil)
}

// tinySet returns tiny's config and tensors; edit, when given, may change them.
func tinySet(t *testing.T, edit func(name string, v []float32)) (*Config, *weights.MemSet) {
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
		if edit != nil {
			edit(p.Name, v)
		}
		set.Add(weights.WrapFloat32(p.Name, p.Shape, v))
	}
	return c, set
}

func newTiny(t *testing.T, edit func(name string, v []float32)) *Model {
	t.Helper()
	c, set := tinySet(t, edit)
	m, err := New(backendtest.New(t), c, set)
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
}

// TestBadInputs: each bad input is ErrBadInput with a message naming what
// was expected.
func TestBadInputs(t *testing.T) {
	m := tiny(t)
	c := m.Config
	D := c.Depth
	codes := func(v ...int64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, 1, 1, len(v)) }
	okCodes := codes(make([]int64, D)...)
	outOfRange := make([]int64, D)
	outOfRange[2] = int64(c.VocabSize)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"odd rows", second(m.Generate(randomBody(3, 1, c.BodyDim, 1), 3, Sampling{})), "unconditional"},
		{"body width", second(m.Logits(randomBody(1, 1, c.BodyDim+1, 1), okCodes)), fmt.Sprintf("[B,L,%d]", c.BodyDim)},
		{"float64 body", second(m.Logits(tensors.FromFlatDataAndDimensions(make([]float64, c.BodyDim), 1, 1, c.BodyDim), okCodes)), "float32"},
		{"codes depth", second(m.Logits(randomBody(1, 1, c.BodyDim, 1), codes(make([]int64, D-1)...))), fmt.Sprintf("block_size[2] = %d", D)},
		{"code out of range", second(m.Logits(randomBody(1, 1, c.BodyDim, 1), codes(outOfRange...))), fmt.Sprintf("codes[2] (flat index) = %d, expected 0..%d", c.VocabSize, c.VocabSize-1)},
		{"float codes", second(m.Logits(randomBody(1, 1, c.BodyDim, 1), tensors.FromFlatDataAndDimensions(make([]float32, D), 1, 1, D))), "int32 or int64"},
		{"NaN scale", second(m.Generate(randomBody(2, 1, c.BodyDim, 1), math.NaN(), Sampling{})), "finite"},
		{"top-p", second(m.Generate(randomBody(2, 1, c.BodyDim, 1), 1, Sampling{TopP: 2})), "top-p in [0,1]"},
		{"codebook", m.SetCodebook(tensors.FromFlatDataAndDimensions(make([]float32, 4), 2, 2)), fmt.Sprintf("[%d,%d] (vocab_size", c.VocabSize, c.CodeDim)},
	} {
		if !errors.Is(tc.err, ErrBadInput) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrBadInput saying %q", tc.name, tc.err, tc.want)
		}
	}
}

// second returns the error of a call with results (x, err) or (x, y, err).
func second(args ...any) error {
	err, _ := args[len(args)-1].(error)
	return err
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
	m, err := New(backendtest.New(t), c, mem)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.Generate(randomBody(2, 1, c.BodyDim, 1), 3, Sampling{})
	if err == nil || !strings.Contains(err.Error(), "SetCodebook") {
		t.Errorf("no codebook: %v", err)
	}
}

func generate(t *testing.T, m *Model, body *tensors.Tensor, scale float64, s Sampling) (codes []int64, feats []float32) {
	t.Helper()
	c, f, err := m.Generate(body, scale, s)
	if err != nil {
		t.Fatal(err)
	}
	return flat[int64](t, c), flat[float32](t, f)
}

// TestGenerateShapesAndStreams: one model serves bodies of several shapes
// (every graph takes its sizes from its inputs), and each position draws
// from its own stream, so a position's sampled codes do not depend on the
// other positions generated with it.
func TestGenerateShapesAndStreams(t *testing.T) {
	m := tiny(t)
	c := m.Config
	D, E := c.Depth, c.CodeDim
	big := randomBody(4, 3, c.BodyDim, 21) // N=2, L=3
	hot := Sampling{Temperature: 3, Seed: 8}
	codesBig, featsBig := generate(t, m, big, 2, hot)
	// The first conditional row's positions and the first unconditional row, alone.
	src := flat[float32](t, big)
	H := c.BodyDim
	small := append(slices.Clone(src[:3*H]), src[2*3*H:3*3*H]...)
	codesSmall, featsSmall := generate(t, m, tensors.FromFlatDataAndDimensions(small, 2, 3, H), 2, hot)
	if len(codesSmall) != 2*3*D || len(featsSmall) != 2*3*E {
		t.Fatalf("N=1, L=3: %d codes and %d feature values, want %d and %d", len(codesSmall), len(featsSmall), 2*3*D, 2*3*E)
	}
	if !slices.Equal(codesSmall[:3*D], codesBig[:3*D]) {
		t.Errorf("row 0 sampled alone %v, with another row %v: positions share a random stream", codesSmall[:3*D], codesBig[:3*D])
	}
	if !slices.Equal(featsSmall[:3*E], featsBig[:3*E]) {
		t.Errorf("row 0's features differ alone and in a batch")
	}
	// A third shape after the two above.
	if codes, _ := generate(t, m, randomBody(2, 1, H, 3), 3, Sampling{}); len(codes) != 2*D {
		t.Errorf("N=1, L=1: %d codes, want %d", len(codes), 2*D)
	}
}

// TestSetCodebookAfterCompiling: a codebook set after the graphs were
// compiled is the one they use.
func TestSetCodebookAfterCompiling(t *testing.T) {
	m := tiny(t)
	c := m.Config
	body := randomBody(2, 2, c.BodyDim, 4)
	generate(t, m, body, 3, Sampling{})
	cb := make([]float32, c.VocabSize*c.CodeDim)
	for i := range cb {
		cb[i] = float32(i)
	}
	if err := m.SetCodebook(tensors.FromFlatDataAndDimensions(cb, c.VocabSize, c.CodeDim)); err != nil {
		t.Fatal(err)
	}
	codes, feats := generate(t, m, body, 3, Sampling{})
	for r := range 2 * 2 {
		for e := range c.CodeDim {
			var want float32
			for d := range c.Depth {
				want += cb[int(codes[r*c.Depth+d])*c.CodeDim+e]
			}
			if feats[r*c.CodeDim+e] != want {
				t.Fatalf("features[%d][%d] = %g, want %g from the new codebook", r, e, feats[r*c.CodeDim+e], want)
			}
		}
	}
}

// TestNaNLogits: a code whose logit is NaN is never chosen, by argmax or by
// sampling (VILA-U's sampler maps NaN to -Inf), and sampling still spreads
// over the other codes.
func TestNaNLogits(t *testing.T) {
	m := newTiny(t, func(name string, v []float32) {
		if name == "classifier_mlp.linear.bias" {
			v[0] = float32(math.NaN())
		}
	})
	body := randomBody(16, 1, m.Config.BodyDim, 6)
	for _, s := range []Sampling{{}, {Temperature: 4, Seed: 3}, {Temperature: 4, TopK: 5, TopP: 0.9, Seed: 3}} {
		codes, _ := generate(t, m, body, 1, s)
		seen := map[int64]bool{}
		for _, c := range codes {
			if c == 0 {
				t.Fatalf("sampling %+v chose code 0, whose logit is NaN", s)
			}
			seen[c] = true
		}
		if s.Temperature > 0 && len(seen) < 3 {
			t.Errorf("sampling %+v: only codes %v over %d draws", s, seen, len(codes))
		}
	}
}

// TestTopP: a top-p below the best code's probability keeps only that code
// (greedy), at any temperature.
func TestTopP(t *testing.T) {
	m := tiny(t)
	body := randomBody(8, 2, m.Config.BodyDim, 12)
	greedy, _ := generate(t, m, body, 2, Sampling{})
	if got, _ := generate(t, m, body, 2, Sampling{Temperature: 10, TopP: 1e-6, Seed: 1}); !slices.Equal(got, greedy) {
		t.Errorf("top-p 1e-6 at temperature 10: %v, want the argmax codes %v", got, greedy)
	}
}

// TestTowerCheckpoint: a tower directory (VILA-U's RQVAESIGLIPTransformer
// config with an "rqtransformer" section) loads the head from the tensors
// under "rqtransformer.", leaves the tower's alone, and refuses an unknown
// tensor under the prefix.
func TestTowerCheckpoint(t *testing.T) {
	c, set := tinySet(t, nil)
	head := fmt.Sprintf(`{"input_embed_dim_1": %d, "input_embed_dim_2": %d, "embed_dim": %d, "vocab_size": %d,
		"block_size": [2, 2, %d], "head": {"n_layer": %d, "block": {"n_head": %d}}}`,
		c.CodeDim, c.BodyDim, c.Width, c.VocabSize, c.Depth, c.Layers, c.Heads)
	write := func(extra ...*weights.Tensor) string {
		dir := t.TempDir()
		cfg := `{"model_type": "rqvaesigliptransformer_model", "rqvaesiglip": {"hidden_size": 4}, "rqtransformer": ` + head + `}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		ts := []*weights.Tensor{weights.FromFloat32("rqvaesiglip.quantizer.codebooks.0.weight", []int{2, 2}, make([]float32, 4))}
		for _, n := range set.Names() {
			v, _ := set.Get(n)
			ts = append(ts, weights.FromFloat32(TowerPrefix+n, v.Shape, must(v.Float32())))
		}
		if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), append(ts, extra...), nil); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	b := backendtest.New(t)
	m, err := Load(b, write())
	if err != nil {
		t.Fatal(err)
	}
	want := tiny(t)
	got, _ := generate(t, m, randomBody(2, 2, c.BodyDim, 2), 3, Sampling{})
	ref, _ := generate(t, want, randomBody(2, 2, c.BodyDim, 2), 3, Sampling{}) // a tensor per backend instance
	if !slices.Equal(got, ref) {
		t.Errorf("head loaded from a tower checkpoint generates %v, the same tensors alone %v", got, ref)
	}
	_, err = Load(b, write(weights.FromFloat32(TowerPrefix+"head_transformer.blocks.9.ln1.weight", []int{c.Width}, make([]float32, c.Width))))
	if err == nil || !strings.Contains(err.Error(), "blocks.9.ln1.weight") || !strings.Contains(err.Error(), TowerPrefix) {
		t.Errorf("an unknown tensor under %q: %v", TowerPrefix, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
