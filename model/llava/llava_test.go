package llava_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/llava/llavatest"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/world"
)

func testBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// questions and candidates the tests ask; the tokenizer covers their words.
var (
	qWhat    = "What is in the image?"
	qCount   = "How many shapes are there?\nAnswer the question using a single word or phrase."
	qTwo     = "Compare <image>\nthe first and <image>\nthe second image."
	qNoImage = "Say something about circles."
	cands    = []string{"yes", "no", "a red circle", "three"}
)

func corpus() []string {
	return append([]string{
		"A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:",
		"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|im_start|>assistant\n",
		qWhat, qCount, qTwo, qNoImage,
	}, cands...)
}

// build writes a tiny LLaVA of the fixture SigLIP and the fixture decoder lm
// ("qwen2" or "llama") with template and returns its folder.
func build(t testing.TB, lm, template string, extra map[string]any) string {
	t.Helper()
	dir, err := llavatest.Build(t.TempDir(), llavatest.Options{
		Tower: fixtures.Dir(t, "siglip"), LM: fixtures.Dir(t, lm), Template: template,
		Seed: 7, Texts: corpus(), Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t testing.TB, b compute.Backend, dir string) *llava.Model {
	t.Helper()
	m, err := llava.Load(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// scene returns world scene i as an h×w image (crops of a square render:
// non-square inputs exercise the padding).
func scene(i, h, w int) *imageio.Image {
	img := world.Generate(1, i).Image(max(h, w))
	return img.Crop(0, 0, h, w)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error mentioning %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func close1e4(got, want float64) bool { return math.Abs(got-want) <= 1e-4+1e-4*math.Abs(want) }

// ---------------------------------------------------------------------------

func TestConfig(t *testing.T) {
	write := func(fields map[string]any) string {
		p := filepath.Join(t.TempDir(), "config.json")
		b, _ := json.Marshal(fields)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write(map[string]any{"model_type": "llava"})
	c, err := llava.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(p)
	if c.SelectLayer != -2 || c.ProjectorDepth != 2 || c.ImageAspect != llava.AspectPad || c.ChatTemplate != llava.TemplateVicunaV1 ||
		!c.AddBOS || c.ImageToken != "<image>" || c.VisionTower != filepath.Join(base, "vision_tower") ||
		c.LanguageModel != filepath.Join(base, "language_model") || c.Tokenizer != c.LanguageModel ||
		c.Projector != filepath.Join(base, "mm_projector.safetensors") {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = llava.LoadConfig(write(map[string]any{"model_type": "llava", "conv_mode": "qwen", "mm_projector_type": "mlp3x_gelu", "mm_vision_tower": "/abs/tower"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AddBOS || c.ProjectorDepth != 3 || c.VisionTower != "/abs/tower" {
		t.Fatalf("qwen config: %+v", c)
	}
	// A repo id with nothing beside the config: its snapshot in the
	// Hugging Face cache; a path that is beside the config stays local.
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	snap := filepath.Join(cache, "models--Qwen--Qwen2.5-3B-Instruct", "snapshots", "abc")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	p = write(map[string]any{"model_type": "llava", "language_model": "Qwen/Qwen2.5-3B-Instruct", "mm_vision_tower": "google/not-cached"})
	if c, err = llava.LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	if c.LanguageModel != snap || c.Tokenizer != snap || c.VisionTower != filepath.Join(filepath.Dir(p), "google/not-cached") {
		t.Fatalf("repo ids: language model %q, tokenizer %q, tower %q; want %q twice and the local path", c.LanguageModel, c.Tokenizer, c.VisionTower, snap)
	}
	for _, tc := range []struct {
		fields map[string]any
		want   []string
	}{
		{map[string]any{"model_type": "llava_llama"}, []string{"unknown model_type", "llava_llama"}},
		{map[string]any{"model_type": "llava", "mm_projector_type": "resampler"}, []string{"mm_projector_type", "resampler"}},
		{map[string]any{"model_type": "llava", "mm_vision_select_feature": "cls_patch"}, []string{"mm_vision_select_feature", "cls_patch"}},
		{map[string]any{"model_type": "llava", "image_aspect_ratio": "anyres"}, []string{"image_aspect_ratio", "anyres"}},
		{map[string]any{"model_type": "llava", "chat_template": "llama_2"}, []string{"chat_template", "llama_2"}},
		{map[string]any{"model_type": "llava", "mm_use_im_start_end": true}, []string{"mm_use_im_start_end"}},
		{map[string]any{"model_type": "llava", "mm_vision_select_layer": "last"}, []string{"mm_vision_select_layer", "integer"}},
	} {
		p := write(tc.fields)
		_, err := llava.LoadConfig(p)
		wantErr(t, err, append(tc.want, p)...)
	}
}

func TestExpandToSquare(t *testing.T) {
	img := imageio.New(2, 4)
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	sq := llava.ExpandToSquare(img, [3]uint8{127, 127, 127})
	if sq.H != 4 || sq.W != 4 {
		t.Fatalf("size %dx%d", sq.H, sq.W)
	}
	for y := range 4 {
		want := uint8(127)
		if y == 1 || y == 2 { // offset (4-2)//2 = 1
			want = 200
		}
		for x := range 4 {
			if got := sq.Pix[3*(y*4+x)]; got != want {
				t.Fatalf("pixel (%d,%d) = %d, want %d", y, x, got, want)
			}
		}
	}
}

func TestPromptIDs(t *testing.T) {
	b := testBackend(t)
	for _, tc := range []struct{ lm, template string }{{"llama", "vicuna_v1"}, {"qwen2", "qwen"}} {
		t.Run(tc.template, func(t *testing.T) {
			m := load(t, b, build(t, tc.lm, tc.template, nil))
			enc := func(s string) []int {
				ids, err := m.Tok.Encode(s)
				if err != nil {
					t.Fatal(err)
				}
				return ids
			}
			ids, err := m.PromptIDs(qWhat, 1)
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			if tc.template == "vicuna_v1" {
				want = append([]int{m.LLM.Config.BOS}, enc("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: ")...)
				want = append(append(want, llava.ImagePlaceholder), enc("\n"+qWhat+" ASSISTANT:")...)
			} else {
				want = append(enc("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"), llava.ImagePlaceholder)
				want = append(want, enc("\n"+qWhat+"<|im_end|>\n<|im_start|>assistant\n")...)
				if !slices.Contains(want, llavatest.ImStartID) || !slices.Contains(want, llavatest.ImEndID) {
					t.Fatalf("qwen prompt %v lacks the turn markers %d, %d as single ids", want, llavatest.ImStartID, llavatest.ImEndID)
				}
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("ids\n%v\nwant\n%v", ids, want)
			}
			exp := m.ExpandImages(ids)
			if n := strings.Count(fmt.Sprint(exp), fmt.Sprint(llava.ImagePlaceholder)); n != m.NumImageTokens() || len(exp) != len(ids)-1+m.NumImageTokens() {
				t.Fatalf("expanded: %d visual positions of %d, want %d", n, len(exp), m.NumImageTokens())
			}
			// Placeholders the prompt places itself; none without images.
			if ids, err = m.PromptIDs(qTwo, 2); err != nil || countPH(ids) != 2 {
				t.Fatalf("two images: %v placeholders, err %v", countPH(ids), err)
			}
			if ids, err = m.PromptIDs(qNoImage, 0); err != nil || countPH(ids) != 0 {
				t.Fatalf("no image: %v placeholders, err %v", countPH(ids), err)
			}
			_, err = m.PromptIDs(qTwo, 1)
			wantErr(t, err, "2 <image> placeholders", "1 image")
		})
	}
}

func countPH(ids []int) int {
	n := 0
	for _, id := range ids {
		if id == llava.ImagePlaceholder {
			n++
		}
	}
	return n
}

// manualFeatures computes one image's projected features independently: the
// tower's hidden states from siglip's verified Forward, the projector in
// float64 from the checkpoint file.
func manualFeatures(t *testing.T, b compute.Backend, m *llava.Model, dir string, img *imageio.Image) []float32 {
	t.Helper()
	tower, err := siglip.Load(fixtures.Dir(t, "siglip"))
	if err != nil {
		t.Fatal(err)
	}
	S := tower.Config.Vision.ImageSize
	outs, err := tower.Forward(b, tensors.FromFlatDataAndDimensions(m.Pixels(img), 1, 3, S, S), nil)
	if err != nil {
		t.Fatal(err)
	}
	layer := tower.Config.Vision.NumLayers - 1 // mm_vision_select_layer -2
	if m.SelectedLayer() != layer {
		t.Fatalf("selected layer %d, want %d", m.SelectedLayer(), layer)
	}
	h := tensors.MustCopyFlatData[float32](outs[fmt.Sprintf(siglip.OutVisionHidden, layer)])
	set, err := weights.Open(filepath.Join(dir, "mm_projector.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	get := func(name string) ([]float64, []int) {
		x, err := set.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return v, x.Shape
	}
	w0, s0 := get("model.mm_projector.0.weight")
	b0, _ := get("model.mm_projector.0.bias")
	w2, s2 := get("model.mm_projector.2.weight")
	b2, _ := get("model.mm_projector.2.bias")
	H, Dv := s0[0], s0[1]
	P := len(h) / Dv
	out := make([]float32, 0, P*H)
	for p := range P {
		mid := make([]float64, H)
		for o := range H {
			acc := b0[o]
			for i := range Dv {
				acc += w0[o*Dv+i] * float64(h[p*Dv+i])
			}
			mid[o] = 0.5 * acc * (1 + math.Erf(acc/math.Sqrt2))
		}
		for o := range s2[0] {
			acc := b2[o]
			for i := range H {
				acc += w2[o*H+i] * mid[i]
			}
			out = append(out, float32(acc))
		}
	}
	return out
}

func TestFeaturesMatchTowerAndProjector(t *testing.T) {
	b := testBackend(t)
	dir := build(t, "qwen2", "qwen", nil)
	m := load(t, b, dir)
	imgs := []*imageio.Image{scene(0, 40, 28), scene(1, 24, 24), scene(2, 30, 50)}
	got, err := m.ImageFeatures(imgs)
	if err != nil {
		t.Fatal(err)
	}
	P, H := m.NumImageTokens(), m.LLM.Config.HiddenSize
	for k, img := range imgs {
		want := manualFeatures(t, b, m, dir, img)
		if len(got[k]) != P*H || len(want) != P*H {
			t.Fatalf("image %d: %d features, manual %d, want %d·%d", k, len(got[k]), len(want), P, H)
		}
		for i := range want {
			if !close1e4(float64(got[k][i]), float64(want[i])) {
				t.Fatalf("image %d feature %d = %g, manual %g", k, i, got[k][i], want[i])
			}
		}
	}
}

// TestImagePositions: the decoder sees the image features exactly where the
// placeholder was — equal to a manually built embeddings input, changed by
// another image only from the first visual position on, and blind to the id
// standing at visual positions.
func TestImagePositions(t *testing.T) {
	b := testBackend(t)
	dir := build(t, "llama", "vicuna_v1", nil)
	m := load(t, b, dir)
	imgA, imgB := scene(3, 32, 32), scene(4, 32, 32)
	q := llava.Query{Images: []*imageio.Image{imgA}, Prompt: qWhat}
	seqs, err := m.Prepare([]llava.Query{q})
	if err != nil {
		t.Fatal(err)
	}
	in := m.Input(seqs, true)
	first := slices.Index(seqs[0].IDs, llava.ImagePlaceholder)
	P, H, S := m.NumImageTokens(), m.LLM.Config.HiddenSize, len(seqs[0].IDs)

	// Manual input: text ids around P rows of manually computed features.
	ids, err := m.PromptIDs(qWhat, 1)
	if err != nil {
		t.Fatal(err)
	}
	at := slices.Index(ids, llava.ImagePlaceholder)
	if at != first {
		t.Fatalf("placeholder at %d, visual positions start at %d", at, first)
	}
	feats := manualFeatures(t, b, m, dir, imgA)
	man := llm.Input{IDs: [][]int{make([]int, S)}, UseEmbeds: [][]bool{make([]bool, S)}}
	emb := make([]float32, S*H)
	for i := range S {
		switch {
		case i < at:
			man.IDs[0][i] = ids[i]
		case i < at+P:
			man.UseEmbeds[0][i] = true
			copy(emb[i*H:(i+1)*H], feats[(i-at)*H:(i-at+1)*H])
		default:
			man.IDs[0][i] = ids[i-P+1]
		}
	}
	man.Embeds = tensors.FromFlatDataAndDimensions(emb, 1, S, H)

	logits := func(in llm.Input) []float32 {
		out, err := m.LLM.Forward(in)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out.Logits)
	}
	got, want := logits(in), logits(man)
	for i := range want {
		if !close1e4(float64(got[i]), float64(want[i])) {
			t.Fatalf("logit %d = %g, manual embeddings path %g", i, got[i], want[i])
		}
	}

	// Other ids under the visual positions change nothing.
	for i := range S {
		if in.UseEmbeds[0][i] {
			in.IDs[0][i] = 5
		}
	}
	if other := logits(in); !slices.Equal(other, got) {
		t.Fatal("the ids at visual positions influenced the logits")
	}

	// Another image: positions before the image are unchanged (causal), every
	// visual and later position changes.
	seqsB, err := m.Prepare([]llava.Query{{Images: []*imageio.Image{imgB}, Prompt: qWhat}})
	if err != nil {
		t.Fatal(err)
	}
	gotB := logits(m.Input(seqsB, true))
	V := m.LLM.Config.VocabSize
	for p := range S {
		diff := 0.0
		for v := range V {
			diff = math.Max(diff, math.Abs(float64(gotB[p*V+v]-got[p*V+v])))
		}
		if p < first && diff != 0 {
			t.Fatalf("position %d before the image changed by %g with another image", p, diff)
		}
		if p >= first && diff < 1e-5 {
			t.Fatalf("position %d (visual from %d) did not change with another image (max |Δ| %g)", p, first, diff)
		}
	}
}

// argmaxDecode is greedy decoding the slow way: a full forward over the
// whole sequence for every new token.
func argmaxDecode(t *testing.T, m *llava.Model, q llava.Query) []int {
	t.Helper()
	seqs, err := m.Prepare([]llava.Query{q})
	if err != nil {
		t.Fatal(err)
	}
	stop := map[int]bool{}
	for _, id := range append(slices.Clone(m.LLM.Config.EOS), m.Tok.EOS()...) {
		stop[id] = true
	}
	if id, ok := m.Tok.TokenID("<|im_end|>"); ok && m.Config.ChatTemplate == llava.TemplateQwen {
		stop[id] = true
	}
	var out []int
	V := m.LLM.Config.VocabSize
	for range q.MaxNewTokens {
		res, err := m.LLM.Forward(m.Input(seqs, true))
		if err != nil {
			t.Fatal(err)
		}
		l := tensors.MustCopyFlatData[float32](res.Logits)
		last := l[len(l)-V:]
		best := 0
		for v := range last {
			if last[v] > last[best] {
				best = v
			}
		}
		out = append(out, best)
		if stop[best] {
			break
		}
		seqs[0].IDs = append(seqs[0].IDs, best)
	}
	return out
}

func TestGreedyMatchesForwardArgmax(t *testing.T) {
	b := testBackend(t)
	for _, tc := range []struct{ lm, template string }{{"llama", "vicuna_v1"}, {"qwen2", "qwen"}} {
		t.Run(tc.lm, func(t *testing.T) {
			m := load(t, b, build(t, tc.lm, tc.template, nil))
			q := llava.Query{Images: []*imageio.Image{scene(5, 36, 30)}, Prompt: qCount, MaxNewTokens: 6}
			res, err := m.Generate(context.Background(), []llava.Query{q})
			if err != nil {
				t.Fatal(err)
			}
			want := argmaxDecode(t, m, q)
			if !slices.Equal(res[0].Tokens, want) {
				t.Fatalf("Generate %v, argmax of full forwards %v", res[0].Tokens, want)
			}
			again, err := m.Answer(context.Background(), []llava.Query{q})
			if err != nil {
				t.Fatal(err)
			}
			if text := strings.TrimSpace(m.Tok.Decode(want)); again[0] != text {
				t.Fatalf("Answer %q, decoded greedy tokens %q", again[0], text)
			}
		})
	}
}

func TestMeanNLLMatchesManual(t *testing.T) {
	b := testBackend(t)
	m := load(t, b, build(t, "qwen2", "qwen", nil))
	m.MaxBatch = 3 // two batches for four candidates
	q := llava.Query{Images: []*imageio.Image{scene(6, 32, 32)}, Prompt: qWhat}
	got, err := m.MeanNLL(context.Background(), q, cands)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := m.Prepare([]llava.Query{q})
	if err != nil {
		t.Fatal(err)
	}
	V := m.LLM.Config.VocabSize
	for i, c := range cands {
		ids, err := m.Tok.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		row := llava.Sequence{IDs: append(slices.Clone(seqs[0].IDs), ids...), Feats: seqs[0].Feats}
		res, err := m.LLM.Forward(m.Input([]llava.Sequence{row}, true))
		if err != nil {
			t.Fatal(err)
		}
		l := tensors.MustCopyFlatData[float32](res.Logits)
		n := len(seqs[0].IDs)
		sum := 0.0
		for k, tok := range ids {
			lg := l[(n-1+k)*V : (n+k)*V]
			mx := float64(slices.Max(lg))
			z := 0.0
			for _, v := range lg {
				z += math.Exp(float64(v) - mx)
			}
			sum += mx + math.Log(z) - float64(lg[tok])
		}
		want := sum / float64(len(ids))
		if !close1e4(got[i], want) {
			t.Fatalf("candidate %q: MeanNLL %g, manual %g", c, got[i], want)
		}
	}
	if _, err := m.MeanNLL(context.Background(), q, []string{"yes", ""}); err == nil || !strings.Contains(err.Error(), "candidate 1") {
		t.Fatalf("empty candidate: %v", err)
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	b := testBackend(t)
	m := load(t, b, build(t, "llama", "vicuna_v1", nil))
	qs := []llava.Query{
		{Images: []*imageio.Image{scene(7, 32, 32)}, Prompt: qWhat, MaxNewTokens: 5},
		{Images: []*imageio.Image{scene(8, 20, 40), scene(9, 32, 32)}, Prompt: qTwo, MaxNewTokens: 5},
		{Prompt: qNoImage, MaxNewTokens: 5},
		{Images: []*imageio.Image{scene(10, 32, 32)}, Prompt: qCount, MaxNewTokens: 3},
	}
	batch, err := m.Generate(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		single, err := m.Generate(context.Background(), []llava.Query{q})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(batch[i].Tokens, single[0].Tokens) {
			t.Fatalf("question %d: batched %v, alone %v", i, batch[i].Tokens, single[0].Tokens)
		}
		if n := len(single[0].Tokens); n > q.MaxNewTokens || (n < q.MaxNewTokens && single[0].Finish != llm.FinishEOS) {
			t.Fatalf("question %d: %d tokens, finish %q, limit %d", i, n, single[0].Finish, q.MaxNewTokens)
		}
	}
}

func TestBadInput(t *testing.T) {
	b := testBackend(t)
	dir := build(t, "qwen2", "qwen", nil)
	m := load(t, b, dir)
	ctx := context.Background()
	_, err := m.Answer(ctx, []llava.Query{{Images: []*imageio.Image{scene(0, 32, 32)}, Prompt: qTwo}})
	wantErr(t, err, "question 0", "2 <image> placeholders", "1 image")
	_, err = m.Answer(ctx, []llava.Query{{Images: []*imageio.Image{nil}, Prompt: qWhat}})
	wantErr(t, err, "image 0 is empty")
	_, err = m.MeanNLL(ctx, llava.Query{Images: []*imageio.Image{scene(0, 32, 32)}, Prompt: qTwo}, cands)
	wantErr(t, err, "2 <image> placeholders")

	lc, err := llm.LoadConfig(fixtures.Dir(t, "qwen2"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := siglip.LoadConfig(fixtures.Dir(t, "siglip"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, fn func(dir string)) error {
		d := build(t, "qwen2", "qwen", nil)
		fn(d)
		_, err := llava.Load(b, d)
		return err
	}
	t.Run("vocab", func(t *testing.T) {
		err := edit(t, func(d string) {
			texts := corpus()
			for i := range lc.VocabSize {
				texts = append(texts, fmt.Sprintf("w%d", i))
			}
			if err := llavatest.WriteTokenizer(filepath.Join(d, "tokenizer.model"), texts, lc.VocabSize+40); err != nil {
				t.Fatal(err)
			}
		})
		wantErr(t, err, "tokenizer.model", fmt.Sprint(lc.VocabSize+40), fmt.Sprintf("vocab_size %d", lc.VocabSize))
	})
	t.Run("projector-shape", func(t *testing.T) {
		err := edit(t, func(d string) {
			if err := llavatest.WriteProjector(filepath.Join(d, "mm_projector.safetensors"), tc.Vision.HiddenSize+1, lc.HiddenSize, 1); err != nil {
				t.Fatal(err)
			}
		})
		wantErr(t, err, "mm_projector.safetensors", "model.mm_projector.0.weight", fmt.Sprint(tc.Vision.HiddenSize+1), fmt.Sprint(tc.Vision.HiddenSize))
	})
	t.Run("projector-extra", func(t *testing.T) {
		err := edit(t, func(d string) {
			p := filepath.Join(d, "mm_projector.safetensors")
			set, err := weights.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var ts []*weights.Tensor
			for _, n := range set.Names() {
				x, _ := set.Get(n)
				ts = append(ts, x)
			}
			ts = append(ts, weights.FromFloat32("model.mm_projector.4.weight", []int{1}, []float32{1}))
			q := p + ".new" // the tensors map the old file: write beside it
			if err := weights.WriteSafetensors(q, ts, nil); err != nil {
				t.Fatal(err)
			}
			set.Close()
			if err := os.Rename(q, p); err != nil {
				t.Fatal(err)
			}
		})
		wantErr(t, err, "mm_projector.safetensors", "not used", "model.mm_projector.4.weight")
	})
	t.Run("projector-type", func(t *testing.T) {
		d := build(t, "qwen2", "qwen", map[string]any{"mm_projector_type": "linear"})
		_, err := llava.Load(b, d)
		wantErr(t, err, "mm_projector.weight", "linear")
	})
	t.Run("select-layer", func(t *testing.T) {
		L := tc.Vision.NumLayers
		d := build(t, "qwen2", "qwen", map[string]any{"mm_vision_select_layer": -(L + 2)})
		_, err := llava.Load(b, d)
		wantErr(t, err, "mm_vision_select_layer", fmt.Sprintf("%d layers", L))
	})
	t.Run("context", func(t *testing.T) {
		long := strings.Repeat("circles ", lc.MaxPositions)
		_, err := m.Answer(ctx, []llava.Query{{Images: []*imageio.Image{scene(0, 32, 32)}, Prompt: long}})
		wantErr(t, err, "max_position_embeddings")
	})
}
