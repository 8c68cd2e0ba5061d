// Package tokenizer holds the text tokenizers the harness needs, exact
// against their references: SentencePiece models (unigram, as SigLIP's
// spiece.model, and BPE with byte fallback, as LLaMA-2's and Gemma's
// tokenizer.model), the text rules of SigLIP's towers on top
// (SiglipTokenizer's; open_clip's SigLIP2 rules over Gemma's model), and
// HF BPE tokenizer.json files (byte-level as Qwen2's, SentencePiece-style as
// LLaMA's and Gemma's), plus the chat templates
// that wrap prompts for Qwen2.5 and LLaVA-1.5.
package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tokenizer is what models and benchmarks code against.
type Tokenizer interface {
	// Encode returns raw ids: no bos/eos or other post-processing added.
	Encode(text string) ([]int, error)
	// Decode turns ids back into text, special/control tokens skipped.
	Decode(ids []int) string
	// VocabSize is one more than the largest id the tokenizer can produce.
	VocabSize() int
	// TokenID looks up a token string (special tokens included).
	TokenID(token string) (int, bool)
	// EOS lists the end-of-sequence ids the tokenizer knows.
	EOS() []int
}

var (
	_ Tokenizer = (*SentencePiece)(nil)
	_ Tokenizer = (*HFBPE)(nil)
)

// Load opens a tokenizer by path: a SentencePiece `.model` file, an HF
// `tokenizer.json` (or any `.json` in that format: byte-level as Qwen2's or
// SentencePiece-style as LLaMA's and Gemma's), or a directory holding
// tokenizer.json, tokenizer.model or spiece.model, of which it reads the
// one FileIn names.
func Load(path string) (Tokenizer, error) {
	file, loaded, err := fileIn(path)
	if err != nil {
		return nil, err
	}
	if loaded != nil {
		return loaded, nil
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".model":
		return asTokenizer(LoadSentencePiece(file))
	case ".json":
		return asTokenizer(LoadHFBPE(file))
	}
	return nil, fmt.Errorf("tokenizer: %s: unknown tokenizer file (want a SentencePiece .model or an HF tokenizer.json)", file)
}

// FileIn is the file Load reads for path: path itself when it is a file;
// in a directory a byte-level tokenizer.json, else the SentencePiece model
// (tokenizer.model, spiece.model), which a SentencePiece-style
// tokenizer.json was converted from, else that tokenizer.json
// (transformers 5 may save only the json). A tokenizer.json that does not
// parse is the answer only when there is no .model, so that Load reports
// its error.
func FileIn(path string) (string, error) {
	file, _, err := fileIn(path)
	return file, err
}

// fileIn is FileIn, also returning the tokenizer.json it had to load to
// choose it (nil otherwise), so that Load does not read it twice.
func fileIn(path string) (string, *HFBPE, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !st.IsDir() {
		return path, nil, nil
	}
	spPath := SentencePieceIn(path)
	if js := filepath.Join(path, "tokenizer.json"); fileExists(js) {
		if spPath == "" {
			return js, nil, nil
		}
		if tok, err := LoadHFBPE(js); err == nil && tok.ByteLevel() {
			return js, tok, nil
		}
	}
	if spPath != "" {
		return spPath, nil, nil
	}
	return "", nil, fmt.Errorf("tokenizer: %s: directory has no tokenizer.json, tokenizer.model or spiece.model", path)
}

// asTokenizer keeps a failed load from becoming a non-nil interface that
// holds a nil pointer.
func asTokenizer[T Tokenizer](t T, err error) (Tokenizer, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SentencePieceIn returns the SentencePiece model file in dir
// (tokenizer.model, else spiece.model), or "" if there is none.
func SentencePieceIn(dir string) string {
	for _, name := range []string{"tokenizer.model", "spiece.model"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// SpecialID returns the id of a special token, or an error naming the token
// when the tokenizer does not have it.
func SpecialID(t Tokenizer, token string) (int, error) {
	id, ok := t.TokenID(token)
	if !ok {
		return 0, fmt.Errorf("tokenizer: unknown special token %q (vocabulary of %d ids)", token, t.VocabSize())
	}
	return id, nil
}
