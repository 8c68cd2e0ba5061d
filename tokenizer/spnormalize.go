package tokenizer

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// spaceSymbol is U+2581 (LOWER ONE EIGHTH BLOCK), sentencepiece's escaped space.
const spaceSymbol = "\u2581"

// spNormalizer ports sentencepiece's normalizer.cc: longest-match rewriting
// with the precompiled charsmap (a Darts-clone double array whose values index
// NUL-terminated replacement strings), user-defined symbols left untouched,
// whitespace trimming/collapsing, the dummy prefix and the ▁ escape.
type spNormalizer struct {
	units      []uint32 // double-array units; nil: identity
	normalized []byte   // replacement strings, NUL-terminated
	user       *byteTrie

	addDummyPrefix          bool
	removeExtraWhitespaces  bool
	escapeWhitespaces       bool
	treatWhitespaceAsSuffix bool
}

func newSPNormalizer(spec spNormalizerSpec, suffix bool, user *byteTrie) (*spNormalizer, error) {
	n := &spNormalizer{
		user:                    user,
		addDummyPrefix:          spec.addDummyPrefix,
		removeExtraWhitespaces:  spec.removeExtraWhitespaces,
		escapeWhitespaces:       spec.escapeWhitespaces,
		treatWhitespaceAsSuffix: suffix,
	}
	blob := spec.charsmap
	if len(blob) == 0 {
		return n, nil
	}
	if len(blob) <= 4 {
		return nil, fmt.Errorf("precompiled_charsmap is %d bytes, too short for its header", len(blob))
	}
	size := int(binary.LittleEndian.Uint32(blob))
	if size >= len(blob)-4+1 || size%4 != 0 || size == 0 {
		return nil, fmt.Errorf("precompiled_charsmap trie size %d does not fit the %d-byte blob", size, len(blob))
	}
	trie := blob[4 : 4+size]
	n.units = make([]uint32, size/4)
	for i := range n.units {
		n.units[i] = binary.LittleEndian.Uint32(trie[4*i:])
	}
	n.normalized = blob[4+size:]
	return n, nil
}

// longestRule returns the byte length of the longest charsmap key that
// prefixes s and the offset of its replacement (Darts commonPrefixSearch).
func (n *spNormalizer) longestRule(s string) (length, value int) {
	units := n.units
	offset := func(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
	pos := offset(units[0])
	for i := 0; i < len(s); i++ {
		c := uint32(s[i])
		pos ^= c
		if int(pos) >= len(units) {
			break
		}
		u := units[pos]
		if u&((1<<31)|0xFF) != c { // label mismatch
			break
		}
		pos ^= offset(u)
		if (u>>8)&1 == 1 { // has leaf
			if int(pos) >= len(units) {
				break
			}
			length, value = i+1, int(units[pos]&((1<<31)-1))
		}
	}
	return length, value
}

// prefix normalizes the first character (or rule, or user-defined symbol) of
// s, returning the replacement and the number of input bytes it consumed.
func (n *spNormalizer) prefix(s string) (string, int) {
	if n.user != nil {
		if l := n.user.longestPrefix(s); l > 0 {
			return s[:l], l
		}
	}
	if n.units != nil {
		if l, v := n.longestRule(s); l > 0 && v < len(n.normalized) {
			rest := n.normalized[v:]
			if end := indexByte(rest, 0); end >= 0 {
				rest = rest[:end]
			}
			return string(rest), l
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		// Malformed UTF-8: one byte becomes U+FFFD, as sentencepiece does.
		return "\uFFFD", 1
	}
	return s[:size], size
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// normalize ports Normalizer::Normalize (without the alignment bookkeeping).
// addDummyPrefix overrides the spec's flag: SiglipTokenizer loads the model
// with add_dummy_prefix switched off.
func (n *spNormalizer) normalize(input string, addDummyPrefix bool) string {
	if input == "" {
		return ""
	}
	if n.removeExtraWhitespaces {
		for input != "" {
			p, c := n.prefix(input)
			if p != " " {
				break
			}
			input = input[c:]
		}
	}
	if input == "" {
		return ""
	}
	var out strings.Builder
	out.Grow(len(input) * 3)
	addWS := func() {
		if n.escapeWhitespaces {
			out.WriteString(spaceSymbol)
		} else {
			out.WriteByte(' ')
		}
	}
	if !n.treatWhitespaceAsSuffix && addDummyPrefix {
		addWS()
	}
	isPrevSpace := n.removeExtraWhitespaces
	for input != "" {
		sp, c := n.prefix(input)
		for isPrevSpace && strings.HasPrefix(sp, " ") {
			sp = sp[1:]
		}
		if sp != "" {
			for i := 0; i < len(sp); i++ {
				if n.escapeWhitespaces && sp[i] == ' ' {
					out.WriteString(spaceSymbol)
				} else {
					out.WriteByte(sp[i])
				}
			}
			isPrevSpace = strings.HasSuffix(sp, " ")
		}
		input = input[c:]
		if !n.removeExtraWhitespaces {
			isPrevSpace = false
		}
	}
	s := out.String()
	if n.removeExtraWhitespaces {
		space := " "
		if n.escapeWhitespaces {
			space = spaceSymbol
		}
		for strings.HasSuffix(s, space) {
			s = s[:len(s)-len(space)]
		}
	}
	if n.treatWhitespaceAsSuffix && addDummyPrefix {
		if n.escapeWhitespaces {
			s += spaceSymbol
		} else {
			s += " "
		}
	}
	return s
}

// byteTrie is a byte-keyed trie, used for piece lookup (unigram lattice) and
// longest-prefix matching of user-defined and added tokens. Keys are inserted
// into a map, then finish packs the edges: a dense table at the root and
// sorted edge lists below it, which walk several times faster than the map.
type byteTrie struct {
	build  map[uint64]int32 // node<<8 | byte -> child, until finish
	values []int32          // per node; -1: no key ends here
	first  [256]bool        // bytes that start some key

	root  [256]int32 // child of the root per byte; 0: none
	start []int32    // per node: first edge in edges (len(values)+1 entries)
	edges []trieEdge
}

type trieEdge struct {
	b     byte
	child int32
}

func newByteTrie() *byteTrie {
	return &byteTrie{build: map[uint64]int32{}, values: []int32{-1}}
}

func (t *byteTrie) insert(key string, value int) {
	if t.build == nil {
		panic("tokenizer: byteTrie.insert after finish")
	}
	node := int32(0)
	for i := 0; i < len(key); i++ {
		k := uint64(node)<<8 | uint64(key[i])
		child, ok := t.build[k]
		if !ok {
			child = int32(len(t.values))
			t.values = append(t.values, -1)
			t.build[k] = child
		}
		node = child
	}
	if len(key) > 0 {
		t.first[key[0]] = true
	}
	t.values[node] = int32(value)
}

// finish packs the edges; call it once after the last insert.
func (t *byteTrie) finish() *byteTrie {
	type kv struct {
		parent int32
		e      trieEdge
	}
	all := make([]kv, 0, len(t.build))
	for k, child := range t.build {
		all = append(all, kv{int32(k >> 8), trieEdge{byte(k), child}})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].parent != all[j].parent {
			return all[i].parent < all[j].parent
		}
		return all[i].e.b < all[j].e.b
	})
	t.start = make([]int32, len(t.values)+1)
	t.edges = make([]trieEdge, len(all))
	for i, x := range all {
		t.edges[i] = x.e
		t.start[x.parent+1]++
		if x.parent == 0 {
			t.root[x.e.b] = x.e.child
		}
	}
	for i := 1; i < len(t.start); i++ {
		t.start[i] += t.start[i-1]
	}
	t.build = nil
	return t
}

// step follows byte c from node; ok is false when there is no such edge.
func (t *byteTrie) step(node int32, c byte) (int32, bool) {
	if node == 0 {
		child := t.root[c]
		return child, child != 0
	}
	es := t.edges[t.start[node]:t.start[node+1]]
	if len(es) > 8 {
		i := sort.Search(len(es), func(i int) bool { return es[i].b >= c })
		if i < len(es) && es[i].b == c {
			return es[i].child, true
		}
		return 0, false
	}
	for _, e := range es {
		if e.b == c {
			return e.child, true
		}
	}
	return 0, false
}

// longestPrefix returns the length of the longest key that prefixes s (0: none).
func (t *byteTrie) longestPrefix(s string) int {
	if len(s) == 0 || !t.first[s[0]] {
		return 0
	}
	best, node := 0, int32(0)
	for i := 0; i < len(s); i++ {
		var ok bool
		if node, ok = t.step(node, s[i]); !ok {
			break
		}
		if t.values[node] >= 0 {
			best = i + 1
		}
	}
	return best
}

// longestMatch is longestPrefix that also returns the stored value.
func (t *byteTrie) longestMatch(s string) (length, value int) {
	if len(s) == 0 || !t.first[s[0]] {
		return 0, -1
	}
	value = -1
	node := int32(0)
	for i := 0; i < len(s); i++ {
		var ok bool
		if node, ok = t.step(node, s[i]); !ok {
			break
		}
		if v := t.values[node]; v >= 0 {
			length, value = i+1, int(v)
		}
	}
	return length, value
}
