package main

// The feature cache of `evalrun fid`: each image folder's pool3 features are
// appended to a file batch by batch as they are computed, so that an
// interrupted run (Ctrl-C, a killed job) resumes where it stopped and a
// folder compared again (the ground truth against several reconstructions)
// is not recomputed.
//
// One file per (absolute folder, mode, weights sha256, backend, batch size,
// sorted file list): FID must come out bit-identical to an uncached run, and
// the network's float32 output depends on the backend and on the batch
// shape (the Go backend's batch-1 path rounds differently from batch 2+),
// while the accumulated statistics depend on how the rows are split into
// batches. With all of these fixed, a batch whose every image has a valid
// record is taken from the file, and any other batch is computed whole,
// exactly as an uncached run computes it.
//
// Layout (little-endian):
//
//	header: "DTFIDFEAT1\n" | u32 n | n bytes of JSON (fidCacheKey) | u32 crc32c(JSON)
//	record: u32 n | n bytes of relative path (slash-separated) | i64 size |
//	        i64 mtime (Unix ns) | Pool3Dim × f32 | u32 crc32c(record so far)
//
// Features are stored as float32, what the network returns (BatchPool3
// widens them to float64 losslessly), so a cached row is bit-identical to a
// recomputed one. A record whose bytes end early or fail their checksum (a
// run killed mid-write) is cut off with everything after it.

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

const fidCacheMagic = "DTFIDFEAT1\n"

// fidRacyWindow: a file modified this close to being read is not recorded,
// because timestamps are coarser than writes on some file systems (a
// same-size rewrite in the same tick would keep its stamp).
var fidRacyWindow = 2 * time.Second

var fidCRC = crc32.MakeTable(crc32.Castagnoli)

// fidCacheKey is what a cache file holds features for; its hash names the file.
type fidCacheKey struct {
	Dir           string `json:"dir"` // absolute
	Mode          string `json:"mode"`
	WeightsSHA256 string `json:"weights_sha256"`
	Backend       string `json:"backend"`
	Batch         int    `json:"batch"`
	Files         int    `json:"files"`
	ListSHA256    string `json:"list_sha256"` // of the sorted relative paths, one per line
	Dim           int    `json:"dim"`
}

// fidStamp identifies one version of an image file.
type fidStamp struct {
	rel         string // relative to the folder, slash-separated
	size, mtime int64
}

func fidStatStamp(path, rel string) (fidStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fidStamp{}, err
	}
	return fidStamp{rel: rel, size: st.Size(), mtime: st.ModTime().UnixNano()}, nil
}

// fidRelPaths returns files relative to dir, slash-separated, and the digest
// of that list.
func fidRelPaths(dir string, files []string) ([]string, string, error) {
	rels := make([]string, len(files))
	h := sha256.New()
	for i, f := range files {
		r, err := filepath.Rel(dir, f)
		if err != nil {
			return nil, "", err
		}
		rels[i] = filepath.ToSlash(r)
		fmt.Fprintf(h, "%s\n", rels[i])
	}
	return rels, hex.EncodeToString(h.Sum(nil)), nil
}

var fidUnsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fidCacheFile is the file for key under cacheDir: the folder's base name
// (for people listing the folder) and the key's hash.
func fidCacheFile(cacheDir string, key fidCacheKey) string {
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(b)
	base := fidUnsafeName.ReplaceAllString(filepath.Base(key.Dir), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	return filepath.Join(cacheDir, fmt.Sprintf("%s-%s.fidfeat", base, hex.EncodeToString(sum[:12])))
}

// fidCache is one open cache file: an index of its valid records and an
// append handle.
type fidCache struct {
	path string
	f    *os.File // O_RDWR|O_APPEND: records are read with ReadAt
	dim  int
	idx  map[string]fidCacheEntry
	// dropped is the number of bytes cut off at open (a torn or corrupt
	// tail); replaced is set when a file with another header was started over.
	dropped  int64
	replaced bool
}

type fidCacheEntry struct {
	size, mtime int64
	off         int64 // of the features
}

func fidHeader(key fidCacheKey) []byte {
	js, _ := json.Marshal(key)
	b := []byte(fidCacheMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(js, fidCRC))
}

// openFIDCache opens (creating it if needed) the cache file at path for
// key, indexes its records and repairs a torn tail.
func openFIDCache(path string, key fidCacheKey) (*fidCache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c := &fidCache{path: path, f: f, dim: key.Dim, idx: map[string]fidCacheEntry{}}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	hdr := fidHeader(key)
	got := make([]byte, len(hdr))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(len(hdr))), got); err != nil || string(got) != string(hdr) {
		// New, foreign (a hash collision) or cut off while being created.
		c.replaced = st.Size() > 0
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.Write(hdr); err != nil {
			f.Close()
			return nil, err
		}
		return c, nil
	}
	off, end := int64(len(hdr)), st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 1<<20)
	featBytes := int64(4 * key.Dim)
	for off < end {
		n, ok := c.readRecord(r, off, featBytes)
		if !ok {
			if err := f.Truncate(off); err != nil {
				f.Close()
				return nil, err
			}
			c.dropped = end - off
			break
		}
		off += n
	}
	return c, nil
}

// readRecord reads the record at off and indexes it; it returns the
// record's length, or false for a torn or corrupt record.
func (c *fidCache) readRecord(r *bufio.Reader, off, featBytes int64) (int64, bool) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return 0, false
	}
	n := int64(binary.LittleEndian.Uint32(lb[:]))
	if n == 0 || n > 4096 {
		return 0, false
	}
	body := make([]byte, n+16+featBytes+4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, false
	}
	crc := crc32.Update(crc32.Checksum(lb[:], fidCRC), fidCRC, body[:len(body)-4])
	if crc != binary.LittleEndian.Uint32(body[len(body)-4:]) {
		return 0, false
	}
	rel := string(body[:n])
	c.idx[rel] = fidCacheEntry{ // a later record of a path supersedes earlier ones
		size:  int64(binary.LittleEndian.Uint64(body[n:])),
		mtime: int64(binary.LittleEndian.Uint64(body[n+8:])),
		off:   off + 4 + n + 16,
	}
	return 4 + int64(len(body)), true
}

// lookup fills dst (dim float64s) with the features recorded for s, if a
// record of that path, size and mtime exists.
func (c *fidCache) lookup(s fidStamp, dst []float64) bool {
	e, ok := c.idx[s.rel]
	if !ok || e.size != s.size || e.mtime != s.mtime {
		return false
	}
	b := make([]byte, 4*c.dim)
	if _, err := c.f.ReadAt(b, e.off); err != nil {
		return false
	}
	for i := range dst {
		dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return true
}

// add appends records for stamps with their feature rows (flat, float64
// widened from the network's float32) in one write.
func (c *fidCache) add(stamps []fidStamp, feats [][]float64) error {
	if len(stamps) == 0 {
		return nil
	}
	var buf []byte
	for i, s := range stamps {
		if len(feats[i]) != c.dim {
			return fmt.Errorf("feature row of %d values, want %d", len(feats[i]), c.dim)
		}
		start := len(buf)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s.rel)))
		buf = append(buf, s.rel...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(s.size))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(s.mtime))
		for _, v := range feats[i] {
			f := float32(v)
			if float64(f) != v && !math.IsNaN(v) {
				return errors.New("feature is not a float32 value") // would not round-trip
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
		}
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf[start:], fidCRC))
	}
	_, err := c.f.Write(buf)
	return err
}

func (c *fidCache) Close() error { return c.f.Close() }

// fidCacheDir resolves the feature cache folder ("" for none) and checks
// that it can be created and written, before anything is computed. A
// --cache (flag) that cannot is an error naming it; the default location
// failing gives no cache and a warning, which the caller prints once.
func fidCacheDir(flag string, off bool) (dir, warning string, err error) {
	if off {
		return "", "", nil
	}
	usable := func(d string) error {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot create the folder: %v", fidOSErr(err))
		}
		if err := fidProbeWritable(d); err != nil {
			return fmt.Errorf("the folder is not writable: %v", fidOSErr(err))
		}
		return nil
	}
	if flag != "" {
		if err := usable(flag); err != nil {
			return "", "", fmt.Errorf("--cache %s: %v (or pass --no-cache)", flag, err)
		}
		return flag, "", nil
	}
	d, err := fidCacheDefault()
	if err == nil {
		err = usable(d)
	}
	if err != nil {
		if d == "" {
			return "", fmt.Sprintf("no user cache folder (%v): features are not cached; pass --cache DIR to resume interrupted runs", err), nil
		}
		return "", fmt.Sprintf("feature cache %s: %v: features are not cached; pass --cache DIR to resume interrupted runs", d, err), nil
	}
	return d, "", nil
}

// fidCacheDefault is <user cache dir>/dualtoken-evalharness/fid.
func fidCacheDefault() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "dualtoken-evalharness", "fid"), nil
}
