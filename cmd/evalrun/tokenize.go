package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/dualtoken/evalharness/tokenizer"
)

func init() {
	register("tokenize", "Print token ids of texts with a SentencePiece .model or an HF tokenizer.json (raw, or padded as a SigLIP/SigLIP2 text tower takes them).", &tokenizeCmd{})
}

type tokenizeCmd struct {
	Tokenizer string   `required:"" help:"SentencePiece .model file, HF tokenizer.json, or a directory holding tokenizer.json / tokenizer.model / spiece.model." placeholder:"PATH"`
	MaxLength *int     `name:"max-length" help:"Print the ids a SigLIP or SigLIP2 text tower takes instead of raw ones (lower-cased, punctuation removed, truncated; SigLIP's spiece.model: </s> appended and padded with </s> to N; SigLIP2's Gemma tokenizer.model or tokenizer.json: <eos> appended, padded with <pad>)." placeholder:"N"`
	Text      []string `arg:"" help:"Texts to tokenize; one JSON array of ids per text is printed, one line each, in order."`
}

func (c *tokenizeCmd) Help() string {
	return `Prints one JSON array of token ids per input text, one line each, in order.
By default the ids are raw: no bos/eos or padding added (special tokens written in
the text, e.g. <|im_start|>, become their single ids with a tokenizer.json).
--max-length N gives the ids a text tower takes, by the tokenizer's end-of-sequence
piece: SigLIP's spiece.model (with </s>) gets transformers' SiglipTokenizer
(padding="max_length", truncation=True, max_length=N); SigLIP2's Gemma tokenizer.model
or tokenizer.json (with <eos> and <pad>) gets open_clip's SigLIP2 rules (HTML entities
unescaped, "_" to space, punctuation removed, lower-cased, <eos> appended, <pad> to N).
A directory is read as the models read it: raw ids from its byte-level tokenizer.json, else
tokenizer.model, else spiece.model, else a SentencePiece-style tokenizer.json (LLaMA's,
Gemma's); --max-length from spiece.model, else tokenizer.model, else tokenizer.json.
Put -- before the texts when one starts with a dash.

Examples (the first two on the demo's tiny SigLIP: run 'evalrun demo' first; the
real tokenizers come with their checkpoints, e.g. google/siglip-so400m-patch14-384's
spiece.model and Qwen/Qwen2.5-3B-Instruct's tokenizer.json on Hugging Face):
  evalrun tokenize --tokenizer demo-out/models/tiny-siglip/spiece.model "a photo of a cat"
  evalrun tokenize --tokenizer demo-out/models/tiny-siglip/spiece.model --max-length 16 "A photo of a cat." "two dogs"
  evalrun tokenize --tokenizer Qwen2.5-3B-Instruct/tokenizer.json "<|im_start|>user" "hello world"`
}

func (c *tokenizeCmd) Run(g *Globals) error {
	maxLen := 0 // raw ids
	if c.MaxLength != nil {
		if maxLen = *c.MaxLength; maxLen < 1 {
			return usageErr("tokenize: --max-length %d: want a positive length (leave it out for raw ids)", maxLen)
		}
	}
	// A folder is searched as the models search it: for --max-length as
	// tokenizer.LoadSiglipText does, else as tokenizer.Load does.
	path := c.Tokenizer
	var encode func(string) ([]int, error)
	if maxLen > 0 {
		st, err := tokenizer.LoadSiglipText(path, maxLen)
		if err != nil {
			return usageErr("tokenize: --max-length: %v", err)
		}
		encode = st.Encode
	} else {
		tok, err := tokenizer.Load(path)
		if err != nil {
			return usageErr("%v", err)
		}
		encode = tok.Encode
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for _, text := range c.Text {
		ids, err := encode(text)
		if err != nil {
			return usageErr("tokenize %q: %v", text, err)
		}
		if ids == nil {
			ids = []int{}
		}
		line, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	return w.Flush()
}
