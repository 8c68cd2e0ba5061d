package weights

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// rawZipPth is a zip checkpoint whose storage record 0 is deflated from
// data and declares the given uncompressed size and CRC, as a corrupt or
// hostile file may.
func rawZipPth(t *testing.T, pkl, data []byte, declared uint64, crc uint32) string {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range []struct {
		name string
		data []byte
	}{{"archive/data.pkl", pkl}, {"archive/byteorder", []byte("little")}} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: zip.Store})
		w.Write(r.data)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "archive/data/0", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	p := filepath.Join(t.TempDir(), "raw.pth")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// Compressed storage records are read with what the tensor needs, checked
// against what deflate can hold and against their CRC; a record used to be
// read in full, however large it declared or really was.
func TestPthZipRecordSizes(t *testing.T) {
	var b pk
	writePickle(&b, "", []fakeTensor{w6}, false) // w: 6 float32 of storage 0
	pkl := b.Bytes()
	blob := f32bytes(0, 1, 2, 3, 4, 5)
	get := func(p string) ([]byte, error) {
		s, err := OpenPth(p)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		x, err := s.Get("w")
		if err != nil {
			return nil, err
		}
		return x.Data, nil
	}

	// Well formed: the 24 bytes come back.
	if got, err := get(rawZipPth(t, pkl, blob, 24, crc32.ChecksumIEEE(blob))); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("well formed: %v %v", got, err)
	}
	// A record longer than the storage needs (1 MiB of zeros after the
	// data) is read up to what is needed, its CRC still checked.
	long := append(append([]byte(nil), blob...), make([]byte, 1<<20)...)
	if got, err := get(rawZipPth(t, pkl, long, uint64(len(long)), crc32.ChecksumIEEE(long))); err != nil || !bytes.Equal(got, blob) {
		t.Errorf("longer record: %v %v", got, err)
	}
	_, err := get(rawZipPth(t, pkl, long, uint64(len(long)), 1))
	wantErr(t, err, "storage 0", "archive/data/0", "checksum")
	// 1 TiB declared from a few bytes: more than deflate can expand.
	p := rawZipPth(t, pkl, blob, 1<<40, crc32.ChecksumIEEE(blob))
	_, err = get(p)
	wantErr(t, err, p, "archive/data/0", "declares 1099511627776 bytes", "more than deflate can expand")
	// Declared longer than it really is.
	_, err = get(rawZipPth(t, pkl, blob, 100, crc32.ChecksumIEEE(blob)))
	wantErr(t, err, "archive/data/0", "truncated or corrupt")
}
