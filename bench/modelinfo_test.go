package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
)

type infoModel ModelInfo

func (m infoModel) Info() ModelInfo { return ModelInfo(m) }

// TestRerunWithOtherModelOptionsRecomputes: a model rerun with another
// option (preprocess) or tokenizer into the same output folder predicts
// every item again instead of reusing the other setting's predictions, and
// results.json records what was used.
func TestRerunWithOtherModelOptionsRecomputes(t *testing.T) {
	dir := t.TempDir()
	base := ModelInfo{Name: "m", ConfigSHA256: "c", WeightsSHA256: "w", TokenizerSHA256: "t1", Options: map[string]string{"preprocess": "resize"}}
	crop := base
	crop.Options = map[string]string{"preprocess": "crop"}
	tok := base
	tok.TokenizerSHA256 = "t2"
	n := 0
	for i, info := range []ModelInfo{base, crop, tok, base} {
		res, err := Run(context.Background(), countTask{n: 5, predicted: &n}, infoModel(info), RunConfig{OutDir: dir, BatchSize: 2, Log: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if res.Model.TokenizerSHA256 != info.TokenizerSHA256 || res.Model.Options["preprocess"] != info.Options["preprocess"] {
			t.Errorf("run %d: results model %+v, want %+v", i, res.Model, info)
		}
	}
	// The last run repeats the first: served from its cache.
	if n != 15 {
		t.Errorf("%d items predicted over the runs, want 15 (5 per distinct setting, none for the repeat)", n)
	}
}

// TestCacheKeyWithoutNewIdentityFields: a ModelInfo that fills neither
// tokenizer_sha256 nor options keys as before those fields existed (the
// name, config_sha256 and weights_sha256 only), so a model kind whose
// identity already covered everything keeps its caches.
func TestCacheKeyWithoutNewIdentityFields(t *testing.T) {
	task := countTask{n: 1}
	info := ModelInfo{Name: "m", ConfigSHA256: "c", WeightsSHA256: "w"}
	// ModelInfo as it was: a struct marshals its fields in order.
	type oldInfo struct {
		Name          string `json:"name"`
		ConfigSHA256  string `json:"config_sha256"`
		WeightsSHA256 string `json:"weights_sha256"`
	}
	old := map[string]any{"model": oldInfo{"m", "c", "w"},
		"task": task.Name(), "version": task.Version(), "protocol": task.Protocol()}
	b, _ := json.Marshal(old)
	h := sha256.Sum256(b)
	if want := hex.EncodeToString(h[:])[:16]; CacheKey(task, info) != want {
		t.Errorf("key %s, want the earlier key %s", CacheKey(task, info), want)
	}
	info.Options = map[string]string{"max_length": "64"}
	if CacheKey(task, info) == hex.EncodeToString(h[:])[:16] {
		t.Error("options do not enter the key")
	}
}
