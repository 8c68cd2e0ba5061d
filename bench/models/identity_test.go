package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llava"
)

func extractAsset(t *testing.T, name string) string {
	t.Helper()
	if !assets.Has(name) {
		t.Fatalf("assets/models/%s is not shipped", name)
	}
	dir, err := assets.Extract(name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSiglipIdentityHasOptionsAndTokenizer: every setting that changes a
// SigLIP's predictions — preprocess, max_length, the tokenizer file — gives
// another identity and so another cache key; spelling out a default does
// not; an unknown option is refused.
func TestSiglipIdentityHasOptionsAndTokenizer(t *testing.T) {
	dir := extractAsset(t, "tiny-siglip")
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	build := func(tok string, extra map[string]string) bench.ModelInfo {
		t.Helper()
		m, err := bench.NewModel(bench.ModelSpec{Name: "s", Kind: "siglip", Path: dir, Tokenizer: tok, Extra: extra}, b)
		if err != nil {
			t.Fatal(err)
		}
		return m.Info()
	}
	spiece, err := os.ReadFile(filepath.Join(dir, "spiece.model"))
	if err != nil {
		t.Fatal(err)
	}
	def := build("", nil)
	if def.TokenizerSHA256 != sha256Hex(spiece) {
		t.Errorf("tokenizer_sha256 %q, want the sha256 of spiece.model %s", def.TokenizerSHA256, sha256Hex(spiece))
	}
	// The HF SigLIP processor squashes to the input size: no crop by default.
	if def.Options["preprocess"] != "resize" || def.Options["max_length"] == "" {
		t.Errorf("default options %v, want preprocess=resize and the resolved max_length", def.Options)
	}
	if same := build("", map[string]string{"preprocess": "resize", "max_length": def.Options["max_length"]}); !sameInfo(same, def) {
		t.Errorf("defaults spelt out: %+v, want %+v", same, def)
	}
	// A tokenizer that splits differently: SentencePiece without the dummy
	// prefix (normalizer_spec.add_dummy_prefix = false appended).
	inner := protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 0)
	other := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), spiece...), 3, protowire.BytesType), inner)
	otherPath := filepath.Join(t.TempDir(), "other.model")
	writeFile(t, otherPath, other)
	variants := map[string]bench.ModelInfo{
		"preprocess=crop": build("", map[string]string{"preprocess": "crop"}),
		"max_length=4":    build("", map[string]string{"max_length": "4"}),
		"other tokenizer": build(otherPath, nil),
	}
	if v := variants["preprocess=crop"].Options["preprocess"]; v != "crop" {
		t.Errorf("preprocess=crop recorded as %q", v)
	}
	keys := map[string]string{cacheKeyOf(def): "default"}
	for name, info := range variants {
		k := cacheKeyOf(info)
		if prev, dup := keys[k]; dup {
			t.Errorf("%s has the cache key of %s: its predictions would be reused", name, prev)
		}
		keys[k] = name
	}
	_, err = bench.NewModel(bench.ModelSpec{Kind: "siglip", Path: dir, Extra: map[string]string{"preproces": "crop"}}, b)
	if err == nil || !strings.Contains(err.Error(), "preproces") || !strings.Contains(err.Error(), "known: max_length, preprocess") {
		t.Errorf("misspelt option: error %v", err)
	}
}

func sameInfo(a, b bench.ModelInfo) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && a.DType == b.DType
}

// cacheKeyOf is the cache key of info on a fixed task.
func cacheKeyOf(info bench.ModelInfo) string {
	return bench.CacheKey(keyTask{}, info)
}

type keyTask struct{ bench.Task }

func (keyTask) Name() string             { return "t" }
func (keyTask) Version() int             { return 1 }
func (keyTask) Protocol() map[string]any { return map[string]any{"p": 1} }
func (keyTask) Needs() string            { return bench.NeedsEmbedder }

// TestDualTokenPreprocessDefaultIsAuthors: the dualtoken kind preprocesses
// as the authors' evaluation does — shorter side to the input size, then a
// centre crop — unless preprocess=resize asks for the squash, and records
// which in its identity. A wide image whose centre square is blue and whose
// sides are red must embed as the plain blue square under the default.
func TestDualTokenPreprocessDefaultIsAuthors(t *testing.T) {
	dir := extractAsset(t, "tiny-dualtoken")
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	build := func(extra map[string]string) bench.Embedder {
		t.Helper()
		m, err := bench.NewModel(bench.ModelSpec{Name: "d", Kind: "dualtoken", Path: dir, Extra: extra}, b)
		if err != nil {
			t.Fatal(err)
		}
		return m.(bench.Embedder)
	}
	def := build(nil)
	s := def.(bench.Reconstructor).InputSize()
	// s tall, 3s wide: the shorter side is already s, so the crop keeps
	// columns [s, 2s) untouched.
	wide, blue := imageio.New(s, 3*s), imageio.New(s, s)
	for y := range s {
		for x := range 3 * s {
			c := [3]uint8{255, 0, 0}
			if x >= s && x < 2*s {
				c = [3]uint8{0, 0, 255}
			}
			copy(wide.Pix[3*(y*3*s+x):], c[:])
			if x < s {
				copy(blue.Pix[3*(y*s+x):], []uint8{0, 0, 255})
			}
		}
	}
	if p := def.Info().Options["preprocess"]; p != "crop" {
		t.Errorf("default preprocess recorded as %q, want crop", p)
	}
	got, err := def.EmbedImages(context.Background(), []*imageio.Image{wide, blue})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got[0], got[1]); d > 1e-6 {
		t.Errorf("default preprocess: wide image embeds %g away from its centre square: not shorter-side resize + centre crop", d)
	}
	rs := build(map[string]string{"preprocess": "resize"})
	if p := rs.Info().Options["preprocess"]; p != "resize" {
		t.Errorf("preprocess=resize recorded as %q", p)
	}
	got, err = rs.EmbedImages(context.Background(), []*imageio.Image{wide, blue})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got[0], got[1]); d < 1e-3 {
		t.Errorf("preprocess=resize: wide image embeds as its centre square (max diff %g): resize did not squash", d)
	}
	if cacheKeyOf(def.Info()) == cacheKeyOf(rs.Info()) {
		t.Error("crop and resize share a cache key")
	}
	if _, err := bench.NewModel(bench.ModelSpec{Kind: "dualtoken", Path: dir, Extra: map[string]string{"preprocess": "squash"}}, b); err == nil || !strings.Contains(err.Error(), `"squash"`) {
		t.Errorf("bad preprocess: error %v", err)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestIdentityCoversShards: a sharded checkpoint's identity changes with
// any shard's content (same size, index untouched); a single file's is its
// sha256, as sha256sum prints it.
func TestIdentityCoversShards(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), []byte(`{"model_type": "siglip"}`))
	writeFile(t, filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}`))
	writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), []byte("shard one"))
	writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), []byte("shard two"))
	spec := bench.ModelSpec{Kind: "siglip", Path: dir}
	before, err := Identity(spec)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), []byte("shard 2!!"))
	after, err := Identity(spec)
	if err != nil {
		t.Fatal(err)
	}
	if before.WeightsSHA256 == after.WeightsSHA256 || len(after.WeightsSHA256) != 64 {
		t.Errorf("weights_sha256 %q before and %q after a shard changed", before.WeightsSHA256, after.WeightsSHA256)
	}
	os.Remove(filepath.Join(dir, "model-00001-of-00002.safetensors"))
	if _, err := Identity(spec); err == nil || !strings.Contains(err.Error(), "model-00001-of-00002.safetensors") {
		t.Errorf("missing shard: error %v", err)
	}

	single := t.TempDir()
	writeFile(t, filepath.Join(single, "config.json"), []byte(`{}`))
	writeFile(t, filepath.Join(single, "model.safetensors"), []byte("weights"))
	info, err := Identity(bench.ModelSpec{Path: single})
	if err != nil {
		t.Fatal(err)
	}
	if info.WeightsSHA256 != sha256Hex([]byte("weights")) || info.ConfigSHA256 != sha256Hex([]byte(`{}`)) {
		t.Errorf("single-file identity %+v, want the files' sha256", info)
	}
}

// TestLlavaIdentityCoversShardsAndEOSFiles: a LLaVA's weights digest
// changes with a language-model shard, its config digest with a
// generation_config.json (it sets the eos ids decoding stops at); with
// single files and no such file both are the digests of earlier versions
// (sha256 over the files' digests, one a line), so old caches stay valid.
func TestLlavaIdentityCoversShardsAndEOSFiles(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"config.json":                      `{"model_type": "llava"}`,
		"tower/config.json":                `{"t": 1}`,
		"tower/model.safetensors":          "tower",
		"proj.safetensors":                 "projector",
		"lm/config.json":                   `{"l": 1}`,
		"lm/model.safetensors":             "lm weights",
		"lm/tokenizer.model":               "sp",
		"lm2/config.json":                  `{"l": 1}`,
		"lm2/model.safetensors.index.json": `{"weight_map": {"x": "s1.safetensors", "y": "s2.safetensors"}}`,
		"lm2/s1.safetensors":               "lm part 1",
		"lm2/s2.safetensors":               "lm part 2",
		"lm2/tokenizer.model":              "sp",
	}
	for p, c := range files {
		writeFile(t, filepath.Join(root, p), []byte(c))
	}
	cfg := &llava.Config{Path: filepath.Join(root, "config.json"), VisionTower: filepath.Join(root, "tower"), Projector: filepath.Join(root, "proj.safetensors"),
		LanguageModel: filepath.Join(root, "lm"), Tokenizer: filepath.Join(root, "lm")}
	lines := func(contents ...string) string {
		var s strings.Builder
		for _, c := range contents {
			fmt.Fprintf(&s, "%s\n", sha256Hex([]byte(c)))
		}
		return sha256Hex([]byte(s.String()))
	}
	info, err := LlavaIdentity(bench.ModelSpec{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := lines("tower", "projector", "lm weights"); info.WeightsSHA256 != want {
		t.Errorf("single-file weights_sha256 %s, want %s (the digest before shards were covered)", info.WeightsSHA256, want)
	}
	if want := lines(files["config.json"], files["tower/config.json"], files["lm/config.json"], "sp"); info.ConfigSHA256 != want {
		t.Errorf("config_sha256 %s, want %s", info.ConfigSHA256, want)
	}
	writeFile(t, filepath.Join(root, "lm", "generation_config.json"), []byte(`{"eos_token_id": 2}`))
	withGen, err := LlavaIdentity(bench.ModelSpec{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if withGen.ConfigSHA256 == info.ConfigSHA256 {
		t.Error("generation_config.json does not enter config_sha256")
	}

	// A SentencePiece-style tokenizer.json beside the .model (LLaMA-2's
	// folders): the .model is what the tokenizer reads and what is hashed.
	writeFile(t, filepath.Join(root, "lm", "tokenizer.json"), []byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace","replacement":"\u2581"}}`))
	withJSON, err := LlavaIdentity(bench.ModelSpec{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if withJSON.ConfigSHA256 != withGen.ConfigSHA256 {
		t.Error("a SentencePiece-style tokenizer.json beside tokenizer.model changed config_sha256; the .model is the file read")
	}

	cfg.LanguageModel, cfg.Tokenizer = filepath.Join(root, "lm2"), filepath.Join(root, "lm2")
	sharded, err := LlavaIdentity(bench.ModelSpec{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "lm2", "s2.safetensors"), []byte("lm part 3"))
	changed, err := LlavaIdentity(bench.ModelSpec{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sharded.WeightsSHA256 == changed.WeightsSHA256 {
		t.Error("a changed language-model shard keeps weights_sha256")
	}
}

// TestFileDigestRecord: a large file's digest is recorded with its stat
// stamp and reused while the file is unchanged; rewriting it (same size,
// mtime set back) is noticed; a file changed just before hashing is not
// recorded (timestamps are coarser than writes).
func TestFileDigestRecord(t *testing.T) {
	if _, ok := fileStamp(mustStat(t, os.Args[0])); !ok {
		t.Skip("no stat stamp on this OS: digests are never recorded")
	}
	cache := t.TempDir()
	t.Setenv("DUALTOKEN_HASH_CACHE", cache)
	oldMin, oldRacy := hashCacheMin, racyWindow
	t.Cleanup(func() { hashCacheMin, racyWindow = oldMin, oldRacy; hashMemo.Clear() })
	hashCacheMin = 4
	path := filepath.Join(t.TempDir(), "w.safetensors")
	writeFile(t, path, []byte("content A"))

	// Just written: hashed, not recorded.
	if d, err := fileDigest(path); err != nil || d != sha256Hex([]byte("content A")) {
		t.Fatalf("digest %s, %v", d, err)
	}
	if recs, _ := filepath.Glob(filepath.Join(cache, "*.json")); len(recs) != 0 {
		t.Fatalf("a file changed within the racy window was recorded: %v", recs)
	}

	// Treat it as old: recorded, and the record is what is used.
	racyWindow = -time.Hour
	if d, err := fileDigest(path); err != nil || d != sha256Hex([]byte("content A")) {
		t.Fatalf("digest %s, %v", d, err)
	}
	recs, _ := filepath.Glob(filepath.Join(cache, "*.json"))
	if len(recs) != 1 {
		t.Fatalf("records %v, want one", recs)
	}
	var r hashRecord
	b, _ := os.ReadFile(recs[0])
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	r.SHA256 = strings.Repeat("0", 64)
	b, _ = json.Marshal(r)
	writeFile(t, recs[0], b)
	hashMemo.Clear()
	if d, _ := fileDigest(path); d != r.SHA256 {
		t.Fatalf("digest %s: the record was not used", d)
	}

	// Same size, mtime restored: ctime still moves.
	st := mustStat(t, path)
	time.Sleep(30 * time.Millisecond) // past the clock tick of the first write
	writeFile(t, path, []byte("content B"))
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if d, err := fileDigest(path); err != nil || d != sha256Hex([]byte("content B")) {
		t.Errorf("after a same-size rewrite with mtime restored: digest %s, %v, want that of the new content", d, err)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
