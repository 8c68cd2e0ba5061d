package tokenizer

// The parts of an HF tokenizers pipeline that BPE files use: added-token
// splitting, normalizers, pre-tokenizers and decoders. Byte-level files
// (Qwen2) use Split and ByteLevel; SentencePiece-style ones (LLaMA, Gemma,
// SigLIP2) turn spaces into "▁" with a Replace (and Prepend) normalizer or a
// Metaspace pre-tokenizer, and decode with Replace, ByteFallback, Fuse and
// Strip, or Metaspace.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/dualtoken/evalharness/internal/jsonerr"
	"golang.org/x/text/unicode/norm"
)

// ---- added tokens ----

type addedMatcher struct {
	tokens []addedToken
	trie   *byteTrie
}

func newAddedMatcher(tokens []addedToken) *addedMatcher {
	m := &addedMatcher{tokens: tokens}
	if len(tokens) > 0 {
		m.trie = newByteTrie()
		for i, t := range tokens {
			m.trie.insert(t.Content, i)
		}
		m.trie.finish()
	}
	return m
}

type segment struct {
	text string
	id   int // -1: ordinary text
}

// split ports AddedVocabulary::find_matches: leftmost-longest matches, then
// single_word filtering and lstrip/rstrip widening of each match over the
// surrounding whitespace.
func (m *addedMatcher) split(s string) []segment {
	if m.trie == nil || s == "" {
		if s == "" {
			return nil
		}
		return []segment{{s, -1}}
	}
	type match struct{ start, end, tok int }
	var matches []match
	for i := 0; i < len(s); {
		if l, v := m.trie.longestMatch(s[i:]); l > 0 {
			matches = append(matches, match{i, i + l, v})
			i += l
			continue
		}
		i++
	}
	var out []segment
	offset := 0
	for _, mt := range matches {
		tok := m.tokens[mt.tok]
		start, stop := mt.start, mt.end
		if start < offset {
			// An earlier token's rstrip already took this match's start (a
			// whitespace added token): the text is consumed, the match void.
			continue
		}
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), offset)
		}
		if tok.RStrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if offset < start {
			out = append(out, segment{s[offset:start], -1})
		}
		out = append(out, segment{s[start:stop], tok.ID})
		offset = stop
	}
	if offset < len(s) {
		out = append(out, segment{s[offset:], -1})
	}
	return out
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}

// ---- normalizers ----

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Pattern     hfPattern         `json:"pattern"`
		Content     *string           `json:"content"`
		Prepend     *string           `json:"prepend"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, jsonerr.Describe(err)
	}
	switch n.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Lowercase":
		return rustLower, nil
	case "Replace":
		from, err := n.Pattern.literal("Replace")
		if err != nil {
			return nil, err
		}
		if n.Content == nil {
			return nil, fmt.Errorf("Replace has no content (want a string)")
		}
		to := *n.Content
		return func(s string) string { return strings.ReplaceAll(s, from, to) }, nil
	case "Prepend":
		if n.Prepend == nil {
			return nil, fmt.Errorf("Prepend has no prepend (want a string)")
		}
		prefix := *n.Prepend
		// tokenizers prepends to non-empty strings only.
		return func(s string) string {
			if s == "" {
				return s
			}
			return prefix + s
		}, nil
	case "Sequence":
		var fs []func(string) string
		for i, sub := range n.Normalizers {
			f, err := parseNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			if f != nil {
				fs = append(fs, f)
			}
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("type %q is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Sequence)", n.Type)
}

// hfPattern is a Replace or Split pattern: {"String": ...} or {"Regex": ...}.
type hfPattern struct {
	Regex  *string `json:"Regex"`
	String *string `json:"String"`
}

// literal returns a String pattern; a Regex pattern (no SentencePiece-style
// file uses one in a Replace) is refused rather than taken literally.
func (p hfPattern) literal(step string) (string, error) {
	switch {
	case p.String != nil && *p.String != "":
		return *p.String, nil
	case p.String != nil:
		return "", fmt.Errorf("%s pattern is an empty string", step)
	case p.Regex != nil:
		return "", fmt.Errorf("%s with a Regex pattern (%q) is not supported; want {\"String\": ...}", step, *p.Regex)
	}
	return "", fmt.Errorf("%s has no pattern (want {\"String\": ...})", step)
}

// rustLower is Rust's str::to_lowercase for the cases that differ from Go's
// simple mapping: U+0130 → "i̇" and final sigma.
func rustLower(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		switch {
		case r == '\u0130':
			b.WriteString("i\u0307")
		case r == 'Σ' && i > 0 && unicode.IsLetter(rs[i-1]) && (i+1 == len(rs) || !unicode.IsLetter(rs[i+1])):
			b.WriteRune('ς')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// ---- pre-tokenizers ----

// preTokenizer is one pre-tokenizer step. atStart says pieces[0] begins the
// original text (Metaspace's prepend_scheme "first" prepends only there).
// split returns an error when a regex match runs past splitMatchTimeout: a
// hostile or broken tokenizer.json's regex would otherwise hang Encode, or
// with the error dropped, silently mis-tokenise.
type preTokenizer interface {
	split(pieces []string, atStart bool) ([]string, error)
}

// splitMatchTimeout bounds one regex match of a Split pre-tokenizer (the
// regexp2 default is no bound). Real patterns take microseconds per piece;
// catastrophic backtracking, e.g. (a+)+$ on a long run of a's, takes
// forever.
var splitMatchTimeout = 2 * time.Second

func parsePreTokenizer(raw json.RawMessage) ([]preTokenizer, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		Type           string            `json:"type"`
		Pretokenizers  []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Pattern        hfPattern         `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		Replacement    string            `json:"replacement"`
		PrependScheme  *string           `json:"prepend_scheme"`
		Split          *bool             `json:"split"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, jsonerr.Describe(err)
	}
	switch p.Type {
	case "Sequence":
		var out []preTokenizer
		for i, sub := range p.Pretokenizers {
			ps, err := parsePreTokenizer(sub)
			if err != nil {
				return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			out = append(out, ps...)
		}
		return out, nil
	case "ByteLevel":
		useRegex := p.UseRegex == nil || *p.UseRegex
		b := &byteLevelPre{addPrefixSpace: p.AddPrefixSpace != nil && *p.AddPrefixSpace}
		if useRegex {
			b.regex = &splitPre{re: gpt2Regex, behavior: "Isolated"}
		}
		return []preTokenizer{b}, nil
	case "Split":
		s := &splitPre{behavior: p.Behavior, invert: p.Invert}
		switch {
		case p.Pattern.Regex != nil:
			re, err := regexp2.Compile(*p.Pattern.Regex, regexp2.None)
			if err != nil {
				return nil, fmt.Errorf("Split pattern %q: %w", *p.Pattern.Regex, err)
			}
			re.MatchTimeout = splitMatchTimeout
			s.re = re
		case p.Pattern.String != nil:
			if *p.Pattern.String == "" {
				return nil, fmt.Errorf("Split pattern is an empty string")
			}
			s.literal = *p.Pattern.String
		default:
			return nil, fmt.Errorf("Split has no pattern (want {\"Regex\": ...} or {\"String\": ...})")
		}
		switch s.behavior {
		case "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous":
		default:
			return nil, fmt.Errorf("Split behavior %q is unknown", s.behavior)
		}
		return []preTokenizer{s}, nil
	case "Metaspace":
		m, err := newMetaspace(p.Replacement, p.PrependScheme, p.AddPrefixSpace, p.Split)
		if err != nil {
			return nil, err
		}
		return []preTokenizer{m}, nil
	}
	return nil, fmt.Errorf("type %q is not supported (Sequence, Split, ByteLevel, Metaspace)", p.Type)
}

// metaspace is the Metaspace pre-tokenizer (and, with decode, its decoder):
// spaces become the replacement character, which is prepended per the
// scheme, and with split each replacement starts a new piece. Under
// "first" tokenizers prepends to the piece that starts the original text;
// here that is the first piece of the text's first segment, which is the
// same unless a pre-tokenizer before Metaspace removes text (no LLaMA,
// Gemma or Mistral file has one).
type metaspace struct {
	rep     string
	scheme  string // "always", "first" or "never"
	splitOn bool
}

// newMetaspace reads Metaspace's fields as tokenizers (0.23) does:
// prepend_scheme defaults to "always" and split to true; add_prefix_space,
// which files written before prepend_scheme existed carry, is otherwise
// ignored, but false contradicts any scheme other than "never" and the
// file is refused.
func newMetaspace(rep string, scheme *string, addPrefixSpace *bool, split *bool) (*metaspace, error) {
	if utf8.RuneCountInString(rep) != 1 {
		return nil, fmt.Errorf("Metaspace replacement %q: want one character", rep)
	}
	m := &metaspace{rep: rep, scheme: "always", splitOn: split == nil || *split}
	if scheme != nil {
		switch *scheme {
		case "always", "first", "never":
			m.scheme = *scheme
		default:
			return nil, fmt.Errorf("Metaspace prepend_scheme %q: want always, first or never", *scheme)
		}
	}
	if addPrefixSpace != nil && !*addPrefixSpace && m.scheme != "never" {
		return nil, fmt.Errorf("Metaspace add_prefix_space false contradicts prepend_scheme %q (missing: \"always\"); want \"never\"", m.scheme)
	}
	return m, nil
}

func (m *metaspace) split(pieces []string, atStart bool) ([]string, error) {
	out := make([]string, 0, len(pieces))
	for i, p := range pieces {
		if p == "" {
			continue
		}
		p = strings.ReplaceAll(p, " ", m.rep)
		if !strings.HasPrefix(p, m.rep) && (m.scheme == "always" || m.scheme == "first" && i == 0 && atStart) {
			p = m.rep + p
		}
		if !m.splitOn {
			out = append(out, p)
			continue
		}
		// MergedWithNext: each replacement character starts a piece.
		for p != "" {
			k := strings.Index(p[1:], m.rep)
			if k < 0 {
				out = append(out, p)
				break
			}
			out = append(out, p[:k+1])
			p = p[k+1:]
		}
	}
	return out, nil
}

// gpt2Pattern is the ByteLevel pre-tokenizer's own regex (use_regex: true).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var gpt2Regex = func() *regexp2.Regexp {
	re := regexp2.MustCompile(gpt2Pattern, regexp2.None)
	re.MatchTimeout = splitMatchTimeout
	return re
}()

// byteLevelPre is the ByteLevel pre-tokenizer: optional prefix space, optional
// GPT-2 regex split, then every byte mapped to its printable character.
type byteLevelPre struct {
	addPrefixSpace bool
	regex          *splitPre
}

func (b *byteLevelPre) split(pieces []string, _ bool) ([]string, error) {
	if b.addPrefixSpace {
		for i, p := range pieces {
			if !strings.HasPrefix(p, " ") {
				pieces[i] = " " + p
			}
		}
	}
	if b.regex != nil {
		var err error
		if pieces, err = b.regex.split(pieces, false); err != nil {
			return nil, err
		}
	}
	for i, p := range pieces {
		pieces[i] = ByteLevelEncode(p)
	}
	return pieces, nil
}

// splitPre is the Split pre-tokenizer (regex or literal pattern).
type splitPre struct {
	re       *regexp2.Regexp
	literal  string
	behavior string
	invert   bool
}

func (s *splitPre) split(pieces []string, _ bool) ([]string, error) {
	var out []string
	for _, p := range pieces {
		ps, err := s.splitPiece(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

type span struct {
	start, end int // rune offsets
	match      bool
}

// findSpans covers p with alternating non-match / match spans (rune offsets).
func (s *splitPre) findSpans(rs []rune) ([]span, error) {
	var spans []span
	prev := 0
	emit := func(start, end int) {
		if start == end {
			return
		}
		if prev != start {
			spans = append(spans, span{prev, start, false})
		}
		spans = append(spans, span{start, end, true})
		prev = end
	}
	if s.re != nil {
		m, err := s.re.FindRunesMatch(rs)
		for err == nil && m != nil {
			emit(m.Index, m.Index+m.Length)
			m, err = s.re.FindNextMatch(m)
		}
		if err != nil {
			// regexp2's own message quotes the whole input.
			return nil, fmt.Errorf("tokenizer.json pre_tokenizer Split regex %q: a match ran past %v on a piece of %d characters (catastrophic backtracking?)", s.re.String(), s.re.MatchTimeout, len(rs))
		}
	} else {
		lit := []rune(s.literal)
		for i := 0; i+len(lit) <= len(rs); {
			if equalRunes(rs[i:i+len(lit)], lit) {
				emit(i, i+len(lit))
				i += len(lit)
				continue
			}
			i++
		}
	}
	if prev != len(rs) {
		spans = append(spans, span{prev, len(rs), false})
	}
	if s.invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	return spans, nil
}

func equalRunes(a, b []rune) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitOne is splitPiece for a pattern that cannot time out (tests).
// splitOne is splitPiece for tests of ordinary patterns, which cannot time out.
func (s *splitPre) splitOne(p string) []string {
	out, err := s.splitPiece(p)
	if err != nil {
		panic(err)
	}
	return out
}

// splitPiece applies SplitDelimiterBehavior as tokenizers' NormalizedString::split.
func (s *splitPre) splitPiece(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	rs := []rune(p)
	spans, err := s.findSpans(rs)
	if err != nil {
		return nil, err
	}
	type piece struct {
		start, end int
		remove     bool
	}
	var ps []piece
	switch s.behavior {
	case "Isolated":
		for _, sp := range spans {
			ps = append(ps, piece{sp.start, sp.end, false})
		}
	case "Removed":
		for _, sp := range spans {
			ps = append(ps, piece{sp.start, sp.end, sp.match})
		}
	case "MergedWithPrevious":
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(ps) > 0 {
				ps[len(ps)-1].end = sp.end
			} else {
				ps = append(ps, piece{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	case "MergedWithNext":
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(ps) > 0 {
				ps[len(ps)-1].start = sp.start
			} else {
				ps = append(ps, piece{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
			ps[i], ps[j] = ps[j], ps[i]
		}
	case "Contiguous":
		prevMatch := false
		for i, sp := range spans {
			if i > 0 && sp.match == prevMatch {
				ps[len(ps)-1].end = sp.end
			} else {
				ps = append(ps, piece{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	}
	out := make([]string, 0, len(ps))
	for _, x := range ps {
		if !x.remove && x.end > x.start {
			out = append(out, string(rs[x.start:x.end]))
		}
	}
	return out, nil
}

// ---- decoders ----

// decodeStep is one decoder of tokenizers' decode_chain: tokens in, tokens
// out; Decode concatenates what the last step leaves. With no decoder the
// tokens are joined with spaces.
type decodeStep func(tokens []string) []string

func parseDecoder(raw json.RawMessage) ([]decodeStep, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var d struct {
		Type           string            `json:"type"`
		Decoders       []json.RawMessage `json:"decoders"`
		Pattern        hfPattern         `json:"pattern"`
		Content        json.RawMessage   `json:"content"`
		Start          *int              `json:"start"`
		Stop           *int              `json:"stop"`
		Replacement    string            `json:"replacement"`
		PrependScheme  *string           `json:"prepend_scheme"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		Split          *bool             `json:"split"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, jsonerr.Describe(err)
	}
	switch d.Type {
	case "Sequence":
		var steps []decodeStep
		for i, sub := range d.Decoders {
			s, err := parseDecoder(sub)
			if err != nil {
				return nil, fmt.Errorf("decoders[%d]: %w", i, err)
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "ByteLevel":
		return []decodeStep{byteLevelDecode}, nil
	case "ByteFallback":
		return []decodeStep{byteFallbackDecode}, nil
	case "Fuse":
		return []decodeStep{func(t []string) []string { return []string{strings.Join(t, "")} }}, nil
	case "Replace":
		from, err := d.Pattern.literal("Replace")
		if err != nil {
			return nil, err
		}
		var to string
		if err := json.Unmarshal(d.Content, &to); err != nil || len(d.Content) == 0 || string(d.Content) == "null" {
			return nil, fmt.Errorf("Replace content %s: want a string", orMissing(d.Content))
		}
		return []decodeStep{func(t []string) []string {
			for i := range t {
				t[i] = strings.ReplaceAll(t[i], from, to)
			}
			return t
		}}, nil
	case "Strip":
		var c string
		if err := json.Unmarshal(d.Content, &c); err != nil || utf8.RuneCountInString(c) != 1 {
			return nil, fmt.Errorf("Strip content %s: want one character", orMissing(d.Content))
		}
		if d.Start == nil || d.Stop == nil || *d.Start < 0 || *d.Stop < 0 {
			return nil, fmt.Errorf("Strip start and stop: want two counts >= 0")
		}
		r, _ := utf8.DecodeRuneInString(c)
		return []decodeStep{stripDecode(r, *d.Start, *d.Stop)}, nil
	case "Metaspace":
		m, err := newMetaspace(d.Replacement, d.PrependScheme, d.AddPrefixSpace, d.Split)
		if err != nil {
			return nil, err
		}
		return []decodeStep{m.decode}, nil
	}
	return nil, fmt.Errorf("type %q is not supported (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)", d.Type)
}

// orMissing shows a raw JSON value in an error, "missing" when absent.
func orMissing(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "missing"
	}
	return string(raw)
}

// byteLevelDecode maps each token's characters back to bytes (a token with
// a character outside the map contributes its UTF-8 bytes as they are),
// then reads the bytes as lossy UTF-8, as Rust's String::from_utf8_lossy.
func byteLevelDecode(tokens []string) []string {
	var buf []byte
	for _, tok := range tokens {
		start := len(buf)
		for _, r := range tok {
			b, found := unicodeToByte[r]
			if !found {
				buf = append(buf[:start], tok...)
				break
			}
			buf = append(buf, b)
		}
	}
	return []string{lossyUTF8(buf)}
}

// byteFallbackDecode turns runs of "<0xNN>" tokens into their bytes when
// those are valid UTF-8, and into one U+FFFD per token when not.
func byteFallbackDecode(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, tok := range tokens {
		if b, ok := parseByteToken(tok); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}

// parseByteToken reads a byte-fallback token "<0xNN>" as the ByteFallback
// decoder does: SentencePiece's form, and "+N" for one digit, which Rust's
// from_str_radix also takes.
func parseByteToken(tok string) (byte, bool) {
	if len(tok) == 6 && strings.HasPrefix(tok, "<0x+") {
		tok = "<0x0" + tok[4:]
	}
	b, ok := parseBytePiece(tok)
	return byte(b), ok
}

// stripDecode removes up to start leading and stop trailing c characters
// from each token.
func stripDecode(c rune, start, stop int) decodeStep {
	return func(tokens []string) []string {
		for i, tok := range tokens {
			rs := []rune(tok)
			lo := 0
			for lo < min(start, len(rs)) && rs[lo] == c {
				lo++
			}
			hi := len(rs)
			for k := 0; k < min(stop, len(rs)-lo) && rs[hi-1] == c; k++ {
				hi--
			}
			tokens[i] = string(rs[lo:hi])
		}
		return tokens
	}
}

// decode is the Metaspace decoder: the replacement character becomes a
// space, except in the first token when a space was prepended on encoding.
func (m *metaspace) decode(tokens []string) []string {
	for i, tok := range tokens {
		sp := " "
		if i == 0 && m.scheme != "never" {
			sp = ""
		}
		tokens[i] = strings.ReplaceAll(tok, m.rep, sp)
	}
	return tokens
}
