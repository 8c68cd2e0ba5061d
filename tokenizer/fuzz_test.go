package tokenizer

// Fuzz targets: the loaders on corrupt or hostile model bytes, and encode →
// decode on arbitrary (also invalid UTF-8) text for valid tokenizers. Run one
// with e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseSentencePiece$' -fuzztime 60s -parallel 1 ./tokenizer
//
// Without -fuzz they run on their seeds (and the regression inputs under
// testdata/fuzz/) as ordinary tests.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// watchdog crashes the fuzz worker when one input runs past limit, so the
// fuzzer keeps the input as a failure instead of stalling on it (go test
// -fuzz has no per-input timeout). Use as defer watchdog(limit)().
func watchdog(limit time.Duration) func() {
	timer := time.AfterFunc(limit, func() { panic(fmt.Sprintf("one input ran over %v: a hang", limit)) })
	return func() { timer.Stop() }
}

// hangLimit is far above any seed's time, even on a loaded machine.
const hangLimit = 10 * time.Second

// fixtureSeed returns a fixture file (a model the encode targets also
// check), or nil when the fixture folder is absent: the fuzz targets never
// need it.
func fixtureSeed(rel string) []byte {
	data, err := os.ReadFile(filepath.Join(fixtures.RootPath(), rel))
	if err != nil {
		return nil
	}
	return data
}

// probeTexts are encoded by every model a loader fuzz target accepts:
// spaces, control and added-token text, invalid UTF-8, a long run.
var probeTexts = []string{
	"", " ", "a b  c\t\nd ", "Hello world, it's 123!", "<s></s><unk><|x|><|im_end|><mask>",
	"é日本\u2581▁\u00a0x", "x  y\t", "ＡabÉﬁ", "\xff\xc3(\xe2\x82", strings.Repeat("ab", 20),
}

// checkIDs fails unless every id is in [0, vocab).
func checkIDs(t *testing.T, what, text string, ids []int, vocab int) {
	t.Helper()
	for i, id := range ids {
		if id < 0 || id >= vocab {
			t.Fatalf("%s: Encode(%q)[%d] = %d, outside [0, %d)", what, text, i, id, vocab)
		}
	}
}

// validText is text as the encoders see it: each invalid byte → U+FFFD.
func validText(s string) string { return string([]rune(s)) }

// ---- SentencePiece ----

// charsmap builds a precompiled_charsmap (sentencepiece's format: trie size,
// a Darts-clone double array of the keys, then the NUL-terminated
// replacements) for a few rules, so that seeds exercise the normalizer's
// double-array walk without the fixtures' 240 KB tables.
func charsmap(rules map[string]string) []byte {
	type node struct {
		kids  map[byte]*node
		value int // offset of the replacement; -1: no key ends here
	}
	newNode := func() *node { return &node{kids: map[byte]*node{}, value: -1} }
	root := newNode()
	var repl []byte
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := root
		for i := 0; i < len(k); i++ {
			if n.kids[k[i]] == nil {
				n.kids[k[i]] = newNode()
			}
			n = n.kids[k[i]]
		}
		n.value = len(repl)
		repl = append(append(repl, rules[k]...), 0)
	}
	units := []uint32{0}
	used := []bool{true}
	grow := func(i uint32) {
		for int(i) >= len(units) {
			units, used = append(units, 0), append(used, false)
		}
	}
	// place finds a base for n (at index at) whose slots base^label (label 0
	// for the leaf) are free, stores the offset in n's unit and recurses.
	// Bases are unique, as in Darts: a unit labelled c at index i then
	// belongs to the one node whose base is i^c.
	baseUsed := map[uint32]bool{}
	var place func(n *node, at uint32)
	place = func(n *node, at uint32) {
		labels := []uint32{}
		if n.value >= 0 {
			labels = append(labels, 0)
		}
		for c := range n.kids {
			labels = append(labels, uint32(c))
		}
		slices.Sort(labels)
		base := uint32(1)
	search:
		for ; ; base++ {
			if baseUsed[base] {
				continue
			}
			for _, l := range labels {
				if i := base ^ l; i == 0 || int(i) < len(used) && used[i] {
					continue search
				}
			}
			break
		}
		baseUsed[base] = true
		units[at] |= (at ^ base) << 10
		if n.value >= 0 {
			units[at] |= 1 << 8
			grow(base)
			units[base], used[base] = 1<<31|uint32(n.value), true
		}
		for _, l := range labels {
			if c := byte(l); l != 0 || n.value < 0 {
				grow(base ^ l)
				units[base^l], used[base^l] = uint32(c), true
			}
		}
		for _, l := range labels {
			if kid := n.kids[byte(l)]; kid != nil {
				place(kid, base^l)
			}
		}
	}
	place(root, 0)
	out := make([]byte, 4, 4+4*len(units)+len(repl))
	out[0], out[1], out[2], out[3] = byte(4*len(units)), byte(4*len(units)>>8), byte(4*len(units)>>16), byte(4*len(units)>>24)
	for _, u := range units {
		out = append(out, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return append(out, repl...)
}

// seedCharsmap folds a few characters as NFKC and lower-casing would, maps
// "ab" to "x" and a no-break space to a space.
var seedCharsmap = charsmap(map[string]string{"Ａ": "A", "ﬁ": "fi", "ab": "x", "\u00a0": " ", "É": "é", "\u2581": " "})

// losslessSP are SentencePiece models with identity normalisation, no dummy
// prefix, spaces kept and byte fallback: sentencepiece promises
// decode(encode(s)) == s for them, up to ▁ (U+2581), which decodes as a space.
func losslessSP(t testing.TB) map[string]*SentencePiece {
	return map[string]*SentencePiece{
		"bpe": mustParse(t, spSpec{modelType: modelBPE, byteFallback: true, pieces: []spPiece{
			{"▁", -5, pieceNormal}, {"a", -5, pieceNormal}, {"b", -5, pieceNormal}, {"c", -5, pieceNormal},
			{"ab", -1, pieceNormal}, {"bc", -0.5, pieceNormal}, {"abc", -0.2, pieceNormal}, {"▁a", -2, pieceNormal},
			{"▁ab", -1.5, pieceNormal}, {"é", -4, pieceNormal}, {"日", -4, pieceNormal}, {"本", -4, pieceNormal},
			{"日本", -3, pieceNormal}, {"<img>", 0, pieceUserDefined}, {"▁b", -0.1, pieceUnused},
		}}),
		"unigram": mustParse(t, spSpec{modelType: modelUnigram, byteFallback: true, pieces: []spPiece{
			{"▁", -3, pieceNormal}, {"a", -3, pieceNormal}, {"b", -2, pieceNormal}, {"ab", -2.5, pieceNormal},
			{"▁a", -1, pieceNormal}, {"▁ab", -2.5, pieceNormal}, {"c", -4, pieceNormal}, {"é", -4, pieceNormal},
			{"日本", -3, pieceNormal}, {"<img>", 0, pieceUserDefined}, {"bc", -0.5, pieceUnused},
		}}),
	}
}

// otherSP are models whose decode is not lossless (dummy prefix, whitespace
// collapsed, no byte fallback, the fixtures' charsmaps): only the invariants
// that hold for any text are checked.
func otherSP(t testing.TB) map[string]*SentencePiece {
	m := map[string]*SentencePiece{
		"unigram-unk": mustParse(t, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true, pieces: []spPiece{
			{"▁a", -1, pieceNormal}, {"b", -2, pieceNormal}, {"▁ab", -2.5, pieceNormal}, {"▁", -3, pieceNormal},
			{"a", -3, pieceNormal}, {"<img>", 0, pieceUserDefined}, {"▁b", -0.5, pieceUnused},
		}}),
		"bpe-unk": mustParse(t, spSpec{modelType: modelBPE, addDummyPrefix: true, removeExtraWS: true, pieces: []spPiece{
			{"▁", -5, pieceNormal}, {"a", -5, pieceNormal}, {"b", -5, pieceNormal}, {"ab", -1, pieceNormal}, {"▁a", -2, pieceNormal},
		}}),
	}
	for name, rel := range map[string]string{"spiece.model": "spm/spiece.model", "spm_bpe": "spm_bpe/tokenizer.model"} {
		if data := fixtureSeed(rel); data != nil {
			sp, err := ParseSentencePiece(data)
			if err != nil {
				t.Fatalf("fixture %s: %v", rel, err)
			}
			m[name] = sp
		}
	}
	return m
}

// checkSP encodes text and checks what holds for any model: ids in range,
// EncodePieces agrees with Encode, Decode does not panic.
func checkSP(t *testing.T, name string, sp *SentencePiece, text string) ([]int, string) {
	t.Helper()
	ids, err := sp.Encode(text)
	if err != nil {
		t.Fatalf("%s: Encode(%q): %v", name, text, err)
	}
	checkIDs(t, name, text, ids, sp.VocabSize())
	ps := sp.EncodePieces(text)
	if len(ps) != len(ids) {
		t.Fatalf("%s: EncodePieces(%q) gives %d pieces, Encode %d ids", name, text, len(ps), len(ids))
	}
	for i, p := range ps {
		if p.ID != ids[i] {
			t.Fatalf("%s: EncodePieces(%q)[%d].ID = %d, Encode gives %d", name, text, i, p.ID, ids[i])
		}
	}
	return ids, sp.Decode(ids)
}

func FuzzParseSentencePiece(f *testing.F) {
	for _, s := range []spSpec{
		{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true, pieces: []spPiece{{"▁a", -1, pieceNormal}, {"b", -2, pieceNormal}, {"<img>", 0, pieceUserDefined}, {"▁b", -1, pieceUnused}}},
		{modelType: modelBPE, byteFallback: true, pieces: []spPiece{{"▁", -5, pieceNormal}, {"a", -5, pieceNormal}, {"ab", -1, pieceNormal}, {"<u>", 0, pieceUserDefined}}},
		{modelType: modelBPE, pieces: []spPiece{{"a", -1, pieceNormal}}},
		{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true, charsmap: seedCharsmap, pieces: []spPiece{{"▁x", -1, pieceNormal}, {"A", -2, pieceNormal}}},
		{modelType: modelBPE, byteFallback: true, charsmap: seedCharsmap, pieces: []spPiece{{"f", -1, pieceNormal}, {"i", -1, pieceNormal}, {"fi", -0.5, pieceNormal}}},
	} {
		f.Add(buildModel(f, s))
	}
	good := buildModel(f, spSpec{modelType: modelUnigram, pieces: []spPiece{{"a", -1, pieceNormal}}})
	f.Add(good[:len(good)-3])
	f.Add([]byte("this is not a protobuf\n"))
	// The fixture models are not seeds here: their 240 KB charsmaps make
	// each mutation and every minimisation slow; FuzzSentencePieceEncode
	// encodes with them instead.
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog(hangLimit)()
		sp, err := ParseSentencePiece(data)
		if err != nil {
			if sp != nil || err.Error() == "" {
				t.Fatalf("failed parse returned %v, %q", sp, err)
			}
			return
		}
		for _, text := range probeTexts {
			checkSP(t, "fuzzed model", sp, text)
		}
		sg := NewSiglip(sp, 8)
		for _, text := range probeTexts[:4] {
			ids, err := sg.Encode(text)
			if err != nil || len(ids) != 8 {
				t.Fatalf("Siglip.Encode(%q) = %v, %v; want 8 ids", text, ids, err)
			}
			checkIDs(t, "siglip", text, ids, sp.VocabSize())
		}
		sp.Decode([]int{-1, 0, sp.VocabSize() - 1, sp.VocabSize()})
		sp.EOS()
		sp.BOS()
	})
}

func FuzzSentencePieceEncode(f *testing.F) {
	for _, s := range probeTexts {
		f.Add(s)
	}
	f.Add("abc ab  a\u2581b <img>x<img>")
	f.Add("  leading and trailing  ")
	lossless, other := losslessSP(f), otherSP(f)
	siglip := []*Siglip(nil)
	if sp := other["spiece.model"]; sp != nil {
		siglip = append(siglip, NewSiglip(sp, 16))
	}
	f.Fuzz(func(t *testing.T, text string) {
		defer watchdog(hangLimit)()
		for name, sp := range lossless {
			_, got := checkSP(t, name, sp, text)
			if want := strings.ReplaceAll(validText(text), spaceSymbol, " "); got != want {
				t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q", name, text, got, want)
			}
		}
		for name, sp := range other {
			if _, got := checkSP(t, name, sp, text); !utf8.ValidString(got) {
				t.Fatalf("%s: Decode(Encode(%q)) = %q is not valid UTF-8", name, text, got)
			}
		}
		for _, sg := range siglip {
			ids, err := sg.Encode(text)
			if err != nil || len(ids) != sg.MaxLength() || ids[len(ids)-1] != sg.EOSID() {
				t.Fatalf("Siglip.Encode(%q) = %v, %v; want %d ids ending in eos", text, ids, err, sg.MaxLength())
			}
			checkIDs(t, "siglip", text, ids, sg.Model().VocabSize())
		}
	})
}

// ---- byte-level BPE ----

func fuzzBPEMerges() [][2]string {
	return [][2]string{{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"Ġ", "a"}, {"Ġa", "b"}, {"Ã", "©"}, {"l", "l"}, {"e", "ll"}}
}

// fuzzAdded are added tokens of every kind; <mask> (lstrip) swallows the
// whitespace before it, so text holding it does not round-trip.
func fuzzAdded() []addedToken {
	return []addedToken{
		{ID: 300, Content: "<|x|>", Special: true},
		{ID: 301, Content: "<mask>", Special: true, LStrip: true},
		{ID: 302, Content: "[w]", SingleWord: true},
		{ID: 303, Content: "<|endoftext|>", Special: true},
	}
}

// qwenPre is Qwen2's pre_tokenizer: its Split regex, then ByteLevel without
// the GPT-2 regex.
var qwenPre = `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + mustJSON(qwen2Pattern) +
	`},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// smallTokenizer is tinyTokenizer with only the characters the merges use
// in its vocabulary: seeds of a few hundred bytes, which the fuzzer mutates
// and minimises far faster than 4 KB ones.
func smallTokenizer(t testing.TB, merges [][2]string, added []addedToken, normalizer, preTok string) []byte {
	t.Helper()
	vocab := map[string]int{}
	add := func(s string) {
		if _, ok := vocab[s]; !ok {
			vocab[s] = len(vocab)
		}
	}
	for _, r := range "abcĠ" {
		add(string(r))
	}
	for _, m := range merges {
		for _, r := range m[0] + m[1] {
			add(string(r))
		}
		add(m[0])
		add(m[1])
		add(m[0] + m[1])
	}
	data, err := json.Marshal(map[string]any{
		"added_tokens":  added,
		"normalizer":    json.RawMessage(normalizer),
		"pre_tokenizer": json.RawMessage(preTok),
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func FuzzParseHFBPE(f *testing.F) {
	merges := [][2]string{{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}}
	f.Add(smallTokenizer(f, merges, fuzzAdded(), "null", byteLevelOnly))
	f.Add(smallTokenizer(f, merges, []addedToken{{ID: 30, Content: "<|im_end|>", Special: true, Normalized: true}}, `{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"}]}`, qwenPre))
	f.Add(smallTokenizer(f, nil, []addedToken{{ID: 4, Content: "x", RStrip: true}, {ID: 5, Content: " ", LStrip: true}}, `{"type":"NFD"}`, byteLevelOnly))
	for _, behavior := range []string{"Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"} {
		f.Add(smallTokenizer(f, merges[:1], nil, "null", `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"String":"-"},"behavior":"`+behavior+`","invert":true},{"type":"ByteLevel","add_prefix_space":true}]}`))
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"<0x61>":1,"<unk>":2},"merges":[["a","a"]],"unk_token":"<unk>","byte_fallback":true,"fuse_unk":true,"ignore_merges":true},"pre_tokenizer":{"type":"ByteLevel"}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{}}}`))
	// The 16 KB fixture tokenizer.json is not a seed here (each mutation and
	// minimisation of it is slow); FuzzHFBPEEncode encodes with it.
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog(hangLimit)()
		tok, err := ParseHFBPE(data)
		if err != nil {
			if tok != nil || err.Error() == "" {
				t.Fatalf("failed parse returned %v, %q", tok, err)
			}
			return
		}
		for _, text := range probeTexts {
			ids, err := tok.Encode(text)
			if err != nil {
				t.Fatalf("Encode(%q): %v", text, err)
			}
			checkIDs(t, "fuzzed tokenizer.json", text, ids, tok.VocabSize())
			tok.Decode(ids)
			tok.DecodeWith(ids, false)
		}
		tok.Decode([]int{-1, 0, tok.VocabSize() - 1, tok.VocabSize()})
		tok.SpecialTokens()
	})
}

// bpeCase is a valid byte-level tokenizer and what decode(encode(s)) must
// give (with special tokens kept): want(s), or "" and false when the
// tokenizer promises nothing for s.
type bpeCase struct {
	name string
	tok  *HFBPE
	want func(s string) (string, bool)
}

func bpeCases(t testing.TB) []bpeCase {
	noneOf := func(s string, tokens ...string) bool {
		for _, x := range tokens {
			if strings.Contains(s, x) {
				return false
			}
		}
		return true
	}
	cases := []bpeCase{
		{"gpt2", mustBPE(t, tinyTokenizer(t, fuzzBPEMerges(), fuzzAdded(), "null", byteLevelOnly)),
			func(s string) (string, bool) { return validText(s), noneOf(validText(s), "<mask>") }},
		{"gpt2-prefix-space", mustBPE(t, tinyTokenizer(t, fuzzBPEMerges(), nil, "null", `{"type":"ByteLevel","add_prefix_space":true,"use_regex":true}`)),
			func(s string) (string, bool) {
				if v := validText(s); v != "" && !strings.HasPrefix(v, " ") {
					return " " + v, true
				}
				return validText(s), true
			}},
		// NFC runs on the text between added tokens; text without them is one piece.
		{"qwen2-nfc", mustBPE(t, tinyTokenizer(t, fuzzBPEMerges(), []addedToken{{ID: 300, Content: "<|im_end|>", Special: true}}, `{"type":"NFC"}`, qwenPre)),
			func(s string) (string, bool) {
				return norm.NFC.String(validText(s)), noneOf(validText(s), "<|im_end|>")
			}},
	}
	if data := fixtureSeed("bpe/tokenizer.json"); data != nil {
		cases = append(cases, bpeCase{"fixture", mustBPE(t, data), func(s string) (string, bool) { return validText(s), true }})
	}
	return cases
}

func FuzzHFBPEEncode(f *testing.F) {
	for _, s := range probeTexts {
		f.Add(s)
	}
	f.Add("x [w] y<|x|>ab<|endoftext|> <mask> abc\r\n\n  IT'S 1234 数字")
	f.Add("e\u0301 \u212b ﬁ")
	cases := bpeCases(f)
	f.Fuzz(func(t *testing.T, text string) {
		defer watchdog(hangLimit)()
		for _, c := range cases {
			ids, err := c.tok.Encode(text)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", c.name, text, err)
			}
			checkIDs(t, c.name, text, ids, c.tok.VocabSize())
			got := c.tok.DecodeWith(ids, false)
			if !utf8.ValidString(got) || !utf8.ValidString(c.tok.Decode(ids)) {
				t.Fatalf("%s: decode of Encode(%q) is not valid UTF-8: %q", c.name, text, got)
			}
			if want, ok := c.want(text); ok && got != want {
				t.Fatalf("%s: DecodeWith(Encode(%q), keep special) = %q, want %q", c.name, text, got, want)
			}
			again, _ := c.tok.Encode(text)
			if !slices.Equal(ids, again) {
				t.Fatalf("%s: Encode(%q) is not deterministic (cache): %v then %v", c.name, text, ids, again)
			}
		}
	})
}
