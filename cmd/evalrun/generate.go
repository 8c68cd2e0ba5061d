package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/llm" // also registers the qwen2/llama verify runner
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/tokenizer"
)

func init() {
	register("generate", "Generate text with a Qwen2 / LLaMA model, streaming it to stdout.", &generateCmd{})
}

type generateCmd struct {
	Model     string `required:"" help:"HF model directory: config.json (model_type qwen2 or llama), model.safetensors (or shards), optional generation_config.json; or its Hub repo id when the local Hugging Face cache holds it." placeholder:"DIR"`
	Tokenizer string `required:"" help:"Tokenizer: tokenizer.json, a SentencePiece .model, or a directory (or cached Hub repo id) holding one." placeholder:"PATH"`
	Prompt    string `required:"" help:"The prompt text (wrapped by --chat)."`
	Chat      string `default:"none" enum:"none,qwen,vicuna" help:"Chat template: qwen (Qwen2.5 <|im_start|> turns), vicuna (LLaVA-1.5 vicuna_v1), none (raw text)."`

	MaxNewTokens      *int     `name:"max-new-tokens" placeholder:"N" help:"Most new tokens (default: generation_config.json's max_new_tokens, else 256)."`
	MinNewTokens      int      `name:"min-new-tokens" placeholder:"N" help:"End-of-sequence ids are suppressed until this many tokens exist."`
	Temperature       *float64 `placeholder:"T" help:"Sampling temperature; 0 = greedy (default: generation_config.json's when it sets do_sample, else greedy)."`
	TopK              *int     `name:"top-k" placeholder:"K" help:"Sample among the K most likely tokens; 0 = off (default: generation_config.json, else 50 when sampling)."`
	TopP              *float64 `name:"top-p" placeholder:"P" help:"Nucleus sampling mass in (0,1]; 1 = off (default: generation_config.json, else 1)."`
	RepetitionPenalty *float64 `name:"repetition-penalty" placeholder:"R" help:"Penalty > 1 for tokens already present; 1 = off (default: generation_config.json, else 1)."`
	Seed              uint64   `default:"0" help:"Sampling seed (the same seed gives the same text)."`
	Stop              []string `sep:"none" help:"Stop when the text contains this string (repeatable; taken whole, commas included)." placeholder:"TEXT"`
	DType             string   `name:"dtype" default:"float32" help:"Compute dtype: float32, or bfloat16 (bf16: weight matrices and KV cache in it; RMSNorm, RoPE, attention softmax and logits in float32)."`
}

func (c *generateCmd) Help() string {
	return `Encodes the prompt (after the chat template), runs prefill and KV-cache decoding,
and prints the new text as it is produced; a summary (tokens, finish reason,
tokens/s) goes to stderr. Sampling defaults follow generation_config.json as
transformers does; flags override them. LLaMA models get their bos id prepended.

--dtype bfloat16 halves the memory of the weights and the KV cache; greedy
tokens can then differ from float32 where the two best logits are within
bfloat16's error of each other.

Example:
  evalrun generate --model /models/Qwen2.5-3B-Instruct --tokenizer /models/Qwen2.5-3B-Instruct \
      --chat qwen --prompt "Describe a red square in one sentence." --max-new-tokens 64`
}

func (c *generateCmd) Run(g *Globals) error {
	if strings.TrimSpace(c.Prompt) == "" {
		return usageErr("--prompt is empty")
	}
	if err := c.checkFlags(); err != nil {
		return err
	}
	dt, err := precision.Parse(c.DType)
	if err != nil {
		return usageErr("%v", err)
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	tok, err := tokenizer.Load(hubOrPath(c.Tokenizer))
	if err != nil {
		return usageErr("%v", err)
	}
	m, err := llm.Load(b, hubOrPath(c.Model))
	if err != nil {
		return usageErr("model %s: %v", c.Model, err)
	}
	if err := m.SetDType(dt); err != nil {
		return failErr("model %s: %v", c.Model, err)
	}
	if m.Gen != nil {
		if err := checkGenerationConfig(m.Gen.Path); err != nil {
			return usageErr("model %s: %v", c.Model, err)
		}
	}
	cfg := m.Config
	if tok.VocabSize() > cfg.VocabSize {
		return usageErr("tokenizer %s has %d ids but the model's vocab_size is %d (%s): they do not belong together", c.Tokenizer, tok.VocabSize(), cfg.VocabSize, cfg.Path)
	}

	text := c.Prompt
	switch c.Chat {
	case "qwen":
		text = tokenizer.QwenPrompt(c.Prompt)
	case "vicuna":
		text = tokenizer.LlavaPrompt(c.Prompt, false)
	}
	ids, err := tok.Encode(text)
	if err != nil {
		return usageErr("encoding the prompt: %v", err)
	}
	if cfg.ModelType == llm.ModelTypeLlama && cfg.BOS >= 0 && (len(ids) == 0 || ids[0] != cfg.BOS) {
		ids = append([]int{cfg.BOS}, ids...) // LLaMA's tokenizer adds bos; Encode returns raw ids
	}
	if len(ids) == 0 {
		return usageErr("the prompt encodes to no tokens")
	}

	opts, err := c.options(m, tok)
	if err != nil {
		return err
	}
	var generated []int
	printed := ""
	opts.OnStep = func(_ int, tokens []int) bool {
		// The end token is not text (HF's decode with skip_special_tokens
		// drops it; a SentencePiece user-defined <|im_end|> would print).
		if tokens[0] < 0 || slices.Contains(opts.EOS, tokens[0]) {
			return true
		}
		generated = append(generated, tokens[0])
		// Print once the text is whole: a byte-level token may end inside a character.
		if s := tok.Decode(generated); strings.HasPrefix(s, printed) && !strings.HasSuffix(s, "\uFFFD") {
			fmt.Print(s[len(printed):])
			printed = s
		}
		return true
	}
	start := time.Now()
	res, err := m.Generate([][]int{ids}, opts)
	if err != nil {
		if errors.Is(err, llm.ErrBadOptions) {
			return usageErr("%v", err)
		}
		return err
	}
	if s := tok.Decode(generated); strings.HasPrefix(s, printed) {
		fmt.Print(s[len(printed):])
	}
	fmt.Println()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "[%d prompt tokens, %d new tokens, finish: %s, %.1f s, %.2f tokens/s incl. prefill]\n",
		len(ids), len(res[0].Tokens), res[0].Finish, secs, float64(len(res[0].Tokens))/secs)
	return nil
}

// options merges the flags over generation_config.json's defaults, which
// transformers applies the same way (top-k 50 when sampling and unset).
func (c *generateCmd) options(m *llm.Model, tok tokenizer.Tokenizer) (llm.GenerateOptions, error) {
	gc := m.Gen
	if gc == nil {
		gc = &llm.GenerationConfig{}
	}
	o := llm.GenerateOptions{MaxNewTokens: 256, MinNewTokens: c.MinNewTokens, TopK: 50, Seed: c.Seed}
	if gc.MaxNewTokens > 0 {
		o.MaxNewTokens = gc.MaxNewTokens
	}
	if gc.DoSample {
		o.Temperature = 1
		if gc.Temperature > 0 {
			o.Temperature = gc.Temperature
		}
	}
	if gc.TopK > 0 {
		o.TopK = gc.TopK
	}
	o.TopP, o.RepetitionPenalty = gc.TopP, gc.RepetitionPenalty
	if c.MaxNewTokens != nil {
		o.MaxNewTokens = *c.MaxNewTokens
	}
	if c.Temperature != nil {
		o.Temperature = *c.Temperature
	}
	if c.TopK != nil {
		o.TopK = *c.TopK
	}
	if c.TopP != nil {
		o.TopP = *c.TopP
	}
	if c.RepetitionPenalty != nil {
		o.RepetitionPenalty = *c.RepetitionPenalty
	}
	// End on the model's eos ids and on the tokenizer's (a chat model's
	// <|im_end|> may only be known to the tokenizer).
	o.EOS = slices.Clone(m.Config.EOS)
	if m.Gen != nil && m.Gen.EOS != nil {
		o.EOS = slices.Clone(m.Gen.EOS)
	}
	for _, id := range tok.EOS() {
		if id < m.Config.VocabSize && !slices.Contains(o.EOS, id) {
			o.EOS = append(o.EOS, id)
		}
	}
	if o.EOS == nil {
		o.EOS = []int{}
	}
	if len(c.Stop) > 0 {
		o.StopStrings, o.Decode = c.Stop, tok.Decode
	}
	if o.MinNewTokens > o.MaxNewTokens {
		from := "--max-new-tokens"
		if c.MaxNewTokens == nil {
			from = "the default max_new_tokens"
			if gc.MaxNewTokens > 0 {
				from = "max_new_tokens in " + gc.Path
			}
		}
		return o, usageErr("--min-new-tokens %d: more than %s (%d)", o.MinNewTokens, from, o.MaxNewTokens)
	}
	return o, nil
}

// checkFlags refuses sampling flags outside their range before anything
// loads, naming the flag (the generator's own check names its fields).
func (c *generateCmd) checkFlags() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.MaxNewTokens != nil && *c.MaxNewTokens <= 0:
		return usageErr("--max-new-tokens %d: expected > 0", *c.MaxNewTokens)
	case c.MinNewTokens < 0:
		return usageErr("--min-new-tokens %d: expected >= 0", c.MinNewTokens)
	case c.MaxNewTokens != nil && c.MinNewTokens > *c.MaxNewTokens:
		return usageErr("--min-new-tokens %d: more than --max-new-tokens (%d)", c.MinNewTokens, *c.MaxNewTokens)
	case c.Temperature != nil && !(*c.Temperature >= 0 && finite(*c.Temperature)):
		return usageErr("--temperature %g: expected a finite number >= 0 (0 = greedy)", *c.Temperature)
	case c.TopK != nil && *c.TopK < 0:
		return usageErr("--top-k %d: expected >= 0 (0 = off)", *c.TopK)
	case c.TopP != nil && !(*c.TopP > 0 && *c.TopP <= 1):
		return usageErr("--top-p %g: expected a number in (0, 1] (1 = off)", *c.TopP)
	case c.RepetitionPenalty != nil && !(*c.RepetitionPenalty > 0 && finite(*c.RepetitionPenalty)):
		return usageErr("--repetition-penalty %g: expected a finite number > 0 (1 = off)", *c.RepetitionPenalty)
	case slices.Contains(c.Stop, ""):
		return usageErr(`--stop "": an empty stop string would match at once; give the text to stop at`)
	}
	return nil
}

// checkGenerationConfig refuses generation_config.json values that
// transformers also refuses, which the generator would otherwise read as
// "not set" (max_new_tokens 0) or pass on: the error names the file and field.
func checkGenerationConfig(path string) error {
	raw, err := config.Load(path)
	if err != nil {
		return err
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	ints := []struct {
		key  string
		ok   func(int) bool
		want string
	}{
		{"max_new_tokens", func(n int) bool { return n > 0 }, "expected > 0"},
		{"top_k", func(n int) bool { return n >= 0 }, "expected >= 0 (0 = off)"},
	}
	for _, f := range ints {
		if !raw.Has(f.key) {
			continue
		}
		n, err := raw.Int(f.key)
		if err != nil {
			return err
		}
		if !f.ok(n) {
			return fmt.Errorf("%s: field %q = %d, %s", path, f.key, n, f.want)
		}
	}
	floats := []struct {
		key  string
		ok   func(float64) bool
		want string
	}{
		{"temperature", func(v float64) bool { return v >= 0 && finite(v) }, "expected a finite number >= 0"},
		{"top_p", func(v float64) bool { return v >= 0 && v <= 1 }, "expected a number in [0, 1]"},
		{"repetition_penalty", func(v float64) bool { return v > 0 && finite(v) }, "expected a finite number > 0 (1 = off)"},
	}
	for _, f := range floats {
		if !raw.Has(f.key) {
			continue
		}
		v, err := raw.Float(f.key)
		if err != nil {
			return err
		}
		if !f.ok(v) {
			return fmt.Errorf("%s: field %q = %g, %s", path, f.key, v, f.want)
		}
	}
	return nil
}
