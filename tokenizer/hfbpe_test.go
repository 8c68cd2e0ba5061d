package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// qwen2Pattern is the Split regex of Qwen2's tokenizer.json pre_tokenizer.
const qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// TestQwen2RegexSplit checks the splitter on cases worked out from the
// pattern by hand, especially `\s+(?!\S)`: a whitespace run before a word
// leaves its last space to the word; a trailing run stays whole.
func TestQwen2RegexSplit(t *testing.T) {
	s := &splitPre{re: regexp2.MustCompile(qwen2Pattern, regexp2.None), behavior: "Isolated"}
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"a  b", []string{"a", " ", " b"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"a \tb", []string{"a", " ", "\tb"}},
		{"a\n  b", []string{"a", "\n", " ", " b"}},
		{"x\n\ny", []string{"x", "\n\n", "y"}},
		{"it's", []string{"it", "'s"}},
		{"IT'S", []string{"IT", "'S"}},
		{"don't", []string{"don", "'t"}},
		{"123", []string{"1", "2", "3"}},
		{"hi!!\n", []string{"hi", "!!\n"}},
		{" !?", []string{" !?"}},
		{"a\u00a0b", []string{"a", "\u00a0b"}},
		{"数字 ok", []string{"数字", " ok"}},
		{"", nil},
	}
	for _, c := range cases {
		if got := s.splitOne(c.in); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSplitBehaviors follows the example in the tokenizers documentation
// (Split on "-" of "the-final--countdown").
func TestSplitBehaviors(t *testing.T) {
	want := map[string][]string{
		"Removed":            {"the", "final", "countdown"},
		"Isolated":           {"the", "-", "final", "-", "-", "countdown"},
		"MergedWithPrevious": {"the-", "final-", "-", "countdown"},
		"MergedWithNext":     {"the", "-final", "-", "-countdown"},
		"Contiguous":         {"the", "-", "final", "--", "countdown"},
	}
	for behavior, w := range want {
		s := &splitPre{literal: "-", behavior: behavior}
		if got := s.splitOne("the-final--countdown"); !slices.Equal(got, w) {
			t.Errorf("%s: %q, want %q", behavior, got, w)
		}
	}
	inv := &splitPre{literal: "-", behavior: "Removed", invert: true}
	if got := inv.splitOne("a-b"); !slices.Equal(got, []string{"-"}) {
		t.Errorf("inverted Removed: %q", got)
	}
}

func TestByteLevelMap(t *testing.T) {
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		r := byteToUnicode[b]
		if seen[r] {
			t.Fatalf("byte %#x maps to %U twice", b, r)
		}
		seen[r] = true
		if unicodeToByte[r] != byte(b) {
			t.Errorf("round trip of byte %#x failed", b)
		}
	}
	for b, want := range map[byte]rune{'!': '!', 'A': 'A', '~': '~', 0xA1: 0xA1, 0xFF: 0xFF,
		0x00: 'Ā', '\t': 'ĉ', '\n': 'Ċ', ' ': 'Ġ', 0x7F: 'ġ', 0xAD: 'Ń'} {
		if got := byteToUnicode[b]; got != want {
			t.Errorf("byte %#x -> %U, want %U", b, got, want)
		}
	}
	if got := ByteLevelEncode(" é\n"); got != "ĠÃ©Ċ" {
		t.Errorf("ByteLevelEncode = %q", got)
	}
}

// tinyTokenizer builds a tokenizer.json whose vocab is the 256 byte
// characters (id = byte value) plus the merged tokens, numbered from 256 in
// merge order.
func tinyTokenizer(t testing.TB, merges [][2]string, added []addedToken, normalizer, preTok string) []byte {
	t.Helper()
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToUnicode[b])] = b
	}
	for _, m := range merges {
		if _, ok := vocab[m[0]+m[1]]; !ok {
			vocab[m[0]+m[1]] = len(vocab)
		}
	}
	doc := map[string]any{
		"version":       "1.0",
		"added_tokens":  added,
		"normalizer":    json.RawMessage(normalizer),
		"pre_tokenizer": json.RawMessage(preTok),
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const byteLevelOnly = `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`

func mustBPE(t testing.TB, data []byte) *HFBPE {
	t.Helper()
	tok, err := ParseHFBPE(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func encodeOK(t *testing.T, tok Tokenizer, text string) []int {
	t.Helper()
	ids, err := tok.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestHFBPEMergeOrder(t *testing.T) {
	// ab (rank 0) before bc (rank 1); abc from ab+c (rank 2).
	tok := mustBPE(t, tinyTokenizer(t, [][2]string{{"a", "b"}, {"b", "c"}, {"ab", "c"}}, nil, "null", byteLevelOnly))
	ab, bc, abc := 256, 257, 258
	for text, want := range map[string][]int{
		"abc":     {abc},
		"bcab":    {bc, ab},
		"abc abc": {abc, ' ', abc}, // " abc" is one piece: Ġ does not merge
		"cab":     {'c', ab},
		"":        nil,
	} {
		if got := encodeOK(t, tok, text); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
		if got := tok.Decode(want); got != text {
			t.Errorf("Decode(%v) = %q, want %q", want, got, text)
		}
	}
}

func TestHFBPEPrefixSpaceAndNFC(t *testing.T) {
	merges := [][2]string{{"a", "b"}}
	plain := mustBPE(t, tinyTokenizer(t, merges, nil, "null", byteLevelOnly))
	prefixed := mustBPE(t, tinyTokenizer(t, merges, nil, "null", `{"type":"ByteLevel","add_prefix_space":true,"use_regex":true}`))
	if got, want := encodeOK(t, prefixed, "ab"), encodeOK(t, plain, " ab"); !slices.Equal(got, want) {
		t.Errorf("add_prefix_space: %v, want %v", got, want)
	}
	nfc := mustBPE(t, tinyTokenizer(t, merges, nil, `{"type":"NFC"}`, byteLevelOnly))
	if got := encodeOK(t, nfc, "e\u0301"); !slices.Equal(got, []int{0xC3, 0xA9}) {
		t.Errorf("NFC: e+combining acute -> %v, want the bytes of U+00E9", got)
	}
	if got := encodeOK(t, plain, "e\u0301"); !slices.Equal(got, []int{'e', 0xCC, 0x81}) {
		t.Errorf("no normalizer: %v", got)
	}
}

func TestHFBPEAddedTokens(t *testing.T) {
	added := []addedToken{
		{ID: 300, Content: "<|x|>", Special: true},
		{ID: 301, Content: "<mask>", Special: true, LStrip: true},
		{ID: 302, Content: "[w]", SingleWord: true},
		{ID: 303, Content: "<|endoftext|>", Special: true},
	}
	tok := mustBPE(t, tinyTokenizer(t, [][2]string{{"a", "b"}}, added, "null", byteLevelOnly))
	ab := 256
	for text, want := range map[string][]int{
		"ab<|x|>c":        {ab, 300, 'c'},
		"<|x|><|x|>":      {300, 300},
		"ab <mask> c":     {ab, 301, ' ', 'c'}, // lstrip swallows the space before
		"x [w] y":         {'x', ' ', 302, ' ', 'y'},
		"x[w]y":           {'x', '[', 'w', ']', 'y'}, // not a single word: plain text
		"<|x|":            {'<', '|', 'x', '|'},
		"a<|endoftext|>b": {'a', 303, 'b'},
	} {
		if got := encodeOK(t, tok, text); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
	if got := tok.Decode([]int{ab, 300, 'c', 302}); got != "abc[w]" {
		t.Errorf("Decode skipping special: %q", got)
	}
	if got := tok.DecodeWith([]int{ab, 300, 'c'}, false); got != "ab<|x|>c" {
		t.Errorf("DecodeWith(keep special): %q", got)
	}
	if id, ok := tok.TokenID("<|x|>"); !ok || id != 300 {
		t.Errorf("TokenID(<|x|>) = %d %v", id, ok)
	}
	if _, err := SpecialID(tok, "<|im_start|>"); err == nil || !strings.Contains(err.Error(), "<|im_start|>") {
		t.Errorf("unknown special token: %v", err)
	}
	if got := tok.EOS(); !slices.Equal(got, []int{303}) {
		t.Errorf("EOS = %v, want [303] (<|endoftext|>)", got)
	}
	if tok.VocabSize() != 304 {
		t.Errorf("VocabSize = %d, want 304", tok.VocabSize())
	}
}

func TestByteLevelDecodeLossy(t *testing.T) {
	tok := mustBPE(t, tinyTokenizer(t, nil, nil, "null", byteLevelOnly))
	for _, c := range []struct {
		ids  []int
		want string
	}{
		{[]int{0xE6, 0x95, 'a'}, "\uFFFDa"},             // truncated 3-byte sequence: one U+FFFD
		{[]int{0xFF, 0x80}, "\uFFFD\uFFFD"},             // invalid lead, lone continuation
		{[]int{0xF0, 0x9F, 0x98, 0x80}, "😀"},            // valid 4-byte sequence
		{[]int{0xED, 0xA0, 0x80}, "\uFFFD\uFFFD\uFFFD"}, // surrogate: each byte
		{[]int{99999, 'a'}, "a"},                        // unknown id skipped
	} {
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("Decode(%x) = %q, want %q", c.ids, got, c.want)
		}
		if !utf8.ValidString(tok.Decode(c.ids)) {
			t.Errorf("Decode(%x) is not valid UTF-8", c.ids)
		}
	}
}

func TestByteLevelEOSFromConfig(t *testing.T) {
	dir := t.TempDir()
	added := []addedToken{{ID: 300, Content: "<|endoftext|>", Special: true}, {ID: 301, Content: "<|im_end|>", Special: true}}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tinyTokenizer(t, nil, added, "null", byteLevelOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"eos_token": "<|endoftext|>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.EOS(); !slices.Equal(got, []int{300, 301}) {
		t.Errorf("EOS = %v, want [300 301] (config first, then known end tokens)", got)
	}
}

func TestHFBPEBadInput(t *testing.T) {
	good := func(mod func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(tinyTokenizer(t, [][2]string{{"a", "b"}}, nil, "null", byteLevelOnly), &m); err != nil {
			t.Fatal(err)
		}
		mod(m)
		b, _ := json.Marshal(m)
		return b
	}
	model := func(m map[string]any) map[string]any { return m["model"].(map[string]any) }
	cases := map[string]struct {
		data []byte
		want string
	}{
		"not json":     {[]byte("{oops"), "not an HF tokenizer.json"},
		"wordpiece":    {good(func(m map[string]any) { model(m)["type"] = "WordPiece" }), `model.type is "WordPiece"`},
		"merge oov":    {good(func(m map[string]any) { model(m)["merges"] = []any{"a zz"} }), `model.merges[0]: token "zz"`},
		"merge format": {good(func(m map[string]any) { model(m)["merges"] = []any{"abc"} }), "model.merges[0]"},
		"dropout":      {good(func(m map[string]any) { model(m)["dropout"] = 0.1 }), "dropout"},
		"split behavior": {good(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "a"}, "behavior": "Sideways"}
		}), `behavior "Sideways"`},
		"bad regex": {good(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(a"}, "behavior": "Isolated"}
		}), "pattern"},
		"pretokenizer": {good(func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }), `type "Whitespace"`},
		"replace regex": {good(func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " +"}, "content": "\u2581"}
		}), "Replace with a Regex pattern"},
		"replace empty": {good(func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Replace", "pattern": map[string]any{"String": ""}, "content": "x"}
		}), "empty string"},
		"metaspace scheme": {good(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "sometimes"}
		}), `prepend_scheme "sometimes"`},
		"metaspace replacement": {good(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "__"}
		}), `replacement "__"`},
		"replace no content": {good(func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}}
		}), "Replace has no content"},
		"prepend nothing": {good(func(m map[string]any) { m["normalizer"] = map[string]any{"type": "Prepend"} }), "Prepend has no prepend"},
		"metaspace no prefix space": {good(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": false}
		}), `add_prefix_space false contradicts prepend_scheme "always"`},
		"strip no stop": {good(func(m map[string]any) {
			m["decoder"] = map[string]any{"type": "Strip", "content": " ", "start": 1}
		}), "Strip start and stop"},
		"replace decoder content": {good(func(m map[string]any) {
			m["decoder"] = map[string]any{"type": "Replace", "pattern": map[string]any{"String": "\u2581"}}
		}), "Replace content missing"},
		"unigram": {good(func(m map[string]any) {
			m["model"] = map[string]any{"type": "Unigram", "vocab": []any{[]any{"a", -1.0}}}
		}), `model.type is "Unigram"`},
		"strip content": {good(func(m map[string]any) {
			m["decoder"] = map[string]any{"type": "Strip", "content": "ab", "start": 1, "stop": 0}
		}), "Strip content"},
		"decoder in sequence": {good(func(m map[string]any) {
			m["decoder"] = map[string]any{"type": "Sequence", "decoders": []any{map[string]any{"type": "Fuse"}, map[string]any{"type": "CTC"}}}
		}), `decoders[1]: type "CTC"`},
		"normalizer": {good(func(m map[string]any) { m["normalizer"] = map[string]any{"type": "Precompiled"} }), `normalizer: type "Precompiled"`},
		"decoder":    {good(func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }), `decoder: type "WordPiece"`},
	}
	for name, c := range cases {
		_, err := ParseHFBPE(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func TestLoadBadPaths(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "vocab.txt")
	if err := os.WriteFile(txt, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		txt:                                "unknown tokenizer file",
		dir:                                "no tokenizer.json",
		filepath.Join(dir, "missing.json"): "missing.json",
	} {
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s): %v, want an error mentioning %q", path, err, want)
		}
	}
}

// TestLoadDirFallback: a directory whose tokenizer.json is SentencePiece-
// style (as LLaMA-2's) loads the SentencePiece model beside it, and the json
// when there is none; a byte-level json wins over a .model; a failed load
// returns a nil Tokenizer.
func TestLoadDirFallback(t *testing.T) {
	dir := t.TempDir()
	model := buildModel(t, spSpec{modelType: modelBPE, pieces: []spPiece{{"a", -1, pieceNormal}}})
	modelPath, jsonPath := filepath.Join(dir, "tokenizer.model"), filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(modelPath, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, []byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always","split":false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.(*SentencePiece); !ok {
		t.Errorf("Load(dir) = %T, want *SentencePiece", tok)
	}
	if f, err := FileIn(dir); err != nil || f != modelPath {
		t.Errorf("FileIn(dir) = %q, %v; want %s", f, err, modelPath)
	}
	if tok, err = Load(jsonPath); err != nil {
		t.Errorf("Load(SentencePiece-style tokenizer.json): %v", err)
	} else if _, ok := tok.(*HFBPE); !ok {
		t.Errorf("Load(tokenizer.json) = %T, want *HFBPE", tok)
	}
	if err := os.Remove(modelPath); err != nil {
		t.Fatal(err)
	}
	if tok, err = Load(dir); err != nil {
		t.Errorf("Load(dir with only a SentencePiece-style tokenizer.json): %v", err)
	} else if _, ok := tok.(*HFBPE); !ok {
		t.Errorf("Load(dir) = %T, want *HFBPE", tok)
	}
	// A byte-level tokenizer.json wins over the .model beside it.
	if err := os.WriteFile(modelPath, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, tinyTokenizer(t, [][2]string{{"a", "b"}}, nil, "null", byteLevelOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	if tok, err = Load(dir); err != nil {
		t.Errorf("Load(dir with a byte-level tokenizer.json and a .model): %v", err)
	} else if h, ok := tok.(*HFBPE); !ok || !h.ByteLevel() {
		t.Errorf("Load(dir) = %T, want a byte-level *HFBPE", tok)
	}
	if err := os.Remove(modelPath); err != nil {
		t.Fatal(err)
	}
	// A broken tokenizer.json gives way to the .model beside it.
	if err := os.WriteFile(modelPath, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, []byte(`{"model":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := FileIn(dir); err != nil || f != modelPath {
		t.Errorf("FileIn(dir with a broken tokenizer.json and a .model) = %q, %v; want %s", f, err, modelPath)
	}
	if err := os.Remove(modelPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, []byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"CTC"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err = Load(dir)
	if err == nil || tok != nil {
		t.Errorf("Load(broken tokenizer.json) = %v, %v; want nil and an error", tok, err)
	}
}

// TestParseHFBPEJSONTypes: a tokenizer.json of the wrong JSON shape is
// described by field and JSON type, not by Go type names.
func TestParseHFBPEJSONTypes(t *testing.T) {
	for body, want := range map[string]string{
		`[1,2,3]`: "not an HF tokenizer.json: want an object, found a list",
		`"x"`:     "not an HF tokenizer.json: want an object, found a string",
		`{"model":{"type":"BPE","vocab":{"a":"1"},"merges":[]}}`: `field "model.vocab.a": want an integer, found a string`,
		`{"model":{"type":"BPE","vocab":{"a":1.5},"merges":[]}}`: `field "model.vocab.a": want an integer, found number 1.5`,
		`{"model":[]}`: `field "model": want an object, found a list`,
	} {
		_, err := ParseHFBPE([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "hfTokenizerJSON") {
			t.Errorf("%s: error %v, want one containing %q and no Go type", body, err, want)
		}
	}
}
