package dualtoken

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
)

// tinyTower is a random SigLIP for the tiny preset: 64 wide, 6 layers, 32 px
// in 4 px patches (the preset's 8x8 grid), with a small text tower.
func tinyTower(t testing.TB) *siglip.Model {
	t.Helper()
	c := siglip.BaseConfig(64, 6, 4, 128, 4, 32)
	c.ModelType = siglip.ModelTypeSiglip
	c.Text = &siglip.TextConfig{VocabSize: 40, HiddenSize: 64, IntermediateSize: 128, NumLayers: 1, NumHeads: 4,
		MaxPositions: 8, ProjectionSize: 64, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh", PadTokenID: 1, EOSTokenID: 1}
	m, err := siglip.NewRandom(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyModel is the tiny preset on tinyTower with initialised parts.
func tinyModel(t testing.TB, mutate func(fc *FullConfig)) *Model {
	t.Helper()
	tower := tinyTower(t)
	fc := &FullConfig{Config: PresetTiny(), Tower: tower.Config, SemanticBranch: true}
	if mutate != nil {
		mutate(fc)
	}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewModel(testBackend(t), fc)
	if err := m.Init(tower, 5); err != nil {
		t.Fatal(err)
	}
	return m
}

func randomPixels(b, size int, seed uint64) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 2))
	v := make([]float32, b*3*size*size)
	for i := range v {
		v[i] = float32(2*r.Float64() - 1)
	}
	return tensors.FromFlatDataAndDimensions(v, b, 3, size, size)
}

func maxAbsDiff(t testing.TB, a, b *tensors.Tensor) float64 {
	t.Helper()
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	if len(x) != len(y) {
		t.Fatalf("sizes %v and %v differ", a.Shape(), b.Shape())
	}
	d := 0.0
	for i := range x {
		d = math.Max(d, math.Abs(float64(x[i]-y[i])))
	}
	return d
}

// TestForwardTapsAreTheTowerStates: Forward's hidden states are the plain
// tower's (1-indexed taps), and without the semantic branch the pooled
// output is the plain tower's.
func TestForwardTapsAreTheTowerStates(t *testing.T) {
	m := tinyModel(t, func(fc *FullConfig) { fc.SemanticBranch = false })
	fc := m.Config
	px := randomPixels(2, 32, 1)
	res, err := model.ExecOnceN(m.Backend, m.Store, func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, fc, x, Options{Pooled: true})
		plain := siglip.Vision(siglip.VisionScope(root), &fc.Tower.Vision, x)
		return []*Node{o.Hidden[fc.LayerRecon], plain.Hidden[fc.LayerRecon], o.Pooled, plain.Pooled, o.PixInput,
			PixelLatent(NewParts(root, x.Graph()), fc.Config, plain.Hidden[fc.LayerRecon], plain.Hidden[fc.LayerShortcut])}
	}, px)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"layer_recon state", "pooled output", "pixel latent"} {
		if d := maxAbsDiff(t, res[2*i], res[2*i+1]); d > 1e-6 {
			t.Errorf("%s differs from the plain tower's by %g", what, d)
		}
	}
}

// TestSemanticPathExactQuantisation: with a semantic codebook holding every
// latent vector of the batch (and a zero vector for the deeper residuals),
// quantisation is the identity, and the pooled output equals the plain tower
// continued from postquant_sem(prequant_sem(h_sem)) at layer_sem: the
// quantised state replaces hidden[layer_sem] and flows through the
// remaining layers, the post-LN and the MAP head.
func TestSemanticPathExactQuantisation(t *testing.T) {
	m := tinyModel(t, nil)
	fc := m.Config
	px := randomPixels(2, 32, 2)
	z, err := model.ExecOnce(m.Backend, m.Store, func(root *model.Scope, x *Node) *Node {
		return Forward(root, fc, x, Options{}).SemInput
	}, px)
	if err != nil {
		t.Fatal(err)
	}
	vecs := tensors.MustCopyFlatData[float32](z)
	e := fc.Sem.EmbedDim
	n := len(vecs) / e
	if n+1 > fc.Sem.NEmbed {
		t.Fatalf("test needs %d codes, the preset has %d", n+1, fc.Sem.NEmbed)
	}
	book := make([]float32, (fc.Sem.NEmbed+1)*e)
	for i := range book {
		book[i] = 50 // far from every latent
	}
	copy(book, vecs)
	for j := range e {
		book[n*e+j] = 0 // the zero code for the deeper residuals
		book[fc.Sem.NEmbed*e+j] = 0
	}
	if err := SetValue(m.Root(), "quantizer_sem.codebooks.0.weight", tensors.FromFlatDataAndDimensions(book, fc.Sem.NEmbed+1, e)); err != nil {
		t.Fatal(err)
	}
	m.Reset()
	res, err := model.ExecOnceN(m.Backend, m.Store, func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, fc, x, Options{Pooled: true})
		vs := siglip.VisionScope(root)
		want := SemanticPostquant(NewParts(root, x.Graph()), fc.Config, o.SemInput)
		_, pooled := siglip.VisionFrom(vs, &fc.Tower.Vision, want, fc.LayerSem)
		return []*Node{o.Sem.ZQ, o.SemInput, o.SemState, want, o.Pooled, pooled, o.Sem.Codes}
	}, px)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"quantised semantic latent", "post-quant state", "pooled output"} {
		if d := maxAbsDiff(t, res[2*i], res[2*i+1]); d > 1e-6 {
			t.Errorf("%s: differs by %g with an exact codebook", what, d)
		}
	}
	codes := tensors.MustCopyFlatData[int64](res[6])
	depth := fc.Sem.Depth()
	for i := 0; i < len(codes); i += depth {
		if codes[i] != int64(i/depth) {
			t.Fatalf("position %d: depth-1 code %d, want its own vector %d", i/depth, codes[i], i/depth)
		}
		for d := 1; d < depth; d++ {
			if codes[i+d] != int64(n) {
				t.Fatalf("position %d depth %d: code %d, want the zero code %d", i/depth, d, codes[i+d], n)
			}
		}
	}
}

// TestReconstructIsDecodeOfEncode: decoding Encode's pixel codes (sum of
// code vectors over depths) gives Reconstruct's images; token embeddings
// have one row per grid cell.
func TestReconstructIsDecodeOfEncode(t *testing.T) {
	m := tinyModel(t, nil)
	px := randomPixels(2, 32, 3)
	enc, err := m.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	g, d := m.Config.Grid(), m.Config.Pix.Depth()
	for name, c := range map[string]*tensors.Tensor{"pixel": enc.PixelCodes, "semantic": enc.SemanticCodes} {
		if got := c.Shape().Dimensions; len(got) != 4 || got[0] != 2 || got[1] != g || got[2] != g || got[3] != d {
			t.Errorf("%s codes %v, want [2 %d %d %d]", name, got, g, g, d)
		}
	}
	if got := enc.Pooled.Shape().Dimensions; got[0] != 2 || got[1] != m.Config.HiddenSize {
		t.Errorf("pooled %v", got)
	}
	dec, err := m.DecodePixels(enc.PixelCodes)
	if err != nil {
		t.Fatal(err)
	}
	rec, codes, err := m.Reconstruct(px)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := tensors.MustCopyFlatData[int64](codes), tensors.MustCopyFlatData[int64](enc.PixelCodes); len(a) != len(b) {
		t.Fatal("code counts differ")
	} else {
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("Reconstruct's codes differ from Encode's at %d", i)
			}
		}
	}
	if diff := maxAbsDiff(t, dec, rec); diff > 1e-4 {
		t.Errorf("DecodePixels(Encode codes) differs from Reconstruct by %g", diff)
	}
	emb, err := m.TokenEmbeddings("sem", enc.SemanticCodes)
	if err != nil {
		t.Fatal(err)
	}
	if got := emb.Shape().Dimensions; got[0] != 2 || got[1] != g*g || got[2] != m.Config.Sem.EmbedDim {
		t.Errorf("token embeddings %v, want [2 %d %d]", got, g*g, m.Config.Sem.EmbedDim)
	}
	if _, err := m.DecodePixels(tensors.FromFlatDataAndDimensions(make([]int64, 2*g*g), 2, g, g, 1)); err == nil || !strings.Contains(err.Error(), "expected integer") {
		t.Errorf("codes of the wrong depth: error %v", err)
	}
	if _, err := m.Encode(randomPixels(1, 16, 1)); err == nil || !strings.Contains(err.Error(), "expected float32 [batch, 3, 32, 32]") {
		t.Errorf("16 px pixels: error %v", err)
	}
}

// TestSaveLoadLayouts: our export (config.json with model_type dualtoken and
// the tower inline) reloads to the same tensors; the authors' layout (outer
// "rqvaesiglip." prefix, tower under "siglip_model.", config without the
// tower, found through rqvaesiglip.pretrained_model) loads too; bad configs
// give errors naming the field.
func TestSaveLoadLayouts(t *testing.T) {
	m := tinyModel(t, nil)
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours")
	if err := m.Save(ours); err != nil {
		t.Fatal(err)
	}
	want, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got *Model) {
		t.Helper()
		ts, err := got.Tensors()
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != len(want) {
			t.Fatalf("%s: %d tensors, want %d", what, len(ts), len(want))
		}
		for i := range ts {
			if ts[i].Name != want[i].Name || string(ts[i].Data) != string(want[i].Data) {
				t.Fatalf("%s: tensor %s differs", what, want[i].Name)
			}
		}
	}
	back, err := Load(testBackend(t), ours)
	if err != nil {
		t.Fatal(err)
	}
	check("our layout", back)

	// The authors': an RQVAESIGLIPTransformer config and state dict, tower config elsewhere.
	authors := filepath.Join(dir, "authors")
	towerDir := filepath.Join(dir, "siglip-tiny")
	for _, d := range []string{authors, towerDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ConfigJSON(m.Config)
	writeJSON(t, filepath.Join(towerDir, "config.json"), cfg["siglip_config"])
	delete(cfg, "siglip_config")
	cfg["model_type"] = "rqvaesigliptransformer_model"
	cfg["rqvaesiglip"].(map[string]any)["pretrained_model"] = "/somewhere/else/siglip-tiny" // resolved beside the checkpoint
	writeJSON(t, filepath.Join(authors, "config.json"), cfg)
	var prefixed []*weights.Tensor
	for _, x := range want {
		y := *x
		y.Name = "rqvaesiglip." + x.Name
		prefixed = append(prefixed, &y)
	}
	prefixed = append(prefixed, weights.FromInt64("rqvaesiglip.siglip_model.vision_model.embeddings.position_ids", []int{1, 64}, make([]int64, 64)))
	if err := weights.WriteSafetensors(filepath.Join(authors, "model.safetensors"), prefixed, nil); err != nil {
		t.Fatal(err)
	}
	back, err = Load(testBackend(t), authors)
	if err != nil {
		t.Fatal(err)
	}
	check("authors' layout", back)
	if back.Config.TowerDir != towerDir {
		t.Errorf("TowerDir = %q, want %q (the config found beside the checkpoint)", back.Config.TowerDir, towerDir)
	}

	// The tower named by repo id, found in the Hugging Face cache.
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	snap := filepath.Join(cache, "models--google--siglip-tiny", "snapshots", "0123abc")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(snap, "config.json"), ConfigJSON(m.Config)["siglip_config"])
	os.RemoveAll(towerDir)
	cfg["rqvaesiglip"].(map[string]any)["pretrained_model"] = "google/siglip-tiny"
	writeJSON(t, filepath.Join(authors, "config.json"), cfg)
	back, err = Load(testBackend(t), authors)
	if err != nil {
		t.Fatal(err)
	}
	check("authors' layout, tower in the HF cache", back)
	if back.Config.TowerDir != snap {
		t.Errorf("TowerDir = %q, want the cached snapshot %q", back.Config.TowerDir, snap)
	}

	// A training checkpoint {"state_dict": {...}, "optimizer": {...}}.
	ckpt := weights.NewMemSet("epoch_latest.pt")
	for _, x := range prefixed {
		y := *x
		y.Name = "state_dict." + x.Name
		ckpt.Add(&y)
	}
	ckpt.Add(weights.FromFloat32("optimizer.state.0.exp_avg", []int{2}, []float32{1, 2}))
	fromCkpt := NewModel(testBackend(t), m.Config)
	if err := fromCkpt.LoadFrom(ckpt); err != nil {
		t.Fatal(err)
	}
	check("torch training checkpoint", fromCkpt)

	// Bad input.
	cfg["rqvaesiglip"].(map[string]any)["pretrained_model"] = "nowhere"
	writeJSON(t, filepath.Join(authors, "config.json"), cfg)
	if _, err := Load(testBackend(t), authors); err == nil || !strings.Contains(err.Error(), `pretrained_model = "nowhere"`) || !strings.Contains(err.Error(), "Hugging Face cache "+cache) {
		t.Errorf("unresolvable tower: error %v", err)
	}
	cfg = ConfigJSON(m.Config)
	cfg["rqvaesiglip"].(map[string]any)["hidden_size"] = 128
	cfg["rqvaesiglip"].(map[string]any)["vq_pix"].(map[string]any)["embed_dim"] = 8
	writeJSON(t, filepath.Join(ours, "config.json"), cfg)
	if _, err := Load(testBackend(t), ours); err == nil || !strings.Contains(err.Error(), "hidden_size = 128 but the SigLIP tower") {
		t.Errorf("tower/parts width mismatch: error %v", err)
	}
	cfg = ConfigJSON(m.Config)
	cfg["model_type"] = "llava"
	writeJSON(t, filepath.Join(ours, "config.json"), cfg)
	if _, err := Load(testBackend(t), ours); err == nil || !strings.Contains(err.Error(), "llava") {
		t.Errorf("wrong model_type: error %v", err)
	}
	cfg = ConfigJSON(m.Config)
	writeJSON(t, filepath.Join(ours, "config.json"), cfg)
	set, err := weights.Open(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	extra := weights.NewMemSet("test")
	for _, n := range set.Names() {
		x, _ := set.Get(n)
		extra.Add(x)
	}
	extra.Add(weights.FromFloat32("unexpected.weight", []int{1}, []float32{1}))
	if err := NewModel(testBackend(t), m.Config).LoadFrom(extra); err == nil || !strings.Contains(err.Error(), "unexpected.weight") {
		t.Errorf("unconsumed tensor: error %v", err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShapesFullSO400M384 builds (without compiling: a forward costs ~1.8
// TFLOP) the whole so400m-384 tokenizer at batch 1, eval and train mode:
// 729 positions x 8 depths per branch, the semantic state replacing layer
// 26's [1, 729, 1152], the pooled output [1, 1152], images 384x384.
func TestShapesFullSO400M384(t *testing.T) {
	tower := siglip.BaseConfig(1152, 27, 16, 4304, 14, 384)
	fc := &FullConfig{Config: PresetSO400M384(), Tower: tower, SemanticBranch: true}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	for _, p := range Params(fc.Config) {
		store.VariableWithShape(varPath(store.RootScope(), p.Name), shapes.Make(dtypes.Float32, p.Shape...), nil)
	}
	for _, e := range siglip.Table(tower) {
		store.VariableWithShape(model.JoinPath(store.RootScope().Scope(), dotsToPath(e.Name)), shapes.Make(dtypes.Float32, e.Shape...), nil)
	}
	expect := func(name string, n *Node, dims ...int) {
		t.Helper()
		got := n.Shape().Dimensions
		if len(got) != len(dims) {
			t.Errorf("%s: shape %v, want %v", name, got, dims)
			return
		}
		for i := range dims {
			if got[i] != dims[i] {
				t.Errorf("%s: shape %v, want %v", name, got, dims)
				return
			}
		}
	}
	for _, train := range []bool{false, true} {
		g := NewGraph(testBackend(t), "so400m-384 full")
		store.RootScope().SetTraining(g, train)
		x := Parameter(g, "pixels", shapes.Make(dtypes.Float32, 1, 3, 384, 384))
		o := Forward(store.RootScope(), fc, x, Options{Train: train, Decode: true, Pooled: true})
		expect("hidden[26]", o.Hidden[26], 1, 729, 1152)
		expect("pixel codes", o.Pix.Codes, 1, 27, 27, 8)
		expect("semantic codes", o.Sem.Codes, 1, 27, 27, 8)
		expect("semantic state", o.SemState, 1, 729, 1152)
		expect("last hidden", o.Last, 1, 729, 1152)
		expect("pooled", o.Pooled, 1, 1152)
		expect("images", o.Decoded.Images, 1, 3, 384, 384)
		expect("token embeddings", TokenEmbeddings(store.RootScope(), fc, "pix", o.Pix.Codes), 1, 729, 32)
		expect("decode codes", DecodeCodes(store.RootScope(), fc, o.Pix.Codes), 1, 3, 384, 384)
		if len(o.Hidden) != 27 {
			t.Errorf("%d hidden states, want 27 (embeddings + layers 1..26)", len(o.Hidden))
		}
		g.Finalize()
	}
}

// TestRunFullConsistent: the verify runner's outputs for a saved model agree
// with Encode and Reconstruct, and it names every tensor it computes.
func TestRunFullConsistent(t *testing.T) {
	m := tinyModel(t, nil)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	px := randomPixels(2, 32, 4)
	golden := weights.NewMemSet("golden")
	wt, err := weights.FromGoMLX("pixel_values", px)
	if err != nil {
		t.Fatal(err)
	}
	golden.Add(wt)
	outs, inputs, err := RunFull(testBackend(t), dir, golden)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 1 || inputs[0] != "pixel_values" {
		t.Errorf("inputs %v", inputs)
	}
	for _, n := range []string{"vision.hidden_states.5", "pixel_latent", "zq_pix", "codes_pix", "commit_pix", "semantic_latent", "zq_sem", "codes_sem", "postquant_sem", "vision.pooler_output", "image_embeds", "images"} {
		if outs[n] == nil {
			t.Errorf("runner output %q missing", n)
		}
	}
	rec, codes, err := m.Reconstruct(px)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := outs["images"].ToGoMLX(false)
	if d := maxAbsDiff(t, img, rec); d > 1e-4 {
		t.Errorf("runner images differ from Reconstruct by %g", d)
	}
	got, _ := outs["codes_pix"].Int64()
	want := tensors.MustCopyFlatData[int64](codes)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runner codes differ from Reconstruct's at %d", i)
		}
	}
}

// TestSkipSemanticBuildsOnlyThePixelPath: reconstruction's graph
// (Options.SkipSemantic) stops the tower at the pixel branch's deepest tap
// and has no semantic quantiser, unless the pixels decode from the semantic
// codes; its images and codes are those of the full forward (also checked
// through the model's methods in TestReconstructIsDecodeOfEncode); with
// Pooled it is refused.
func TestSkipSemanticBuildsOnlyThePixelPath(t *testing.T) {
	for name, mutate := range map[string]func(fc *FullConfig){
		"pixel taps":          nil,
		"recon from semantic": func(fc *FullConfig) { fc.ReconFromSemantic, fc.LayerRecon, fc.LayerShortcut = true, fc.LayerSem, 0 },
		// The authors' code allows a shortcut layer above layer_recon.
		"shortcut above recon":        func(fc *FullConfig) { fc.LayerShortcut = fc.LayerRecon + 2 },
		"shortcut above, no semantic": func(fc *FullConfig) { fc.LayerShortcut, fc.SemanticBranch = fc.LayerRecon+2, false },
	} {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, mutate)
			fc := m.Config
			var hidden int
			var semantic bool
			res, err := model.ExecOnceN(m.Backend, m.Store, func(root *model.Scope, x *Node) []*Node {
				full := Forward(root, fc, x, Options{Decode: true})
				skip := Forward(root, fc, x, Options{Decode: true, SkipSemantic: true})
				hidden, semantic = len(skip.Hidden), skip.Sem.Codes != nil
				return []*Node{full.Decoded.Images, skip.Decoded.Images, full.Pix.Codes, skip.Pix.Codes}
			}, randomPixels(2, 32, 9))
			if err != nil {
				t.Fatal(err)
			}
			wantHidden := max(fc.LayerRecon, fc.LayerShortcut) + 1
			if fc.ReconFromSemantic {
				wantHidden = fc.LayerSem + 1
			}
			if hidden != wantHidden || semantic != fc.ReconFromSemantic {
				t.Errorf("SkipSemantic built %d tower states and semantic branch %v, want %d and %v", hidden, semantic, wantHidden, fc.ReconFromSemantic)
			}
			if d := maxAbsDiff(t, res[0], res[1]); d != 0 {
				t.Errorf("images differ by %g", d)
			}
			if a, b := tensors.MustCopyFlatData[int64](res[2]), tensors.MustCopyFlatData[int64](res[3]); !slices.Equal(a, b) {
				t.Errorf("pixel codes differ")
			}
		})
	}
	m := tinyModel(t, nil)
	var execErr error
	err := exceptions.TryCatch[error](func() {
		_, execErr = model.ExecOnce(m.Backend, m.Store, func(root *model.Scope, x *Node) *Node {
			return Forward(root, m.Config, x, Options{Pooled: true, SkipSemantic: true}).Pooled
		}, randomPixels(1, 32, 1))
	})
	if err == nil {
		err = execErr
	}
	if err == nil || !strings.Contains(err.Error(), "SkipSemantic with Pooled") {
		t.Errorf("Pooled with SkipSemantic: %v, want a refusal", err)
	}
}

// TestUpsamplePhasesMatchPlain: the decoder with its upsample convolutions
// as four phase convolutions (DUALTOKEN_UPSAMPLE_CONV=phases) gives the
// plain form's images to float32 rounding, on a model whose decoder
// upsamples twice; a value other than plain or phases fails the build with
// one line naming the variable.
func TestUpsamplePhasesMatchPlain(t *testing.T) {
	m := tinyModel(t, nil)
	if len(m.Config.Decoder.ChMult) < 2 || !m.Config.Decoder.ResampWithConv {
		t.Fatalf("the tiny decoder does not upsample with a convolution: %+v", m.Config.Decoder)
	}
	px := randomPixels(2, 32, 11)
	images := func(form string) (*tensors.Tensor, error) {
		t.Setenv(EnvUpsampleConv, form)
		return model.ExecOnce(m.Backend, m.Store, func(root *model.Scope, x *Node) *Node {
			return Forward(root, m.Config, x, Options{Decode: true, SkipSemantic: true}).Decoded.Images
		}, px)
	}
	plain, err := images(UpsamplePlain)
	if err != nil {
		t.Fatal(err)
	}
	phases, err := images(UpsamplePhases)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, plain, phases); d > 1e-5 || d == 0 {
		t.Errorf("phases differ from plain by %g, want float rounding (0 < d <= 1e-5: the phase kernels are pre-summed)", d)
	}
	if _, err := images("fast"); err == nil || !strings.Contains(err.Error(), EnvUpsampleConv+`="fast": expected plain (default) or phases`) {
		t.Errorf("bad value: %v", err)
	}
}
