//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package xlacache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
	"github.com/gomlx/go-xla/stablehlo"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/goxla"
	"github.com/dualtoken/evalharness/backend/xladry"
)

// fakeCodec stands in for PJRT: compile returns an executable with the
// program's signature, serialize writes a marker and the program's name,
// load accepts what serialize wrote.
type fakeCodec struct {
	mu              sync.Mutex
	compiles, loads int
	loaded          [][]byte
	serializeErr    error
}

type fakeExe struct {
	name    string
	sig     *goxla.Signature
	fromHit bool
}

func (e *fakeExe) Finalize()                          {}
func (e *fakeExe) Inputs() ([]string, []shapes.Shape) { return e.sig.Names, e.sig.Inputs }
func (e *fakeExe) Outputs() []shapes.Shape            { return e.sig.Outputs }

// Execute computes the test graphs' x*2+1 on host stand-ins of go-xla's
// buffers, and refuses the Cache's own buffers (go-xla's Execute would
// panic on them).
func (e *fakeExe) Execute(in []compute.Buffer, _ []bool, _ compute.DeviceNum) ([]compute.Buffer, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("fake executable: %d inputs", len(in))
	}
	x, ok := in[0].(*fakeBuffer)
	if !ok {
		return nil, fmt.Errorf("fake executable: input is %T, not the inner backend's buffer", in[0])
	}
	y := make([]float32, len(x.data))
	for i, v := range x.data {
		y[i] = 2*v + 1
	}
	return []compute.Buffer{&fakeBuffer{data: y, shape: x.shape, inner: x.inner}}, nil
}

// fakeBuffer stands for go-xla's buffer: it names the inner backend.
type fakeBuffer struct {
	data  []float32
	shape shapes.Shape
	inner compute.Backend
}

func (b *fakeBuffer) Backend() compute.Backend              { return b.inner }
func (b *fakeBuffer) Finalize() error                       { return nil }
func (b *fakeBuffer) Shape() (shapes.Shape, error)          { return b.shape, nil }
func (b *fakeBuffer) DeviceNum() (compute.DeviceNum, error) { return 0, nil }
func (b *fakeBuffer) ToFlatData(flat any) error             { copy(flat.([]float32), b.data); return nil }
func (b *fakeBuffer) Data() (any, error)                    { return nil, errors.New("not shared") }
func (b *fakeBuffer) CopyToDevice(compute.DeviceNum) (compute.Buffer, error) {
	return &fakeBuffer{data: slices.Clone(b.data), shape: b.shape, inner: b.inner}, nil
}

// fakeData makes fakeBuffers of float32 host data.
type fakeData struct{ inner compute.Backend }

func (d fakeData) BufferFromFlatData(_ compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	return &fakeBuffer{data: slices.Clone(flat.([]float32)), shape: shape, inner: d.inner}, nil
}
func (d fakeData) HasSharedBuffers() bool { return false }
func (d fakeData) NewSharedBuffer(compute.DeviceNum, shapes.Shape) (compute.Buffer, any, error) {
	return nil, nil, errors.New("no shared buffers")
}

func (f *fakeCodec) exe(b compute.Builder, hit bool) (compute.Executable, error) {
	xb, err := goxla.Builder(b)
	if err != nil {
		return nil, err
	}
	sig, err := goxla.ReadSignature(xb)
	if err != nil {
		return nil, err
	}
	return &fakeExe{name: b.Name(), sig: sig, fromHit: hit}, nil
}

func (f *fakeCodec) compile(b compute.Builder) (compute.Executable, error) {
	f.mu.Lock()
	f.compiles++
	f.mu.Unlock()
	return f.exe(b, false)
}

func (f *fakeCodec) serialize(e compute.Executable) ([]byte, error) {
	if f.serializeErr != nil {
		return nil, f.serializeErr
	}
	return []byte("fake-exe:" + e.(*fakeExe).name), nil
}

func (f *fakeCodec) load(b compute.Builder, data []byte) (compute.Executable, error) {
	f.mu.Lock()
	f.loads++
	f.loaded = append(f.loaded, data)
	f.mu.Unlock()
	if !bytes.HasPrefix(data, []byte("fake-exe:")) {
		return nil, errors.New("not a fake executable")
	}
	return f.exe(b, true)
}

// testCache is a cache over the dry XLA backend (go-xla's builders without
// a plugin) with the fake codec.
func testCache(t *testing.T, dir, ident string) (*Cache, *fakeCodec) {
	t.Helper()
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCodec{}
	return &Cache{Backend: dry.Backend, dir: dir, ident: ident, codec: f, warn: io.Discard, data: fakeData{inner: dry.Backend}}, f
}

// compileGraph builds x*2+1 over x of the given shape and compiles it.
func compileGraph(t *testing.T, b compute.Backend, dims ...int) {
	t.Helper()
	g := NewGraph(b, "affine")
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, dims...))
	if err := g.Compile(AddScalar(MulScalar(x, 2), 1)); err != nil {
		t.Fatal(err)
	}
}

func cached(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A program compiled once is stored; a later backend (another process in
// practice) with the same identity loads it instead of compiling; another
// shape or another identity compiles.
func TestStoresThenLoads(t *testing.T) {
	dir := t.TempDir()
	c1, f1 := testCache(t, dir, "card A")
	compileGraph(t, c1, 2, 3)
	if f1.compiles != 1 || f1.loads != 0 {
		t.Fatalf("first compile: %d compiles, %d loads", f1.compiles, f1.loads)
	}
	files := cached(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], fileExt) || !regexp.MustCompile(`^[0-9a-f]{64}\.pjrt$`).MatchString(files[0]) {
		t.Fatalf("cache folder holds %v, want one <sha256>.pjrt", files)
	}
	if s := c1.Stats(); s != (Stats{Misses: 1, Stored: 1}) {
		t.Errorf("stats %+v", s)
	}

	c2, f2 := testCache(t, dir, "card A")
	compileGraph(t, c2, 2, 3)
	if f2.compiles != 0 || f2.loads != 1 || string(f2.loaded[0]) != "fake-exe:affine" {
		t.Errorf("same program: %d compiles, %d loads of %q; want the stored one loaded", f2.compiles, f2.loads, f2.loaded)
	}
	if s := c2.Stats(); s != (Stats{Hits: 1}) {
		t.Errorf("stats %+v", s)
	}

	compileGraph(t, c2, 2, 4)
	if f2.compiles != 1 {
		t.Errorf("another shape was not compiled (%d compiles)", f2.compiles)
	}
	c3, f3 := testCache(t, dir, "card B")
	compileGraph(t, c3, 2, 3)
	if f3.compiles != 1 || f3.loads != 0 {
		t.Errorf("another identity: %d compiles, %d loads; want a compile", f3.compiles, f3.loads)
	}
	if n := len(cached(t, dir)); n != 3 {
		t.Errorf("%d files, want 3 (no temporary files left)", n)
	}
}

// A file that does not load is compiled again and replaced, and the run
// goes on.
func TestBadFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	c1, _ := testCache(t, dir, "id")
	compileGraph(t, c1, 3)
	file := filepath.Join(dir, cached(t, dir)[0])
	if err := os.WriteFile(file, []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	c2, f2 := testCache(t, dir, "id")
	compileGraph(t, c2, 3)
	if f2.loads != 1 || f2.compiles != 1 {
		t.Fatalf("%d loads, %d compiles; want a failed load then a compile", f2.loads, f2.compiles)
	}
	if s := c2.Stats(); s != (Stats{Misses: 1, Stored: 1, Errors: 1}) {
		t.Errorf("stats %+v", s)
	}
	if data, _ := os.ReadFile(file); string(data) != "fake-exe:affine" {
		t.Errorf("file holds %q after the recompile", data)
	}
}

// Programs with a device assignment are compiled as before, not stored.
func TestDeviceAssignmentNotCached(t *testing.T) {
	dir := t.TempDir()
	c, f := testCache(t, dir, "id")
	b := c.Builder("assigned")
	xb := identityProgram(t, b)
	if err := goxla.SetField(xb, "deviceAssignment", []int{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Compile(); err != nil {
		t.Fatal(err)
	}
	if f.compiles != 1 || f.loads != 0 || len(cached(t, dir)) != 0 {
		t.Errorf("assigned program: %d compiles, %d loads, files %v; want compiled and not stored", f.compiles, f.loads, cached(t, dir))
	}
	if s := c.Stats(); s != (Stats{}) {
		t.Errorf("stats %+v, want none counted", s)
	}
}

// A program the plugin cannot serialise is still returned, compiled; one
// error is counted per program and one warning printed per process.
func TestSerializeErrorKeepsTheExecutable(t *testing.T) {
	dir := t.TempDir()
	c, f := testCache(t, dir, "id")
	var warn strings.Builder
	c.warn = &warn
	f.serializeErr = errors.New("custom call cannot be serialised")
	compileGraph(t, c, 2)
	compileGraph(t, c, 3)
	if f.compiles != 2 || len(cached(t, dir)) != 0 {
		t.Errorf("%d compiles, files %v", f.compiles, cached(t, dir))
	}
	if s := c.Stats(); s != (Stats{Misses: 2, Errors: 2}) {
		t.Errorf("stats %+v", s)
	}
	if n := strings.Count(warn.String(), "xlacache:"); n != 1 || !strings.Contains(warn.String(), "custom call cannot be serialised") {
		t.Errorf("warnings %q, want one naming the cause", warn.String())
	}
}

// Tensors flow between executables of the cache: buffers name the Cache as
// their backend (GoMLX refuses one naming another backend), and the inner
// executable gets the inner backend's buffers back.
func TestBuffersBelongToTheCache(t *testing.T) {
	c, _ := testCache(t, t.TempDir(), "id")
	e, err := NewExec(c, func(x *Node) *Node { return AddScalar(MulScalar(x, 2), 1) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec([]float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Exec(out[0]) // an output fed back, as an LLM's KV cache is
	if err != nil {
		t.Fatalf("an output fed back: %v", err)
	}
	if got := tensors.MustCopyFlatData[float32](again[0]); !slices.Equal(got, []float32{7, 11, 15}) {
		t.Errorf("(2x+1)*2+1 = %v, want [7 11 15]", got)
	}
	var buf compute.Buffer = &fakeBuffer{shape: shapes.Make(dtypes.Float32, 1), data: []float32{1}, inner: c.Backend}
	w := c.wrap(buf)
	if w.Backend() != c || unwrap(w) != buf || c.wrap(w) != w || c.wrap(nil) != nil {
		t.Error("wrap/unwrap")
	}
	moved, err := w.CopyToDevice(0)
	if err != nil || moved.Backend() != c {
		t.Errorf("a copied buffer names %v (err %v), want the cache", moved.Backend(), err)
	}
	b, err := c.BufferFromFlatData(0, []float32{1, 2}, shapes.Make(dtypes.Float32, 2))
	if err != nil || b.Backend() != c {
		t.Errorf("BufferFromFlatData gave a buffer of %v (err %v)", b.Backend(), err)
	}
}

// Compiles from several goroutines through one cache: each program once,
// all stored.
func TestConcurrentCompiles(t *testing.T) {
	dir := t.TempDir()
	c, f := testCache(t, dir, "id")
	var wg sync.WaitGroup
	for n := 1; n <= 4; n++ {
		wg.Go(func() { compileGraph(t, c, n) })
	}
	wg.Wait()
	if f.compiles != 4 || len(cached(t, dir)) != 4 {
		t.Errorf("%d compiles, %d files; want 4 and 4", f.compiles, len(cached(t, dir)))
	}
	if s := c.Stats(); s != (Stats{Misses: 4, Stored: 4}) {
		t.Errorf("stats %+v", s)
	}
}

// The key covers the program and the identity, and building the same graph
// twice gives the same key (else nothing would ever hit).
func TestKeyIsStable(t *testing.T) {
	keyOf := func(ident string, dims ...int) string {
		c, _ := testCache(t, t.TempDir(), ident)
		g := NewGraph(c, "k")
		x := Parameter(g, "x", shapes.Make(dtypes.Float32, dims...))
		y := ReduceSum(Tanh(MatMul(x, Transpose(x, 0, 1))), -1)
		// Build the program as Compile would, without compiling.
		var key string
		c.codec = keyRecorder{c: c, key: &key}
		if err := g.Compile(y); err != nil {
			t.Fatal(err)
		}
		return key
	}
	a, b := keyOf("id", 4, 8), keyOf("id", 4, 8)
	if a == "" || a != b {
		t.Errorf("same graph, keys %q and %q", a, b)
	}
	if m := moduleName.ReplaceAllString("module @Store_Exec_x_func40_1 {\n  module @inner {", "module @m"); m != "module @m {\n  module @inner {" {
		t.Errorf("module name normalised to %q", m)
	}
	if keyOf("id", 4, 9) == a || keyOf("other", 4, 8) == a {
		t.Error("another shape or identity gave the same key")
	}
}

// keyRecorder is a codec that records the key of what it is asked to
// compile.
type keyRecorder struct {
	c   *Cache
	key *string
}

func (k keyRecorder) compile(b compute.Builder) (compute.Executable, error) {
	key, _, err := k.c.key(b)
	*k.key = key
	if err != nil {
		return nil, err
	}
	return (&fakeCodec{}).exe(b, false)
}
func (k keyRecorder) serialize(compute.Executable) ([]byte, error) {
	return nil, errors.New("not stored")
}
func (k keyRecorder) load(compute.Builder, []byte) (compute.Executable, error) {
	return nil, errors.New("no")
}

// standIn's addresses stand for C pointers: outside the Go heap, as reflect
// requires of pointers to cgo's incomplete types.
var standIn [2][8]byte

// The walks to go-xla's C pointers follow v0.4.13's fields: the plugin's
// PJRT_Api, the client's PJRT_Client, an executable's PJRT_Executable.
func TestCPointerWalks(t *testing.T) {
	api, cl := unsafe.Pointer(&standIn[0]), unsafe.Pointer(&standIn[1])
	plugin, client := &pjrt.Plugin{}, &pjrt.Client{}
	if _, _, err := cHandles(plugin, client); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("empty plugin and client: %v", err)
	}
	mustSetPointer(t, plugin, "api", api)
	wrapper := newField(t, client, "client")
	mustSetPointer(t, wrapper, "c", cl)
	gotAPI, gotClient, err := cHandles(plugin, client)
	if err != nil || gotAPI != api || gotClient != cl {
		t.Errorf("cHandles = %p, %p, %v; want %p, %p", gotAPI, gotClient, err, api, cl)
	}

	xe := &xla.Executable{}
	if _, err := cExecutable(xe); err == nil {
		t.Error("an executable without a loaded one gave no error")
	}
	loaded := &pjrt.LoadedExecutable{}
	if err := goxla.SetField(xe, "exec", loaded); err != nil {
		t.Fatal(err)
	}
	exe := newField(t, loaded, "executable")
	if _, err := cExecutable(xe); err == nil || !strings.Contains(err.Error(), "destroyed") {
		t.Errorf("a destroyed executable: %v", err)
	}
	w := newField(t, exe, "wrapper")
	mustSetPointer(t, w, "c", api)
	if got, err := cExecutable(xe); err != nil || got != api {
		t.Errorf("cExecutable = %p, %v; want %p", got, err, api)
	}
}

// newField sets *ptr's pointer field name to a new zero value and returns it.
func newField(t *testing.T, ptr any, name string) any {
	t.Helper()
	f, err := goxla.FieldValue(ptr, name)
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.New(f.Type().Elem())
	f.Set(v)
	return v.Interface()
}

func mustSetPointer(t *testing.T, ptr any, name string, p unsafe.Pointer) {
	t.Helper()
	f, err := goxla.FieldValue(ptr, name)
	if err != nil {
		t.Fatal(err)
	}
	f.Set(reflect.NewAt(f.Type().Elem(), p))
}

// The executable built around a loaded one is go-xla's Compile's for a
// program without a device assignment: every field of go-xla's executable
// is either set (and is) or deliberately zero (and is), so a go-xla upgrade
// that adds a field fails here; the loaded executable is marked portable;
// an output count that differs from the program's is refused.
func TestWrapsLoadedExecutableAsGoXLA(t *testing.T) {
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	p := &pjrtCodec{backend: dry.Backend, plugin: &pjrt.Plugin{}, client: &pjrt.Client{}}
	sig := &goxla.Signature{Names: []string{"x"}, Inputs: []shapes.Shape{shapes.Make(dtypes.Float32, 2)},
		Outputs: []shapes.Shape{shapes.Make(dtypes.Float32, 2), shapes.Make(dtypes.Int32)}}
	if _, err := p.executable(&pjrt.LoadedExecutable{NumOutputs: 1}, "prog", sig); err == nil || !strings.Contains(err.Error(), "1 outputs") {
		t.Errorf("a loaded executable with 1 output for a 2-output program: %v", err)
	}
	loaded := &pjrt.LoadedExecutable{Name: "prog", NumOutputs: 2}
	e, err := p.executable(loaded, "prog", sig)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.IsPortable() {
		t.Error("loaded executable not marked portable")
	}
	names, ins := e.Inputs()
	if !reflect.DeepEqual(names, sig.Names) || !reflect.DeepEqual(ins, sig.Inputs) || !reflect.DeepEqual(e.Outputs(), sig.Outputs) {
		t.Errorf("executable signature %v %v %v", names, ins, e.Outputs())
	}
	if err := e.CheckValid(); err != nil {
		t.Errorf("go-xla says the executable is not valid: %v", err)
	}
	typ := reflect.TypeOf(*e)
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		set, known := executableFields[name]
		if !known {
			t.Errorf("go-xla's Executable has a field %q this package does not know: decide whether a loaded executable needs it", name)
			continue
		}
		f, _ := goxla.FieldValue(e, name)
		// parameterSpecs: the test's signature has none; distStrategy is set
		// to None, its zero value.
		if set == f.IsZero() && name != "parameterSpecs" && name != "distStrategy" {
			t.Errorf("field %s: zero %v, want set %v", name, f.IsZero(), set)
		}
	}
	if len(executableFields) != typ.NumField() {
		t.Errorf("executableFields lists %d fields, go-xla's Executable has %d", len(executableFields), typ.NumField())
	}
}

// The argument structs of pjrt.go have the PJRT C API's layout: compiled
// beside go-xla's pjrt_c_api.h, every field offset and the struct size
// (the API's STRUCT_SIZE) must agree.
func TestArgLayoutsMatchPJRTHeader(t *testing.T) {
	header := goXLAHeader(t)
	src, err := os.ReadFile("pjrt.go")
	if err != nil {
		t.Fatal(err)
	}
	// The struct declarations of the cgo preamble.
	m := regexp.MustCompile(`(?s)(typedef struct \{.*?\} dt_error_destroy_args;)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("pjrt.go: argument structs not found")
	}
	structs := map[string][]string{
		"dt_serialize_args":     {"PJRT_Executable_Serialize_Args", "struct_size", "extension_start", "executable", "serialized_bytes", "serialized_bytes_size", "serialized_executable", "serialized_executable_deleter"},
		"dt_deserialize_args":   {"PJRT_Executable_DeserializeAndLoad_Args", "struct_size", "extension_start", "client", "serialized_executable", "serialized_executable_size", "loaded_executable", "overridden_serialized_compile_options", "overridden_serialized_compile_options_size"},
		"dt_error_message_args": {"PJRT_Error_Message_Args", "struct_size", "extension_start", "error", "message", "message_size"},
		"dt_error_destroy_args": {"PJRT_Error_Destroy_Args", "struct_size", "extension_start", "error"},
	}
	var c strings.Builder
	c.WriteString("#include <stddef.h>\n#include \"pjrt_c_api.h\"\n")
	c.Write(m[1])
	c.WriteString("\n")
	for ours, fs := range structs {
		theirs := fs[0]
		for _, f := range fs[1:] {
			c.WriteString("_Static_assert(offsetof(" + ours + ", " + f + ") == offsetof(" + theirs + ", " + f + "), \"" + ours + "." + f + "\");\n")
		}
		c.WriteString("_Static_assert(sizeof(" + ours + ") == " + theirs + "_STRUCT_SIZE, \"" + ours + " size\");\n")
	}
	file := filepath.Join(t.TempDir(), "layout.c")
	if err := os.WriteFile(file, []byte(c.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	out, err := exec.Command(cc, "-std=c11", "-fsyntax-only", "-I", filepath.Dir(header), file).CombinedOutput()
	if err != nil {
		t.Fatalf("layouts differ from %s: %v\n%s", header, err, out)
	}
}

// goXLAHeader finds pjrt_c_api.h in the module cache copy of the go-xla
// version this binary was built with.
func goXLAHeader(t *testing.T) string {
	t.Helper()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	var version string
	for _, d := range info.Deps {
		if d.Path == "github.com/gomlx/go-xla" {
			version = d.Version
		}
	}
	if version == "" {
		t.Fatal("go-xla is not a dependency of this test binary")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	header := filepath.Join(strings.TrimSpace(string(out)), "github.com", "gomlx", "go-xla@"+version, "pjrt", "pjrt_c_api.h")
	if _, err := os.Stat(header); err != nil {
		t.Fatalf("go-xla's header: %v", err)
	}
	return header
}

// New refuses what is not a started XLA backend, with the reason.
func TestNewNeedsAStartedBackend(t *testing.T) {
	if _, err := New(&xla.Backend{}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "finalized") {
		t.Errorf("New on an empty backend: %v", err)
	}
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(dry.Backend, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("New on a backend without a client: %v", err)
	}
}

// keysByShape compiles one Exec for shapes in the given order through a
// cache whose codec records each program's key by its input shape.
func keysByShape(t *testing.T, order ...int) map[int]string {
	c, _ := testCache(t, t.TempDir(), "id")
	keys := map[int]string{}
	c.codec = shapeKeys{c: c, keys: keys}
	e, err := NewExec(c, func(x *Node) []*Node {
		y := Einsum("ij,kj->ik", x, x)
		return []*Node{ArgMax(y, -1), ReduceMax(Tanh(y), -1), Softmax(y, -1)}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range order {
		if _, err := e.Compile(shapes.Make(dtypes.Float32, n, 4)); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

type shapeKeys struct {
	c    *Cache
	keys map[int]string
}

func (k shapeKeys) compile(b compute.Builder) (compute.Executable, error) {
	key, _, err := k.c.key(b)
	if err != nil {
		return nil, err
	}
	e, err := (&fakeCodec{}).exe(b, false)
	if err == nil {
		k.keys[e.(*fakeExe).sig.Inputs[0].Dimensions[0]] = key
	}
	return e, err
}
func (k shapeKeys) serialize(compute.Executable) ([]byte, error) { return []byte("x"), nil }
func (k shapeKeys) load(compute.Builder, []byte) (compute.Executable, error) {
	return nil, errors.New("no")
}

// A program's key is the same in another process and whatever the order in
// which an Exec compiled its shapes (GoMLX numbers the module by it): the
// test binary runs itself twice, compiling two shapes in opposite orders.
func TestKeyStableAcrossProcesses(t *testing.T) {
	if os.Getenv("XLACACHE_KEYS_ORDER") != "" {
		order := []int{2, 3}
		if os.Getenv("XLACACHE_KEYS_ORDER") == "reverse" {
			order = []int{3, 2}
		}
		k := keysByShape(t, order...)
		fmt.Printf("KEYS %s %s\n", k[2], k[3])
		return
	}
	run := func(order string) string {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKeyStableAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "XLACACHE_KEYS_ORDER="+order)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "KEYS ") {
				return l
			}
		}
		t.Fatalf("no keys in\n%s", out)
		return ""
	}
	a, b := run("forward"), run("reverse")
	if f := strings.Fields(a); len(f) != 3 || f[1] == f[2] || f[1] == "" {
		t.Fatalf("keys %q: want two different keys", a)
	}
	if a != b {
		t.Errorf("keys differ between processes and compile orders:\n%s\n%s", a, b)
	}
}

// A program whose key cannot be made (here: its StableHLO builder is gone,
// as after a go-xla change) is compiled as if there were no cache, with the
// error counted.
func TestKeyErrorCompilesUncached(t *testing.T) {
	dir := t.TempDir()
	c, f := testCache(t, dir, "id")
	b := c.Builder("nokey")
	xb := identityProgram(t, b)
	if err := goxla.SetField(xb, "builder", (*stablehlo.Builder)(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Compile(); err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if f.compiles != 1 || len(cached(t, dir)) != 0 || c.Stats() != (Stats{Errors: 1}) {
		t.Errorf("%d compiles, files %v, stats %+v; want one uncached compile and one error", f.compiles, cached(t, dir), c.Stats())
	}
}

// identityProgram builds x -> x (float32 [2]) with b and returns go-xla's
// builder inside it.
func identityProgram(t *testing.T, b compute.Builder) *xla.Builder {
	t.Helper()
	xb, err := goxla.Builder(b)
	if err != nil {
		t.Fatal(err)
	}
	main := b.Main()
	x, err := main.Parameter("x", shapes.Make(dtypes.Float32, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := main.Return([]compute.Value{x}, nil); err != nil {
		t.Fatal(err)
	}
	return xb
}

// The hand-built loaded executable (go-xla's constructor refused a loaded
// program) holds the C pointer in go-xla's wrapper and is single-device and
// portable with the program's name and output count; its cleanup does not
// keep it alive (it is collected once dropped).
func TestLoadedByHand(t *testing.T) {
	p := &pjrtCodec{plugin: &pjrt.Plugin{}, client: &pjrt.Client{}}
	c := unsafe.Pointer(&standIn[1])
	e, err := p.loadedByHand(c, "prog", 3)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "prog" || e.NumOutputs != 3 || !e.IsPortable() {
		t.Errorf("loaded executable %+v", e)
	}
	if r, n, a, err := e.GetDeviceAssignment(); err != nil || r != 1 || n != 1 || a != nil {
		t.Errorf("replicas %d partitions %d assignment %v err %v", r, n, a, err)
	}
	w, err := goxla.FieldValue(e, "wrapper")
	if err != nil || w.IsNil() {
		t.Fatalf("wrapper %v, %v", w, err)
	}
	if got, _ := goxla.PointerField(w.Interface(), "c"); got != c {
		t.Errorf("wrapper holds %p, want %p", got, c)
	}
	wp := weak.Make(e)
	e, w = nil, reflect.Value{}
	for i := 0; i < 50 && wp.Value() != nil; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if wp.Value() != nil {
		t.Error("the hand-built executable is never collected: its cleanup keeps it alive")
	}
}

// load falls back to a hand-built executable only when go-xla's constructor
// refused the program for its memory statistics (loading it again); any
// other refusal is the load's error, so that the program is recompiled.
func TestLoadFallsBackOnlyForMemoryStats(t *testing.T) {
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	oldLoad, oldNew := loadProgram, newLoaded
	defer func() { loadProgram, newLoaded = oldLoad, oldNew }()
	loads := 0
	loadProgram = func(_, _ unsafe.Pointer, data []byte) (unsafe.Pointer, error) {
		loads++
		return unsafe.Pointer(&standIn[0]), nil
	}
	for _, c := range []struct {
		refusal  string
		fallback bool
	}{
		{"failed to Executable.GetMemoryStats from compiled LoadedExecutable: PJRT error (code=12): unimplemented", true},
		{"failed to Executable.NumOutputs from compiled LoadedExecutable: PJRT error", false},
	} {
		loads = 0
		newLoaded = func(*pjrt.Plugin, *pjrt.Client, unsafe.Pointer) (*pjrt.LoadedExecutable, error) {
			return nil, errors.New(c.refusal)
		}
		p := &pjrtCodec{backend: dry.Backend, plugin: &pjrt.Plugin{}, client: &pjrt.Client{}}
		b := dry.Backend.Builder("prog")
		identityProgram(t, b)
		e, err := p.load(b, []byte("serialised"))
		if !c.fallback {
			if err == nil || !strings.Contains(err.Error(), "NumOutputs") || loads != 1 {
				t.Errorf("refusal %q: %v after %d loads, want the refusal after one", c.refusal, err, loads)
			}
			continue
		}
		if err != nil || loads != 2 {
			t.Fatalf("refusal %q: %v after %d loads, want a hand-built executable after two", c.refusal, err, loads)
		}
		xe := e.(*xla.Executable)
		loaded, _ := goxla.Field[*pjrt.LoadedExecutable](xe, "exec")
		if loaded == nil || loaded.Name != "prog" || loaded.NumOutputs != 1 || !loaded.IsPortable() {
			t.Errorf("fallback executable %+v", loaded)
		}
	}
}
