package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/tokenizer"
)

// writeRandomQwen2 writes a small random Qwen2 checkpoint (vocab large enough
// for the bpe fixture's tokenizer) and returns its directory.
func writeRandomQwen2(t *testing.T, vocab, context int) string {
	dir := t.TempDir()
	cfg := map[string]any{
		"model_type": "qwen2", "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"rms_norm_eps": 1e-6, "rope_theta": 1e6, "max_position_embeddings": context,
		"tie_word_embeddings": true, "eos_token_id": 0, "hidden_act": "silu",
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	parsed, err := llm.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	set := llm.RandomWeights(parsed, 7)
	var ts []*weights.Tensor
	for _, n := range set.Names() {
		w, _ := set.Get(n)
		ts = append(ts, w)
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGenerateCLI(t *testing.T) {
	tokPath := filepath.Join(fixtures.Dir(t, "bpe"), "tokenizer.json")
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeRandomQwen2(t, 448, 512)
	prompt := "a red square"
	code, out, errOut := runCaptured(t, "generate", "--model", dir, "--tokenizer", tokPath, "--prompt", prompt, "--chat", "qwen", "--max-new-tokens", "7", "--temperature", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The same generation through the package: the CLI must print its decoded text.
	b, _ := backend.New("")
	m, err := llm.Load(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tok.Encode(tokenizer.QwenPrompt(prompt))
	eos := append([]int{0}, tok.EOS()...)
	res, err := m.Generate([][]int{ids}, llm.GenerateOptions{MaxNewTokens: 7, EOS: eos})
	if err != nil {
		t.Fatal(err)
	}
	if want := tok.Decode(res[0].Tokens) + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "finish: "+res[0].Finish) {
		t.Errorf("stderr summary %q lacks finish %q", errOut, res[0].Finish)
	}
	// Seeded sampling is reproducible.
	args := []string{"generate", "--model", dir, "--tokenizer", tokPath, "--prompt", prompt, "--max-new-tokens", "6", "--temperature", "1.5", "--top-k", "100", "--top-p", "0.9", "--seed", "3"}
	_, a1, _ := runCaptured(t, args...)
	_, a2, _ := runCaptured(t, args...)
	if a1 != a2 {
		t.Errorf("same seed, different text: %q vs %q", a1, a2)
	}
}

func TestGenerateCLIBadInput(t *testing.T) {
	tokPath := filepath.Join(fixtures.Dir(t, "bpe"), "tokenizer.json")
	small := fixtures.Dir(t, "qwen2") // vocab 256 < the tokenizer's 420 ids
	short := writeRandomQwen2(t, 448, 8)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--model", small, "--tokenizer", tokPath, "--prompt", "hi"}, []string{"vocab_size", "420", "256"}},
		{[]string{"--model", short, "--tokenizer", tokPath, "--prompt", strings.Repeat("red square ", 10)}, []string{"context is 8", "max_position_embeddings"}},
		{[]string{"--model", short, "--tokenizer", tokPath, "--prompt", "  "}, []string{"--prompt is empty"}},
		{[]string{"--model", short, "--tokenizer", tokPath, "--prompt", "hi", "--top-p", "2"}, []string{"top-p"}},
		{[]string{"--model", filepath.Join(short, "missing"), "--tokenizer", tokPath, "--prompt", "hi"}, []string{"missing"}},
	}
	for _, c := range cases {
		code, _, errOut := runCaptured(t, append([]string{"generate"}, c.args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", c.args, errOut, w)
			}
		}
	}
}

// evalrun verify knows qwen2 and llama directories (runner registered by this file's import).
func TestVerifyCLIDecoders(t *testing.T) {
	for _, name := range []string{"qwen2", "llama"} {
		dir := fixtures.Dir(t, name)
		code, out, errOut := runCaptured(t, "verify", "--model", dir, "--golden", filepath.Join(dir, "golden.safetensors"))
		if code != 0 || !strings.Contains(out, "0 failed") {
			t.Errorf("%s: exit %d\n%s%s", name, code, out, errOut)
		}
	}
}
