package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// spmJSONCase is one line of a cases.jsonl written by
// scripts/fixtures/spm_json_golden.js with Hugging Face's tokenizers.
type spmJSONCase struct {
	Text           string `json:"text"`
	IDs            []int  `json:"ids"`
	Decoded        string `json:"decoded"`
	DecodedSpecial string `json:"decoded_special"`
}

func readSpmJSONCases(t *testing.T, path string) []spmJSONCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []spmJSONCase
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var c spmJSONCase
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	return cases
}

// TestSentencePieceJSONMatchesTokenizers: SentencePiece-style tokenizer.json
// files laid out as transformers' converters write Gemma's (Replace
// normalizer), LLaMA's legacy (Prepend + Replace, Strip decoder) and LLaMA's
// non-legacy (Metaspace "first") ones, Metaspace as older files write it
// (add_prefix_space alone, or beside prepend_scheme), Metaspace with a "_"
// replacement, and added tokens of every kind (normalized, special,
// lstrip/rstrip, single_word), encode and decode as tokenizers 0.23.2 does,
// exactly, on 617 texts with spaces, added and special tokens, byte
// fallback and unknown characters.
func TestSentencePieceJSONMatchesTokenizers(t *testing.T) {
	for _, flavour := range []string{"gemma", "llama_legacy", "llama_metaspace", "metaspace_old", "metaspace_mistral", "metaspace_underscore", "llama_added"} {
		t.Run(flavour, func(t *testing.T) {
			dir := filepath.Join("testdata", "spm_json", flavour)
			tok, err := LoadHFBPE(filepath.Join(dir, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			if tok.ByteLevel() {
				t.Error("ByteLevel() = true for a SentencePiece-style file")
			}
			cases := readSpmJSONCases(t, filepath.Join(dir, "cases.jsonl"))
			bad := 0
			for _, c := range cases {
				var msgs []string
				if got, err := tok.Encode(c.Text); err != nil || !slices.Equal(got, c.IDs) {
					msgs = append(msgs, fmt.Sprintf("Encode(%q) = %v, %v; want %v", c.Text, got, err, c.IDs))
				}
				if d := tok.Decode(c.IDs); d != c.Decoded {
					msgs = append(msgs, fmt.Sprintf("Decode(%v) = %q, want %q", c.IDs, d, c.Decoded))
				}
				if d := tok.DecodeWith(c.IDs, false); d != c.DecodedSpecial {
					msgs = append(msgs, fmt.Sprintf("DecodeWith(%v, false) = %q, want %q", c.IDs, d, c.DecodedSpecial))
				}
				if len(msgs) > 0 {
					if bad++; bad <= 5 {
						t.Error(strings.Join(msgs, "; "))
					}
				}
			}
			if len(cases) < 600 || bad > 0 {
				t.Errorf("%d of %d cases differ", bad, len(cases))
			}
		})
	}
}

// TestDecodeSteps: the decoders' rules as tokenizers documents them with
// examples: a byte-fallback run that is not UTF-8 gives one U+FFFD per
// token; Strip removes up to start leading and stop trailing characters of
// each token.
func TestDecodeSteps(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"Hey", "friend!"}, []string{"Hey", "friend!"}},
		{[]string{"<0x61>"}, []string{"a"}},
		{[]string{"<0xE5>"}, []string{"\uFFFD"}},
		{[]string{"<0xE5>", "<0x8f>"}, []string{"\uFFFD", "\uFFFD"}},
		{[]string{"<0xE5>", "<0x8f>", "<0xab>", "a"}, []string{"叫", "a"}},
		{[]string{"<0xE5>", "<0x8f>", "a", "<0x62>"}, []string{"\uFFFD", "\uFFFD", "a", "b"}},
		{[]string{"<0xZZ>", "<0x6>", "<0x+A>"}, []string{"<0xZZ>", "<0x6>", "\n"}}, // from_str_radix takes "+A"
	} {
		if got := byteFallbackDecode(slices.Clone(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("ByteFallback(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := stripDecode('H', 1, 0)([]string{"Hey", " friend!", "HHH"}); !slices.Equal(got, []string{"ey", " friend!", "HH"}) {
		t.Errorf("Strip('H', 1, 0) = %q", got)
	}
	if got := stripDecode('y', 0, 1)([]string{"Hey", " friend!", "yyy"}); !slices.Equal(got, []string{"He", " friend!", "yy"}) {
		t.Errorf("Strip('y', 0, 1) = %q", got)
	}
}

// TestSiglip2FromTokenizerJSON: SigLIP2's rules over the tokenizer.json form
// of testdata/siglip2's Gemma-shaped model (as transformers 5 may save it
// alone): the cleaned texts encode as tokenizers 0.23.2 encodes them, and the
// padded ids equal golden.json's, made with the .model by sentencepiece.
func TestSiglip2FromTokenizerJSON(t *testing.T) {
	dir, g := readSiglip2Golden(t)
	rust := readSpmJSONCases(t, filepath.Join(dir, "json_cases.jsonl"))
	if len(rust) != len(g.Cases) {
		t.Fatalf("json_cases.jsonl has %d cases, golden.json %d (lengths %v)", len(rust), len(g.Cases), g.Lengths)
	}
	path := filepath.Join(dir, "tokenizer.json")
	for _, n := range g.Lengths {
		tok, err := LoadSiglipText(path, n)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Rules() != "siglip2" || tok.MaxLength() != n {
			t.Fatalf("rules %q, length %d; want siglip2, %d", tok.Rules(), tok.MaxLength(), n)
		}
		for i, c := range g.Cases {
			if got, err := tok.Model().Encode(rust[i].Text); err != nil || !slices.Equal(got, rust[i].IDs) {
				t.Errorf("raw ids of %q = %v, %v; tokenizers gives %v", rust[i].Text, got, err, rust[i].IDs)
			}
			want := c.IDs[fmt.Sprint(n)]
			if got, err := tok.Encode(c.Text); err != nil || !slices.Equal(got, want) {
				t.Errorf("N=%d: Encode(%q) = %v, %v; want %v", n, c.Text, got, err, want)
			}
		}
	}
	// A SentencePiece-style json without Gemma's special tokens is refused.
	var refused *NotSiglipError
	if _, err := LoadSiglipText(filepath.Join("testdata", "spm_json", "llama_legacy", "tokenizer.json"), 8); !errors.As(err, &refused) {
		t.Errorf("LLaMA-style tokenizer.json: error %v, want a *NotSiglipError", err)
	}
}

// TestXCheckTokenizerJSON compares the harness with Hugging Face's
// tokenizers on any tokenizer.json a user has (a real LLaMA, Gemma or Qwen
// one): TOKENIZER_XCHECK_JSON names the file, TOKENIZER_XCHECK_CASES the
// cases scripts/fixtures/tokenizer_json_xcheck.js wrote for it. Skipped
// without them.
func TestXCheckTokenizerJSON(t *testing.T) {
	path, casesPath := os.Getenv("TOKENIZER_XCHECK_JSON"), os.Getenv("TOKENIZER_XCHECK_CASES")
	if path == "" || casesPath == "" {
		t.Skip("set TOKENIZER_XCHECK_JSON and TOKENIZER_XCHECK_CASES (scripts/fixtures/tokenizer_json_xcheck.js)")
	}
	tok, err := LoadHFBPE(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := readSpmJSONCases(t, casesPath)
	bad := map[string]int{}
	for _, c := range cases {
		if got, err := tok.Encode(c.Text); err != nil || !slices.Equal(got, c.IDs) {
			if bad["encode"]++; bad["encode"] <= 5 {
				t.Errorf("Encode(%q) = %v, %v; want %v", c.Text, got, err, c.IDs)
			}
		}
		if d := tok.Decode(c.IDs); d != c.Decoded {
			if bad["decode"]++; bad["decode"] <= 5 {
				t.Errorf("Decode(%v) = %q, want %q", c.IDs, d, c.Decoded)
			}
		}
		if d := tok.DecodeWith(c.IDs, false); d != c.DecodedSpecial {
			if bad["decode_special"]++; bad["decode_special"] <= 5 {
				t.Errorf("DecodeWith(%v, false) = %q, want %q", c.IDs, d, c.DecodedSpecial)
			}
		}
	}
	t.Logf("%s: %d cases; differences: %v", path, len(cases), bad)
}

// TestByteLevelDecodeUnmappedToken: a token with a character outside the
// byte map contributes its own UTF-8 bytes, all of them (tokenizers'
// ByteLevel decoder), not the bytes of its mapped characters before it.
func TestByteLevelDecodeUnmappedToken(t *testing.T) {
	if got := byteLevelDecode([]string{"Ġa", "Ġb€c", "Ġd"}); !slices.Equal(got, []string{" aĠb€c d"}) {
		t.Errorf("ByteLevel decode = %q, want %q", got, " aĠb€c d")
	}
}

// TestLoadSiglipTextChoices: a folder is searched as SiglipTokenizerIn does;
// a tokenizer.json gets SigLIP2's rules only with "<eos>" and "<pad>" as
// special added tokens; anything else is a *NotSiglipError naming the file
// (with the parse error for a json that is not a BPE one).
func TestLoadSiglipTextChoices(t *testing.T) {
	gemmaLike := func(eosSpecial, withPad bool, modelType string) []byte {
		added := []map[string]any{{"id": 1, "content": "<eos>", "special": eosSpecial}}
		vocab := map[string]int{"<eos>": 1, "▁a": 2, "▁": 3, "a": 4}
		if withPad {
			added = append(added, map[string]any{"id": 0, "content": "<pad>", "special": true})
			vocab["<pad>"] = 0
		}
		doc := map[string]any{
			"added_tokens": added,
			"normalizer":   map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
			"model":        map[string]any{"type": modelType, "vocab": vocab, "merges": [][2]string{{"▁", "a"}}},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(data []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := write(gemmaLike(true, true, "BPE"))
	tok, err := LoadSiglipText(dir, 4)
	if err != nil || tok.Rules() != "siglip2" {
		t.Fatalf("folder with a Gemma-like tokenizer.json: %v, %v", tok, err)
	}
	if ids, err := tok.Encode("A."); err != nil || !slices.Equal(ids, []int{4, 1, 0, 0}) {
		t.Errorf("Encode(\"A.\") = %v, %v; want [a <eos> <pad> <pad>]", ids, err)
	}
	for name, data := range map[string][]byte{
		"eos not special": gemmaLike(false, true, "BPE"),
		"no pad":          gemmaLike(true, false, "BPE"),
		"unigram":         gemmaLike(true, true, "Unigram"),
	} {
		path := filepath.Join(write(data), "tokenizer.json")
		_, err := LoadSiglipText(path, 4)
		var refused *NotSiglipError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want a *NotSiglipError naming %s", name, err, path)
		}
		if name == "unigram" && (err == nil || !strings.Contains(err.Error(), `model.type is "Unigram"`)) {
			t.Errorf("unigram: error %v, want the model type named", err)
		}
	}
	// A file that is not JSON at all is broken, not another tokenizer.
	truncated := filepath.Join(write([]byte(`{"model": {"type": "BPE", "vocab": {`)), "tokenizer.json")
	var refused *NotSiglipError
	if _, err := LoadSiglipText(truncated, 4); err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), truncated) {
		t.Errorf("truncated tokenizer.json: %v, want the loader's error naming the file", err)
	}
	empty := t.TempDir()
	if _, err := LoadSiglipText(empty, 4); err == nil || !strings.Contains(err.Error(), "no spiece.model, tokenizer.model or tokenizer.json") || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}
}

// TestSiglipTokenizerIn: SigLIP's spiece.model first, then SigLIP2's
// tokenizer.model, then tokenizer.json; "" when none is there.
func TestSiglipTokenizerIn(t *testing.T) {
	dir := t.TempDir()
	names := []string{"spiece.model", "tokenizer.model", "tokenizer.json"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		if got := SiglipTokenizerIn(dir); got != filepath.Join(dir, n) {
			t.Errorf("SiglipTokenizerIn = %q, want %s", got, n)
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := SiglipTokenizerIn(dir); got != "" {
		t.Errorf("empty folder: %q", got)
	}
}
