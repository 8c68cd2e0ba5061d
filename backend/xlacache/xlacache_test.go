package xlacache

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/dualtoken/evalharness/backend/xladry"
)

// fakeCodec stands in for PJRT: compile returns an executable with the
// program's signature, serialize writes a marker and the program's name,
// load accepts what serialize wrote.
type fakeCodec struct {
	compiles, loads int
	loaded          [][]byte
}

type fakeExe struct {
	name    string
	sig     *signature
	fromHit bool
}

func (e *fakeExe) Finalize()                          {}
func (e *fakeExe) Inputs() ([]string, []shapes.Shape) { return e.sig.names, e.sig.inputs }
func (e *fakeExe) Outputs() []shapes.Shape            { return e.sig.outputs }
func (e *fakeExe) Execute([]compute.Buffer, []bool, compute.DeviceNum) ([]compute.Buffer, error) {
	return nil, errors.New("fake executable: not run")
}

func (f *fakeCodec) exe(b compute.Builder, hit bool) (compute.Executable, error) {
	xb, err := goXLABuilder(b)
	if err != nil {
		return nil, err
	}
	sig, err := readSignature(xb)
	if err != nil {
		return nil, err
	}
	return &fakeExe{name: b.Name(), sig: sig, fromHit: hit}, nil
}

func (f *fakeCodec) compile(b compute.Builder) (compute.Executable, error) {
	f.compiles++
	return f.exe(b, false)
}

func (f *fakeCodec) serialize(e compute.Executable) ([]byte, error) {
	return []byte("fake-exe:" + e.(*fakeExe).name), nil
}

func (f *fakeCodec) load(b compute.Builder, data []byte) (compute.Executable, error) {
	f.loads++
	f.loaded = append(f.loaded, data)
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
	return &Cache{Backend: dry.Backend, dir: dir, ident: ident, codec: f, warn: io.Discard}, f
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
	xb, err := goXLABuilder(c.Builder("assigned"))
	if err != nil {
		t.Fatal(err)
	}
	if err := setField(xb, "deviceAssignment", []int{0}); err != nil {
		t.Fatal(err)
	}
	_, ok, err := c.key(xb)
	if err != nil || ok {
		t.Errorf("key of an assigned program: ok=%v err=%v, want not cached", ok, err)
	}
	if f.compiles != 0 || len(cached(t, dir)) != 0 {
		t.Error("nothing should have been compiled or stored")
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

// standIn's address stands for a C pointer: outside the Go heap, as reflect
// requires of pointers to cgo's incomplete types.
var standIn [8]byte

// The values built around a loaded executable are the ones go-xla's
// Compile makes: the C pointer in the loaded executable's wrapper, single
// device and portable, and the builder's signature on go-xla's executable.
func TestWrapsLoadedExecutableAsGoXLA(t *testing.T) {
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	p := &pjrtCodec{backend: dry.Backend, plugin: &pjrt.Plugin{}, client: &pjrt.Client{}}
	c := unsafe.Pointer(&standIn) // nothing is called through it
	loaded, err := p.loadedExecutable(c, "prog", 2)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Name != "prog" || loaded.NumOutputs != 2 || !loaded.IsPortable() {
		t.Errorf("loaded executable %+v", loaded)
	}
	w, _ := fieldValue(loaded, "wrapper")
	if got, _ := pointerField(w.Interface(), "c"); got != c {
		t.Errorf("wrapper holds %p, want %p", got, c)
	}
	if pl, _ := field[*pjrt.Plugin](w.Interface(), "plugin"); pl != p.plugin {
		t.Error("wrapper's plugin not set")
	}
	if r, n, _, err := loaded.GetDeviceAssignment(); err != nil || r != 1 || n != 1 {
		t.Errorf("replicas %d partitions %d err %v, want 1 and 1", r, n, err)
	}
	sig := &signature{names: []string{"x"}, inputs: []shapes.Shape{shapes.Make(dtypes.Float32, 2)},
		outputs: []shapes.Shape{shapes.Make(dtypes.Float32, 2), shapes.Make(dtypes.Int32)}}
	e, err := p.executable(loaded, "prog", sig)
	if err != nil {
		t.Fatal(err)
	}
	names, ins := e.Inputs()
	if !reflect.DeepEqual(names, sig.names) || !reflect.DeepEqual(ins, sig.inputs) || !reflect.DeepEqual(e.Outputs(), sig.outputs) {
		t.Errorf("executable signature %v %v %v", names, ins, e.Outputs())
	}
	if err := e.CheckValid(); err != nil {
		t.Errorf("go-xla says the executable is not valid: %v", err)
	}
	if got, _ := field[*pjrt.LoadedExecutable](e, "exec"); got != loaded {
		t.Error("executable does not hold the loaded executable")
	}
	if got, _ := field[bool](e, "portable"); !got {
		t.Error("executable not portable")
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
