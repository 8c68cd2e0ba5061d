package tokenizer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SentencePiece is a SentencePiece model (`.model` file: unigram or BPE, with
// or without byte fallback) that encodes and decodes exactly as the C++
// library does: normalisation with the model's precompiled charsmap, the
// unigram Viterbi (optimised encoder, unknown penalty min score − 10,
// user-defined symbols always kept whole) or score-ordered BPE merges, runs of
// unknown pieces merged into one, and byte fallback.
type SentencePiece struct {
	path      string
	pieces    []spPiece
	pieceToID map[string]int // NORMAL, USER_DEFINED, UNUSED
	reserved  map[string]int // CONTROL, UNKNOWN, BYTE
	trainer   spTrainerSpec
	unkID     int
	byteID    [256]int // byte-fallback piece ids (-1: absent)
	byteOf    []int    // id -> byte value for BYTE pieces, -1 otherwise
	norm      *spNormalizer
	denorm    *spNormalizer
	trie      *byteTrie // unigram: all normal/user/unused pieces
	minScore  float32
	maxScore  float32
	// addDummyPrefix / removeExtraWhitespaces as the model states them (used by Decode).
	addDummyPrefix, removeExtraWS bool
}

// Piece is one encoded piece: its id and its text (for unknown pieces, the
// normalized text they cover; for byte pieces, "<0xNN>").
type Piece struct {
	ID   int
	Text string
}

// LoadSentencePiece reads a SentencePiece `.model` file.
func LoadSentencePiece(path string) (*SentencePiece, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	sp, err := ParseSentencePiece(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	sp.path = path
	return sp, nil
}

// ParseSentencePiece builds a model from a serialized ModelProto.
func ParseSentencePiece(data []byte) (*SentencePiece, error) {
	m, err := parseModelProto(data)
	if err != nil {
		return nil, fmt.Errorf("not a SentencePiece ModelProto: %w", err)
	}
	if len(m.pieces) == 0 {
		return nil, fmt.Errorf("model has no pieces (not a SentencePiece model?)")
	}
	switch m.trainer.modelType {
	case modelUnigram, modelBPE:
	case modelWord, modelChar:
		return nil, fmt.Errorf("trainer_spec.model_type %d (WORD/CHAR) is not supported; want UNIGRAM (1) or BPE (2)", m.trainer.modelType)
	default:
		return nil, fmt.Errorf("trainer_spec.model_type %d is unknown; want UNIGRAM (1) or BPE (2)", m.trainer.modelType)
	}
	sp := &SentencePiece{
		pieces:         m.pieces,
		pieceToID:      make(map[string]int, len(m.pieces)),
		reserved:       map[string]int{},
		trainer:        m.trainer,
		unkID:          -1,
		byteOf:         make([]int, len(m.pieces)),
		addDummyPrefix: m.normalizer.addDummyPrefix,
		removeExtraWS:  m.normalizer.removeExtraWhitespaces,
	}
	for i := range sp.byteID {
		sp.byteID[i] = -1
	}
	user := newByteTrie()
	hasUser := false
	for i, p := range m.pieces {
		sp.byteOf[i] = -1
		if p.piece == "" {
			return nil, fmt.Errorf("pieces[%d] is empty", i)
		}
		normal := p.typ == pieceNormal || p.typ == pieceUserDefined || p.typ == pieceUnused
		target := sp.reserved
		if normal {
			target = sp.pieceToID
		}
		if _, dup := target[p.piece]; dup {
			return nil, fmt.Errorf("pieces[%d] %q is already defined", i, p.piece)
		}
		target[p.piece] = i
		switch p.typ {
		case pieceUserDefined:
			user.insert(p.piece, i)
			hasUser = true
		case pieceUnknown:
			if sp.unkID >= 0 {
				return nil, fmt.Errorf("pieces[%d]: unknown piece defined twice (also id %d)", i, sp.unkID)
			}
			sp.unkID = i
		case pieceByte:
			if !m.trainer.byteFallback {
				return nil, fmt.Errorf("pieces[%d]: byte piece %q found although trainer_spec.byte_fallback is false", i, p.piece)
			}
			b, ok := parseBytePiece(p.piece)
			if !ok {
				return nil, fmt.Errorf("pieces[%d]: byte piece %q is not of the form <0xNN>", i, p.piece)
			}
			sp.byteID[b] = i
			sp.byteOf[i] = b
		case pieceNormal, pieceControl, pieceUnused:
		default:
			return nil, fmt.Errorf("pieces[%d] %q has unknown type %d", i, p.piece, p.typ)
		}
	}
	if sp.unkID < 0 {
		return nil, fmt.Errorf("model defines no unknown piece (type UNKNOWN)")
	}
	if m.trainer.byteFallback {
		for b, id := range sp.byteID {
			if id < 0 {
				return nil, fmt.Errorf("trainer_spec.byte_fallback is true but byte piece <0x%02X> is missing", b)
			}
		}
	}
	if hasUser {
		user.finish()
	} else {
		user = nil
	}
	if sp.norm, err = newSPNormalizer(m.normalizer, m.trainer.treatWhitespaceAsSuffix, user); err != nil {
		return nil, fmt.Errorf("normalizer_spec: %w", err)
	}
	if m.denormalizer.present && len(m.denormalizer.charsmap) > 0 {
		if sp.denorm, err = newSPNormalizer(m.denormalizer, false, nil); err != nil {
			return nil, fmt.Errorf("denormalizer_spec: %w", err)
		}
	}
	if m.trainer.modelType == modelUnigram {
		// min/max over NORMAL pieces, initialised as the C++ does (FLT_MAX, FLT_MIN).
		sp.minScore, sp.maxScore = 3.40282346638528859811704183484516925440e+38, 0x1p-126
		sp.trie = newByteTrie()
		for i, p := range m.pieces {
			if p.typ == pieceNormal {
				sp.minScore = min(sp.minScore, p.score)
				sp.maxScore = max(sp.maxScore, p.score)
			}
			if p.typ == pieceNormal || p.typ == pieceUserDefined || p.typ == pieceUnused {
				sp.trie.insert(p.piece, i)
			}
		}
		sp.trie.finish()
	}
	return sp, nil
}

func parseBytePiece(s string) (int, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	return int(v), err == nil
}

// Path is the file the model was loaded from ("" if parsed from bytes).
func (sp *SentencePiece) Path() string { return sp.path }

// IsBPE reports whether the model is BPE (otherwise unigram).
func (sp *SentencePiece) IsBPE() bool { return sp.trainer.modelType == modelBPE }

// VocabSize is the number of pieces.
func (sp *SentencePiece) VocabSize() int { return len(sp.pieces) }

// UnkID is the id of the unknown piece.
func (sp *SentencePiece) UnkID() int { return sp.unkID }

// PieceToID maps a piece to its id as sentencepiece's piece_to_id does:
// control/unknown/byte pieces first, then normal ones, else the unknown id.
func (sp *SentencePiece) PieceToID(piece string) int {
	if id, ok := sp.reserved[piece]; ok {
		return id
	}
	if id, ok := sp.pieceToID[piece]; ok {
		return id
	}
	return sp.unkID
}

// IDToPiece returns the piece string of id ("" when out of range).
func (sp *SentencePiece) IDToPiece(id int) string {
	if id < 0 || id >= len(sp.pieces) {
		return ""
	}
	return sp.pieces[id].piece
}

// TokenID looks a piece up by its exact string, control pieces included.
func (sp *SentencePiece) TokenID(token string) (int, bool) {
	if id, ok := sp.reserved[token]; ok {
		return id, true
	}
	id, ok := sp.pieceToID[token]
	return id, ok
}

// specialID resolves the trainer's id for a control piece (eos/bos/pad),
// falling back to the piece string when the id is not a control piece.
func (sp *SentencePiece) specialID(id int, piece string) (int, bool) {
	if id >= 0 && id < len(sp.pieces) && sp.pieces[id].typ == pieceControl {
		return id, true
	}
	if id, ok := sp.reserved[piece]; ok && sp.pieces[id].typ == pieceControl {
		return id, true
	}
	return 0, false
}

// EOS returns the end-of-sequence id (trainer_spec.eos_id), if the model has one.
func (sp *SentencePiece) EOS() []int {
	if id, ok := sp.specialID(sp.trainer.eosID, sp.trainer.eosPiece); ok {
		return []int{id}
	}
	return nil
}

// BOS returns the beginning-of-sequence id (trainer_spec.bos_id); LLaMA-2
// prepends it to every prompt.
func (sp *SentencePiece) BOS() (int, bool) {
	return sp.specialID(sp.trainer.bosID, sp.trainer.bosPiece)
}

// Encode returns the ids of text with no bos/eos added
// (sentencepiece's `encode(text)`).
func (sp *SentencePiece) Encode(text string) ([]int, error) {
	ps := sp.encodePieces(text, sp.addDummyPrefix)
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids, nil
}

// EncodeWithBOS is Encode with the bos id prepended when the model has one,
// as LLaMA-2's tokenizer does for a prompt.
func (sp *SentencePiece) EncodeWithBOS(text string) ([]int, error) {
	ids, err := sp.Encode(text)
	if bos, ok := sp.BOS(); ok && err == nil {
		ids = append([]int{bos}, ids...)
	}
	return ids, err
}

// EncodePieces returns ids and piece strings (`encode(text, out_type=str)`).
func (sp *SentencePiece) EncodePieces(text string) []Piece {
	return sp.encodePieces(text, sp.addDummyPrefix)
}

// Normalize returns the text as the model sees it (▁ for spaces).
func (sp *SentencePiece) Normalize(text string) string {
	return sp.norm.normalize(text, sp.addDummyPrefix)
}

func (sp *SentencePiece) encodePieces(text string, addDummyPrefix bool) []Piece {
	normalized := sp.norm.normalize(text, addDummyPrefix)
	if normalized == "" {
		return nil
	}
	var raw []Piece
	if sp.trie != nil {
		raw = sp.viterbi(normalized)
	} else {
		raw = sp.bpe(normalized)
	}
	// PopulateSentencePieceText: byte fallback for unknown pieces, otherwise
	// runs of unknown pieces merged into one.
	// The text of a run of unknown pieces is collected in a builder:
	// appending to the last piece's string would copy the run once per
	// character, quadratic in a long stretch of unknown text.
	out := make([]Piece, 0, len(raw))
	var run strings.Builder // text of the unknown piece out[len(out)-1]
	inRun := false
	endRun := func() {
		if inRun {
			out[len(out)-1].Text = run.String()
			run.Reset()
			inRun = false
		}
	}
	for _, p := range raw {
		isUnk := p.ID == sp.unkID
		switch {
		case sp.isControl(p.ID):
			endRun()
			out = append(out, p)
		case isUnk && sp.trainer.byteFallback:
			for i := 0; i < len(p.Text); i++ {
				id := sp.byteID[p.Text[i]]
				out = append(out, Piece{ID: id, Text: sp.pieces[id].piece})
			}
		case isUnk && inRun:
			run.WriteString(p.Text)
		case isUnk:
			out = append(out, p)
			run.WriteString(p.Text)
			inRun = true
		default:
			endRun()
			out = append(out, p)
		}
	}
	endRun()
	return out
}

func (sp *SentencePiece) isControl(id int) bool {
	return id >= 0 && id < len(sp.pieces) && sp.pieces[id].typ == pieceControl
}

// viterbi is unigram_model.cc's EncodeOptimized: best path over byte
// positions; scores in float32 with candidate sums compared as the C++
// compares them (user-defined bonus computed in double).
func (sp *SentencePiece) viterbi(s string) []Piece {
	type node struct {
		id       int
		score    float32
		startsAt int
	}
	size := len(s)
	best := make([]node, size+1)
	for i := range best {
		best[i] = node{id: -1, startsAt: -1}
	}
	best[0].score = 0
	unkScore := sp.minScore - 10
	for start := 0; start < size; {
		till := best[start].score
		mblen := min(oneCharLen(s[start]), size-start)
		hasSingle := false
		n := int32(0)
		for pos := start; pos < size; {
			var ok bool
			if n, ok = sp.trie.step(n, s[pos]); !ok {
				break
			}
			pos++
			id := int(sp.trie.values[n])
			if id < 0 || sp.pieces[id].typ == pieceUnused {
				continue
			}
			length := pos - start
			var cand float64
			if sp.pieces[id].typ == pieceUserDefined {
				cand = (float64(float32(length)*sp.maxScore) - 0.1) + float64(till)
			} else {
				cand = float64(sp.pieces[id].score) + float64(till)
			}
			t := &best[pos]
			if t.startsAt == -1 || cand > float64(t.score) {
				t.score, t.startsAt, t.id = float32(cand), start, id
			}
			if !hasSingle && length == mblen {
				hasSingle = true
			}
		}
		if !hasSingle {
			t := &best[start+mblen]
			cand := unkScore + till
			if t.startsAt == -1 || cand > t.score {
				t.score, t.startsAt, t.id = cand, start, sp.unkID
			}
		}
		start += mblen
	}
	var rev []Piece
	for end := size; end > 0; {
		nd := best[end]
		rev = append(rev, Piece{ID: nd.id, Text: s[nd.startsAt:end]})
		end = nd.startsAt
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// oneCharLen is sentencepiece's OneCharLen: UTF-8 length from the lead byte.
func oneCharLen(b byte) int {
	return int("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x02\x02\x03\x04"[b>>4])
}

// bpe is bpe_model.cc's Encode: repeatedly merge the adjacent pair whose
// merged piece has the highest score (leftmost on ties); user-defined symbols
// never merge; unused pieces are resegmented into what they were merged from.
func (sp *SentencePiece) bpe(s string) []Piece {
	type symbol struct {
		prev, next int
		freeze     bool
		start, end int // byte range in s; start == end: merged away
	}
	syms := make([]symbol, 0, len(s))
	for i := 0; i < len(s); {
		l, freeze := 0, false
		if sp.norm.user != nil {
			if l = sp.norm.user.longestPrefix(s[i:]); l > 0 {
				freeze = true
			}
		}
		if l == 0 {
			l = min(oneCharLen(s[i]), len(s)-i)
		}
		idx := len(syms)
		syms = append(syms, symbol{prev: idx - 1, next: idx + 1, freeze: freeze, start: i, end: i + l})
		i += l
	}
	syms[len(syms)-1].next = -1

	var revMerge map[string][2]string // only for unused pieces
	// The agenda pops the highest score first, the leftmost pair on ties.
	agenda := &minHeap[spPair]{items: make([]spPair, 0, len(syms)), less: func(a, b spPair) bool {
		if a.score != b.score {
			return a.score > b.score
		}
		return a.left < b.left
	}}
	addPair := func(left, right int) {
		if left == -1 || right == -1 || syms[left].freeze || syms[right].freeze {
			return
		}
		piece := s[syms[left].start:syms[right].end]
		id, ok := sp.pieceToID[piece]
		if !ok {
			return
		}
		agenda.push(spPair{left: left, right: right, score: sp.pieces[id].score, size: len(piece)})
		if sp.pieces[id].typ == pieceUnused {
			if revMerge == nil {
				revMerge = map[string][2]string{}
			}
			revMerge[piece] = [2]string{s[syms[left].start:syms[left].end], s[syms[right].start:syms[right].end]}
		}
	}
	for i := 1; i < len(syms); i++ {
		addPair(i-1, i)
	}
	for agenda.Len() > 0 {
		top := agenda.pop()
		l, r := &syms[top.left], &syms[top.right]
		if l.start == l.end || r.start == r.end || (l.end-l.start)+(r.end-r.start) != top.size {
			continue // stale
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		r.start, r.end = 0, 0
		addPair(l.prev, top.left)
		addPair(top.left, l.next)
	}
	var out []Piece
	var resegment func(w string)
	resegment = func(w string) {
		id := sp.PieceToID(w)
		if sp.pieces[id].typ != pieceUnused {
			out = append(out, Piece{ID: id, Text: w})
			return
		}
		p, ok := revMerge[w]
		if !ok {
			out = append(out, Piece{ID: id, Text: w})
			return
		}
		resegment(p[0])
		resegment(p[1])
	}
	for i := 0; i != -1; i = syms[i].next {
		resegment(s[syms[i].start:syms[i].end])
	}
	return out
}

type spPair struct {
	left, right int
	score       float32
	size        int
}

// Decode turns ids back into text as sentencepiece's decode does: control
// pieces vanish, unknown pieces become the unknown surface (" ⁇ "), runs of
// byte pieces are reassembled as UTF-8 (each invalid byte → U+FFFD), ▁ becomes
// a space and the leading dummy-prefix space is removed. Ids out of range are
// skipped.
func (sp *SentencePiece) Decode(ids []int) string {
	var text strings.Builder
	var pending []byte
	flushBytes := func() {
		for len(pending) > 0 {
			r, size := utf8.DecodeRune(pending)
			if r == utf8.RuneError && size <= 1 {
				text.WriteString("\uFFFD")
				size = 1
			} else {
				text.Write(pending[:size])
			}
			pending = pending[size:]
		}
	}
	isBosWS, bosWSSeen := true, false
	for _, id := range ids {
		if id < 0 || id >= len(sp.pieces) {
			continue
		}
		piece := sp.pieces[id].piece
		id = sp.PieceToID(piece) // sentencepiece decodes via the piece string
		if b := sp.byteOf[id]; b >= 0 {
			pending = append(pending, byte(b))
			continue
		}
		flushBytes()
		if bosWSSeen || text.Len() > 0 {
			isBosWS = false
		}
		var decoded string
		decoded, bosWSSeen = sp.decodePiece(piece, id, isBosWS)
		text.WriteString(decoded)
	}
	flushBytes()
	out := text.String()
	if sp.denorm != nil {
		out = sp.denorm.normalize(out, sp.denorm.addDummyPrefix)
	}
	return out
}

func (sp *SentencePiece) decodePiece(piece string, id int, isBosWS bool) (string, bool) {
	switch sp.pieces[id].typ {
	case pieceControl:
		return "", false
	case pieceUnknown:
		return sp.trainer.unkSurface, false
	}
	hasBosWS := false
	if isBosWS && (sp.addDummyPrefix || sp.removeExtraWS) {
		if strings.HasPrefix(piece, spaceSymbol) {
			piece = piece[len(spaceSymbol):]
			hasBosWS = true
		}
		if sp.removeExtraWS {
			// With extra whitespace removed, every leading space goes.
			hasBosWS = false
		}
	}
	return strings.ReplaceAll(piece, spaceSymbol, " "), hasBosWS
}
