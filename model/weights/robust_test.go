package weights

// Hostile and corrupt checkpoints: each case once crashed, hung, allocated
// far beyond the file's size, or accepted nonsense. Each must now fail with
// one error naming the file and what is wrong (or, for the cases that are
// legal, load the right bytes).

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error spans several lines: %q", err)
	}
}

func TestSafetensorsHostileHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		file []byte
		want []string
	}{
		// 8+len wrapped negative and passed the size check; make panicked.
		{"header length near 2^63", []byte{0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'},
			[]string{"header length 9223372036854775801", "expected 1 to 2"}},
		{"header length 2^64-1", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'},
			[]string{"header length 18446744073709551615"}},
		// Eight bytes of anything: "expected 1 to 0" was an empty range.
		{"8-byte file", []byte("12345678"), []string{"not a safetensors file: 8 bytes, too short for a header"}},
		// A 2^40-byte tensor in a 2-byte file: refused before any allocation.
		{"2^40 elements", rawSafetensors(`{"x":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}`, []byte{1, 2}),
			[]string{`tensor "x"`, "1099511627776 bytes", "file has 2"}},
		// [-1,-1] multiplied to 1 element and was accepted.
		{"negative dimensions", rawSafetensors(`{"x":{"dtype":"I64","shape":[-1,-1],"data_offsets":[0,8]}}`, make([]byte, 8)),
			[]string{`tensor "x"`, "shape [-1 -1]", "negative dimension"}},
		// 3 × 6148914691236517206 wraps to 2 elements.
		{"element count overflow", rawSafetensors(`{"x":{"dtype":"U8","shape":[3,6148914691236517206],"data_offsets":[0,2]}}`, make([]byte, 2)),
			[]string{`tensor "x"`, "too many elements"}},
		// Found by FuzzSafetensorsFields: the non-zero dimensions overflow,
		// and a 0 beside them hid it.
		{"overflow beside a zero dimension", rawSafetensors(`{"x":{"dtype":"U8","shape":[4611686018427387904,4,0],"data_offsets":[0,0]}}`, nil),
			[]string{`tensor "x"`, "too many elements"}},
		// end - begin wraps to the right byte count; end < 0 passed "end <= data".
		{"offsets wrap", rawSafetensors(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775807,-9223372036854775805]}}`, make([]byte, 8)),
			[]string{`tensor "x"`, "data_offsets [9223372036854775807, -9223372036854775805]", "begin <= end"}},
		{"offsets past the end", rawSafetensors(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, make([]byte, 12)),
			[]string{`tensor "x"`, "truncated", "ends at byte 16 of data, file has 12"}},
		{"offsets disagree with shape", rawSafetensors(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 8)),
			[]string{`tensor "x"`, "F32[2] needs 8 bytes, header offsets give 4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.safetensors")
			os.WriteFile(p, c.file, 0o644)
			s, err := OpenSafetensors(p)
			if err == nil {
				s.Close()
			}
			wantErr(t, err, append(c.want, p)...)
		})
	}
}

// A shard path in the index must stay inside the checkpoint folder.
func TestShardedIndexOutsideFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ckpt")
	os.MkdirAll(dir, 0o755)
	WriteSafetensors(filepath.Join(root, "outside.safetensors"), []*Tensor{FromFloat32("w", []int{1}, []float32{1})}, nil)
	index := filepath.Join(dir, "model.safetensors.index.json")
	for _, file := range []string{"../outside.safetensors", filepath.Join(root, "outside.safetensors"), ""} {
		js := `{"weight_map":{"w":` + strings.ReplaceAll(`"`+file+`"`, `\`, `\\`) + `}}`
		os.WriteFile(index, []byte(js), 0o644)
		s, err := Open(dir)
		if err == nil {
			s.Close()
		}
		wantErr(t, err, index, `weight_map["w"]`, "expected a file name inside "+dir)
	}
}

// hostilePickle wraps a tensor dict written by body into a pickle.
func hostilePickle(body func(b *pk)) []byte {
	var b pk
	b.Write([]byte{0x80, 2})
	body(&b)
	b.WriteByte('.')
	return b.Bytes()
}

func (b *pk) put(i int) { b.WriteByte('q'); b.WriteByte(byte(i)) } // BINPUT
func (b *pk) get(i int) { b.WriteByte('h'); b.WriteByte(byte(i)) } // BINGET

var w6 = fakeTensor{name: "w", storage: "0", class: "FloatStorage", numel: 6, size: []int{2, 3}, stride: []int{3, 1}}

type hostileCase struct {
	name string
	file []byte
	want []string // what the error must say, besides the file name
}

// hostilePth builds .pth files that crashed, hung, allocated terabytes or
// were accepted with nonsense sizes before the reader checked them. FuzzPth
// uses them as seeds too.
func hostilePth() []hostileCase {
	blob := f32bytes(0, 1, 2, 3, 4, 5)
	zipOf := func(ts ...fakeTensor) []byte {
		var b pk
		writePickle(&b, "", ts, false)
		return zipPth(b.Bytes(), blob)
	}
	legacyOf := func(ts ...fakeTensor) []byte {
		var b pk
		writePickle(&b, "", ts, true)
		return legacyPth(b.Bytes(), []string{"0"}, map[string][]byte{"0": blob}, map[string]int{"0": 4})
	}
	// L0 = [w], L(i) = [L(i-1), L(i-1)]: 60 levels unfold to 2^60 names.
	shared := hostilePickle(func(b *pk) {
		b.WriteByte('}')
		b.str("x")
		b.WriteByte(']')
		b.put(0)
		b.WriteByte('(')
		b.tensor(w6, false)
		b.WriteString("e0") // APPENDS, POP
		for i := 1; i <= 60; i++ {
			b.WriteByte(']')
			b.put(i)
			b.WriteByte('(')
			b.get(i - 1)
			b.get(i - 1)
			b.WriteString("e0")
		}
		b.get(60)
		b.WriteByte('s')
	})
	deep := hostilePickle(func(b *pk) {
		b.WriteByte('}')
		b.str("d")
		for range 200 {
			b.WriteString("](")
		}
		b.tensor(w6, false)
		for range 200 {
			b.WriteByte('e')
		}
		b.WriteByte('s')
	})
	// gopickle allocates what a length claims before reading it.
	unicode8 := append([]byte{0x80, 4, 0x8d}, binary.LittleEndian.AppendUint64(nil, 1<<40)...)
	frame := append([]byte{0x80, 4, 0x95}, binary.LittleEndian.AppendUint64(nil, 1<<40)...)
	legacyBinunicode := []byte{0x80, 2, 'X', 0xf0, 0xff, 0xff, 0xff, 'a', '.'}

	expanded := w6
	expanded.size, expanded.stride = []int{1 << 40}, []int{0}
	strideWrap := w6 // bytes, so that the size alone (2^62 bytes) does not overflow
	strideWrap.class, strideWrap.size, strideWrap.stride = "ByteStorage", []int{1 << 62}, []int{4}
	f32Zero := w6
	f32Zero.size, f32Zero.stride = []int{1<<62 + 1<<32, 0}, []int{1, 1}
	offsetWrap := w6
	offsetWrap.offset, offsetWrap.size, offsetWrap.stride = math.MaxInt, []int{2}, []int{1}
	numelWrap := w6
	numelWrap.numel, numelWrap.size, numelWrap.stride = 1<<62, []int{2}, []int{1}
	legacyNumelWrap := legacyOf(numelWrap)
	binary.LittleEndian.PutUint64(legacyNumelWrap[len(legacyNumelWrap)-len(blob)-8:], 1<<62)
	viewWrap := w6
	viewWrap.size, viewWrap.stride, viewWrap.view = []int{1}, []int{1}, []any{"v0", math.MaxInt, 1}

	return []hostileCase{
		{"exponentially shared lists", zipPth(shared, blob), []string{"unfolds to more than 16 MiB of tensor names"}},
		{"200 nested lists", zipPth(deep, blob), []string{"nests more than 100 levels"}},
		{"BINUNICODE8 of 2^40 bytes", zipPth(unicode8, blob), []string{"archive/data.pkl", "opcode 0x8d at byte 2 claims 1099511627776 bytes, only 0 remain"}},
		{"FRAME of 2^40 bytes", zipPth(frame, blob), []string{"opcode 0x95 at byte 2 claims 1099511627776 bytes"}},
		{"legacy BINUNICODE of 4 GiB", legacyBinunicode, []string{"magic number", "opcode 0x58 at byte 2 claims 4294967280 bytes, only 2 remain"}},
		// Get used to allocate 4 TiB for a stride-0 view of 2^40 elements.
		{"expanded to 2^40 elements", zipOf(expanded), []string{`tensor "w"`, "size [1099511627776] stride [0]", "expands to 1099511627776 elements"}},
		// (2^62-1)·4 wrapped negative and passed the bounds check; Get panicked.
		{"stride overflow", zipOf(strideWrap), []string{`tensor "w"`, "reaches past its storage of 6 elements"}},
		// Found by FuzzPthFields: 2^62+2^32 float32 elements beside a 0.
		{"bytes overflow beside a zero dimension", zipOf(f32Zero), []string{`tensor "w"`, "size [4611686022722355200 0]", "too many elements"}},
		{"offset overflow", legacyOf(offsetWrap), []string{`tensor "w"`, "offset 9223372036854775807 reaches past"}},
		// 2^62 float32 elements are 2^64 bytes, which wrapped to 0.
		{"zip storage size overflow", zipOf(numelWrap), []string{"storage 0: 4611686018427387904 elements of F32 overflow"}},
		// The on-disk count matched too; 2^62·4 bytes wrapped to 0 and Get panicked.
		{"legacy storage size overflow", legacyNumelWrap, []string{"storage 0: 4611686018427387904 elements of F32 overflow"}},
		// offset + size wrapped and passed "inside the storage"; Get panicked.
		{"legacy view overflow", legacyOf(viewWrap), []string{"storage 0: view", "outside its 6 elements"}},
	}
}

func TestPthHostile(t *testing.T) {
	for _, c := range hostilePth() {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.pth")
			os.WriteFile(p, c.file, 0o644)
			s, err := OpenPth(p)
			if err == nil {
				s.Close()
			}
			wantErr(t, err, append(c.want, p)...)
		})
	}
}

// A view storage in a zip checkpoint (6-element persistent id) reads its
// root's record; the root used never to be resolved and Get panicked.
func TestPthZipStorageView(t *testing.T) {
	v := w6
	v.size, v.stride, v.view = []int{3}, []int{1}, []any{"v0", 2, 3}
	var b pk
	writePickle(&b, "", []fakeTensor{v}, false)
	p := filepath.Join(t.TempDir(), "view.pth")
	os.WriteFile(p, zipPth(b.Bytes(), f32bytes(0, 1, 2, 3, 4, 5)), 0o644)
	s, err := OpenPth(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, err := s.Get("w")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape, []int{3}) || !bytes.Equal(x.Data, f32bytes(2, 3, 4)) {
		t.Errorf("view: %v %v, want [3] %v", x.Shape, x.Data, f32bytes(2, 3, 4))
	}
}

// A cycle adds no tensors: {"l": L} with L = [w, L] holds exactly l.0 (the
// walk used to recurse until the stack overflowed, a fatal error).
func TestPthCycleNames(t *testing.T) {
	cycle := hostilePickle(func(b *pk) {
		b.WriteByte('}')
		b.str("l")
		b.WriteByte(']')
		b.put(0)
		b.WriteByte('(')
		b.tensor(w6, false)
		b.get(0)
		b.WriteString("es")
	})
	p := filepath.Join(t.TempDir(), "cycle.pth")
	os.WriteFile(p, zipPth(cycle, f32bytes(0, 1, 2, 3, 4, 5)), 0o644)
	s, err := OpenPth(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !slices.Equal(s.Names(), []string{"l.0"}) {
		t.Errorf("names %v, want [l.0]", s.Names())
	}
}
