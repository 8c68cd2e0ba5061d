package weights

// PyTorch checkpoints written by torch.save, in both on-disk formats:
//
//   - zip (torch >= 1.6, also HF pytorch_model.bin): <root>/data.pkl is a
//     pickle whose tensors are torch._utils._rebuild_tensor_v2(storage, offset,
//     size, stride, ...) calls; each storage is a persistent id
//     ('storage', torch.FloatStorage, key, location, numel) whose bytes are the
//     record <root>/data/<key>.
//   - legacy (torch < 1.6; the released pytorch-fid, LPIPS and torchvision
//     VGG weights): the pickles magic number, protocol version and sys_info,
//     then the main pickle with persistent ids
//     ('storage', type, root_key, location, numel, view_metadata), then a
//     pickled list of storage keys, then for each key an int64 element count
//     followed by the storage's raw little-endian bytes.
//
// gopickle's pytorch package reads the zip format but converts float16 to
// float32, panics on legacy storage views, and cannot keep the raw bytes, so
// only its pickle machine is used here. The file is memory-mapped; contiguous
// tensors alias the mapping (uncompressed zip records are sliced in place).

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/edsrzf/mmap-go"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// PthFile is a PyTorch checkpoint opened by OpenPth. Every tensor found in the
// pickled object is listed under a dotted name: nested dicts such as
// {"state_dict": {...}} give "state_dict.<key>", lists give ".<index>".
// Non-tensor values (epochs, hyper-parameters, strings) are skipped.
type PthFile struct {
	Path string
	// Format is "zip" or "legacy".
	Format  string
	tensors map[string]*pthTensor
	names   []string
	data    mmap.MMap
	file    *os.File
}

// pthStorage is one torch storage: a typed flat buffer. A legacy view
// storage points at its root with an element offset.
type pthStorage struct {
	key    string
	dtype  DType
	numel  int
	data   []byte      // resolved bytes (numel*size), nil until known
	record *zip.File   // compressed zip record, read on first use
	root   *pthStorage // legacy storage view: root storage and offset
	offset int
}

// pthTensor is a strided view of a storage, as _rebuild_tensor_v2 builds it.
type pthTensor struct {
	storage *pthStorage
	offset  int
	size    []int
	stride  []int
}

// storageClass is what the pickle's GLOBAL torch.FloatStorage etc. resolves to.
type storageClass struct{ dtype DType }

var storageDTypes = map[string]DType{
	"FloatStorage": F32, "DoubleStorage": F64, "HalfStorage": F16, "BFloat16Storage": BF16,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool, "UntypedStorage": U8,
}

// OpenPth opens a torch.save checkpoint (zip or legacy format). Errors name the
// file and what is wrong with it.
func OpenPth(filePath string) (*PthFile, error) {
	f, err := os.Open(filePath)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() < 4 {
		f.Close()
		return nil, fmt.Errorf("%s: truncated .pth file (%d bytes)", filePath, st.Size())
	}
	data, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", filePath, err)
	}
	p := &PthFile{Path: filePath, tensors: map[string]*pthTensor{}, data: data, file: f}
	var obj any
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		p.Format = "zip"
		obj, err = p.loadZip()
	case data[0] == 0x80: // pickle PROTO opcode: the legacy format starts with a pickled magic number
		p.Format = "legacy"
		obj, err = p.loadLegacy()
	default:
		err = fmt.Errorf("not a PyTorch checkpoint (neither a zip archive nor a pickle; first bytes %q)", data[:4])
	}
	if err == nil {
		err = p.collect(obj)
	}
	if err == nil && len(p.tensors) == 0 {
		err = fmt.Errorf("no tensors found in the pickled object (%T)", obj)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", filePath, err)
	}
	for n := range p.tensors {
		p.names = append(p.names, n)
	}
	sort.Strings(p.names)
	return p, nil
}

// unpickle runs the pickle machine on the next pickle in r (a reader over
// buf), turning gopickle's panics on malformed input into errors. The pickle
// is scanned first: gopickle allocates whatever a length field claims before
// reading, so a length past the end of buf must be refused here.
func unpickle(buf []byte, r *bytes.Reader, find func(module, name string) (any, error), persistent func(any) (any, error)) (obj any, err error) {
	start := len(buf) - r.Len()
	if err := scanPickle(buf[start:], start); err != nil {
		return nil, err
	}
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("malformed pickle: %v", rec)
		}
	}()
	u := pickle.NewUnpickler(r)
	if find != nil {
		u.FindClass = find
	}
	u.PersistentLoad = persistent
	obj, err = u.Load()
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("pickle ends early (truncated file)")
	}
	return obj, err
}

// scanPickle walks the opcodes of the pickle at the start of b (base is its
// offset, for errors) up to its STOP and checks that every length-prefixed
// argument fits in what is left of b. Anything else wrong (an unknown opcode,
// a missing newline, a truncated fixed-size argument) is left for the
// unpickler to report, which costs it nothing.
func scanPickle(b []byte, base int) error {
	for i := 0; i < len(b); {
		op, at := b[i], i
		i++
		fixed, lenBytes, lines := 0, 0, 0
		switch op {
		case '.': // STOP
			return nil
		case 'F', 'I', 'L', 'P', 'S', 'V', 'g', 'p': // FLOAT INT LONG PERSID STRING UNICODE GET PUT
			lines = 1
		case 'c', 'i': // GLOBAL INST: module and name lines
			lines = 2
		case 'K', 'h', 'q', 0x80, 0x82: // BININT1 BINGET BINPUT PROTO EXT1
			fixed = 1
		case 'M', 0x83: // BININT2 EXT2
			fixed = 2
		case 'J', 'j', 'r', 0x84: // BININT LONG_BINGET LONG_BINPUT EXT4
			fixed = 4
		case 'G': // BINFLOAT
			fixed = 8
		case 'U', 'C', 0x8c, 0x8a: // SHORT_BINSTRING SHORT_BINBYTES SHORT_BINUNICODE LONG1
			lenBytes = 1
		case 'T', 'X', 'B', 0x8b: // BINSTRING BINUNICODE BINBYTES LONG4
			lenBytes = 4
		case 0x8d, 0x8e, 0x96, 0x95: // BINUNICODE8 BINBYTES8 BYTEARRAY8 FRAME
			lenBytes = 8
		case '(', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
		default:
			return nil
		}
		for ; lines > 0; lines-- {
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				return nil
			}
			i += j + 1
		}
		if len(b)-i < fixed+lenBytes {
			return nil
		}
		i += fixed
		if lenBytes == 0 {
			continue
		}
		var n uint64
		switch lenBytes {
		case 1:
			n = uint64(b[i])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b[i:]))
		case 8:
			n = binary.LittleEndian.Uint64(b[i:])
		}
		i += lenBytes
		if n > uint64(len(b)-i) {
			return fmt.Errorf("pickle opcode 0x%02x at byte %d claims %d bytes, only %d remain (truncated or corrupt)", op, base+at, n, len(b)-i)
		}
		if op != 0x95 { // a FRAME's bytes are the opcodes that follow it
			i += int(n)
		}
	}
	return nil
}

// findClass resolves the globals a state-dict pickle uses; anything else
// becomes an opaque object, which is skipped when collecting tensors.
func findClass(module, name string) (any, error) {
	if module == "torch" || module == "torch.storage" {
		if dt, ok := storageDTypes[name]; ok {
			return &storageClass{dt}, nil
		}
	}
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	}
	return &opaqueClass{module + "." + name}, nil
}

type rebuildTensor struct{}

// Call implements _rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]) and the older 4-argument form.
func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments, expected at least 4", len(args))
	}
	s, ok := args[0].(*pthStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: first argument is %T, not a storage", args[0])
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage offset is %T, not an int", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: size: %v", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: stride: %v", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in rank", size, stride)
	}
	return &pthTensor{storage: s, offset: off, size: size, stride: stride}, nil
}

type rebuildParameter struct{}

// Call implements _rebuild_parameter(data, requires_grad, backward_hooks): a
// Parameter is its data tensor.
func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

func intTuple(v any) ([]int, error) {
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return nil, fmt.Errorf("expected a tuple of ints, found %T", v)
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, ok := it.(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("expected a tuple of non-negative ints, found %v", items)
		}
		out[i] = n
	}
	return out, nil
}

// opaqueClass stands for any Python global the loader has no use for
// (numpy scalars, argparse.Namespace, ...), so that such checkpoints still
// load. Its objects keep what is stored into them as a dict or list (a
// defaultdict of tensors, say), so tensors inside are still found.
type opaqueClass struct{ name string }

type opaqueObject struct {
	class string
	items types.Dict
	list  []any
}

func (c *opaqueClass) Call(...any) (any, error)     { return &opaqueObject{class: c.name}, nil }
func (c *opaqueClass) PyNew(...any) (any, error)    { return &opaqueObject{class: c.name}, nil }
func (o *opaqueObject) PySetState(any) error        { return nil }
func (o *opaqueObject) PyDictSet(_, _ any) error    { return nil }
func (o *opaqueObject) PySetAttr(string, any) error { return nil }
func (o *opaqueObject) Set(k, v any)                { o.items.Set(k, v) }
func (o *opaqueObject) Append(v any)                { o.list = append(o.list, v) }

// storageTable holds the storages met while unpickling: roots by key, and
// legacy views by their own key (a separate namespace).
type storageTable struct{ roots, views map[string]*pthStorage }

func newStorageTable() *storageTable {
	return &storageTable{roots: map[string]*pthStorage{}, views: map[string]*pthStorage{}}
}

// persistentStorage decodes a persistent id ('storage', type, key, location,
// numel[, view_metadata]) into a storage, one per key.
func persistentStorage(storages *storageTable, id any) (*pthStorage, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, fmt.Errorf("persistent id %v: expected ('storage', type, key, location, numel)", id)
	}
	if kind, _ := t.Get(0).(string); kind != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v, expected 'storage'", t.Get(0))
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("persistent id %v: unsupported storage type %v", t.Get(2), t.Get(1))
	}
	key, ok1 := t.Get(2).(string)
	numel, ok2 := t.Get(4).(int)
	if !ok1 || !ok2 || numel < 0 {
		return nil, fmt.Errorf("persistent id %v: bad key or element count", *t)
	}
	if _, ok := dataBytes(cls.dtype, []int{numel}); !ok {
		return nil, fmt.Errorf("storage %s: %d elements of %s overflow a byte count", key, numel, cls.dtype)
	}
	s, ok := storages.roots[key]
	if !ok {
		s = &pthStorage{key: key, dtype: cls.dtype, numel: numel}
		storages.roots[key] = s
	} else if s.dtype != cls.dtype || s.numel != numel {
		return nil, fmt.Errorf("storage %s declared as %s[%d] and as %s[%d]", key, s.dtype, s.numel, cls.dtype, numel)
	}
	if t.Len() >= 6 && t.Get(5) != nil { // legacy view (view_key, offset, view_size) into the root storage
		vm, ok := t.Get(5).(*types.Tuple)
		if !ok || vm.Len() != 3 {
			return nil, fmt.Errorf("storage %s: bad view metadata %v", key, t.Get(5))
		}
		vkey, ok1 := vm.Get(0).(string)
		voff, ok2 := vm.Get(1).(int)
		vsize, ok3 := vm.Get(2).(int)
		if !ok1 || !ok2 || !ok3 || voff < 0 || vsize < 0 || voff > numel || vsize > numel-voff {
			return nil, fmt.Errorf("storage %s: view %v outside its %d elements", key, *vm, numel)
		}
		if v, ok := storages.views[vkey]; ok {
			if v.root != s || v.offset != voff || v.numel != vsize {
				return nil, fmt.Errorf("storage view %s declared as elements [%d, %d) of %s and as [%d, %d) of %s", vkey, v.offset, v.offset+v.numel, v.root.key, voff, voff+vsize, key)
			}
			return v, nil
		}
		v := &pthStorage{key: vkey, dtype: cls.dtype, numel: vsize, root: s, offset: voff}
		storages.views[vkey] = v
		return v, nil
	}
	return s, nil
}

func (p *PthFile) loadZip() (any, error) {
	zr, err := zip.NewReader(bytes.NewReader(p.data), int64(len(p.data)))
	if err != nil {
		return nil, fmt.Errorf("truncated or corrupt .pth (zip format): %v", err)
	}
	var pkl *zip.File
	records := map[string]*zip.File{}
	for _, zf := range zr.File {
		records[zf.Name] = zf
		dir, base := path.Split(zf.Name)
		if base == "constants.pkl" {
			return nil, fmt.Errorf("this is a TorchScript archive (torch.jit.save); save the model's state_dict with torch.save instead")
		}
		if base == "data.pkl" && strings.Count(dir, "/") == 1 {
			pkl = zf
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("zip archive has no <root>/data.pkl: not a torch.save checkpoint")
	}
	root := path.Dir(pkl.Name)
	if bo, ok := records[root+"/byteorder"]; ok {
		b, err := readRecord(bo, bo.UncompressedSize64)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("checkpoint byte order %q is not supported (little-endian only)", b)
		}
	}
	pb, err := readRecord(pkl, pkl.UncompressedSize64)
	if err != nil {
		return nil, err
	}
	// resolve points a root storage at its record's bytes (stored) or at the
	// record itself (compressed, read on first use).
	resolve := func(s *pthStorage) error {
		if s.data != nil || s.record != nil {
			return nil
		}
		name := root + "/data/" + s.key
		rec, ok := records[name]
		if !ok {
			return fmt.Errorf("storage %s: record %s missing from the archive", s.key, name)
		}
		need := uint64(s.numel * s.dtype.Size()) // cannot overflow: persistentStorage checked it
		if rec.UncompressedSize64 < need {
			return fmt.Errorf("storage %s: record %s holds %d bytes, %s[%d] needs %d", s.key, name, rec.UncompressedSize64, s.dtype, s.numel, need)
		}
		if rec.Method == zip.Store {
			off, err := rec.DataOffset()
			if err != nil || off < 0 || need > uint64(len(p.data)) || uint64(off) > uint64(len(p.data))-need {
				return fmt.Errorf("storage %s: record %s needs %d bytes at offset %d, the file has %d (truncated)", s.key, name, need, off, len(p.data))
			}
			s.data = p.data[off : uint64(off)+need]
		} else {
			s.record = rec
		}
		return nil
	}
	storages := newStorageTable()
	obj, err := unpickle(pb, bytes.NewReader(pb), findClass, func(id any) (any, error) {
		s, err := persistentStorage(storages, id)
		if err != nil {
			return nil, err
		}
		if s.root != nil { // a view: its bytes are the root's
			return s, resolve(s.root)
		}
		return s, resolve(s)
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", pkl.Name, err)
	}
	return obj, nil
}

// maxDeflateRatio bounds how much a deflated record can expand: deflate
// codes at most 258 bytes per 2 bits, about 1032:1. A record that declares
// more than that of its compressed size lies, and would make us allocate
// what it declares.
const maxDeflateRatio = 1032

// readRecord reads the first n bytes of a zip record (all of it when n is
// its declared size) and checks the rest's CRC. It allocates n only when
// the record's compressed size can hold that much.
func readRecord(zf *zip.File, n uint64) ([]byte, error) {
	size := zf.UncompressedSize64
	switch {
	case zf.Method == zip.Store && size != zf.CompressedSize64:
		return nil, fmt.Errorf("zip record %s is stored with %d bytes but declares %d (corrupt)", zf.Name, zf.CompressedSize64, size)
	case zf.Method != zip.Store && size/maxDeflateRatio > zf.CompressedSize64+1:
		return nil, fmt.Errorf("zip record %s declares %d bytes from %d compressed, more than deflate can expand (corrupt)", zf.Name, size, zf.CompressedSize64)
	case n > size || n > math.MaxInt:
		return nil, fmt.Errorf("zip record %s holds %d bytes, %d needed", zf.Name, size, n)
	}
	r, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("zip record %s: %v", zf.Name, err)
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("zip record %s: %v (truncated or corrupt)", zf.Name, err)
	}
	// The CRC is checked at the end of the stream.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("zip record %s: %v (truncated or corrupt)", zf.Name, err)
	}
	return b, nil
}

const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
)

func (p *PthFile) loadLegacy() (any, error) {
	r := bytes.NewReader(p.data)
	magic, err := unpickle(p.data, r, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy format: reading the magic number: %v", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Text(16) != legacyMagic {
		return nil, fmt.Errorf("legacy format: bad magic number %v (not a torch.save file)", magic)
	}
	proto, err := unpickle(p.data, r, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy format: reading the protocol version: %v", err)
	}
	if v, ok := proto.(int); !ok || v != legacyProtocol {
		return nil, fmt.Errorf("legacy format: protocol version %v, expected %d", proto, legacyProtocol)
	}
	sysInfo, err := unpickle(p.data, r, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy format: reading sys_info: %v", err)
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, fmt.Errorf("legacy format: written on a big-endian machine, not supported")
		}
	}
	storages := newStorageTable()
	obj, err := unpickle(p.data, r, findClass, func(id any) (any, error) {
		if t, ok := id.(*types.Tuple); ok && t.Len() > 0 && t.Get(0) == "module" {
			return &opaqueObject{class: "module"}, nil // source of a pickled nn.Module class
		}
		return persistentStorage(storages, id)
	})
	if err != nil {
		return nil, fmt.Errorf("legacy format: reading the main pickle: %v", err)
	}
	keysObj, err := unpickle(p.data, r, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy format: reading the storage key list: %v", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("legacy format: storage key list is %T, not a list", keysObj)
	}
	pos := int64(len(p.data)) - int64(r.Len())
	for _, k := range *keys {
		key, _ := k.(string)
		s, ok := storages.roots[key]
		if !ok {
			return nil, fmt.Errorf("legacy format: storage %v listed but never referenced", k)
		}
		if pos+8 > int64(len(p.data)) {
			return nil, fmt.Errorf("legacy format: storage %s: file ends before its element count (truncated)", key)
		}
		n := int64(binary.LittleEndian.Uint64(p.data[pos:]))
		pos += 8
		if n != int64(s.numel) {
			return nil, fmt.Errorf("legacy format: storage %s: %d elements on disk, %d declared", key, n, s.numel)
		}
		need := n * int64(s.dtype.Size()) // n == numel: persistentStorage checked the product
		if need > int64(len(p.data))-pos {
			return nil, fmt.Errorf("legacy format: storage %s needs %d bytes at offset %d, the file has %d (truncated)", key, need, pos, len(p.data))
		}
		s.data = p.data[pos : pos+need]
		pos += need
	}
	for key, s := range storages.roots {
		if s.data == nil {
			return nil, fmt.Errorf("legacy format: storage %s has no data (missing from the key list)", key)
		}
	}
	return obj, nil
}

// Limits on the walk over the unpickled object. Memo references let a few
// bytes of pickle describe a container inside itself or a chain of shared
// containers whose unfolded tree is exponentially large; real state dicts
// nest a few levels and have names of a few hundred bytes at most.
const (
	maxNesting = 100
	// maxWalkBytes bounds the bytes of dotted names built while walking.
	maxWalkBytes = 1 << 24
	// maxExpandedBytes bounds the copy Get makes of a tensor with more
	// elements than its storage (an expanded, stride-0 view).
	maxExpandedBytes = 1 << 26
)

// collect records every tensor in obj under its dotted name.
func (p *PthFile) collect(obj any) error {
	w := &walker{p: p, onPath: map[any]bool{}, budget: maxWalkBytes}
	return w.walk("", obj, 0)
}

type walker struct {
	p      *PthFile
	onPath map[any]bool // containers being walked: one met again is a cycle
	budget int
}

func (w *walker) walk(prefix string, obj any, depth int) error {
	if w.budget -= len(prefix) + 1; w.budget < 0 {
		return fmt.Errorf("the pickled object unfolds to more than %d MiB of tensor names (shared containers repeated over and over)", maxWalkBytes>>20)
	}
	switch obj.(type) {
	case *types.OrderedDict, *types.Dict, *opaqueObject, *types.List, *types.Tuple:
		if depth >= maxNesting {
			return fmt.Errorf("the pickled object nests more than %d levels deep at %q", maxNesting, prefix)
		}
		if w.onPath[obj] { // a container inside itself adds no tensors
			return nil
		}
		w.onPath[obj] = true
		defer delete(w.onPath, obj)
	}
	// child walks one element; scalars (epochs, hyper-parameters) hold no
	// tensors and get no name built.
	child := func(k, v any) error {
		switch v.(type) {
		case *pthTensor, *types.OrderedDict, *types.Dict, *opaqueObject, *types.List, *types.Tuple:
		default:
			return nil
		}
		name := fmt.Sprint(k)
		if prefix != "" {
			name = prefix + "." + name
		}
		return w.walk(name, v, depth+1)
	}
	switch v := obj.(type) {
	case *pthTensor:
		name := prefix
		if _, dup := w.p.tensors[name]; dup {
			return fmt.Errorf("tensor name %q occurs twice after flattening nested dicts", name)
		}
		if err := v.check(name); err != nil {
			return err
		}
		w.p.tensors[name] = v
	case *types.OrderedDict:
		for e := v.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := child(entry.Key, entry.Value); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, entry := range *v {
			if err := child(entry.Key, entry.Value); err != nil {
				return err
			}
		}
	case *opaqueObject:
		if err := w.walk(prefix, &v.items, depth+1); err != nil {
			return err
		}
		l := types.List(v.list)
		return w.walk(prefix, &l, depth+1)
	case *types.List:
		for i, it := range *v {
			if err := child(i, it); err != nil {
				return err
			}
		}
	case *types.Tuple:
		for i, it := range *v {
			if err := child(i, it); err != nil {
				return err
			}
		}
	}
	return nil
}

// check verifies that the strided view stays inside its storage and that
// Get can materialise it, with overflow-safe arithmetic: size, stride and
// offset come straight from the file.
func (t *pthTensor) check(name string) error {
	numel := t.storage.numel
	bad := func(why string) error {
		return fmt.Errorf("tensor %q: size %v stride %v offset %d %s its storage of %d elements", name, t.size, t.stride, t.offset, why, numel)
	}
	if t.offset < 0 {
		return bad("starts before")
	}
	es := t.storage.dtype.Size()
	nb, ok := dataBytes(t.storage.dtype, t.size) // what Get may allocate
	if !ok {
		return bad("has too many elements for")
	}
	if nb == 0 {
		return nil
	}
	n := nb / es
	last := t.offset // the storage index of the last element
	for i, d := range t.size {
		hi, step := bits.Mul64(uint64(d-1), uint64(t.stride[i]))
		if hi != 0 || step > uint64(numel) || last > numel-int(step) {
			return bad("reaches past")
		}
		last += int(step)
	}
	if last >= numel {
		return bad("reaches past")
	}
	if n > numel && nb > maxExpandedBytes {
		return bad(fmt.Sprintf("expands to %d elements (over %d MiB) from", n, maxExpandedBytes>>20))
	}
	return nil
}

// bytes returns the storage's raw data, reading a compressed record once.
func (s *pthStorage) bytes() ([]byte, error) {
	if s.root != nil {
		rb, err := s.root.bytes()
		if err != nil {
			return nil, err
		}
		es := s.dtype.Size()
		return rb[s.offset*es : (s.offset+s.numel)*es], nil
	}
	if s.data == nil && s.record != nil {
		b, err := readRecord(s.record, uint64(s.numel*s.dtype.Size()))
		if err != nil {
			return nil, fmt.Errorf("storage %s: %v", s.key, err)
		}
		s.data = b
	}
	return s.data, nil
}

// Names lists every tensor, sorted.
func (p *PthFile) Names() []string { return p.names }

// Has reports whether the checkpoint holds a tensor called name.
func (p *PthFile) Has(name string) bool { _, ok := p.tensors[name]; return ok }

// Get returns the named tensor as contiguous row-major data. Contiguous tensors
// alias the file mapping until Close; strided views are copied.
func (p *PthFile) Get(name string) (*Tensor, error) {
	t, ok := p.tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", p.Path, name)
	}
	sb, err := t.storage.bytes()
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %v", p.Path, name, err)
	}
	es := t.storage.dtype.Size()
	n := 1
	for _, d := range t.size {
		n *= d
	}
	out := &Tensor{Name: name, DType: t.storage.dtype, Shape: append([]int{}, t.size...), Source: p.Path}
	if n == 0 {
		out.Data = []byte{}
		return out, nil
	}
	if isContiguous(t.size, t.stride) {
		out.Data = sb[t.offset*es : (t.offset+n)*es]
		return out, nil
	}
	// Materialise a non-contiguous view (transposed, expanded or sliced).
	data := make([]byte, n*es)
	idx := make([]int, len(t.size))
	for i := 0; i < n; i++ {
		src := t.offset
		for a, k := range idx {
			src += k * t.stride[a]
		}
		copy(data[i*es:(i+1)*es], sb[src*es:(src+1)*es])
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < t.size[a] {
				break
			}
			idx[a] = 0
		}
	}
	out.Data = data
	return out, nil
}

// isContiguous reports whether stride is the row-major stride of size
// (axes of size 1 may carry any stride).
func isContiguous(size, stride []int) bool {
	want := 1
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}

// Close unmaps the file; tensors returned by Get must not be used afterwards.
func (p *PthFile) Close() error {
	var err error
	if p.data != nil {
		err = p.data.Unmap()
		p.data = nil
	}
	if p.file != nil {
		p.file.Close()
		p.file = nil
	}
	return err
}

// FindPrefix returns the prefix under which s holds anchor: "" when s has
// anchor itself, else the shortest p with s.Has(p+anchor) — e.g.
// "state_dict." or "module." for wrapped or DataParallel checkpoints — and
// false when no name ends with anchor.
func FindPrefix(s Set, anchor string) (string, bool) {
	if s.Has(anchor) {
		return "", true
	}
	best, found := "", false
	for _, n := range s.Names() {
		if strings.HasSuffix(n, "."+anchor) {
			p := strings.TrimSuffix(n, anchor)
			if !found || len(p) < len(best) {
				best, found = p, true
			}
		}
	}
	return best, found
}
