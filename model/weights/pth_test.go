package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestParityPth: the zip and legacy torch.save files of fixtures/pth hold
// exactly the tensors of state_dict.safetensors (names, dtypes, shapes, bytes).
func TestParityPth(t *testing.T) {
	dir := fixtures.Dir(t, "pth")
	want, err := OpenSafetensors(filepath.Join(dir, "state_dict.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if len(want.Names()) == 0 {
		t.Fatal("state_dict.safetensors holds no tensors")
	}
	for _, file := range []string{"state_dict.pth", "state_dict_legacy.pth"} {
		t.Run(file, func(t *testing.T) {
			got, err := Open(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if !slices.Equal(got.Names(), want.Names()) {
				t.Fatalf("names %v, want %v", got.Names(), want.Names())
			}
			for _, name := range want.Names() {
				w, _ := want.Get(name)
				g, err := got.Get(name)
				if err != nil {
					t.Fatal(err)
				}
				if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
					t.Errorf("%s: got %s%v (%d bytes), want %s%v (%d bytes), bytes equal %v",
						name, g.DType, g.Shape, len(g.Data), w.DType, w.Shape, len(w.Data), bytes.Equal(g.Data, w.Data))
				}
			}
		})
	}
}

// TestPthTruncatedAndCorrupt: every prefix of the fixture files, and garbage,
// fails with an error naming the file, never a panic or a silent success.
func TestPthTruncatedAndCorrupt(t *testing.T) {
	dir := fixtures.Dir(t, "pth")
	tmp := t.TempDir()
	for _, file := range []string{"state_dict.pth", "state_dict_legacy.pth"} {
		full, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 3, 10, len(full) / 4, len(full) / 2, len(full) - 40, len(full) - 1} {
			p := filepath.Join(tmp, "cut.pth")
			if err := os.WriteFile(p, full[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := OpenPth(p)
			if err == nil {
				// A zip cut inside its central directory cannot open; a legacy
				// file cut in the storage bytes must not open either.
				s.Close()
				t.Errorf("%s cut to %d of %d bytes: opened without error", file, n, len(full))
				continue
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s cut to %d bytes: error does not name the file: %v", file, n, err)
			}
		}
	}
	p := filepath.Join(tmp, "garbage.pth")
	os.WriteFile(p, []byte("this is not a checkpoint at all"), 0o644)
	if _, err := OpenPth(p); err == nil || !strings.Contains(err.Error(), "not a PyTorch checkpoint") || !strings.Contains(err.Error(), p) {
		t.Errorf("garbage: %v", err)
	}
}

// --- a minimal torch.save writer, to test what the fixtures do not cover ---

type pk struct{ bytes.Buffer }

func (b *pk) str(s string) {
	b.WriteByte('X')
	binary.Write(b, binary.LittleEndian, uint32(len(s)))
	b.WriteString(s)
}
func (b *pk) int(n int) {
	if n == int(int32(n)) {
		b.WriteByte('J')
		binary.Write(b, binary.LittleEndian, int32(n))
		return
	}
	b.Write([]byte{0x8a, 8}) // LONG1 with 8 bytes
	binary.Write(b, binary.LittleEndian, int64(n))
}
func (b *pk) global(mod, name string) {
	b.WriteByte('c')
	b.WriteString(mod + "\n" + name + "\n")
}
func (b *pk) tuple(ns []int) {
	b.WriteByte('(')
	for _, n := range ns {
		b.int(n)
	}
	b.WriteByte('t')
}

type fakeTensor struct {
	name, storage, class string
	numel, offset        int
	size, stride         []int
	view                 []any // legacy view metadata (key, offset, size), nil for none
}

// writePickle writes {prefix: {name: tensor, ...}, "epoch": 3} (or a flat
// dict for prefix "") with the persistent ids of the given format.
func writePickle(b *pk, prefix string, ts []fakeTensor, legacy bool) {
	b.Write([]byte{0x80, 2})
	if prefix == "defaultdict" { // a dict subclass the loader does not know
		b.global("collections", "defaultdict")
		b.WriteByte(')')
		b.WriteByte('R')
		prefix = ""
	} else {
		b.WriteByte('}')
	}
	if prefix != "" {
		b.WriteByte('(')
		b.str("epoch")
		b.int(3)
		b.str(prefix)
		b.WriteByte('}')
	}
	b.WriteByte('(')
	for _, ft := range ts {
		b.str(ft.name)
		b.tensor(ft, legacy)
	}
	b.WriteByte('u') // SETITEMS
	if prefix != "" {
		b.WriteByte('u')
	}
	b.WriteByte('.')
}

// tensor writes _rebuild_tensor_v2(storage, offset, size, stride, False,
// OrderedDict()) with the persistent id of the given format.
func (b *pk) tensor(ft fakeTensor, legacy bool) {
	b.global("torch._utils", "_rebuild_tensor_v2")
	b.WriteByte('(')
	b.WriteByte('(')
	b.str("storage")
	b.global("torch", ft.class)
	b.str(ft.storage)
	b.str("cpu")
	b.int(ft.numel)
	if legacy || ft.view != nil { // zip files have no views; a hostile one may
		if ft.view == nil {
			b.WriteByte('N')
		} else {
			b.WriteByte('(')
			b.str(ft.view[0].(string))
			b.int(ft.view[1].(int))
			b.int(ft.view[2].(int))
			b.WriteByte('t')
		}
	}
	b.WriteByte('t')
	b.WriteByte('Q') // BINPERSID
	b.int(ft.offset)
	b.tuple(ft.size)
	b.tuple(ft.stride)
	b.WriteByte(0x89) // False
	b.global("collections", "OrderedDict")
	b.WriteByte(')')
	b.WriteByte('R')
	b.WriteByte('t')
	b.WriteByte('R')
}

func f32bytes(v ...float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func writeZipPth(t testing.TB, path, prefix string, ts []fakeTensor, storages map[string][]byte) {
	var pkl pk
	writePickle(&pkl, prefix, ts, false)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl.Bytes(), zip.Store)
	for k, v := range storages {
		method := zip.Store
		if k == "1" {
			method = zip.Deflate // torch stores, other writers may compress
		}
		add("archive/data/"+k, v, method)
	}
	add("archive/version", []byte("3\n"), zip.Store)
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeLegacyPth(t testing.TB, path, prefix string, ts []fakeTensor, keys []string, storages map[string][]byte, esize map[string]int) {
	var main pk
	writePickle(&main, prefix, ts, true)
	os.WriteFile(path, legacyPth(main.Bytes(), keys, storages, esize), 0o644)
}

// legacyPth frames a main pickle as a legacy torch.save file: magic number,
// protocol, sys_info, the pickle, the storage keys, then each storage's
// element count and bytes.
func legacyPth(mainPickle []byte, keys []string, storages map[string][]byte, esize map[string]int) []byte {
	var b pk
	// magic number 0x1950a86a20f9469cfc6c as LONG1, protocol 1001, empty sys_info
	b.Write([]byte{0x80, 2, 0x8a, 10})
	b.Write([]byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19})
	b.WriteByte('.')
	b.Write([]byte{0x80, 2, 'M', 0xe9, 0x03, '.'})
	b.Write([]byte{0x80, 2, '}', '.'})
	b.Write(mainPickle)
	b.Write([]byte{0x80, 2, ']', '('})
	for _, k := range keys {
		b.str(k)
	}
	b.Write([]byte{'e', '.'})
	for _, k := range keys {
		binary.Write(&b, binary.LittleEndian, int64(len(storages[k])/esize[k]))
		b.Write(storages[k])
	}
	return b.Bytes()
}

// TestPthStridesNestingDTypes: a transposed view, an offset into a shared
// storage, bf16 and int64 storages, a deflated record, nested dicts and a
// legacy storage view, in both formats.
func TestPthStridesNestingDTypes(t *testing.T) {
	tmp := t.TempDir()
	s0 := f32bytes(0, 1, 2, 3, 4, 5)                 // viewed as [2,3]; "wt" is its transpose [3,2]
	bf := []byte{0x80, 0x3f, 0x00, 0x40, 0x40, 0xc0} // bf16 1, 2, -3
	i64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(i64, 7)
	binary.LittleEndian.PutUint64(i64[8:], math.MaxUint64) // -1
	ts := []fakeTensor{
		{name: "w", storage: "0", class: "FloatStorage", numel: 6, size: []int{2, 3}, stride: []int{3, 1}},
		{name: "wt", storage: "0", class: "FloatStorage", numel: 6, size: []int{3, 2}, stride: []int{1, 3}},
		{name: "tail", storage: "0", class: "FloatStorage", numel: 6, offset: 4, size: []int{2}, stride: []int{1}},
		{name: "b", storage: "1", class: "BFloat16Storage", numel: 3, size: []int{3}, stride: []int{1}},
		{name: "n", storage: "2", class: "LongStorage", numel: 2, size: []int{2}, stride: []int{1}},
		{name: "scalar", storage: "2", class: "LongStorage", numel: 2, offset: 1, size: []int{}, stride: []int{}},
	}
	storages := map[string][]byte{"0": s0, "1": bf, "2": i64}
	zipPath := filepath.Join(tmp, "nested.pth")
	writeZipPth(t, zipPath, "state_dict", ts, storages)
	legacyPath := filepath.Join(tmp, "nested_legacy.pth")
	writeLegacyPth(t, legacyPath, "state_dict", ts, []string{"0", "1", "2"}, storages, map[string]int{"0": 4, "1": 2, "2": 8})

	for _, p := range []string{zipPath, legacyPath} {
		s, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		wantNames := []string{"state_dict.b", "state_dict.n", "state_dict.scalar", "state_dict.tail", "state_dict.w", "state_dict.wt"}
		if !slices.Equal(s.Names(), wantNames) {
			t.Fatalf("%s: names %v, want %v", p, s.Names(), wantNames)
		}
		if pre, ok := FindPrefix(s, "wt"); !ok || pre != "state_dict." {
			t.Errorf("FindPrefix = %q %v", pre, ok)
		}
		get := func(n string) *Tensor {
			x, err := s.Get("state_dict." + n)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		if w := get("wt"); !slices.Equal(w.Shape, []int{3, 2}) || !bytes.Equal(w.Data, f32bytes(0, 3, 1, 4, 2, 5)) {
			t.Errorf("%s: transposed view: %v %v", p, w.Shape, w.Data)
		}
		if w := get("tail"); !bytes.Equal(w.Data, f32bytes(4, 5)) {
			t.Errorf("%s: offset view: %v", p, w.Data)
		}
		if v, _ := get("b").Float32(); get("b").DType != BF16 || !slices.Equal(v, []float32{1, 2, -3}) {
			t.Errorf("%s: bf16: %v %v", p, get("b").DType, v)
		}
		if v, _ := get("n").Int64(); !slices.Equal(v, []int64{7, -1}) {
			t.Errorf("%s: int64: %v", p, v)
		}
		if sc := get("scalar"); len(sc.Shape) != 0 || sc.DType != I64 {
			t.Errorf("%s: scalar: %s%v", p, sc.DType, sc.Shape)
		} else if v, _ := sc.Int64(); v[0] != -1 {
			t.Errorf("%s: scalar value %v", p, v)
		}
		s.Close()
	}

	// Legacy storage view: ('storage', Float, "0", cpu, 6, ("v", 2, 3)) is elements 2..4.
	viewPath := filepath.Join(tmp, "view_legacy.pth")
	writeLegacyPth(t, viewPath, "", []fakeTensor{
		{name: "v", storage: "0", class: "FloatStorage", numel: 6, size: []int{3}, stride: []int{1}, view: []any{"v0", 2, 3}},
	}, []string{"0"}, map[string][]byte{"0": s0}, map[string]int{"0": 4})
	s, err := OpenPth(viewPath)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("v"); !bytes.Equal(v.Data, f32bytes(2, 3, 4)) {
		t.Errorf("legacy view: %v", v.Data)
	}
	s.Close()

	// Tensors inside an unknown dict subclass (collections.defaultdict) are found.
	dd := filepath.Join(tmp, "defaultdict.pth")
	writeZipPth(t, dd, "defaultdict", ts[:1], map[string][]byte{"0": s0})
	if s, err := OpenPth(dd); err != nil || !slices.Equal(s.Names(), []string{"w"}) {
		t.Errorf("defaultdict: %v", err)
	}

	// A view reaching past its storage is an error naming the tensor.
	bad := filepath.Join(tmp, "bad.pth")
	writeZipPth(t, bad, "", []fakeTensor{
		{name: "big", storage: "0", class: "FloatStorage", numel: 6, size: []int{4, 2}, stride: []int{2, 1}},
	}, map[string][]byte{"0": s0})
	if _, err := OpenPth(bad); err == nil || !strings.Contains(err.Error(), `"big"`) || !strings.Contains(err.Error(), bad) {
		t.Errorf("out-of-range view: %v", err)
	}
	// A missing storage record is an error naming it.
	missing := filepath.Join(tmp, "missing.pth")
	writeZipPth(t, missing, "", ts[:1], map[string][]byte{})
	if _, err := OpenPth(missing); err == nil || !strings.Contains(err.Error(), "archive/data/0") {
		t.Errorf("missing record: %v", err)
	}
}
