package weights

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/edsrzf/mmap-go"
)

// Safetensors layout: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {...}},
// then the raw data; offsets are relative to the end of the header.

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// SafetensorsFile is one memory-mapped safetensors file. Tensors are read
// lazily from the mapping; their Data aliases it until Close.
type SafetensorsFile struct {
	Path     string
	Metadata map[string]string
	entries  map[string]stEntry
	names    []string
	data     mmap.MMap
	file     *os.File
	base     int64
}

// OpenSafetensors maps path and parses its header; errors name the file and
// what is wrong (truncated header, bad JSON, offsets past the end, bad dtype).
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: truncated safetensors file (%d bytes, no header length)", path, size)
	}
	// Compare as uint64: a hostile length near 2^64 must not wrap to a small
	// or negative number before the header buffer is allocated.
	hlen64 := binary.LittleEndian.Uint64(lenBuf[:])
	if size < 10 { // 8 bytes of length and at least "{}"
		f.Close()
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, too short for a header", path, size)
	}
	if hlen64 == 0 || hlen64 > uint64(size-8) {
		f.Close()
		return nil, fmt.Errorf("%s: truncated or invalid safetensors file: header length %d, expected 1 to %d (file size %d)", path, hlen64, size-8, size)
	}
	hlen := int64(hlen64)
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading safetensors header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: safetensors header is not valid JSON: %v", path, err)
	}
	sf := &SafetensorsFile{Path: path, entries: map[string]stEntry{}, file: f, base: 8 + hlen}
	dataLen := size - sf.base
	for name, msg := range raw {
		if name == "__metadata__" {
			_ = json.Unmarshal(msg, &sf.Metadata)
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: bad header entry: %v", path, name, err)
		}
		dt := DType(e.DType)
		if dt.Size() == 0 {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: unsupported dtype %q (want one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", path, name, e.DType)
		}
		nb, ok := dataBytes(dt, e.Shape)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: shape %v has a negative dimension or too many elements", path, name, e.Shape)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: data_offsets [%d, %d], expected 0 <= begin <= end", path, name, begin, end)
		}
		// Checked before comparing sizes, so that a tensor claiming more
		// bytes than the file holds is reported as such.
		if end > dataLen || int64(nb) > dataLen {
			f.Close()
			return nil, fmt.Errorf("%s: truncated safetensors file: tensor %q (%s%v, %d bytes) ends at byte %d of data, file has %d", path, name, e.DType, e.Shape, nb, end, dataLen)
		}
		if end-begin != int64(nb) {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: %s%v needs %d bytes, header offsets give %d", path, name, e.DType, e.Shape, nb, end-begin)
		}
		sf.entries[name] = e
		sf.names = append(sf.names, name)
	}
	sort.Strings(sf.names)
	if dataLen > 0 {
		m, err := mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: mmap: %w", path, err)
		}
		sf.data = m
	}
	return sf, nil
}

// Names lists the tensor names, sorted.
func (s *SafetensorsFile) Names() []string { return s.names }

// Has reports whether the file holds name.
func (s *SafetensorsFile) Has(name string) bool { _, ok := s.entries[name]; return ok }

// Get returns the tensor; its Data aliases the mapping until Close.
func (s *SafetensorsFile) Get(name string) (*Tensor, error) {
	e, ok := s.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", s.Path, name)
	}
	var data []byte
	if e.Offsets[1] > e.Offsets[0] {
		data = s.data[s.base+e.Offsets[0] : s.base+e.Offsets[1]]
	} else {
		data = []byte{}
	}
	shape := e.Shape
	if shape == nil {
		shape = []int{}
	}
	return &Tensor{Name: name, DType: DType(e.DType), Shape: shape, Data: data, Source: s.Path}, nil
}

// Close unmaps and closes the file.
func (s *SafetensorsFile) Close() error {
	if s.data != nil {
		_ = s.data.Unmap()
		s.data = nil
	}
	return s.file.Close()
}

// WriteSafetensors writes tensors (in name order) with optional metadata.
func WriteSafetensors(path string, ts []*Tensor, metadata map[string]string) error {
	sorted := append([]*Tensor(nil), ts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range sorted {
		if err := t.check(); err != nil {
			return err
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("writing %s: duplicate tensor %q", path, t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = stEntry{DType: string(t.DType), Shape: shape, Offsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hdr)%8 != 0 { // keep data 8-byte aligned, as the reference writer does
		hdr = append(hdr, ' ')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	w := io.Writer(f)
	_, err = w.Write(lenBuf[:])
	if err == nil {
		_, err = w.Write(hdr)
	}
	for _, t := range sorted {
		if err != nil {
			break
		}
		_, err = w.Write(t.Data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
