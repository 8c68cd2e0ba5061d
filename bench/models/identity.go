package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/weights"
)

// checkpointFiles lists the files a checkpoint path loads from, resolved as
// weights.Open resolves it: a file is itself; a directory's is the one
// weights.CheckpointIn picks; an index brings every shard it names (sorted,
// index first).
func checkpointFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if st.IsDir() {
		p, err := weights.CheckpointIn(path)
		if err != nil {
			return nil, err
		}
		return checkpointFiles(p)
	}
	if !strings.HasSuffix(path, ".index.json") {
		return []string{path}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: not a valid index: %v", path, err)
	}
	var shards []string
	for _, f := range idx.WeightMap {
		if !slices.Contains(shards, f) {
			shards = append(shards, f)
		}
	}
	sort.Strings(shards)
	out := []string{path}
	for _, f := range shards {
		out = append(out, filepath.Join(filepath.Dir(path), f))
	}
	return out, nil
}

// checkpointDigests is the sha256 of each file of checkpointFiles(path).
func checkpointDigests(path string) ([]string, error) {
	files, err := checkpointFiles(path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(files))
	for i, f := range files {
		if out[i], err = fileDigest(f); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	return out, nil
}

// weightsSHA256 identifies a checkpoint's content: the file's sha256 for a
// single file (what sha256sum prints), else the sha256 of the index's and
// every shard's digest, one a line.
func weightsSHA256(path string) (string, error) {
	ds, err := checkpointDigests(path)
	if err != nil || len(ds) == 1 {
		return strings.Join(ds, ""), err
	}
	return digestOfDigests(ds), nil
}

func digestOfDigests(ds []string) string {
	h := sha256.New()
	for _, d := range ds {
		fmt.Fprintf(h, "%s\n", d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Checkpoint files are hashed in full (a header-and-size fingerprint would
// not tell two fine-tuned checkpoints of one architecture apart), which for
// multi-GB files takes seconds on every run. So a file of at least
// hashCacheMin bytes has its digest recorded under hashCacheDir with its
// stat stamp (device, inode, size, mtime and ctime in ns, as git's index
// does): any write or replacement changes ctime or the inode, and ctime
// cannot be set back. A file changed within racyWindow of being hashed is
// not recorded, because timestamps are coarser than writes (git's "racy
// git" case). Where no stamp is available (non-Linux) files are always
// hashed.
var (
	hashCacheMin = int64(64 << 20)
	racyWindow   = 2 * time.Second
	hashMemo     sync.Map // stamp key -> digest, for this process
)

// hashCacheDir is $DUALTOKEN_HASH_CACHE ("off" disables the record on
// disk), else <user cache dir>/dualtoken-evalharness/sha256.
func hashCacheDir() string {
	if d := os.Getenv("DUALTOKEN_HASH_CACHE"); d != "" {
		if d == "off" {
			return ""
		}
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "dualtoken-evalharness", "sha256")
}

type hashRecord struct {
	Path   string `json:"path"`
	Stamp  string `json:"stamp"`
	SHA256 string `json:"sha256"`
}

// fileDigest is the sha256 of path's content (see hashCacheMin).
func fileDigest(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return "", fmt.Errorf("%s is a directory, not a file", path)
	}
	stamp, ok := fileStamp(st)
	if !ok || st.Size() < hashCacheMin {
		return bench.FileSHA256(path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	memoKey := abs + "\x00" + stamp
	if d, ok := hashMemo.Load(memoKey); ok {
		return d.(string), nil
	}
	sum := sha256.Sum256([]byte(abs))
	var rec string
	if dir := hashCacheDir(); dir != "" {
		rec = filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
		var r hashRecord
		if b, err := os.ReadFile(rec); err == nil && json.Unmarshal(b, &r) == nil && r.Path == abs && r.Stamp == stamp && len(r.SHA256) == 64 {
			hashMemo.Store(memoKey, r.SHA256)
			return r.SHA256, nil
		}
	}
	start := time.Now()
	d, err := bench.FileSHA256(path)
	if err != nil {
		return "", err
	}
	// Record only a file that was stable while hashed and not changed
	// within racyWindow of it (a same-size rewrite in the same clock tick
	// would keep its stamp).
	after, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if s2, _ := fileStamp(after); s2 != stamp || changedSince(after, start.Add(-racyWindow)) {
		return d, nil
	}
	hashMemo.Store(memoKey, d)
	if rec != "" {
		writeHashRecord(rec, hashRecord{Path: abs, Stamp: stamp, SHA256: d})
	}
	return d, nil
}

// writeHashRecord stores r atomically; failing to is harmless (the file is
// hashed again next time).
func writeHashRecord(path string, r hashRecord) {
	b, _ := json.Marshal(r)
	if os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".rec-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

// tokenizerSHA256 is the digest of the tokenizer file a model reads.
func tokenizerSHA256(spec bench.ModelSpec, path string) (string, error) {
	d, err := fileDigest(path)
	if err != nil {
		return "", fmt.Errorf("model %s: tokenizer: %w", spec.Path, err)
	}
	return d, nil
}
