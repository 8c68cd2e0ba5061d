package weights

// Fuzz targets for the checkpoint readers. Any input may be rejected, but
// only with an error naming the file: never a panic, a hang, or an
// allocation the file's size does not justify. Whatever is accepted must
// give back tensors whose bytes match their dtype and shape.
//
// Run one at a time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzSafetensors$' -fuzztime 90s -fuzzminimizetime 100x -parallel 1 ./model/weights
//
// (the default minimisation of every new corpus entry, up to 60 s each,
// otherwise takes most of a short run).
//
// Targets: FuzzSafetensors, FuzzPth (whole files, or a pickle the target
// wraps in a zip) and FuzzShardedIndex take raw bytes; FuzzSafetensorsFields
// and FuzzPthFields build one well-formed tensor from fuzzed header numbers,
// which is how Go's byte mutator reaches overflowing sizes and offsets.
// Without -fuzz they run their seed corpus (built here, plus the inputs that
// once failed, kept under testdata/fuzz/<Target>/) as ordinary tests.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// seedTensors covers every dtype, a scalar and an empty tensor.
func seedTensors() []*Tensor {
	return []*Tensor{
		FromFloat32("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, -6}),
		FromFloat32("scalar", []int{}, []float32{2.5}),
		FromFloat32("empty", []int{0, 4}, nil),
		FromFloat64("d", []int{2}, []float64{1, -1}),
		FromInt64("ids", []int{3}, []int64{-1, 0, 7}),
		FromUint8("img", []int{2}, []uint8{0, 255}),
		{Name: "h", DType: F16, Shape: []int{2}, Data: []byte{0x00, 0x3C, 0x00, 0xC0}},
		{Name: "b", DType: BF16, Shape: []int{2}, Data: []byte{0x80, 0x3F, 0x00, 0xC0}},
		{Name: "i32", DType: I32, Shape: []int{1}, Data: []byte{1, 0, 0, 0x80}},
		{Name: "i16", DType: I16, Shape: []int{1}, Data: []byte{1, 0x80}},
		{Name: "i8", DType: I8, Shape: []int{1, 1}, Data: []byte{0xff}},
		{Name: "mask", DType: Bool, Shape: []int{2}, Data: []byte{0, 1}},
	}
}

// safetensorsBytes is WriteSafetensors' output for ts.
func safetensorsBytes(tb testing.TB, ts []*Tensor, meta map[string]string) []byte {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "seed.safetensors")
	if err := WriteSafetensors(p, ts, meta); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rawSafetensors builds a file from a literal JSON header and data, to seed
// headers WriteSafetensors would never write.
func rawSafetensors(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

// fixtureSeeds returns the fixture files matching pattern under
// fixtures/pth when that folder exists (CI has it; a checkout may not).
func fixtureSeeds(pattern string) [][]byte {
	files, _ := filepath.Glob(filepath.Join(fixtures.RootPath(), "pth", pattern))
	var out [][]byte
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && len(b) < 1<<16 {
			out = append(out, b)
		}
	}
	return out
}

// checkedElements is the product of shape, false on a negative dimension or
// when the non-zero dimensions overflow: what a reader must have refused.
func checkedElements(shape []int) (int, bool) {
	n, empty := 1, false
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			empty = true
			continue
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = int(lo)
	}
	if empty {
		return 0, true
	}
	return n, true
}

// exercise checks one tensor a reader handed out and converts it the way
// models do.
func exercise(t *testing.T, x *Tensor) {
	t.Helper()
	if x.DType.Size() == 0 {
		t.Fatalf("tensor %q: unsupported dtype %q accepted", x.Name, x.DType)
	}
	n, ok := checkedElements(x.Shape)
	if !ok {
		t.Fatalf("tensor %q: shape %v accepted (negative or overflowing)", x.Name, x.Shape)
	}
	if len(x.Data) != n*x.DType.Size() {
		t.Fatalf("tensor %q: %s%v with %d bytes of data", x.Name, x.DType, x.Shape, len(x.Data))
	}
	if x.DType.IsFloat() {
		if v, err := x.Float32(); err != nil || len(v) != n {
			t.Fatalf("tensor %q: Float32: %d values, %v", x.Name, len(v), err)
		}
		if _, err := x.Int64(); err == nil {
			t.Fatalf("tensor %q: Int64 of a %s tensor did not fail", x.Name, x.DType)
		}
		return
	}
	if v, err := x.Int64(); err != nil || len(v) != n {
		t.Fatalf("tensor %q: Int64: %d values, %v", x.Name, len(v), err)
	}
	if _, err := x.Float32(); err != nil {
		t.Fatalf("tensor %q: Float32: %v", x.Name, err)
	}
}

// exerciseSet gets every listed tensor. mayFailGet allows Get errors (a
// .pth's compressed records are only read there), which must name path.
func exerciseSet(t *testing.T, s Set, path string, mayFailGet bool) {
	t.Helper()
	for _, name := range s.Names() {
		if !s.Has(name) {
			t.Fatalf("Names lists %q but Has denies it", name)
		}
		x, err := s.Get(name)
		if err != nil {
			if !mayFailGet || !strings.Contains(err.Error(), path) {
				t.Fatalf("Get(%q): %v", name, err)
			}
			continue
		}
		exercise(t, x)
	}
}

// checkFile writes data to p, opens it with open and checks the result: a
// refusal names p, a set that opens gives up every tensor it lists.
func checkFile[S Set](t *testing.T, p string, data []byte, open func(string) (S, error), mayFailGet bool) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := open(p)
	if err != nil {
		errorNamesFile(t, err, p)
		return
	}
	defer s.Close()
	exerciseSet(t, s, p, mayFailGet)
}

func errorNamesFile(t *testing.T, err error, path string) {
	t.Helper()
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file %s: %v", path, err)
	}
}

func FuzzSafetensors(f *testing.F) {
	f.Add(safetensorsBytes(f, seedTensors(), map[string]string{"format": "pt"}))
	f.Add(safetensorsBytes(f, seedTensors()[:1], nil))
	f.Add(safetensorsBytes(f, nil, nil))
	f.Add(rawSafetensors(`{"x":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}`, []byte{1, 2}))
	f.Add(rawSafetensors(`{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}`, make([]byte, 24)))
	f.Add(rawSafetensors(`{"x":{"dtype":"I64","shape":[-1,-1],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'})
	for _, b := range fixtureSeeds("*.safetensors") {
		f.Add(b)
	}
	p := filepath.Join(f.TempDir(), "fuzz.safetensors") // calls are sequential
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFile(t, p, data, OpenSafetensors, false)
	})
}

// pthSeedTensors are stored in storages "0" (float32, 6 elements) and "1"
// (bfloat16, 3 elements), as zipPth below lays them out.
var pthSeedTensors = []fakeTensor{
	{name: "w", storage: "0", class: "FloatStorage", numel: 6, size: []int{2, 3}, stride: []int{3, 1}},
	{name: "wt", storage: "0", class: "FloatStorage", numel: 6, size: []int{3, 2}, stride: []int{1, 3}},
	{name: "tail", storage: "0", class: "FloatStorage", numel: 6, offset: 4, size: []int{2}, stride: []int{1}},
	{name: "b", storage: "1", class: "BFloat16Storage", numel: 3, size: []int{3}, stride: []int{1}},
	{name: "bexp", storage: "1", class: "BFloat16Storage", numel: 3, size: []int{4, 3}, stride: []int{0, 1}},
}

// zipPth wraps a data.pkl and one storage blob (stored as record 0 and
// deflated as record 1) in a torch.save zip archive.
func zipPth(pkl, blob []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, method uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err == nil {
			w.Write(data)
		}
	}
	add("archive/data.pkl", pkl, zip.Store)
	add("archive/byteorder", []byte("little"), zip.Store)
	add("archive/data/0", blob, zip.Store)
	add("archive/data/1", blob, zip.Deflate)
	zw.Close()
	return buf.Bytes()
}

func FuzzPth(f *testing.F) {
	blob := f32bytes(0, 1, 2, 3, 4, 5)
	var flat, nested pk
	writePickle(&flat, "", pthSeedTensors, false)
	writePickle(&nested, "state_dict", pthSeedTensors[:2], false)
	// Mode true: the pickle and blob are wrapped in a zip here, so that
	// mutations reach the unpickler instead of failing the zip CRC.
	f.Add(true, flat.Bytes(), blob)
	f.Add(true, nested.Bytes(), blob)
	var dd pk
	writePickle(&dd, "defaultdict", pthSeedTensors[:1], false)
	f.Add(true, dd.Bytes(), blob)

	// Mode false: the first slice is the whole file (zip or legacy).
	f.Add(false, zipPth(flat.Bytes(), blob), []byte(nil))
	tmp := f.TempDir()
	zp := filepath.Join(tmp, "z.pth")
	writeZipPth(f, zp, "state_dict", pthSeedTensors, map[string][]byte{"0": blob, "1": blob[:6]})
	lp := filepath.Join(tmp, "l.pth")
	writeLegacyPth(f, lp, "state_dict", pthSeedTensors, []string{"0", "1"},
		map[string][]byte{"0": blob, "1": blob[:6]}, map[string]int{"0": 4, "1": 2})
	vp := filepath.Join(tmp, "v.pth")
	writeLegacyPth(f, vp, "", []fakeTensor{
		{name: "v", storage: "0", class: "FloatStorage", numel: 6, size: []int{3}, stride: []int{1}, view: []any{"v0", 2, 3}},
	}, []string{"0"}, map[string][]byte{"0": blob}, map[string]int{"0": 4})
	for _, p := range []string{zp, lp, vp} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, b, []byte(nil))
	}
	for _, b := range fixtureSeeds("*.pth") {
		f.Add(false, b, []byte(nil))
	}
	for _, c := range hostilePth() {
		f.Add(false, c.file, []byte(nil))
	}

	p := filepath.Join(f.TempDir(), "fuzz.pth")
	f.Fuzz(func(t *testing.T, wrap bool, file, blob []byte) {
		if wrap {
			file = zipPth(file, blob)
		}
		checkFile(t, p, file, OpenPth, true)
	})
}

// Shard names used by FuzzShardedIndex: the first is fixed and valid, the
// second is fuzzed; outside.safetensors lies next to the checkpoint folder
// and must never be reachable through the index.
const (
	shard1 = "model-00001-of-00002.safetensors"
	shard2 = "model-00002-of-00002.safetensors"
)

func FuzzShardedIndex(f *testing.F) {
	two := safetensorsBytes(f, seedTensors()[4:6], nil) // ids, img
	f.Add([]byte(`{"metadata":{"total_size":40},"weight_map":{"w":"`+shard1+`","scalar":"`+shard1+`","ids":"`+shard2+`","img":"`+shard2+`"}}`), two)
	f.Add([]byte(`{"weight_map":{"w":"`+shard1+`"}}`), []byte(nil))
	f.Add([]byte(`{"weight_map":{"w":"../outside.safetensors"}}`), two)
	f.Add([]byte(`{"weight_map":{"w":""}}`), two)
	f.Add([]byte(`{"weight_map":{"ids":"`+shard1+`"}}`), two)
	f.Add([]byte(`{"weight_map":[]}`), two)
	one := safetensorsBytes(f, seedTensors()[:2], nil) // w, scalar
	outside := safetensorsBytes(f, seedTensors()[:1], nil)

	root := f.TempDir()
	dir := filepath.Join(root, "ckpt")
	f.Fuzz(func(t *testing.T, index, shard []byte) {
		for p, b := range map[string][]byte{
			filepath.Join(dir, shard1):                         one,
			filepath.Join(dir, shard2):                         shard,
			filepath.Join(dir, "model.safetensors.index.json"): index,
			filepath.Join(root, "outside.safetensors"):         outside,
		} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(dir)
		if err != nil {
			errorNamesFile(t, err, dir)
			return
		}
		defer s.Close()
		sh, ok := s.(*Sharded)
		if !ok {
			t.Fatalf("Open(%s) gave a %T, want *Sharded", dir, s)
		}
		for file := range sh.files {
			if !filepath.IsLocal(file) {
				t.Fatalf("index reached shard %q outside the checkpoint folder", file)
			}
		}
		exerciseSet(t, s, dir, false)
	})
}

// fieldReader hands out little-endian int64s from a fuzzed byte string
// (zero once it runs out). Go's mutator only nudges int arguments by ±100,
// but it overwrites byte strings with boundary values (-1, 2^63-1, ...),
// which is what overflow bugs in header arithmetic need.
type fieldReader []byte

func (r *fieldReader) next() int64 {
	var b [8]byte
	n := copy(b[:], *r)
	*r = (*r)[n:]
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// fields packs int64s for seeds.
func fields(v ...int64) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, uint64(x))
	}
	return out
}

// FuzzSafetensorsFields: one tensor whose dtype, shape (rank 0-3) and
// data_offsets come from the fuzzer, over dataLen bytes of data.
func FuzzSafetensorsFields(f *testing.F) {
	f.Add("F32", fields(2, 2, 3, 0, 0, 24, 24))
	f.Add("BF16", fields(1, 4, 0, 0, 8, 16, 16))
	f.Add("U8", fields(0, 0, 0, 0, 0, 1, 1))
	f.Add("I64", fields(3, 1, 1, 2, 0, 16, 32))
	p := filepath.Join(f.TempDir(), "fields.safetensors")
	f.Fuzz(func(t *testing.T, dtype string, raw []byte) {
		r := fieldReader(raw)
		rank := int(uint64(r.next()) % 4)
		shape := []int64{r.next(), r.next(), r.next()}[:rank]
		begin, end, dataLen := r.next(), r.next(), uint64(r.next())%4096
		js, _ := json.Marshal(map[string]any{"x": map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int64{begin, end}}})
		checkFile(t, p, rawSafetensors(string(js), make([]byte, dataLen)), OpenSafetensors, false)
	})
}

// FuzzPthFields: one tensor view whose storage size, offset, sizes,
// strides, legacy view window and on-disk element count come from the
// fuzzer, in either format, over a 6-element float32 storage.
func FuzzPthFields(f *testing.F) {
	//             numel offset rank size0 size1 stride0 stride1 view voff vsize count
	f.Add(true, fields(6, 0, 2, 2, 3, 3, 1, 0, 0, 0, 6))
	f.Add(false, fields(6, 0, 2, 3, 2, 1, 3, 0, 0, 0, 6))
	f.Add(false, fields(6, 0, 1, 3, 0, 1, 0, 1, 2, 3, 6))
	f.Add(true, fields(6, 1, 2, 4, 2, 0, 1, 1, 2, 3, 6))
	blob := f32bytes(0, 1, 2, 3, 4, 5)
	p := filepath.Join(f.TempDir(), "fields.pth")
	f.Fuzz(func(t *testing.T, zipFormat bool, raw []byte) {
		r := fieldReader(raw)
		ft := fakeTensor{name: "x", storage: "0", class: "FloatStorage", numel: int(r.next()), offset: int(r.next())}
		rank := int(uint64(r.next()) % 3)
		size, stride := []int{int(r.next()), int(r.next())}, []int{0, 0}
		stride[0], stride[1] = int(r.next()), int(r.next())
		ft.size, ft.stride = size[:rank], stride[:rank]
		if r.next()&1 == 1 {
			ft.view = []any{"v0", int(r.next()), int(r.next())}
		} else {
			r.next()
			r.next()
		}
		count := r.next()
		var pkl pk
		writePickle(&pkl, "", []fakeTensor{ft}, !zipFormat)
		var file []byte
		if zipFormat {
			file = zipPth(pkl.Bytes(), blob)
		} else {
			file = legacyPth(pkl.Bytes(), []string{"0"}, map[string][]byte{"0": blob}, map[string]int{"0": 4})
			binary.LittleEndian.PutUint64(file[len(file)-len(blob)-8:], uint64(count))
		}
		checkFile(t, p, file, OpenPth, true)
	})
}
