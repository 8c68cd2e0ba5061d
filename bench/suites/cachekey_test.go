package suites

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

func keyOf(t *testing.T, name string, opts bench.Options, info bench.ModelInfo) string {
	t.Helper()
	task, err := bench.New(name, opts)
	if err != nil {
		t.Fatalf("%s %v: %v", name, opts.Extra, err)
	}
	return bench.CacheKey(task, info)
}

func withExtra(o bench.Options, kv map[string]string) bench.Options {
	o.Extra = maps.Clone(o.Extra)
	if o.Extra == nil {
		o.Extra = map[string]string{}
	}
	maps.Copy(o.Extra, kv)
	return o
}

// What the prediction cache is keyed on: a scoring option (a scorer rule)
// re-scores instead of recomputing, an option that decides predictions (the
// prompt) does not; ImageNet's class names enter by content; a
// reconstruction ignores the model's text-side identity.
func TestCacheKeyScope(t *testing.T) {
	info := bench.ModelInfo{Name: "m", ConfigSHA256: "c", WeightsSHA256: "w"}

	pope := demoOptions(t, "pope")
	base := keyOf(t, "pope", pope, info)
	if keyOf(t, "pope", withExtra(pope, map[string]string{"rule": "vlmevalkit"}), info) != base {
		t.Error("pope: a scorer rule changed the cache key")
	}
	if keyOf(t, "pope", withExtra(pope, map[string]string{"prompt": "plain"}), info) == base {
		t.Error("pope: the prompt did not change the cache key")
	}

	in := demoOptions(t, "imagenet-zeroshot")
	names := filepath.Join(in.Data, "classnames.txt")
	before := keyOf(t, "imagenet-zeroshot", in, info)
	b, err := os.ReadFile(names)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "names.txt")
	os.WriteFile(other, append([]byte("x"), b...), 0o644) // same count, first name changed
	if keyOf(t, "imagenet-zeroshot", withExtra(in, map[string]string{"classnames": other}), info) == before {
		t.Error("imagenet: other class names gave the same cache key")
	}
	os.WriteFile(names, append([]byte("y"), b...), 0o644) // the default file edited in place
	if keyOf(t, "imagenet-zeroshot", in, info) == before {
		t.Error("imagenet: edited classnames.txt gave the same cache key")
	}

	rec := demoOptions(t, "recon")
	text := info
	text.TokenizerSHA256, text.Options = "t", map[string]string{"preprocess": "resize", "max_length": "16"}
	if keyOf(t, "recon", rec, info) != keyOf(t, "recon", rec, text) {
		t.Error("recon: the model's tokenizer or text options changed the cache key")
	}
	if keyOf(t, "imagenet-zeroshot", in, info) == keyOf(t, "imagenet-zeroshot", in, text) {
		t.Error("imagenet: the model's tokenizer and options did not change the cache key")
	}
}
