package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Siglip reproduces transformers' SiglipTokenizer called as
// `tok(text, padding="max_length", truncation=True, max_length=N)`:
//
//  1. "▁" + text (any "▁" in text becomes a space), lower-cased one character
//     at a time (Python str.lower) except where a special token stands;
//  2. split around the special tokens "</s>" and "<unk>" (they swallow the
//     whitespace on both sides);
//  3. each other chunk: ASCII punctuation removed, whitespace runs collapsed
//     to one space, stripped, then encoded by the SentencePiece model with
//     add_dummy_prefix switched off, as "<unk>"+chunk with the pieces of
//     "<unk>" dropped afterwards (the tokenizer's trick to keep a leading ▁);
//  4. a leading lone "▁" before a special token is dropped;
//  5. truncated to N−1 ids, "</s>" appended unless already last, padded with
//     "</s>" (SiglipTokenizer's pad token) to N.
type Siglip struct {
	sp       *SentencePiece
	maxLen   int
	specials []string // all_special_tokens, in transformers' order
	special  *byteTrie
	eosID    int
	unkLen   int
}

const (
	siglipEOS = "</s>"
	siglipUNK = "<unk>"
)

// NewSiglip wraps a SentencePiece model (SigLIP's spiece.model) as
// SiglipTokenizer. maxLen > 0 truncates and pads to that length; maxLen <= 0
// only appends eos.
func NewSiglip(sp *SentencePiece, maxLen int) *Siglip {
	s := &Siglip{sp: sp, maxLen: maxLen, specials: []string{siglipEOS, siglipUNK}, special: newByteTrie()}
	for i, t := range s.specials {
		s.special.insert(t, i)
	}
	s.special.finish()
	s.eosID = sp.PieceToID(siglipEOS)
	s.unkLen = len(sp.encodePieces(siglipUNK, false))
	return s
}

// NotSiglipError refuses a SentencePiece model that is neither SigLIP's
// (eos "</s>") nor SigLIP2's Gemma tokenizer (eos "<eos>", and "<pad>"):
// either text rule set would append and pad with pieces the model does not
// have, encoding texts wrongly rather than failing. errors.As tells it from
// a file that cannot be read.
type NotSiglipError struct {
	Path string // the tokenizer file, as the caller named it
	Why  string // what else is wrong with it; "" for the end-of-sequence piece
}

func (e *NotSiglipError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("tokenizer %s is not a SigLIP text tokenizer: %s", e.Path, e.Why)
	}
	return fmt.Sprintf("tokenizer %s is not a SigLIP text tokenizer: its end-of-sequence piece is neither SigLIP's %q nor SigLIP2's (Gemma's) %q with a %q piece, and texts cannot be encoded", e.Path, siglipEOS, gemmaEOS, gemmaPAD)
}

// SiglipTokenizerIn returns the tokenizer file of a SigLIP-family text
// tower in dir: SigLIP's spiece.model, else SigLIP2's tokenizer.model (the
// Gemma tokenizer transformers saves beside tokenizer.json), else
// tokenizer.json (what open_clip reads, and all transformers 5 may save);
// "" if none. LoadSiglipText reads any of them.
func SiglipTokenizerIn(dir string) string {
	for _, name := range []string{"spiece.model", "tokenizer.model", "tokenizer.json"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

// TextTokenizer turns texts into a SigLIP-family text tower's input ids.
type TextTokenizer interface {
	Encode(text string) ([]int, error)
	// MaxLength is the padded length (0: no truncation or padding).
	MaxLength() int
	// Rules names the rules: "siglip" (SiglipTokenizer) or "siglip2".
	Rules() string
	// Model is the tokenizer underneath: a SentencePiece model, or for
	// SigLIP2 the tokenizer.json it may come as.
	Model() Tokenizer
}

var (
	_ TextTokenizer = (*Siglip)(nil)
	_ TextTokenizer = (*Siglip2)(nil)
)

// NewSiglipText wraps the SentencePiece model read from path (named in the
// error) with the text rules its end-of-sequence piece calls for: SigLIP's
// "</s>" gives SiglipTokenizer's (Siglip), Gemma's "<eos>" with "<pad>"
// SigLIP2's (Siglip2); any other model, one without an eos control piece
// included, is refused with a *NotSiglipError. The eos control piece
// decides, not the mere presence of a piece: Gemma's vocabulary has "</s>"
// too, as an ordinary HTML tag.
func NewSiglipText(sp *SentencePiece, path string, maxLen int) (TextTokenizer, error) {
	if eos := sp.EOS(); len(eos) == 1 {
		switch sp.IDToPiece(eos[0]) {
		case siglipEOS:
			return NewSiglip(sp, maxLen), nil
		case gemmaEOS:
			return NewSiglip2(sp, path, maxLen)
		}
	}
	return nil, &NotSiglipError{Path: path}
}

// LoadSiglipText reads a SigLIP-family text tokenizer from path (a file,
// or a folder searched as SiglipTokenizerIn does) and wraps it with the text
// rules it calls for, padding to maxLen: a SentencePiece model as
// NewSiglipText decides, or a BPE tokenizer.json (a .json file) with Gemma's
// special "<eos>" and "<pad>" tokens with SigLIP2's rules. Any other
// tokenizer, a tokenizer.json that is not such a BPE included (SigLIP's own
// unigram tokenizer is read from its spiece.model), is refused with a
// *NotSiglipError; a file that cannot be read, or is not JSON, with the
// loader's error.
func LoadSiglipText(path string, maxLen int) (TextTokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		p := SiglipTokenizerIn(path)
		if p == "" {
			return nil, fmt.Errorf("tokenizer: %s: folder has no spiece.model, tokenizer.model or tokenizer.json", path)
		}
		path = p
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		t, err := ParseHFBPE(data)
		switch {
		case err != nil && !json.Valid(data): // broken, as an unreadable .model is
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		case err != nil: // another kind of tokenizer.json
			return nil, &NotSiglipError{Path: path, Why: err.Error()}
		}
		t.path = path
		if !t.hasSpecial(gemmaEOS) || !t.hasSpecial(gemmaPAD) {
			return nil, &NotSiglipError{Path: path}
		}
		return NewSiglip2(t, path, maxLen)
	}
	sp, err := LoadSentencePiece(path)
	if err != nil {
		return nil, err
	}
	return NewSiglipText(sp, path, maxLen)
}

// MaxLength is the padded length (0: no truncation or padding).
func (s *Siglip) MaxLength() int { return max(s.maxLen, 0) }

// Rules names the text rules: "siglip".
func (s *Siglip) Rules() string { return "siglip" }

// EOSID is the id of "</s>", also used for padding.
func (s *Siglip) EOSID() int { return s.eosID }

// Model is the underlying SentencePiece model.
func (s *Siglip) Model() Tokenizer { return s.sp }

// Decode decodes ids with the underlying model (padding and eos vanish).
func (s *Siglip) Decode(ids []int) string { return s.sp.Decode(ids) }

// Encode returns SiglipTokenizer's input_ids for text.
func (s *Siglip) Encode(text string) ([]int, error) {
	text = spaceSymbol + strings.ReplaceAll(text, spaceSymbol, " ")
	text = s.lowerOutsideSpecials(text)

	// Split on special tokens (leftmost-longest), then apply their lstrip and
	// rstrip: the chunk before loses trailing, the chunk after leading space.
	type chunk struct {
		text    string
		special bool
	}
	var chunks []chunk
	start := 0
	for i := 0; i < len(text); {
		if l := s.special.longestPrefix(text[i:]); l > 0 {
			chunks = append(chunks, chunk{text[start:i], false}, chunk{text[i : i+l], true})
			i += l
			start = i
			continue
		}
		i++
	}
	chunks = append(chunks, chunk{text[start:], false})
	for i, c := range chunks {
		if !c.special {
			continue
		}
		if i > 0 {
			chunks[i-1].text = strings.TrimRightFunc(chunks[i-1].text, pyIsSpace)
		}
		if i+1 < len(chunks) {
			chunks[i+1].text = strings.TrimLeftFunc(chunks[i+1].text, pyIsSpace)
		}
	}

	var tokens []string
	for _, c := range chunks {
		if c.text == "" {
			continue
		}
		if c.special {
			tokens = append(tokens, c.text)
			continue
		}
		ps := s.sp.encodePieces(siglipUNK+canonicalizeText(c.text), false)
		if len(ps) >= s.unkLen {
			ps = ps[s.unkLen:]
		}
		for _, p := range ps {
			tokens = append(tokens, p.Text)
		}
	}
	if len(tokens) > 1 && tokens[0] == spaceSymbol && s.isSpecial(tokens[1]) {
		tokens = tokens[1:]
	}

	ids := make([]int, 0, max(len(tokens)+1, s.maxLen))
	for _, t := range tokens {
		ids = append(ids, s.sp.PieceToID(t))
	}
	if s.maxLen > 0 && len(ids)+1 > s.maxLen {
		ids = ids[:max(s.maxLen-1, 0)]
	}
	if len(ids) == 0 || ids[len(ids)-1] != s.eosID {
		ids = append(ids, s.eosID)
	}
	for len(ids) < s.maxLen {
		ids = append(ids, s.eosID)
	}
	return ids, nil
}

func (s *Siglip) isSpecial(t string) bool {
	for _, x := range s.specials {
		if t == x {
			return true
		}
	}
	return false
}

// lowerOutsideSpecials is transformers' do_lower_case step:
// re.sub("(special|...)|(.+?)", special or char.lower()) — one character at a
// time, so Python's context rules (final sigma) never apply; "." does not
// match "\n", which lower() leaves alone anyway.
func (s *Siglip) lowerOutsideSpecials(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		matched := false
		for _, t := range s.specials { // first alternative wins, as in the regex
			if strings.HasPrefix(text[i:], t) {
				b.WriteString(t)
				i += len(t)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		b.WriteString(pyLower(r))
		i += size
	}
	return b.String()
}

// pyLower is Python's str.lower for one character: the simple lowercase
// mapping, except U+0130 whose full mapping is "i̇".
func pyLower(r rune) string {
	if r == '\u0130' {
		return "i\u0307"
	}
	return string(unicode.ToLower(r))
}

// pyIsSpace is Python's str.isspace / re's \s for one character: Unicode
// White_Space plus the information separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// asciiPunctuation is Python's string.punctuation.
const asciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// canonicalizeText is SiglipTokenizer.canonicalize_text (from big_vision):
// remove ASCII punctuation, collapse whitespace runs to one space, strip.
func canonicalizeText(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	inSpace := false
	for _, r := range text {
		if r < 0x80 && strings.ContainsRune(asciiPunctuation, r) {
			continue
		}
		if pyIsSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return strings.TrimFunc(b.String(), pyIsSpace)
}
