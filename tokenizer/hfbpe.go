package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dualtoken/evalharness/internal/jsonerr"
)

// HFBPE is an HF tokenizers `tokenizer.json` with a BPE model: byte-level
// (GPT-2, Qwen2, LLaMA-3 style) or SentencePiece-style, over characters with
// byte fallback and spaces as "▁" (LLaMA-2, Gemma and SigLIP2 as
// transformers converts them). Encoding follows tokenizers: added tokens
// are split out first (leftmost-longest, honouring lstrip/rstrip/single_word,
// normalized ones after normalisation), the normalizer runs on the rest, the
// pre-tokenizers split it (Split with the file's regex via regexp2, which
// supports the `\s+(?!\S)` lookahead; ByteLevel maps bytes to printable
// characters; Metaspace marks spaces) and each piece is merged by rank. The
// post_processor is not applied: Encode returns raw ids.
type HFBPE struct {
	path      string
	vocab     map[string]int
	idToToken map[int]string
	merges    map[uint64]bpeMerge
	vocabSize int

	added      map[string]int // added token content -> id
	addedInfo  map[int]addedToken
	special    map[int]bool  // ids of added tokens with special=true
	rawAdded   *addedMatcher // normalized=false added tokens
	normAdded  *addedMatcher // normalized=true added tokens (matched after normalisation)
	normalizer func(string) string
	preTok     []preTokenizer
	decoder    []decodeStep // nil: tokens joined with spaces
	byteLevel  bool         // a ByteLevel pre-tokenizer (else SentencePiece-style or plain)

	ignoreMerges bool
	byteFallback bool
	byteIDs      [256]int32 // with byteFallback: the id of "<0xNN>", -1 if absent
	fuseUnk      bool
	unkID        int

	eos []int

	cacheMu sync.Mutex
	cache   map[string][]int
}

type bpeMerge struct {
	rank, newID int32
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfTokenizerJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Decoder       json.RawMessage `json:"decoder"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string            `json:"type"`
		Vocab                   map[string]int    `json:"vocab"`
		Merges                  []json.RawMessage `json:"merges"`
		UnkToken                *string           `json:"unk_token"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
		FuseUnk                 bool              `json:"fuse_unk"`
		ByteFallback            bool              `json:"byte_fallback"`
		IgnoreMerges            bool              `json:"ignore_merges"`
		Dropout                 *float64          `json:"dropout"`
	} `json:"model"`
}

// LoadHFBPE reads an HF tokenizer.json (a file, or a directory holding
// one). Beside the file, tokenizer_config.json's eos_token and
// generation_config.json's eos_token_id, when present, name the eos ids.
func LoadHFBPE(path string) (*HFBPE, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseHFBPE(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	t.path = path
	t.eos = append(configEOS(filepath.Dir(path), t), t.eos...)
	t.eos = uniqueInts(t.eos)
	return t, nil
}

// maxTokenID is the largest id a tokenizer.json may use: the merge tables
// and symbols hold ids as int32 (tokenizers itself uses u32).
const maxTokenID = math.MaxInt32

// knownEOS are special tokens that end a turn or a document in the model
// families we load; those present become EOS ids.
var knownEOS = []string{"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<|end|>", "</s>", "<eos>"}

// ParseHFBPE builds a tokenizer from tokenizer.json bytes.
func ParseHFBPE(data []byte) (*HFBPE, error) {
	// The model's type first: a Unigram or WordPiece file's vocab has
	// another JSON shape, which would otherwise be reported instead.
	var head struct {
		Model struct {
			Type string `json:"type"`
		} `json:"model"`
	}
	if json.Unmarshal(data, &head) == nil && head.Model.Type != "" && head.Model.Type != "BPE" {
		return nil, fmt.Errorf("model.type is %q; want \"BPE\" (byte-level or SentencePiece-style BPE tokenizer.json; for a SentencePiece unigram model read its .model)", head.Model.Type)
	}
	var j hfTokenizerJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("not an HF tokenizer.json: %w", jsonerr.Describe(err))
	}
	m := &j.Model
	if m.Type != "BPE" && !(m.Type == "" && m.Merges != nil) {
		return nil, fmt.Errorf("model.type is %q; want \"BPE\" (a BPE tokenizer.json)", m.Type)
	}
	if len(m.Vocab) == 0 {
		return nil, fmt.Errorf("model.vocab is empty")
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("model.continuing_subword_prefix %q is not supported (BPE files of the models here have none)", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("model.end_of_word_suffix %q is not supported (BPE files of the models here have none)", *m.EndOfWordSuffix)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("model.dropout %g is not supported: BPE-dropout samples; set it to null for inference", *m.Dropout)
	}
	t := &HFBPE{
		vocab:        m.Vocab,
		idToToken:    make(map[int]string, len(m.Vocab)+len(j.AddedTokens)),
		merges:       make(map[uint64]bpeMerge, len(m.Merges)),
		added:        map[string]int{},
		addedInfo:    map[int]addedToken{},
		special:      map[int]bool{},
		ignoreMerges: m.IgnoreMerges,
		byteFallback: m.ByteFallback,
		fuseUnk:      m.FuseUnk,
		unkID:        -1,
		cache:        map[string][]int{},
	}
	for tok, id := range m.Vocab {
		if id < 0 || id > maxTokenID {
			return nil, fmt.Errorf("model.vocab[%q] = %d is outside 0..%d", tok, id, maxTokenID)
		}
		t.idToToken[id] = tok
		t.vocabSize = max(t.vocabSize, id+1)
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteIDs[b] = int32(id)
		}
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model.unk_token %q is not in model.vocab", *m.UnkToken)
		}
		t.unkID = id
	}
	for i, raw := range m.Merges {
		a, b, err := parseMerge(raw)
		if err != nil {
			return nil, fmt.Errorf("model.merges[%d]: %w", i, err)
		}
		ia, oka := m.Vocab[a]
		ib, okb := m.Vocab[b]
		inew, okn := m.Vocab[a+b]
		switch {
		case !oka:
			return nil, fmt.Errorf("model.merges[%d]: token %q is not in model.vocab", i, a)
		case !okb:
			return nil, fmt.Errorf("model.merges[%d]: token %q is not in model.vocab", i, b)
		case !okn:
			return nil, fmt.Errorf("model.merges[%d]: merged token %q is not in model.vocab", i, a+b)
		}
		t.merges[pairKey(ia, ib)] = bpeMerge{rank: int32(i), newID: int32(inew)}
	}

	var err error
	if t.normalizer, err = parseNormalizer(j.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.preTok, err = parsePreTokenizer(j.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	for _, p := range t.preTok {
		if _, ok := p.(*byteLevelPre); ok {
			t.byteLevel = true
		}
	}
	if t.decoder, err = parseDecoder(j.Decoder); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}

	var raw, normd []addedToken
	for i, a := range j.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d] has empty content", i)
		}
		if a.ID < 0 || a.ID > maxTokenID {
			return nil, fmt.Errorf("added_tokens[%d] %q has id %d, outside 0..%d", i, a.Content, a.ID, maxTokenID)
		}
		t.added[a.Content] = a.ID
		t.addedInfo[a.ID] = a
		t.idToToken[a.ID] = a.Content
		t.vocabSize = max(t.vocabSize, a.ID+1)
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized {
			if t.normalizer != nil {
				// Matched, and (tokenizers 0.23) decoded, as normalized.
				a.Content = t.normalizer(a.Content)
				t.idToToken[a.ID] = a.Content
			}
			normd = append(normd, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normd)
	for _, name := range knownEOS {
		if id, ok := t.added[name]; ok && t.special[id] {
			t.eos = append(t.eos, id)
		}
	}
	return t, nil
}

func parseMerge(raw json.RawMessage) (string, string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		parts := strings.Split(s, " ")
		if len(parts) != 2 {
			return "", "", fmt.Errorf("%q is not two tokens separated by one space", s)
		}
		return parts[0], parts[1], nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", "", fmt.Errorf("%s is neither \"a b\" nor [\"a\", \"b\"]", string(raw))
	}
	return pair[0], pair[1], nil
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// configEOS reads eos ids from tokenizer_config.json and generation_config.json
// next to tokenizer.json (missing or malformed files are ignored).
func configEOS(dir string, t *HFBPE) []int {
	var ids []int
	if data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		var c struct {
			EOS json.RawMessage `json:"eos_token"`
		}
		if json.Unmarshal(data, &c) == nil && len(c.EOS) > 0 {
			var s string
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(c.EOS, &s) != nil && json.Unmarshal(c.EOS, &obj) == nil {
				s = obj.Content
			}
			if id, ok := t.TokenID(s); ok && s != "" {
				ids = append(ids, id)
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		var c struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if json.Unmarshal(data, &c) == nil && len(c.EOS) > 0 {
			var one int
			var many []int
			if json.Unmarshal(c.EOS, &one) == nil {
				ids = append(ids, one)
			} else if json.Unmarshal(c.EOS, &many) == nil {
				ids = append(ids, many...)
			}
		}
	}
	return ids
}

func uniqueInts(xs []int) []int {
	seen := map[int]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Path is the tokenizer.json the tokenizer was loaded from.
func (t *HFBPE) Path() string { return t.path }

// VocabSize is one more than the largest id (model vocab and added tokens).
func (t *HFBPE) VocabSize() int { return t.vocabSize }

// TokenID looks up an added token or a vocabulary token in the file's form
// ("Ġthe" in a byte-level file, "▁the" in a SentencePiece-style one).
func (t *HFBPE) TokenID(token string) (int, bool) {
	if id, ok := t.added[token]; ok {
		return id, true
	}
	id, ok := t.vocab[token]
	return id, ok
}

// IDToToken returns the token string of id.
func (t *HFBPE) IDToToken(id int) (string, bool) {
	s, ok := t.idToToken[id]
	return s, ok
}

// ByteLevel reports a byte-level file (a ByteLevel pre-tokenizer, as
// Qwen2's); SentencePiece-style files (LLaMA's, Gemma's) are not.
func (t *HFBPE) ByteLevel() bool { return t.byteLevel }

// hasSpecial reports an added token with special=true named tok.
func (t *HFBPE) hasSpecial(tok string) bool {
	id, ok := t.added[tok]
	return ok && t.special[id]
}

// IsSpecial reports whether id is an added token marked special.
func (t *HFBPE) IsSpecial(id int) bool { return t.special[id] }

// SpecialTokens lists the special added tokens by id order.
func (t *HFBPE) SpecialTokens() []string {
	ids := make([]int, 0, len(t.special))
	for id := range t.special {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.idToToken[id]
	}
	return out
}

// EOS lists eos ids: those named by tokenizer_config.json / generation_config.json
// beside the file, then the known end tokens present (<|im_end|>, <|endoftext|>, ...).
func (t *HFBPE) EOS() []int { return append([]int(nil), t.eos...) }

// Encode returns the ids of text, added/special tokens as single ids, no
// post-processing (no bos/eos added).
func (t *HFBPE) Encode(text string) ([]int, error) {
	text = validUTF8(text)
	var ids []int
	// atStart: the segment begins the text (for Metaspace's "first").
	for i, s := range t.rawAdded.split(text) {
		if s.id >= 0 {
			ids = append(ids, s.id)
			continue
		}
		normalized := s.text
		if t.normalizer != nil {
			normalized = t.normalizer(normalized)
		}
		for j, s2 := range t.normAdded.split(normalized) {
			if s2.id >= 0 {
				ids = append(ids, s2.id)
				continue
			}
			pieces := []string{s2.text}
			for _, p := range t.preTok {
				var err error
				if pieces, err = p.split(pieces, i == 0 && j == 0); err != nil {
					return nil, err
				}
			}
			for _, p := range pieces {
				ids = t.encodeWord(p, ids)
			}
		}
	}
	return ids, nil
}

// validUTF8 replaces each invalid byte by U+FFFD (Go's []rune conversion rule).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}

const bpeCacheMax = 1 << 16

// encodeWord runs the BPE model on one pre-tokenized piece and appends its ids.
func (t *HFBPE) encodeWord(w string, out []int) []int {
	if w == "" {
		return out
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[w]; ok {
			return append(out, id)
		}
	}
	t.cacheMu.Lock()
	cached, ok := t.cache[w]
	t.cacheMu.Unlock()
	if ok {
		return append(out, cached...)
	}
	ids := t.mergeWord(w)
	t.cacheMu.Lock()
	if len(t.cache) >= bpeCacheMax {
		clear(t.cache)
	}
	t.cache[w] = ids
	t.cacheMu.Unlock()
	return append(out, ids...)
}

type bpeSymbol struct {
	id         int32
	prev, next int32
	size       int32 // byte length; 0: merged into its left neighbour
}

// mergeWord ports tokenizers' BPE::merge_word + Word::merge_all: one symbol
// per character (byte fallback or unk for characters outside the vocab),
// then the lowest-rank pair merges first, leftmost on ties; queue entries made
// stale by earlier merges are recognised by the pair no longer producing the
// same token.
func (t *HFBPE) mergeWord(w string) []int {
	syms := make([]bpeSymbol, 0, len(w))
	add := func(id, size int) {
		n := int32(len(syms))
		if n > 0 {
			syms[n-1].next = n
		}
		syms = append(syms, bpeSymbol{id: int32(id), prev: n - 1, next: -1, size: int32(size)})
	}
	unkID, unkLen := -1, 0
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		c := w[i : i+size]
		i += size
		if id, ok := t.vocab[c]; ok {
			if unkID >= 0 {
				add(unkID, unkLen)
				unkID = -1
			}
			add(id, size)
			continue
		}
		if t.byteFallback {
			all := true
			for k := 0; k < len(c); k++ {
				all = all && t.byteIDs[c[k]] >= 0
			}
			if all {
				for k := 0; k < len(c); k++ {
					add(int(t.byteIDs[c[k]]), 1)
				}
				continue
			}
		}
		if t.unkID >= 0 {
			switch {
			case unkID >= 0 && t.fuseUnk:
				unkLen += size
			case unkID >= 0:
				add(unkID, unkLen)
				unkID, unkLen = t.unkID, size
			default:
				unkID, unkLen = t.unkID, size
			}
		}
	}
	if unkID >= 0 {
		add(unkID, unkLen)
	}

	q := &minHeap[queuedMerge]{less: func(a, b queuedMerge) bool {
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.pos < b.pos
	}}
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.merges[pairKey(int(syms[i].id), int(syms[i+1].id))]; ok {
			q.items = append(q.items, queuedMerge{rank: m.rank, pos: int32(i), newID: m.newID})
		}
	}
	q.init()
	for q.Len() > 0 {
		top := q.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if m, ok := t.merges[pairKey(int(cur.id), int(right.id))]; !ok || m.newID != top.newID {
			continue
		}
		cur.id = top.newID
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 && int(right.next) < len(syms) {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if m, ok := t.merges[pairKey(int(syms[cur.prev].id), int(cur.id))]; ok {
				q.push(queuedMerge{rank: m.rank, pos: cur.prev, newID: m.newID})
			}
		}
		if cur.next >= 0 && int(cur.next) < len(syms) {
			if m, ok := t.merges[pairKey(int(cur.id), int(syms[cur.next].id))]; ok {
				q.push(queuedMerge{rank: m.rank, pos: top.pos, newID: m.newID})
			}
		}
	}
	ids := make([]int, 0, len(syms))
	for _, s := range syms {
		if s.size != 0 {
			ids = append(ids, int(s.id))
		}
	}
	return ids
}

type queuedMerge struct {
	rank, pos, newID int32
}

// Decode returns the text of ids with special tokens skipped, as
// tokenizers' decode(ids, skip_special_tokens=True).
func (t *HFBPE) Decode(ids []int) string { return t.DecodeWith(ids, true) }

// DecodeWith decodes ids, keeping special tokens when skipSpecial is false.
// Unknown ids are skipped.
func (t *HFBPE) DecodeWith(ids []int, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.idToToken[id]
		// tokenizers skips a special token by its decoded text, so a
		// normalized one whose text the normalizer changed stays.
		if !ok || (skipSpecial && t.special[id] && tok == t.addedInfo[id].Content) {
			continue
		}
		tokens = append(tokens, tok)
	}
	if t.decoder == nil {
		return strings.Join(tokens, " ")
	}
	for _, step := range t.decoder {
		tokens = step(tokens)
	}
	return strings.Join(tokens, "")
}

// lossyUTF8 replaces each maximal invalid subpart by one U+FFFD, as Rust's
// String::from_utf8_lossy does.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out.Write(b[i : i+size])
			i += size
			continue
		}
		out.WriteString("\uFFFD")
		i += maximalSubpart(b[i:])
	}
	return out.String()
}

// maximalSubpart is the length of the longest prefix of b that starts a
// well-formed UTF-8 sequence (at least 1), for an ill-formed b.
func maximalSubpart(b []byte) int {
	c := b[0]
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	i := 1
	for k := 0; k < need && i < len(b); k++ {
		x := b[i]
		if k == 0 && (x < lo || x > hi) || k > 0 && (x < 0x80 || x > 0xBF) {
			break
		}
		i++
	}
	return i
}

// ---- byte-to-unicode map (GPT-2) ----

var byteToUnicode, unicodeToByte = buildByteMaps()

// buildByteMaps builds GPT-2's bytes_to_unicode: printable Latin-1 bytes map
// to themselves, the other 68 bytes to U+0100 onwards in byte order, so every
// byte sequence becomes printable text without spaces or control characters.
func buildByteMaps() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	rev := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			fwd[b] = rune(b)
		} else {
			fwd[b] = rune(256 + n)
			n++
		}
		rev[fwd[b]] = byte(b)
	}
	return fwd, rev
}

// ByteLevelEncode maps the UTF-8 bytes of s to GPT-2's byte characters.
func ByteLevelEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToUnicode[s[i]])
	}
	return b.String()
}
