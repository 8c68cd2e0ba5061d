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
// non-legacy (Metaspace "first") ones, and Metaspace as older files write it
// (add_prefix_space, split at every "▁"), encode and decode as tokenizers 0.23.2
// does, exactly, on 609 texts with spaces, added and special tokens, byte
// fallback and unknown characters.
func TestSentencePieceJSONMatchesTokenizers(t *testing.T) {
	for _, flavour := range []string{"gemma", "llama_legacy", "llama_metaspace", "metaspace_old"} {
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
		{[]string{"<0xZZ>", "<0x6>"}, []string{"<0xZZ>", "<0x6>"}},
	} {
		if got := byteFallbackDecode(slices.Clone(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("ByteFallback(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := stripDecode('H', 1, 0)([]string{"Hey", " friend!", "HHH"}); !slices.Equal(got, []string{"ey", " friend!", "HH"}) {
		t.Errorf("Strip('H', 1, 0) = %q", got)
	}
	if got := stripDecode('y', 0, 1)([]string{"Hey", " friend!", "yyy", ""}); !slices.Equal(got, []string{"He", " friend!", "yy", ""}) {
		t.Errorf("Strip('y', 0, 1) = %q", got)
	}
}

// TestSiglip2FromTokenizerJSON: SigLIP2's rules over the tokenizer.json form
// of testdata/siglip2's Gemma-shaped model (as transformers 5 may save it
// alone): the cleaned texts encode as tokenizers 0.23.2 encodes them, and the
// padded ids equal golden.json's, made with the .model by sentencepiece.
func TestSiglip2FromTokenizerJSON(t *testing.T) {
	dir := filepath.Join("testdata", "siglip2")
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Lengths []int `json:"lengths"`
		Cases   []struct {
			Text string           `json:"text"`
			IDs  map[string][]int `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	rust := readSpmJSONCases(t, filepath.Join(dir, "json_cases.jsonl"))
	if len(rust) != len(g.Cases) || len(g.Lengths) == 0 {
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
