package tokenizer

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Siglip2 reproduces the ids a SigLIP2 text tower is evaluated on, as
// open_clip's SigLIP2 configs make them (the DualToken authors' zero-shot
// and retrieval code uses one of those configs): HFTokenizer with
// clean="canonicalize" over the Gemma tokenizer that transformers' SigLIP2
// conversion saves (add_bos_token=False, add_eos_token=True, right
// padding), called with padding="max_length", truncation=True:
//
//  1. HTML character references replaced twice (Python's html.unescape),
//     then "_" becomes a space, ASCII punctuation is removed, the text is
//     lower-cased (Python's str.lower, final sigma included) and whitespace
//     runs become one space, stripped (open_clip's canonicalize_text);
//  2. the SentencePiece model's ids (Gemma's: BPE with byte fallback, no
//     dummy prefix), truncated to N−1;
//  3. "<eos>" appended, then "<pad>" up to N.
//
// open_clip first runs ftfy.fix_text, which is not reproduced: it repairs
// mojibake, curly quotes, ligatures, full-width forms and control
// characters, and leaves plain text such as ImageNet's class names and
// Flickr8K's captions as it is. SigLIP2 was trained on lower-cased text,
// and transformers' own Siglip2Tokenizer lower-cases too (without removing
// punctuation).
type Siglip2 struct {
	sp     Tokenizer // SentencePiece model or tokenizer.json
	maxLen int
	eosID  int
	padID  int
}

// Gemma's special pieces, as SigLIP2's tokenizer names them.
const (
	gemmaEOS = "<eos>"
	gemmaPAD = "<pad>"
)

// NewSiglip2 wraps a tokenizer with Gemma's "<eos>" and "<pad>" pieces
// (SigLIP2's tokenizer.model, or its tokenizer.json) as open_clip's SigLIP2
// tokenizer; maxLen > 0 truncates and pads to that length, maxLen <= 0
// only appends eos. path names the file in the error for a model without
// them.
func NewSiglip2(sp Tokenizer, path string, maxLen int) (*Siglip2, error) {
	eos, okE := sp.TokenID(gemmaEOS)
	pad, okP := sp.TokenID(gemmaPAD)
	if !okE || !okP {
		return nil, &NotSiglipError{Path: path}
	}
	return &Siglip2{sp: sp, maxLen: maxLen, eosID: eos, padID: pad}, nil
}

// MaxLength is the padded length (0: no truncation or padding).
func (s *Siglip2) MaxLength() int { return max(s.maxLen, 0) }

// Rules names the text rules: "siglip2".
func (s *Siglip2) Rules() string { return "siglip2" }

// Model is the underlying tokenizer.
func (s *Siglip2) Model() Tokenizer { return s.sp }

// Clean is step 1: the text the SentencePiece model encodes.
// open_clip lower-cases before collapsing whitespace; doing it after
// SiglipTokenizer's canonicalisation (punctuation out, whitespace
// collapsed) gives the same text: lower-casing makes no punctuation or
// whitespace, and whitespace is neither cased nor case-ignorable, so the
// final-sigma contexts do not change.
func (s *Siglip2) Clean(text string) string {
	text = pyUnescapeHTML(pyUnescapeHTML(text))
	return pyLowerString(canonicalizeText(strings.ReplaceAll(text, "_", " ")))
}

// Encode returns the input_ids for text.
func (s *Siglip2) Encode(text string) ([]int, error) {
	ids, err := s.sp.Encode(s.Clean(text))
	if err != nil {
		return nil, err
	}
	if s.maxLen > 0 && len(ids) > s.maxLen-1 {
		ids = ids[:max(s.maxLen-1, 0)]
	}
	ids = append(ids, s.eosID)
	for len(ids) < s.maxLen {
		ids = append(ids, s.padID)
	}
	return ids, nil
}

// pyLowerString is Python's str.lower: the simple lowercase mapping, U+0130
// to "i̇", and capital sigma to final sigma where it ends a word (a cased
// letter before it and none after, case-ignorable characters skipped). The
// Unicode tables are Go's (17.0; Python 3.11 has 14.0), which differ only
// for letters added since.
func pyLowerString(text string) string {
	rs := []rune(text)
	var b strings.Builder
	b.Grow(len(text))
	for i, r := range rs {
		if r == 'Σ' {
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
			continue
		}
		b.WriteString(pyLower(r))
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition for rs[i]:
// cased case-ignorable* Σ !(case-ignorable* cased).
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && caseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !cased(rs[j])
}

// cased is Unicode's Cased property.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: marks, format
// characters, modifier letters and symbols, and the Word_Break MidLetter,
// MidNumLet and Single_Quote characters.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '\u00b7', '\u0387', '\u055f', '\u05f4', '\u2018', '\u2019', '\u2024', '\u2027',
		'\ufe13', '\ufe52', '\ufe55', '\uff07', '\uff0e', '\uff1a':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// pyUnescapeHTML is Python's html.unescape. Named references go through
// Go's html.UnescapeString, which knows the same HTML5 names (with and
// without ';', longest prefix first) but two (goLacksEntity); numeric ones
// are decoded here, where Go differs: any number of digits (no overflow),
// the control and non-character code points Python drops, and "&#" with no
// digits left alone.
func pyUnescapeHTML(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		n, repl := charRef(s)
		if n == 0 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		b.WriteString(repl)
		s = s[n:]
	}
}

// charRef decodes the reference at the start of s ("&..."), Python's
// _charref pattern &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?):
// the bytes it spans and their replacement, or 0 when nothing matches.
func charRef(s string) (int, string) {
	if len(s) > 1 && s[1] == '#' {
		hex := len(s) > 2 && (s[2] == 'x' || s[2] == 'X')
		start := 2
		if hex {
			start = 3
		}
		end := start
		for end < len(s) && (isDigit(s[end]) || hex && isHexLetter(s[end])) {
			end++
		}
		if end == start {
			return 0, ""
		}
		n := end
		if n < len(s) && s[n] == ';' {
			n++
		}
		return n, numericRef(s[start:end], hex)
	}
	end, names := 1, 0
	for end < len(s) && names < 32 {
		r, size := utf8.DecodeRuneInString(s[end:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		end += size
		names++
	}
	if names == 0 {
		return 0, ""
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	if r, ok := goLacksEntity[s[1:end]]; ok {
		return end, r
	}
	return end, html.UnescapeString(s[:end])
}

// goLacksEntity holds the HTML5 names Python knows and Go's html package
// leaves out (its table comments them out).
var goLacksEntity = map[string]string{"nLt;": "\u226a\u20d2", "nGt;": "\u226b\u20d2"}

func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isHexLetter(c byte) bool { return 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// numericRef is Python's replacement for a numeric reference with the
// given digits.
func numericRef(digits string, hex bool) string {
	base := 10
	if hex {
		base = 16
	}
	num := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[i] - '0')
		if digits[i] > '9' {
			d = int(digits[i]|0x20-'a') + 10
		}
		num = num*base + d
		if num > unicode.MaxRune {
			return "\ufffd"
		}
	}
	switch {
	case num == 0:
		return "\ufffd"
	case num == 0x0d:
		return "\r"
	case 0x80 <= num && num <= 0x9f:
		return string(cp1252[num-0x80])
	case 0xd800 <= num && num <= 0xdfff:
		return "\ufffd"
	case 0x01 <= num && num <= 0x08, num == 0x0b, 0x0e <= num && num <= 0x1f, num == 0x7f,
		0xfdd0 <= num && num <= 0xfdef, num&0xfffe == 0xfffe:
		return ""
	}
	return string(rune(num))
}

// cp1252 is what HTML (and Python) read &#128;..&#159; as: Windows-1252's
// characters, the five it leaves undefined as themselves.
var cp1252 = [32]rune{
	'\u20ac', '\u0081', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
	'\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008d', '\u017d', '\u008f',
	'\u0090', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
	'\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\u009d', '\u017e', '\u0178',
}
