//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

// Package xlacache keeps the executables an XLA PJRT plugin compiles in a
// folder, so that a later process that builds the same program loads the
// compiled code instead of compiling it again.
//
// Why: on an H200 (2026-11-27) the DualToken tokenizer's encoder and decoder
// took 23 s to their first results (compile and weight upload), 12 s with
// XLA's autotune cache filled; every evalrun start pays that. The PJRT C API
// can serialise a compiled executable and load it back
// (PJRT_Executable_Serialize, PJRT_Executable_DeserializeAndLoad, what JAX's
// persistent compilation cache uses), but go-xla v0.4.13 does not expose
// either call, nor a way to wrap a loaded executable it did not compile. This
// package makes the two calls itself (pjrt.go), wraps what it loads with
// go-xla's own constructor (a linkname) and sets the rest of go-xla's values
// through reflection, in the manner of package xladry; New fails with a
// clear error if a go-xla upgrade renames a field it relies on, and the
// build fails if the constructor goes.
//
// Buffers and executables are wrapped so that they name the Cache as their
// backend (GoMLX refuses a tensor whose buffer names another backend than
// the graph's, which go-xla's own buffers would: an Encode output fed to
// DecodePixels, an LLM's KV cache).
//
// The cache key is a SHA-256 of the StableHLO program text with everything
// else that changes the compiled code: the plugin (its file's size and time
// too) and its attributes (XLA version), go-xla's version (the compile
// options it sends), the client's platform version, every device's
// description, $XLA_FLAGS and $XLA_DEBUG_OPTIONS. The module's name, which
// GoMLX numbers in compile order, is left out. Only single-device, portable
// programs are cached (the only kind the harness compiles); others compile
// as before. A file that does not
// load (another plugin build, a truncated write) is compiled again and
// replaced, with one warning on stderr per process.
package xlacache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"

	"github.com/dualtoken/evalharness/backend/goxla"
)

// EnvDir names the cache folder; backend.New wraps XLA backends in a Cache
// when it is set.
const EnvDir = "DUALTOKEN_XLA_CACHE"

// fileExt is the extension of a cached executable.
const fileExt = ".pjrt"

// version is part of every key: bump it when the key or file format changes.
const version = "dualtoken-xlacache/1"

// Stats counts what the cache did in this process.
type Stats struct {
	Hits, Misses, Stored int64
	// Errors are loads or stores that failed (the program was compiled, or
	// not stored, instead).
	Errors int64
}

// Cache is an XLA backend whose builders look up, and store, their compiled
// programs in a folder. Everything else is go-xla's backend.
type Cache struct {
	*xla.Backend
	dir    string
	ident  string // the key's prefix: plugin, devices, flags
	codec  codec
	hits   atomic.Int64
	misses atomic.Int64
	stored atomic.Int64
	errs   atomic.Int64
	warned sync.Once
	warn   io.Writer             // where the first error goes (stderr)
	data   compute.DataInterface // nil: go-xla's backend
}

// codec compiles, serialises and loads programs. The real one (pjrtCodec)
// calls PJRT; tests use a stand-in.
type codec interface {
	// compile is go-xla's own compile of the builder.
	compile(b compute.Builder) (compute.Executable, error)
	// serialize returns a compiled program's bytes.
	serialize(e compute.Executable) ([]byte, error)
	// load returns the executable data holds, for the builder's program.
	load(b compute.Builder, data []byte) (compute.Executable, error)
}

// New wraps b so that its compiled programs are kept in dir (created if
// missing).
func New(b *xla.Backend, dir string) (*Cache, error) {
	if err := b.CheckValid(); err != nil {
		return nil, fmt.Errorf("xlacache: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("xlacache: %s=%s: %w", EnvDir, dir, err)
	}
	codec, err := newPJRTCodec(b)
	if err != nil {
		return nil, err
	}
	ident, err := identity(b)
	if err != nil {
		return nil, err
	}
	return &Cache{Backend: b, dir: dir, ident: ident, codec: codec, warn: os.Stderr}, nil
}

// identity describes what besides the program decides the compiled code.
func identity(b *xla.Backend) (string, error) {
	client, err := goxla.Field[*pjrt.Client](b, "client")
	if err != nil {
		return "", err
	}
	plugin, err := goxla.Field[*pjrt.Plugin](b, "plugin")
	if err != nil {
		return "", err
	}
	if client == nil || plugin == nil {
		return "", errors.New("xlacache: go-xla's plugin or client is not started")
	}
	id := ident{backend: b.Description(), config: b.Config(), tf32: b.DotGeneralUseTF32,
		platform: client.Platform() + " " + client.PlatformVersion(), attrs: map[string]string{}}
	for k, v := range plugin.Attributes() {
		id.attrs[k] = fmt.Sprint(v)
	}
	if st, err := os.Stat(plugin.Path()); err == nil { // a pip upgrade may keep the API version
		id.pluginFile = fmt.Sprintf("%s %d bytes %s", plugin.Path(), st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano))
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/gomlx/go-xla" {
				id.goXLA = d.Version
			}
		}
	}
	for d := range b.NumDevices() {
		id.devices = append(id.devices, b.DeviceDescription(compute.DeviceNum(d)))
	}
	return id.String(), nil
}

// ident is what identity collects, written out in a fixed order with the
// environment's XLA variables.
type ident struct {
	backend, config, platform, pluginFile, goXLA string
	tf32                                         bool
	attrs                                        map[string]string
	devices                                      []string
}

func (id ident) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\nbackend %s\nconfig %s\ntf32 %v\nplatform %s\nplugin file %s\ngo-xla %s\n",
		version, id.backend, id.config, id.tf32, id.platform, id.pluginFile, id.goXLA)
	for _, k := range slices.Sorted(maps.Keys(id.attrs)) {
		fmt.Fprintf(&sb, "attr %s=%s\n", k, id.attrs[k])
	}
	for i, d := range id.devices {
		fmt.Fprintf(&sb, "device %d %s\n", i, d)
	}
	fmt.Fprintf(&sb, "XLA_FLAGS %s\nXLA_DEBUG_OPTIONS %s\n", os.Getenv("XLA_FLAGS"), os.Getenv(pjrt.EnvXlaDebugOptions))
	return sb.String()
}

// Dir is the cache folder.
func (c *Cache) Dir() string { return c.dir }

// Stats reports the lookups and stores so far.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stored: c.stored.Load(), Errors: c.errs.Load()}
}

// String names the backend as go-xla's does, with the cache folder.
func (c *Cache) String() string {
	return fmt.Sprintf("%s (executable cache %s)", c.Backend.Name(), c.dir)
}

// BufferFromFlatData is go-xla's, with the buffer naming the Cache.
func (c *Cache) BufferFromFlatData(d compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	b, err := c.dataInterface().BufferFromFlatData(d, flat, shape)
	return c.wrap(b), err
}

// NewSharedBuffer is go-xla's, with the buffer naming the Cache.
func (c *Cache) NewSharedBuffer(d compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	b, flat, err := c.dataInterface().NewSharedBuffer(d, shape)
	return c.wrap(b), flat, err
}

// dataInterface is where buffers come from: go-xla's backend (tests put a
// host stand-in there).
func (c *Cache) dataInterface() compute.DataInterface {
	if c.data != nil {
		return c.data
	}
	return c.Backend
}

// buffer is one of go-xla's buffers that says it belongs to the Cache.
type buffer struct {
	compute.Buffer
	cache *Cache
}

func (b *buffer) Backend() compute.Backend { return b.cache }

func (b *buffer) CopyToDevice(d compute.DeviceNum) (compute.Buffer, error) {
	nb, err := b.Buffer.CopyToDevice(d)
	return b.cache.wrap(nb), err
}

// wrap makes go-xla's buffer b the Cache's (nil stays nil).
func (c *Cache) wrap(b compute.Buffer) compute.Buffer {
	if b == nil {
		return nil
	}
	if w, ok := b.(*buffer); ok && w.cache == c {
		return b
	}
	return &buffer{Buffer: b, cache: c}
}

// unwrap returns go-xla's buffer inside b.
func unwrap(b compute.Buffer) compute.Buffer {
	if w, ok := b.(*buffer); ok {
		return w.Buffer
	}
	return b
}

// executable runs go-xla's executable on go-xla's buffers and hands back the
// Cache's.
type executable struct {
	compute.Executable
	cache *Cache
}

func (e *executable) Execute(inputs []compute.Buffer, donate []bool, d compute.DeviceNum) ([]compute.Buffer, error) {
	in := make([]compute.Buffer, len(inputs))
	for i, b := range inputs {
		in[i] = unwrap(b)
	}
	outs, err := e.Executable.Execute(in, donate, d)
	for i, b := range outs {
		outs[i] = e.cache.wrap(b)
	}
	return outs, err
}

// Builder returns go-xla's builder, whose Compile goes through the cache.
func (c *Cache) Builder(name string) compute.Builder {
	inner := c.Backend.Builder(name)
	if inner == nil {
		return nil
	}
	return &builder{Builder: inner, cache: c}
}

type builder struct {
	compute.Builder
	cache *Cache
}

// Unwrap returns go-xla's builder (for code that patches its internals).
func (bb *builder) Unwrap() compute.Builder { return bb.Builder }

// Compile loads the program's executable from the cache, or compiles it
// and stores it there.
func (bb *builder) Compile() (compute.Executable, error) {
	exe, err := bb.compile()
	if err != nil {
		return nil, err
	}
	return &executable{Executable: exe, cache: bb.cache}, nil
}

func (bb *builder) compile() (compute.Executable, error) {
	c := bb.cache
	key, ok, err := c.key(bb.Builder)
	if err != nil { // e.g. a go-xla upgrade renamed a field: compile as if uncached
		c.fail(fmt.Errorf("%q not looked up: %w", bb.Name(), err))
		return c.codec.compile(bb.Builder)
	}
	if !ok { // several devices or a device assignment: not cached
		return c.codec.compile(bb.Builder)
	}
	file := filepath.Join(c.dir, key+fileExt)
	if data, err := os.ReadFile(file); err == nil {
		exe, err := c.codec.load(bb.Builder, data)
		if err == nil {
			c.hits.Add(1)
			return exe, nil
		}
		c.fail(fmt.Errorf("%s did not load, compiling %q again: %w", file, bb.Name(), err))
	}
	c.misses.Add(1)
	exe, err := c.codec.compile(bb.Builder)
	if err != nil {
		return nil, err
	}
	data, err := c.codec.serialize(exe)
	switch {
	case err != nil:
	case len(data) == 0:
		err = errors.New("the plugin serialised it to nothing")
	default:
		err = writeAtomic(file, data)
	}
	if err != nil {
		c.fail(fmt.Errorf("%q not stored: %w", bb.Name(), err))
	} else {
		c.stored.Add(1)
	}
	return exe, nil
}

// fail counts an error and reports the first one of the process on stderr:
// the run goes on compiling.
func (c *Cache) fail(err error) {
	c.errs.Add(1)
	c.warned.Do(func() { fmt.Fprintf(c.warn, "xlacache: %v\n", err) })
}

// key hashes the builder's program with the backend's identity; ok is false
// for programs the cache leaves alone.
func (c *Cache) key(b compute.Builder) (key string, ok bool, err error) {
	xb, err := goxla.Builder(b)
	if err != nil {
		return "", false, err
	}
	strategy, err := goxla.Field[distributed.Strategy](xb, "distStrategy")
	if err != nil {
		return "", false, err
	}
	assignment, err := goxla.Field[[]int](xb, "deviceAssignment")
	if err != nil {
		return "", false, err
	}
	if strategy != distributed.None || assignment != nil {
		return "", false, nil
	}
	program, err := goxla.Program(xb)
	if err != nil {
		return "", false, err
	}
	program = moduleName.ReplaceAll(program, []byte("module @m"))
	h := sha256.New()
	io.WriteString(h, c.ident)
	fmt.Fprintf(h, "program %d\n", len(program))
	h.Write(program)
	return hex.EncodeToString(h.Sum(nil)), true, nil
}

// moduleName is the program's first line's module name, which GoMLX makes
// from the graph's name and its place in the Exec's cache (compile order):
// it changes no code, so the key leaves it out.
var moduleName = regexp.MustCompile(`\Amodule @[^\s{]+`)

// writeAtomic writes data to file through a temporary file in the same
// folder, so that a reader sees the whole file or none (two processes may
// store the same program).
func writeAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// ---------------------------------------------------------------------------
// PJRT codec: go-xla's values, reached through reflection
// ---------------------------------------------------------------------------

// pjrtCodec serialises and loads through the plugin's PJRT API.
type pjrtCodec struct {
	byHand  sync.Once // the note that loaded programs are wrapped by hand
	backend *xla.Backend
	plugin  *pjrt.Plugin
	client  *pjrt.Client
	api     unsafe.Pointer // PJRT_Api*
	cclient unsafe.Pointer // PJRT_Client*
}

func newPJRTCodec(b *xla.Backend) (*pjrtCodec, error) {
	p := &pjrtCodec{backend: b}
	var err error
	if p.plugin, err = goxla.Field[*pjrt.Plugin](b, "plugin"); err != nil {
		return nil, err
	}
	if p.client, err = goxla.Field[*pjrt.Client](b, "client"); err != nil {
		return nil, err
	}
	if p.plugin == nil || p.client == nil {
		return nil, errors.New("xlacache: go-xla's plugin or client is not started")
	}
	if p.api, p.cclient, err = cHandles(p.plugin, p.client); err != nil {
		return nil, err
	}
	return p, nil
}

// cHandles are the PJRT_Api of go-xla's plugin (Plugin.api) and the
// PJRT_Client of its client (Client.client.c).
func cHandles(plugin *pjrt.Plugin, client *pjrt.Client) (api, cclient unsafe.Pointer, err error) {
	if api, err = goxla.PointerField(plugin, "api"); err != nil {
		return nil, nil, err
	}
	wrapper, err := goxla.FieldValue(client, "client") // *clientC
	if err != nil {
		return nil, nil, err
	}
	if !wrapper.IsNil() {
		if cclient, err = goxla.PointerField(wrapper.Interface(), "c"); err != nil {
			return nil, nil, err
		}
	}
	if api == nil || cclient == nil {
		return nil, nil, errors.New("xlacache: go-xla's plugin or client is not started")
	}
	return api, cclient, nil
}

func (p *pjrtCodec) compile(b compute.Builder) (compute.Executable, error) { return b.Compile() }

// serialize serialises the PJRT_Executable behind go-xla's executable.
func (p *pjrtCodec) serialize(e compute.Executable) ([]byte, error) {
	xe, ok := e.(*xla.Executable)
	if !ok {
		return nil, fmt.Errorf("executable is %T, not go-xla's", e)
	}
	c, err := cExecutable(xe)
	if err != nil {
		return nil, err
	}
	return pjrtSerialize(p.api, c)
}

// cExecutable is the PJRT_Executable behind go-xla's executable
// (Executable.exec.executable.wrapper.c).
func cExecutable(xe *xla.Executable) (unsafe.Pointer, error) {
	loaded, err := goxla.Field[*pjrt.LoadedExecutable](xe, "exec")
	if err != nil {
		return nil, err
	}
	if loaded == nil {
		return nil, errors.New("go-xla's executable has no loaded executable")
	}
	exe, err := goxla.FieldValue(loaded, "executable") // *pjrt.Executable
	if err != nil {
		return nil, err
	}
	if exe.IsNil() {
		return nil, errors.New("go-xla's loaded executable has no executable")
	}
	wrapper, err := goxla.FieldValue(exe.Interface(), "wrapper")
	if err != nil {
		return nil, err
	}
	if wrapper.IsNil() {
		return nil, errors.New("go-xla's executable was destroyed")
	}
	c, err := goxla.PointerField(wrapper.Interface(), "c")
	if err == nil && c == nil {
		err = errors.New("go-xla's executable was destroyed")
	}
	return c, err
}

// load deserialises data and wraps it as go-xla's Compile would have
// wrapped the program it compiled.
func (p *pjrtCodec) load(b compute.Builder, data []byte) (compute.Executable, error) {
	xb, err := goxla.Builder(b)
	if err != nil {
		return nil, err
	}
	sig, err := goxla.ReadSignature(xb)
	if err != nil {
		return nil, err
	}
	c, err := loadProgram(p.api, p.cclient, data)
	if err != nil {
		return nil, err
	}
	// go-xla's own constructor: it reads the name, output count and memory
	// statistics from PJRT and destroys the executable when it is collected
	// (or on its own failure).
	loaded, err := newLoaded(p.plugin, p.client, c)
	if err != nil {
		// It destroyed c. A plugin may keep no memory statistics for a
		// deserialised program, which go-xla's constructor requires: then
		// load again and wrap without asking PJRT for them. Any other
		// refusal (no name, no output count) means a bad load: recompile.
		if !strings.Contains(err.Error(), "GetMemoryStats") {
			return nil, err
		}
		p.byHand.Do(func() {
			fmt.Fprintf(os.Stderr, "xlacache: the plugin gives no memory statistics for loaded programs (%v): wrapping them without\n", firstLine(err.Error()))
		})
		c, err2 := loadProgram(p.api, p.cclient, data)
		if err2 != nil {
			return nil, fmt.Errorf("%w; loading again: %v", err, err2)
		}
		if loaded, err2 = p.loadedByHand(c, xb.Name(), len(sig.Outputs)); err2 != nil {
			return nil, fmt.Errorf("%w; wrapping by hand: %v", err, err2)
		}
	}
	e, err := p.executable(loaded, xb.Name(), sig)
	if err != nil {
		loaded.Destroy()
		return nil, err
	}
	return e, nil
}

// loadProgram and newLoaded are pjrtLoad and go-xla's constructor (tests
// put stand-ins here).
var (
	loadProgram = pjrtLoad
	newLoaded   = goxlaNewLoadedExecutable
)

// firstLine is s up to its first newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// goxlaNewLoadedExecutable is go-xla v0.4.13's pjrt.newLoadedExecutable,
// which wraps a PJRT_LoadedExecutable (go-xla exposes no way to wrap one it
// did not compile).
//
//go:linkname goxlaNewLoadedExecutable github.com/gomlx/go-xla/pjrt.newLoadedExecutable
func goxlaNewLoadedExecutable(plugin *pjrt.Plugin, client *pjrt.Client, c unsafe.Pointer) (*pjrt.LoadedExecutable, error)

// loadedByHand builds the pjrt.LoadedExecutable go-xla's constructor would
// have made for c, without its calls to PJRT: the name and output count are
// the program's, the memory statistics zero (go-xla reads them only to log
// them), and no PJRT_Executable is fetched (go-xla reads it only for those).
// Single device, portable. It is destroyed when collected, as go-xla's are.
// (go-xla's count of live loaded executables, LoadedExecutablesAlive, drops
// by one more than it rose for each: nothing here reads it.)
func (p *pjrtCodec) loadedByHand(c unsafe.Pointer, name string, outputs int) (*pjrt.LoadedExecutable, error) {
	e := &pjrt.LoadedExecutable{Name: name, NumOutputs: outputs}
	wf, err := goxla.FieldValue(e, "wrapper")
	if err != nil {
		return nil, err
	}
	w := reflect.New(wf.Type().Elem()) // *loadedExecutableC
	destroyer, ok := w.Interface().(interface{ Destroy() error })
	if !ok {
		return nil, fmt.Errorf("xlacache: go-xla's %s has no Destroy method (written for go-xla %s)", w.Type(), goxla.Version)
	}
	cf, err := goxla.FieldValue(w.Interface(), "c")
	if err != nil {
		return nil, err
	}
	if cf.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("xlacache: go-xla's loaded executable holds %s, not a C pointer", cf.Type())
	}
	if err := goxla.SetField(w.Interface(), "plugin", p.plugin); err != nil {
		return nil, err
	}
	wf.Set(w)
	for _, f := range []struct {
		name string
		v    any
	}{{"plugin", p.plugin}, {"client", p.client}, {"numReplicas", 1}, {"numPartitions", 1}, {"isPortable", true}} {
		if err := goxla.SetField(e, f.name, f.v); err != nil {
			return nil, err
		}
	}
	// Last, once nothing can fail: hold c, and destroy it when e is
	// collected through the wrapper's own Destroy (the cleanup holds the
	// wrapper, not e, which would keep e alive).
	cf.Set(reflect.NewAt(cf.Type().Elem(), c))
	runtime.AddCleanup(e, func(d interface{ Destroy() error }) {
		if err := d.Destroy(); err != nil {
			fmt.Fprintf(os.Stderr, "xlacache: destroying a loaded program: %v\n", err)
		}
	}, destroyer)
	return e, nil
}

// executable builds go-xla's compute executable around loaded as its
// Builder.Compile does for a program without a device assignment, after
// marking loaded portable as CompileConfig.Done does (its constructor leaves
// one replica and one partition, and no device assignment).
func (p *pjrtCodec) executable(loaded *pjrt.LoadedExecutable, name string, sig *goxla.Signature) (*xla.Executable, error) {
	if loaded.NumOutputs != len(sig.Outputs) {
		return nil, fmt.Errorf("the cached program has %d outputs, the program built now %d", loaded.NumOutputs, len(sig.Outputs))
	}
	if err := goxla.SetField(loaded, "isPortable", true); err != nil {
		return nil, err
	}
	e := &xla.Executable{}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"backend", p.backend}, {"exec", loaded}, {"name", name},
		{"parameterNames", sig.Names}, {"parameterShapes", sig.Inputs}, {"parameterSpecs", sig.Specs},
		{"outputShapes", sig.Outputs}, {"distStrategy", distributed.None}, {"numDevices", 1}, {"portable", true},
	} {
		if err := goxla.SetField(e, f.name, f.v); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// executableFields are the fields of go-xla's compute executable: set by
// executable, or left zero as go-xla's Compile leaves them for a program
// without a device assignment. A test checks the list against the type, so
// a go-xla upgrade that adds one is noticed.
var executableFields = map[string]bool{ // name → set here
	"backend": true, "exec": true, "name": true, "parameterNames": true, "parameterShapes": true,
	"parameterSpecs": true, "outputShapes": true, "distStrategy": true, "numDevices": true, "portable": true,
	"outputSpecs": false, "deviceAssignment": false,
}
