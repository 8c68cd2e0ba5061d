package llm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
)

func testBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// smallConfigs are random models unlike the fixtures: GQA 6/2 with an odd
// RoPE theta and untied head (Qwen2), and LLaMA with every bias and MHA.
func smallConfigs() map[string]*Config {
	q := TestConfig(97, 48, 3, 6, 2, 80, false)
	q.RopeTheta = 5000
	l := TestConfig(61, 32, 2, 4, 4, 56, true)
	l.ModelType, l.OutBias, l.MLPBias, l.RopeTheta = ModelTypeLlama, true, true, 12345
	return map[string]*Config{"qwen2-gqa-untied": q, "llama-bias-tied": l}
}

func newRandom(t testing.TB, cfg *Config, seed uint64) *Model {
	t.Helper()
	m, err := New(testBackend(t), cfg, RandomWeights(cfg, seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomTokens(rng *rand.Rand, n, vocab int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(vocab)
	}
	return out
}

// allClose is the fixtures' float tolerance: |got-want| ≤ 1e-4 + 1e-4·|want|.
func allClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4+1e-4*math.Abs(float64(want[i])) || math.IsNaN(d) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// rowsOf views a [B,S,X] float32 tensor as [B][S][]float32.
func rowsOf(t *tensors.Tensor) [][][]float32 {
	d := t.Shape().Dimensions
	flat := tensors.MustCopyFlatData[float32](t)
	out := make([][][]float32, d[0])
	for b := range d[0] {
		out[b] = make([][]float32, d[1])
		for s := range d[1] {
			o := (b*d[1] + s) * d[2]
			out[b][s] = flat[o : o+d[2]]
		}
	}
	return out
}

// checkCache feeds tokens through the cache (a prefill chunk of n0, then one
// token per step, starting from a tiny cache so it must grow) and compares
// the logits at every position with one uncached forward pass.
func checkCache(t *testing.T, m *Model, tokens []int, n0 int) {
	fwd, err := m.Forward(Input{IDs: [][]int{tokens}})
	if err != nil {
		t.Fatal(err)
	}
	want := rowsOf(fwd.Logits)[0]
	st, err := m.NewState(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := make([]int, n0)
	for i := range at {
		at[i] = i
	}
	out, err := st.Append(Input{IDs: [][]int{tokens[:n0]}}, at)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n0 {
		allClose(t, fmt.Sprintf("prefill logits at %d", i), out.Logits[0][i], want[i])
	}
	for i := n0; i < len(tokens); i++ {
		out, err := st.Append(Input{IDs: [][]int{{tokens[i]}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		allClose(t, fmt.Sprintf("decode logits at %d", i), out.Logits[0][0], want[i])
	}
	if st.Capacity() <= 4 {
		t.Errorf("cache never grew (capacity %d)", st.Capacity())
	}
}

func TestCacheMatchesForward(t *testing.T) {
	for name, cfg := range smallConfigs() {
		t.Run(name, func(t *testing.T) {
			m := newRandom(t, cfg, 1)
			checkCache(t, m, randomTokens(rand.New(rand.NewPCG(2, 2)), 21, cfg.VocabSize), 5)
		})
	}
	for _, name := range []string{"qwen2", "llama"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.Dir(t, name)
			m, err := Load(testBackend(t), dir)
			if err != nil {
				t.Fatal(err)
			}
			golden, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer golden.Close()
			gen, err := golden.Get("generated_ids")
			if err != nil {
				t.Fatal(err)
			}
			ids, _ := gen.Int64()
			tokens := make([]int, len(ids))
			for i, v := range ids {
				tokens[i] = int(v)
			}
			checkCache(t, m, tokens, len(tokens)/2)
		})
	}
}

// Step returns only what it is asked to fetch, and the device's argmax is
// the host's (first index of the largest logit) for every row and position.
func TestStepFetch(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	m := newRandom(t, cfg, 9)
	rng := rand.New(rand.NewPCG(9, 9))
	in := Input{IDs: [][]int{randomTokens(rng, 5, cfg.VocabSize), randomTokens(rng, 5, cfg.VocabSize), randomTokens(rng, 5, cfg.VocabSize)}}
	st, err := m.NewState(3, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Step(in, []int{1, 4}, FetchLogits|FetchHidden|FetchArgmax)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 3 {
		for p := range 2 {
			if want := argmax(all.Logits[b][p]); all.Argmax[b][p] != want {
				t.Errorf("row %d position %d: device argmax %d, host argmax %d", b, p, all.Argmax[b][p], want)
			}
		}
	}
	if len(all.Hidden) != 3 || len(all.Hidden[0][0]) != cfg.HiddenSize {
		t.Errorf("hidden not fetched: %d rows", len(all.Hidden))
	}
	next := Input{IDs: [][]int{{all.Argmax[0][1]}, {all.Argmax[1][1]}, {all.Argmax[2][1]}}}
	only, err := st.Step(next, nil, FetchArgmax)
	if err != nil {
		t.Fatal(err)
	}
	if only.Logits != nil || only.Hidden != nil || len(only.Argmax) != 3 || len(only.Argmax[0]) != 1 {
		t.Errorf("FetchArgmax returned logits %v hidden %v argmax %v", only.Logits != nil, only.Hidden != nil, only.Argmax)
	}
}

// Left-padded batched decoding must give each row what it gets alone.
func TestBatchedGenerationEqualsUnbatched(t *testing.T) {
	for name, cfg := range smallConfigs() {
		t.Run(name, func(t *testing.T) {
			m := newRandom(t, cfg, 3)
			rng := rand.New(rand.NewPCG(4, 4))
			prompts := [][]int{randomTokens(rng, 3, cfg.VocabSize), randomTokens(rng, 9, cfg.VocabSize), randomTokens(rng, 6, cfg.VocabSize)}
			opts := GenerateOptions{MaxNewTokens: 12, MinNewTokens: 12, EOS: []int{}}
			batched, err := m.Generate(prompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			for b, p := range prompts {
				alone, err := m.Generate([][]int{p}, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(batched[b].Tokens, alone[0].Tokens) {
					t.Errorf("row %d: batched %v, alone %v", b, batched[b].Tokens, alone[0].Tokens)
				}
				if batched[b].Finish != FinishLength || len(batched[b].Tokens) != 12 {
					t.Errorf("row %d: finish %q after %d tokens, want length after 12", b, batched[b].Finish, len(batched[b].Tokens))
				}
				// The greedy tokens must be the argmax of an uncached forward over prompt+generated.
				full := append(slices.Clone(p), alone[0].Tokens...)
				fwd, err := m.Forward(Input{IDs: [][]int{full}})
				if err != nil {
					t.Fatal(err)
				}
				logits := rowsOf(fwd.Logits)[0]
				for i, tok := range alone[0].Tokens {
					if a := argmax(logits[len(p)-1+i]); a != tok {
						t.Errorf("row %d step %d: generated %d, forward argmax %d", b, i, tok, a)
					}
				}
			}
		})
	}
}

// A batch whose rows finish at different steps: eos ends a row (and is its
// last token) only after MinNewTokens.
func TestEOSAndMinNewTokens(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	m := newRandom(t, cfg, 5)
	rng := rand.New(rand.NewPCG(6, 6))
	prompts := [][]int{randomTokens(rng, 4, cfg.VocabSize), randomTokens(rng, 7, cfg.VocabSize)}
	free, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 10, EOS: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	eos := free[0].Tokens[3]
	first := slices.Index(free[0].Tokens, eos)
	res, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 10, EOS: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Finish != FinishEOS || !slices.Equal(res[0].Tokens, free[0].Tokens[:first+1]) {
		t.Errorf("row 0 with eos %d: %v (%s), want %v (eos)", eos, res[0].Tokens, res[0].Finish, free[0].Tokens[:first+1])
	}
	if i := slices.Index(free[1].Tokens, eos); i < 0 && (res[1].Finish != FinishLength || !slices.Equal(res[1].Tokens, free[1].Tokens)) {
		t.Errorf("row 1 must be unaffected by row 0 finishing: %v, want %v", res[1].Tokens, free[1].Tokens)
	}
	min, err := m.Generate(prompts[:1], GenerateOptions{MaxNewTokens: 10, MinNewTokens: first + 1, EOS: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(min[0].Tokens[:first+1], eos) {
		t.Errorf("eos %d produced before MinNewTokens=%d: %v", eos, first+1, min[0].Tokens)
	}
}

func TestStopStrings(t *testing.T) {
	cfg := smallConfigs()["llama-bias-tied"]
	m := newRandom(t, cfg, 7)
	prompt := randomTokens(rand.New(rand.NewPCG(8, 8)), 5, cfg.VocabSize)
	decode := func(ids []int) string {
		var sb strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&sb, "<%d>", id)
		}
		return sb.String()
	}
	free, err := m.Generate([][]int{prompt}, GenerateOptions{MaxNewTokens: 8, EOS: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	stop := decode(free[0].Tokens[2:4])
	res, err := m.Generate([][]int{prompt}, GenerateOptions{MaxNewTokens: 8, EOS: []int{}, StopStrings: []string{stop}, Decode: decode})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Finish != FinishStopString || !strings.Contains(decode(res[0].Tokens), stop) || len(res[0].Tokens) > 4 {
		t.Errorf("stop string %q: got %v (%s)", stop, res[0].Tokens, res[0].Finish)
	}
}

func TestSamplingSeeded(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	m := newRandom(t, cfg, 9)
	prompts := [][]int{{1, 2, 3}, {4, 5, 6, 7}}
	opts := GenerateOptions{MaxNewTokens: 16, EOS: []int{}, Temperature: 1.3, TopK: 40, TopP: 0.95, RepetitionPenalty: 1.1, Seed: 42}
	a, err := m.Generate(prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Generate(prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Seed = 43
	c, err := m.Generate(prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	for r := range prompts {
		if !slices.Equal(a[r].Tokens, b[r].Tokens) {
			t.Errorf("row %d: same seed gave %v and %v", r, a[r].Tokens, b[r].Tokens)
		}
	}
	if slices.Equal(a[0].Tokens, c[0].Tokens) && slices.Equal(a[1].Tokens, c[1].Tokens) {
		t.Errorf("seeds 42 and 43 sampled the same 32 tokens: %v", a)
	}
	// Top-k 1 is greedy whatever the temperature.
	g, _ := m.Generate(prompts, GenerateOptions{MaxNewTokens: 8, EOS: []int{}})
	k1, _ := m.Generate(prompts, GenerateOptions{MaxNewTokens: 8, EOS: []int{}, Temperature: 5, TopK: 1, Seed: 1})
	for r := range prompts {
		if !slices.Equal(g[r].Tokens, k1[r].Tokens) {
			t.Errorf("row %d: top-k 1 %v, greedy %v", r, k1[r].Tokens, g[r].Tokens)
		}
	}
}

// The logit processors on hand-made logits.
func TestLogitProcessors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	// Repetition penalty: positive logits divided, negative multiplied.
	logits := []float32{2, -2, 1.5, 1}
	if got := pick(logits, []int{0, 1, 0}, 0, &GenerateOptions{RepetitionPenalty: 2}, nil, rng); got != 2 {
		t.Errorf("repetition penalty: picked %d, want 2 (logits now %v)", got, logits)
	}
	if want := []float32{1, -4, 1.5, 1}; !slices.Equal(logits, want) {
		t.Errorf("penalised logits %v, want %v", logits, want)
	}
	// Min new tokens masks the stop ids.
	if got := pick([]float32{0, 5, 1}, nil, 0, &GenerateOptions{MinNewTokens: 1}, map[int]bool{1: true}, rng); got != 2 {
		t.Errorf("eos suppressed: picked %d, want 2", got)
	}
	// Top-k 2 and top-p 0.5 keep only the two most likely of probabilities .4 .3 .2 .1.
	probs := []float64{0.1, 0.4, 0.2, 0.3}
	for _, o := range []GenerateOptions{{Temperature: 1, TopK: 2}, {Temperature: 1, TopP: 0.5}} {
		counts := map[int]int{}
		for range 2000 {
			l := make([]float32, len(probs))
			for i, p := range probs {
				l[i] = float32(math.Log(p))
			}
			counts[pick(l, nil, 0, &o, nil, rng)]++
		}
		if len(counts) != 2 || counts[1] == 0 || counts[3] == 0 {
			t.Errorf("%+v sampled %v, want only tokens 1 and 3", o, counts)
		}
		// 0.4/(0.4+0.3) = 0.571.
		if f := float64(counts[1]) / 2000; math.Abs(f-0.571) > 0.05 {
			t.Errorf("%+v: token 1 drawn %.3f of the time, want ≈0.571", o, f)
		}
	}
	// Ties with the k-th value survive top-k.
	counts := map[int]bool{}
	for range 500 {
		counts[pick([]float32{3, 1, 3, 3}, nil, 0, &GenerateOptions{Temperature: 1, TopK: 1}, nil, rng)] = true
	}
	if len(counts) != 3 {
		t.Errorf("top-k 1 with a three-way tie sampled %v, want tokens 0, 2, 3", counts)
	}
}

// The unified model's hooks: embeddings instead of ids at chosen positions,
// and final hidden states at chosen chunk positions.
func TestEmbedsAndHiddenHooks(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	set := RandomWeights(cfg, 11)
	m, err := New(testBackend(t), cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	table, _ := set.Get("model.embed_tokens.weight")
	emb, _ := table.Float32()
	H := cfg.HiddenSize
	rng := rand.New(rand.NewPCG(12, 12))
	tokens := [][]int{randomTokens(rng, 10, cfg.VocabSize), randomTokens(rng, 10, cfg.VocabSize)}
	use := make([][]bool, 2)
	masked := make([][]int, 2)
	flat := make([]float32, 2*10*H)
	for b := range 2 {
		use[b] = make([]bool, 10)
		masked[b] = slices.Clone(tokens[b])
		for i := range 10 {
			copy(flat[(b*10+i)*H:], emb[tokens[b][i]*H:(tokens[b][i]+1)*H])
			if (i+b)%3 == 0 { // "visual" positions: their ids are replaced
				use[b][i], masked[b][i] = true, 0
			}
		}
	}
	want, err := m.Forward(Input{IDs: tokens})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Forward(Input{IDs: masked, Embeds: tensors.FromFlatDataAndDimensions(flat, 2, 10, H), UseEmbeds: use})
	if err != nil {
		t.Fatal(err)
	}
	wl, gl := rowsOf(want.Logits), rowsOf(got.Logits)
	wh := rowsOf(want.Hidden[len(want.Hidden)-1])
	for b := range 2 {
		for i := range 10 {
			allClose(t, fmt.Sprintf("embeds forward logits [%d,%d]", b, i), gl[b][i], wl[b][i])
		}
	}
	st, err := m.NewState(2, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := []int{2, 7, 9}
	out, err := st.Append(Input{IDs: masked, Embeds: tensors.FromFlatDataAndDimensions(flat, 2, 10, H), UseEmbeds: use}, at)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 2 {
		for k, p := range at {
			allClose(t, fmt.Sprintf("cached hidden [%d,%d]", b, p), out.Hidden[b][k], wh[b][p])
			allClose(t, fmt.Sprintf("cached logits [%d,%d]", b, p), out.Logits[b][k], wl[b][p])
		}
	}
}

// The name table against real checkpoints: the fixture files hold exactly
// the tensors the table derives from their config.json.
func TestNameTableCoverage(t *testing.T) {
	for _, name := range []string{"qwen2", "llama"} {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.Dir(t, name)
			cfg, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			set, err := weights.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			var table []string
			_ = eachParam(cfg, func(hf, _, _ string, _ []int) error { table = append(table, hf); return nil })
			sort.Strings(table)
			if got := set.Names(); !slices.Equal(got, table) {
				t.Errorf("checkpoint names %v\ntable names %v", got, table)
			}
			if _, err := New(testBackend(t), cfg, set); err != nil {
				t.Errorf("loading: %v", err)
			}
		})
	}
}

func TestCheckpointErrors(t *testing.T) {
	b := testBackend(t)
	cfg := smallConfigs()["qwen2-gqa-untied"]
	type tc struct {
		name  string
		edit  func(s *weights.MemSet, c *Config)
		fails []string // substrings of the error; nil = must load
	}
	cases := []tc{
		{"extra tensor", func(s *weights.MemSet, c *Config) {
			s.Add(weights.FromFloat32("model.layers.0.self_attn.q_norm.weight", []int{8}, make([]float32, 8)))
		}, []string{"not used", "q_norm"}},
		{"missing tensor", func(s *weights.MemSet, c *Config) {
			rebuilt := weights.NewMemSet("partial")
			for _, n := range s.Names() {
				if n != "model.layers.2.mlp.up_proj.weight" {
					t, _ := s.Get(n)
					rebuilt.Add(t)
				}
			}
			*s = *rebuilt
		}, []string{"model.layers.2.mlp.up_proj.weight"}},
		{"wrong shape", func(s *weights.MemSet, c *Config) {
			s.Add(weights.FromFloat32("model.layers.1.self_attn.k_proj.weight", []int{c.HiddenSize, c.HiddenSize}, make([]float32, c.HiddenSize*c.HiddenSize)))
		}, []string{"model.layers.1.self_attn.k_proj.weight", "16"}},
		{"untied without lm_head", func(s *weights.MemSet, c *Config) {
			rebuilt := weights.NewMemSet("no-head")
			for _, n := range s.Names() {
				if n != "lm_head.weight" {
					t, _ := s.Get(n)
					rebuilt.Add(t)
				}
			}
			*s = *rebuilt
		}, []string{"lm_head.weight", "tie_word_embeddings"}},
		{"tied with a stored lm_head", func(s *weights.MemSet, c *Config) { c.TieEmbeddings = true }, nil},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			c := *cfg
			s := RandomWeights(&c, 1) // untied: has lm_head.weight
			k.edit(s, &c)
			_, err := New(b, &c, s)
			if k.fails == nil {
				if err != nil {
					t.Fatalf("should load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want an error mentioning %q", k.fails)
			}
			for _, sub := range k.fails {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not mention %q", err, sub)
				}
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConfigParsing(t *testing.T) {
	base := `"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2`
	c, err := LoadConfig(writeConfig(t, `{`+base+`,"rope_theta":1000000.0,"num_key_value_heads":1,"eos_token_id":[5,7]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeTheta != 1e6 || c.NumKVHeads != 1 || c.HeadDim != 4 || !slices.Equal(c.EOS, []int{5, 7}) || !c.QKVBias || c.TieEmbeddings {
		t.Errorf("top-level rope_theta config parsed as %+v", c)
	}
	c, err = LoadConfig(writeConfig(t, `{`+base+`,"rope_parameters":{"rope_theta":500.0,"rope_type":"default"},"eos_token_id":3,"tie_word_embeddings":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeTheta != 500 || !slices.Equal(c.EOS, []int{3}) || !c.TieEmbeddings || c.NumKVHeads != 2 {
		t.Errorf("rope_parameters config parsed as %+v", c)
	}
	// Without head_dim, transformers floors hidden_size / heads (8 / 3 = 2):
	// the projections are then 6 wide, not hidden_size.
	c, err = LoadConfig(writeConfig(t, `{`+strings.Replace(base, `"num_attention_heads":2`, `"num_attention_heads":3`, 1)+`}`))
	if err != nil || c.HeadDim != 2 || c.NumKVHeads != 3 {
		t.Errorf("8 wide, 3 heads, no head_dim: %+v, %v; want head_dim 2", c, err)
	}
	bad := map[string][]string{
		`{"model_type":"qwen2","vocab_size":10}`:                                                   {"config.json", "hidden_size"},
		`{` + base + `,"num_key_value_heads":3}`:                                                   {"num_key_value_heads", "3"},
		`{` + base + `,"rope_scaling":{"rope_type":"yarn","factor":4}}`:                            {"rope_scaling", "yarn"},
		`{` + base + `,"hidden_act":"gelu"}`:                                                       {"hidden_act", "gelu"},
		`{` + base + `,"use_sliding_window":true}`:                                                 {"use_sliding_window"},
		`{"model_type":"mistral","vocab_size":10}`:                                                 {"mistral", "qwen2", "llama"},
		`{` + strings.Replace(base, `"hidden_size":8`, `"hidden_size":-8`, 1) + `}`:                {"hidden_size", "-8"},
		`{` + strings.Replace(base, `"num_attention_heads":2`, `"num_attention_heads":8`, 1) + `}`: {"head_dim = 1", "even"},
	}
	for body, subs := range bad {
		_, err := LoadConfig(writeConfig(t, body))
		if err == nil {
			t.Errorf("%s: accepted", body)
			continue
		}
		for _, s := range append(subs, "config.json") {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", body, err, s)
			}
		}
	}
}

func TestGenerateBadInput(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	cfg.MaxPositions = 16
	m := newRandom(t, cfg, 13)
	long := make([]int, 16)
	cases := map[string]struct {
		prompts [][]int
		opts    GenerateOptions
		want    string
	}{
		"prompt fills the context": {[][]int{long}, GenerateOptions{MaxNewTokens: 1}, "context is 16"},
		"id outside vocabulary":    {[][]int{{1, 97}}, GenerateOptions{MaxNewTokens: 1}, "token id 97 outside the vocabulary"},
		"empty prompt":             {[][]int{{1}, {}}, GenerateOptions{MaxNewTokens: 1}, "prompt 1 is empty"},
		"no max tokens":            {[][]int{{1}}, GenerateOptions{}, "MaxNewTokens"},
		"negative temperature":     {[][]int{{1}}, GenerateOptions{MaxNewTokens: 1, Temperature: -1}, "temperature"},
		"top-p above one":          {[][]int{{1}}, GenerateOptions{MaxNewTokens: 1, TopP: 1.5}, "top-p"},
		"eos outside vocabulary":   {[][]int{{1}}, GenerateOptions{MaxNewTokens: 1, EOS: []int{200}}, "eos/stop id 200"},
		"stop strings, no decoder": {[][]int{{1}}, GenerateOptions{MaxNewTokens: 1, StopStrings: []string{"x"}}, "Decode"},
	}
	for name, k := range cases {
		_, err := m.Generate(k.prompts, k.opts)
		if err == nil || !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%s: error %v, want ErrBadOptions mentioning %q", name, err, k.want)
		}
	}
	// A prompt that leaves room for fewer tokens than asked stops at the context.
	res, err := m.Generate([][]int{long[:12]}, GenerateOptions{MaxNewTokens: 10, EOS: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Tokens) != 4 || res[0].Finish != FinishContext {
		t.Errorf("12-token prompt, context 16: %d tokens (%s), want 4 (context)", len(res[0].Tokens), res[0].Finish)
	}
}

// Decoding compiles per bucket, not per token: a long generation builds the
// fresh-prefill and the decode graph once, and a second prompt of another
// length in the same buckets builds nothing new.
func TestNoRecompilationPerToken(t *testing.T) {
	cfg := smallConfigs()["llama-bias-tied"]
	m := newRandom(t, cfg, 21)
	rng := rand.New(rand.NewPCG(22, 22))
	opts := GenerateOptions{MaxNewTokens: 40, EOS: []int{}}
	if _, err := m.Generate([][]int{randomTokens(rng, 7, cfg.VocabSize)}, opts); err != nil {
		t.Fatal(err)
	}
	if n := m.GraphBuilds(); n != 2 {
		t.Errorf("40 tokens built %d graphs, want 2 (prefill, decode)", n)
	}
	if _, err := m.Generate([][]int{randomTokens(rng, 6, cfg.VocabSize)}, opts); err != nil {
		t.Fatal(err)
	}
	if n := m.GraphBuilds(); n != 2 {
		t.Errorf("a second prompt in the same buckets built %d graphs in all, want still 2", n)
	}
}

// BenchWeights is RandomWeights' checkpoint (names, shapes) with other
// draws of the same scale; a model loads from it.
func TestBenchWeights(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	a, b := RandomWeights(cfg, 1), BenchWeights(cfg, 1)
	if !slices.Equal(a.Names(), b.Names()) {
		t.Fatalf("names %v, RandomWeights has %v", b.Names(), a.Names())
	}
	for _, name := range a.Names() {
		ta, _ := a.Get(name)
		tb, _ := b.Get(name)
		va, _ := ta.Float32()
		vb, _ := tb.Float32()
		if !slices.Equal(ta.Shape, tb.Shape) {
			t.Errorf("%s: shape %v, want %v", name, tb.Shape, ta.Shape)
			continue
		}
		var ma, mb, sa, sb float64
		for i := range va {
			ma, mb = ma+float64(va[i]), mb+float64(vb[i])
		}
		ma, mb = ma/float64(len(va)), mb/float64(len(vb))
		for i := range va {
			sa += (float64(va[i]) - ma) * (float64(va[i]) - ma)
			sb += (float64(vb[i]) - mb) * (float64(vb[i]) - mb)
		}
		sa, sb = math.Sqrt(sa/float64(len(va))), math.Sqrt(sb/float64(len(vb)))
		if len(va) >= 1000 && (math.Abs(ma-mb) > 0.2*sa+1e-3 || math.Abs(sa-sb) > 0.1*sa) {
			t.Errorf("%s: mean %.4f std %.4f, RandomWeights' %.4f and %.4f", name, mb, sb, ma, sa)
		}
	}
	if _, err := New(testBackend(t), cfg, b); err != nil {
		t.Errorf("a model does not load from BenchWeights: %v", err)
	}
}

// argmax: the first of the largest, NaN counting as +Inf.
func TestArgmaxRule(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		x    []float32
		want int
	}{
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, 0},
		{[]float32{1, nan, 5, nan}, 1},
		{[]float32{nan, 1}, 0},
		{[]float32{1, inf, nan}, 1},
	} {
		if got := argmax(c.x); got != c.want {
			t.Errorf("argmax(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

// With NaN logits (a broken checkpoint) the device's argmax and the host's
// pick the same token, so greedy output does not depend on which path ran.
func TestStepArgmaxWithNaN(t *testing.T) {
	cfg := smallConfigs()["qwen2-gqa-untied"]
	w := RandomWeights(cfg, 4)
	head, err := w.Get("lm_head.weight")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := head.Float32()
	H := cfg.HiddenSize
	for _, row := range []int{5, 40} { // two NaN logits: the first wins
		for j := range H {
			v[row*H+j] = float32(math.NaN())
		}
	}
	w.Add(weights.FromFloat32("lm_head.weight", head.Shape, v))
	m, err := New(testBackend(t), cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.NewState(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out, err := st.Step(Input{IDs: [][]int{{1, 2, 3}, {4, 5, 6}}}, []int{0, 2}, FetchLogits|FetchArgmax)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 2 {
		for p := range 2 {
			if h, d := argmax(out.Logits[b][p]), out.Argmax[b][p]; h != 5 || d != 5 {
				t.Errorf("row %d position %d: host argmax %d, device %d, want 5 (the first NaN)", b, p, h, d)
			}
		}
	}
}

// TestRopeScaling: rope_scaling (or transformers 5's rope_parameters) of
// type linear divides every frequency by the factor; llama3 (LLaMA-3.1's
// values: factor 8, low 1, high 4, 8192 positions) divides those whose
// wavelength 2π/f exceeds 8192, keeps those under 2048 and blends between,
// continuously at both ends; other types, and missing fields, are refused.
func TestRopeScaling(t *testing.T) {
	base := `"model_type":"llama","vocab_size":10,"hidden_size":256,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"rope_theta":500000.0`
	plain, err := LoadConfig(writeConfig(t, `{`+base+`}`))
	if err != nil {
		t.Fatal(err)
	}
	f0 := ropeInvFreq(plain)
	if len(f0) != 64 || f0[0] != 1 || math.Abs(float64(f0[1])-math.Pow(500000, -2.0/128)) > 1e-7 {
		t.Fatalf("default frequencies %v...", f0[:2])
	}
	lin, err := LoadConfig(writeConfig(t, `{`+base+`,"rope_scaling":{"type":"linear","factor":4.0}}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range ropeInvFreq(lin) {
		if f != f0[i]/4 {
			t.Fatalf("linear: frequency %d = %g, want %g", i, f, f0[i]/4)
		}
	}
	for _, body := range []string{
		`,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}`,
		`,"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}`,
	} {
		c, err := LoadConfig(writeConfig(t, `{`+base+body+`}`))
		if err != nil {
			t.Fatal(err)
		}
		if c.Rope.Type != "llama3" || c.Rope.Factor != 8 || c.Rope.OriginalMaxPositions != 8192 {
			t.Fatalf("%s: parsed %+v", body, c.Rope)
		}
		kept, scaled, blended := 0, 0, 0
		for i, f := range ropeInvFreq(c) {
			wavelen := 2 * math.Pi / float64(f0[i])
			switch {
			case wavelen < 2048:
				kept++
				if f != f0[i] {
					t.Errorf("frequency %d (wavelength %.0f < 2048) = %g, want it kept (%g)", i, wavelen, f, f0[i])
				}
			case wavelen > 8192:
				scaled++
				if math.Abs(float64(f)-float64(f0[i])/8) > 1e-6*float64(f0[i]) {
					t.Errorf("frequency %d (wavelength %.0f > 8192) = %g, want %g / 8", i, wavelen, f, f0[i])
				}
			default:
				blended++
				// smooth = (8192/wavelength − 1) / 3 runs from 1 at 2048 to 0 at 8192.
				s := (8192/wavelen - 1) / 3
				want := (1-s)*float64(f0[i])/8 + s*float64(f0[i])
				if math.Abs(float64(f)-want) > 1e-6*want || f > f0[i] || float64(f) < float64(f0[i])/8 {
					t.Errorf("frequency %d (wavelength %.0f) = %g, want %g, between f/8 and f", i, wavelen, f, want)
				}
			}
		}
		if kept == 0 || scaled == 0 || blended == 0 {
			t.Errorf("bands kept %d, scaled %d, blended %d: each should be present at head_dim 128, theta 5e5", kept, scaled, blended)
		}
	}
	for body, subs := range map[string][]string{
		`,"rope_scaling":{"rope_type":"dynamic","factor":2.0}`:                                             {"rope_scaling.rope_type", "dynamic"},
		`,"rope_parameters":{"rope_type":"yarn","factor":4.0}`:                                             {"rope_parameters.rope_type", "yarn"},
		`,"rope_scaling":{"type":"linear"}`:                                                                {"factor"},
		`,"rope_scaling":{"type":"linear","factor":0}`:                                                     {"factor", "positive"},
		`,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0}`: {"original_max_position_embeddings"},
		`,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":4.0,"high_freq_factor":1.0,"original_max_position_embeddings":8192}`: {"low_freq_factor 4", "0 < low < high"},
	} {
		_, err := LoadConfig(writeConfig(t, `{`+base+body+`}`))
		if err == nil {
			t.Errorf("%s: accepted", body)
			continue
		}
		for _, sub := range append(subs, "config.json") {
			if !strings.Contains(err.Error(), sub) {
				t.Errorf("%s: error %q does not mention %q", body, err, sub)
			}
		}
	}
}
