package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/weights"
)

// fidCacheImages writes n test images of kind into dir, dated an hour ago
// (older than fidRacyWindow, so that they are recorded), and returns them
// as fidListImages lists them.
func fidCacheImages(t *testing.T, dir string, n, kind int) []string {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for i := range n {
		p := filepath.Join(dir, "img"+string(rune('0'+i))+".png")
		reconSave(t, p, fidTestImage(30+2*i, 32, kind, i))
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	files, err := fidListImages(dir, inception.Clean)
	if err != nil || len(files) != n {
		t.Fatalf("listed %v, %v", files, err)
	}
	return files
}

func fidSameStats(t *testing.T, what string, got, want *fidStats) {
	t.Helper()
	for i := range want.mu {
		if math.Float64bits(got.mu[i]) != math.Float64bits(want.mu[i]) {
			t.Fatalf("%s: mu[%d] = %v, uncached %v", what, i, got.mu[i], want.mu[i])
		}
	}
	for i := range want.sigma {
		if math.Float64bits(got.sigma[i]) != math.Float64bits(want.sigma[i]) {
			t.Fatalf("%s: sigma[%d] = %v, uncached %v", what, i, got.sigma[i], want.sigma[i])
		}
	}
}

// TestFIDCacheRecords drives fidImageStats through a cache file (formula
// weights, 3 images in batches of 2: a batch of 2 and a batch of 1) and
// checks that the statistics stay bit-identical to an uncached pass while
// the file is filled, reused, torn, corrupted, foreign, and while images
// change: a batch is read from the file only when all of its records match.
func TestFIDCacheRecords(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	files := fidCacheImages(t, imgs, 3, 0)
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := inception.New(b, inception.FormulaWeights(inception.StateDictSpecs()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, _, err := fidImageStats(ctx, net, imgs, files, inception.Clean, 2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, list, _ := fidRelPaths(imgs, files)
	key := fidCacheKey{Dir: imgs, Mode: "clean", WeightsSHA256: "w", Backend: "go", Batch: 2, Files: 3, ListSHA256: list, Dim: inception.Pool3Dim}
	path := fidCacheFile(filepath.Join(dir, "cache"), key)
	pass := func(what string, wantCached int) *fidCache {
		t.Helper()
		c, err := openFIDCache(path, key)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		st, cached, err := fidImageStats(ctx, net, imgs, files, inception.Clean, 2, c, nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if cached != wantCached {
			t.Errorf("%s: %d images from the cache, want %d", what, cached, wantCached)
		}
		fidSameStats(t, what, st, want)
		return c
	}
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	pass("first pass", 0)
	full := size()
	if wantSize := int64(len(fidHeader(key))) + 3*(4+8+16+4*inception.Pool3Dim+4); full != wantSize {
		t.Errorf("cache file %d bytes, want header + 3 records = %d", full, wantSize)
	}
	pass("second pass", 3)
	if size() != full {
		t.Errorf("a fully cached pass grew the file from %d to %d bytes", full, size())
	}

	// Killed mid-write: the torn last record (img2, a batch of its own) is
	// dropped, recomputed and appended again.
	if err := os.Truncate(path, full-100); err != nil {
		t.Fatal(err)
	}
	if c := pass("torn tail", 2); c.dropped != full-100-(full-(4+8+16+4*inception.Pool3Dim+4)) {
		t.Errorf("dropped %d bytes, want the torn record's %d", c.dropped, 4+8+16+4*inception.Pool3Dim+4-100)
	}
	if size() != full {
		t.Errorf("repaired file %d bytes, want %d", size(), full)
	}

	// A flipped byte inside the first record's features fails its checksum:
	// it and everything after it are dropped.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(fidHeader(key))+100] ^= 0x40
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := pass("corrupt record", 0); c.dropped != full-int64(len(fidHeader(key))) {
		t.Errorf("dropped %d bytes, want all records' %d", c.dropped, full-int64(len(fidHeader(key))))
	}

	// A changed mtime invalidates that image's record, so its whole batch
	// is computed again (the later record supersedes the old one).
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	pass("img0 touched", 1)
	pass("img0 touched, again", 3)
	// A changed size does too (checked on the index: rewriting the image
	// would change the statistics themselves).
	c, err := openFIDCache(path, key)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := fidStatStamp(files[1], "img1.png")
	row := make([]float64, inception.Pool3Dim)
	if !c.lookup(s, row) {
		t.Error("img1: no record for its current stamp")
	}
	s.size++
	if c.lookup(s, row) {
		t.Error("img1: a record matched a different size")
	}
	c.Close()

	// A file that is not a cache of this key is started over.
	if err := os.WriteFile(path, []byte("not a cache"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := pass("foreign file", 0); !c.replaced {
		t.Error("foreign file: not reported as replaced")
	}

	// An image modified within fidRacyWindow is not recorded.
	now := time.Now()
	if err := os.Chtimes(files[2], now, now); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	pass("img2 just written", 0)
	pass("img2 just written, again", 2)
}

// TestFIDCacheResume runs `evalrun fid` end to end: --no-cache writes
// nothing; a Ctrl-C (a real SIGINT to this process) after the first batch
// exits 130 with the harness's interrupted line and keeps that batch; the
// rerun computes only the rest, and a third run computes nothing; every FID
// is bit-identical to the uncached run's.
func TestFIDCacheResume(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fidCacheImages(t, a, 3, 0)
	fidCacheImages(t, b, 2, 1)
	w := inception.FormulaWeights(inception.StateDictSpecs())
	var ts []*weights.Tensor
	for _, n := range w.Names() {
		x, _ := w.Get(n)
		ts = append(ts, x)
	}
	wpath := filepath.Join(dir, "inception_formula.safetensors")
	if err := weights.WriteSafetensors(wpath, ts, nil); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, "cache")
	fid := func(what string, extra ...string) (fidResult, string) {
		t.Helper()
		args := append([]string{"fid", a, b, "--weights", wpath, "--batch", "2", "--json", "--backend", "go"}, extra...)
		code, out, errOut := runCaptured(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", what, code, errOut)
		}
		var r fidResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v: %s", what, err, out)
		}
		return r, errOut
	}

	noCache := filepath.Join(dir, "nocache")
	ref, _ := fid("uncached", "--no-cache", "--cache", noCache)
	if _, err := os.Stat(noCache); !os.IsNotExist(err) {
		t.Errorf("--no-cache: %s exists (%v)", noCache, err)
	}
	if ref.CachedA != 0 || ref.CachedB != 0 || ref.CacheA != "" || ref.CacheB != "" {
		t.Errorf("--no-cache: JSON %+v", ref)
	}

	// Ctrl-C during A's first batch: the command finishes that batch, saves
	// it and stops before the next.
	fidAfterBatch = func(ctx context.Context, done int) {
		fidAfterBatch = nil
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Error(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Error("SIGINT did not end the context")
		}
	}
	defer func() { fidAfterBatch = nil }()
	code, _, errOut := runCaptured(t, "fid", a, b, "--weights", wpath, "--batch", "2", "--cache", cacheDir, "--backend", "go")
	if code != exitInterrupted {
		t.Fatalf("interrupted run: exit %d, want %d: %s", code, exitInterrupted, errOut)
	}
	for _, want := range []string{"evalrun: fid: " + a + ": interrupted after 2 of 3 images", cacheDir, "the same command resumes"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("interrupted run: stderr %q lacks %q", errOut, want)
		}
	}

	check := func(what string, r fidResult, cachedA, cachedB int) {
		t.Helper()
		if r.CachedA != cachedA || r.CachedB != cachedB {
			t.Errorf("%s: %d+%d images from the cache, want %d+%d", what, r.CachedA, r.CachedB, cachedA, cachedB)
		}
		if math.Float64bits(r.FID) != math.Float64bits(ref.FID) || math.Float64bits(r.MeanTerm) != math.Float64bits(ref.MeanTerm) {
			t.Errorf("%s: FID %v (mean term %v), uncached %v (%v)", what, r.FID, r.MeanTerm, ref.FID, ref.MeanTerm)
		}
		if !strings.HasPrefix(r.CacheA, cacheDir) || !strings.HasPrefix(r.CacheB, cacheDir) || r.CacheA == r.CacheB {
			t.Errorf("%s: cache files %q, %q", what, r.CacheA, r.CacheB)
		}
	}
	r, _ := fid("resumed", "--cache", cacheDir)
	check("resumed", r, 2, 0)
	r, _ = fid("rerun", "--cache", cacheDir)
	check("rerun", r, 3, 2)
	t.Logf("FID %v; uncached run %.2fs, fully cached run %.2fs", ref.FID, ref.Seconds, r.Seconds)
}

// TestFIDCacheDir: --no-cache creates nothing; an explicit --cache that
// cannot be created is an error naming it; the default location failing is
// one warning (the caller prints it once) and no cache.
func TestFIDCacheDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "cache")
	if d, w, err := fidCacheDir(bad, true); d != "" || w != "" || err != nil {
		t.Errorf("--no-cache: %q %q %v", d, w, err)
	}
	if _, _, err := fidCacheDir(bad, false); err == nil || !strings.Contains(err.Error(), "--cache "+bad) {
		t.Errorf("--cache %s: error %v, want one naming the flag and folder", bad, err)
	}
	good := filepath.Join(dir, "new", "cache")
	if d, w, err := fidCacheDir(good, false); d != good || w != "" || err != nil {
		t.Errorf("--cache %s: %q %q %v", good, d, w, err)
	}
	t.Setenv("XDG_CACHE_HOME", bad)
	if d, w, err := fidCacheDir("", false); d != "" || err != nil || !strings.Contains(w, bad) || !strings.Contains(w, "--cache DIR") {
		t.Errorf("unusable default: %q %q %v, want no folder and a warning naming it", d, w, err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	if d, w, err := fidCacheDir("", false); d != filepath.Join(dir, "xdg", "dualtoken-evalharness", "fid") || w != "" || err != nil {
		t.Errorf("default: %q %q %v", d, w, err)
	}
}
