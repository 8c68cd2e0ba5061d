package main

import (
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// verifyJSON runs `evalrun verify --json args...`, requires exit code
// wantCode and returns the report.
func verifyJSON(t *testing.T, wantCode int, args ...string) *verify.Report {
	t.Helper()
	code, out, errOut := runCaptured(t, append([]string{"verify", "--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("verify %v: exit %d, want %d; stderr %q", args, code, wantCode, errOut)
	}
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify %v: %v in %q", args, err, out)
	}
	return &rep
}

// verifyFixture returns the model directory and golden file of a fixture
// folder, used as they are: the parts fixture's config.json (the authors'
// rqvaesiglip keys, no model_type) is recognised by its keys.
func verifyFixture(t *testing.T, name string) (dir, golden string) {
	t.Helper()
	dir = fixtures.Dir(t, name)
	return dir, filepath.Join(dir, "golden.safetensors")
}

// checkBF16Covers requires the bfloat16 report bf to check every output the
// float32 report f32 compared: float outputs compared (and passing),
// integer ones by agreement; and at least one at a bfloat16 stage count.
func checkBF16Covers(t *testing.T, goldenPath string, f32, bf *verify.Report) {
	t.Helper()
	golden, err := weights.OpenSafetensors(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	if f32.DType != "float32" || bf.DType != "bfloat16" {
		t.Errorf("report dtypes %q and %q, want float32 and bfloat16", f32.DType, bf.DType)
	}
	rows := map[string]verify.Row{}
	staged := 0
	for _, r := range bf.Rows {
		rows[r.Name] = r
		if r.Stages > 0 {
			staged++
			if r.Bound <= 0 || r.RMSBound <= 0 {
				t.Errorf("%s: %d stages but bounds %g, %g", r.Name, r.Stages, r.Bound, r.RMSBound)
			}
		}
	}
	for _, r := range f32.Rows {
		if r.Status != verify.StatusCompared {
			continue
		}
		want, err := golden.Get(r.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := rows[r.Name]
		switch {
		case want.DType.IsFloat() && (got.Status != verify.StatusCompared || !got.OK):
			t.Errorf("float output %s: bfloat16 row %+v, want compared and ok", r.Name, got)
		case !want.DType.IsFloat() && got.Status != verify.StatusAgreement:
			t.Errorf("integer output %s: bfloat16 row %+v, want agreement", r.Name, got)
		}
		if got.Status == verify.StatusAgreement {
			t.Logf("%s: %s", r.Name, got.Note)
		}
	}
	if bf.Compared+bf.Agreement != f32.Compared || staged == 0 || !bf.OK {
		t.Errorf("bfloat16: %d compared + %d by agreement (%d at a stage count), ok %v; float32 compared %d",
			bf.Compared, bf.Agreement, staged, bf.OK, f32.Compared)
	}
}

// TestVerifyBF16Fixtures: `verify --dtype bfloat16` on every model fixture
// passes, checking every output the float32 run compares: floats within
// bfloat16's bound at their stage count (or, for float32 islands, the
// float32 tolerance), integers reported by agreement.
func TestVerifyBF16Fixtures(t *testing.T) {
	for _, name := range []string{"siglip", "qwen2", "llama", "dualtoken_parts"} {
		t.Run(name, func(t *testing.T) {
			dir, golden := verifyFixture(t, name)
			f32 := verifyJSON(t, 0, "--model", dir, "--golden", golden)
			bf := verifyJSON(t, 0, "--model", dir, "--golden", golden, "--dtype", "bfloat16")
			checkBF16Covers(t, golden, f32, bf)
		})
	}
}

// TestVerifyBF16PerturbedGolden: a golden whose float output (the one at
// the fewest stages, so its bound is tightest) is scaled by 1.5 fails in
// bfloat16 mode with exit code 1, on that row only; the text report shows
// its bound.
func TestVerifyBF16PerturbedGolden(t *testing.T) {
	for _, name := range []string{"qwen2", "siglip"} {
		t.Run(name, func(t *testing.T) {
			dir, golden := verifyFixture(t, name)
			bf := verifyJSON(t, 0, "--model", dir, "--golden", golden, "--dtype", "bfloat16")
			var staged []verify.Row
			for _, r := range bf.Rows {
				if r.Stages > 0 {
					staged = append(staged, r)
				}
			}
			if len(staged) == 0 {
				t.Fatal("no output checked at a bfloat16 stage count")
			}
			sort.SliceStable(staged, func(i, j int) bool { return staged[i].Stages < staged[j].Stages })
			target := staged[0].Name
			perturbed := scaledGolden(t, golden, target, 1.5)

			rep := verifyJSON(t, 1, "--model", dir, "--golden", perturbed, "--dtype", "bfloat16")
			for _, r := range rep.Rows {
				if r.OK == (r.Name == target) {
					t.Errorf("%s: ok %v (%s); want only %s to fail", r.Name, r.OK, r.Note, target)
				}
			}
			if rep.Failed != 1 || rep.OK {
				t.Errorf("%d failed, ok %v; want 1, false", rep.Failed, rep.OK)
			}
			code, out := runStdout(t, "verify", "--model", dir, "--golden", perturbed, "--dtype", "bf16")
			if code != 1 || !strings.Contains(out, "stage") {
				t.Errorf("text report: exit %d:\n%s", code, out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, target+" ") && (!strings.Contains(line, "FAIL") || !strings.Contains(line, "(bf16, ")) {
					t.Errorf("%s line %q: want FAIL and its bfloat16 bound", target, line)
				}
			}
		})
	}
}

// scaledGolden writes a copy of the golden file with tensor name scaled by
// factor and returns its path.
func scaledGolden(t *testing.T, path, name string, factor float32) string {
	t.Helper()
	return editGolden(t, path, func(x *weights.Tensor) *weights.Tensor {
		if x.Name != name {
			return x
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			v[i] *= factor
		}
		return weights.FromFloat32(x.Name, x.Shape, v)
	})
}

// editGolden writes a copy of the golden file with every tensor passed
// through edit (nil drops it) and returns its path.
func editGolden(t *testing.T, path string, edit func(x *weights.Tensor) *weights.Tensor) string {
	t.Helper()
	g, err := weights.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var ts []*weights.Tensor
	for _, n := range g.Names() {
		x, err := g.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		if x = edit(x); x != nil {
			ts = append(ts, x)
		}
	}
	out := filepath.Join(t.TempDir(), "golden.safetensors")
	if err := weights.WriteSafetensors(out, ts, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyBF16PartsNeedsFedGolden: the bfloat16 parts check feeds each
// stage its golden input; a golden file without one of them (zq_pix) is bad
// input, exit 2 with one line naming it. The float32 check does not need it.
func TestVerifyBF16PartsNeedsFedGolden(t *testing.T) {
	dir, golden := verifyFixture(t, "dualtoken_parts")
	cut := editGolden(t, golden, func(x *weights.Tensor) *weights.Tensor {
		if x.Name == "zq_pix" {
			return nil
		}
		return x
	})
	code, _, errOut := runCaptured(t, "verify", "--model", dir, "--golden", cut, "--dtype", "bfloat16")
	if line := strings.TrimSpace(errOut); code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "zq_pix") {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming zq_pix", code, errOut)
	}
	verifyJSON(t, 0, "--model", dir, "--golden", cut)
}

// TestVerifyDTypeFlag: a bad --dtype exits 2 with one line naming the flag
// and the accepted values; --atol/--rtol are refused in bfloat16 mode and
// still apply in float32.
func TestVerifyDTypeFlag(t *testing.T) {
	for _, bad := range []string{"int8", "fp16"} {
		code, _, errOut := runCaptured(t, "verify", "--model", "nowhere", "--golden", "nothing.safetensors", "--dtype", bad)
		line := strings.TrimSpace(errOut)
		if code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "--dtype") || !strings.Contains(line, bad) ||
			!strings.Contains(line, "float32") || !strings.Contains(line, "bfloat16") {
			t.Errorf("--dtype %s: exit %d, stderr %q; want 2 and one line naming --dtype, %s, float32 and bfloat16", bad, code, errOut, bad)
		}
	}
	for _, flag := range []string{"--atol", "--rtol"} {
		code, _, errOut := runCaptured(t, "verify", "--model", "nowhere", "--golden", "nothing.safetensors", "--dtype", "bfloat16", flag, "0.01")
		if line := strings.TrimSpace(errOut); code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, flag) {
			t.Errorf("--dtype bfloat16 %s: exit %d, stderr %q; want 2 and one line naming %s", flag, code, errOut, flag)
		}
	}
	dir, golden := verifyFixture(t, "qwen2")
	rep := verifyJSON(t, 0, "--model", dir, "--golden", golden, "--atol", "0.5", "--rtol", "0")
	if rep.Atol != 0.5 || rep.Rtol != 0 || rep.DType != "float32" {
		t.Errorf("float32 report: atol %g, rtol %g, dtype %q; want 0.5, 0, float32", rep.Atol, rep.Rtol, rep.DType)
	}
	code, out := runStdout(t, "verify", "--help")
	if code != 0 || !strings.Contains(out, "--dtype bfloat16") || !strings.Contains(out, "agreement") {
		t.Errorf("verify --help: exit %d, want a bfloat16 example and the agreement rule:\n%s", code, out)
	}
}

// TestVerifyBF16WholeTokenizer: a whole tokenizer (model_type dualtoken)
// with random weights, and a golden file of its own float32 outputs on
// random pixels: `verify --dtype bfloat16` passes with every output checked
// (the quantisers fed the golden latents, the stages after them the golden
// quantised latents and postquant_sem). This checks the bfloat16 wiring and
// stage counts against float32; parity with the reference is the parts
// fixture's.
func TestVerifyBF16WholeTokenizer(t *testing.T) {
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	tc := siglip.BaseConfig(64, 6, 4, 128, 4, 32)
	tc.ModelType = siglip.ModelTypeSiglip
	tc.Text = &siglip.TextConfig{VocabSize: 40, HiddenSize: 64, IntermediateSize: 128, NumLayers: 1, NumHeads: 4,
		MaxPositions: 8, ProjectionSize: 64, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh", PadTokenID: 1, EOSTokenID: 1}
	tower, err := siglip.NewRandom(tc, 3)
	if err != nil {
		t.Fatal(err)
	}
	fc := &dualtoken.FullConfig{Config: dualtoken.PresetTiny(), Tower: tower.Config, SemanticBranch: true}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	m := dualtoken.NewModel(b, fc)
	if err := m.Init(tower, 5); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 2))
	px := make([]float32, 2*3*32*32)
	for i := range px {
		px[i] = float32(2*r.Float64() - 1)
	}
	pixels := weights.FromFloat32("pixel_values", []int{2, 3, 32, 32}, px)
	outs, _, err := dualtoken.RunFull(b, dir, weights.NewMemSet("golden", pixels))
	if err != nil {
		t.Fatal(err)
	}
	ts := []*weights.Tensor{pixels}
	for _, x := range outs {
		ts = append(ts, x)
	}
	golden := filepath.Join(dir, "golden.safetensors")
	if err := weights.WriteSafetensors(golden, ts, nil); err != nil {
		t.Fatal(err)
	}
	f32 := verifyJSON(t, 0, "--model", dir, "--golden", golden)
	bf := verifyJSON(t, 0, "--model", dir, "--golden", golden, "--dtype", "bfloat16")
	checkBF16Covers(t, golden, f32, bf)
	for _, r := range bf.Rows {
		if r.Stages > 0 {
			t.Logf("%-26s %d stages: max|Δ| %.3g (bound %.3g), rms %.3g (bound %.3g)", r.Name, r.Stages, r.MaxAbsErr, r.Bound, r.RMSErr, r.RMSBound)
		}
	}
}

// TestVerifyDepthTransformer: the depth-head fixture verifies as shipped
// (its config has no model_type), in float32 only.
func TestVerifyDepthTransformer(t *testing.T) {
	dir, golden := verifyFixture(t, "depth_transformer")
	rep := verifyJSON(t, 0, "--model", dir, "--golden", golden)
	if rep.ModelType != "rqtransformer_model" || rep.Compared != 3 || !rep.OK {
		t.Errorf("model type %q, %d compared, ok %v; want rqtransformer_model, 3, true", rep.ModelType, rep.Compared, rep.OK)
	}
	code, _, errOut := runCaptured(t, "verify", "--model", dir, "--golden", golden, "--dtype", "bfloat16")
	if code != 2 || !strings.Contains(errOut, "float32 only") {
		t.Errorf("bfloat16: exit %d, stderr %q; want 2 and a line saying float32 only", code, errOut)
	}
}
