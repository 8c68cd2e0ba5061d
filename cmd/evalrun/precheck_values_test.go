package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/tokenizer/tokenizertest"
	"github.com/dualtoken/evalharness/world"
)

func extractModel(t *testing.T, name, dir string) string {
	t.Helper()
	p, err := assets.Extract(name, dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantOneLine fails unless stderr is one line holding every want.
func wantOneLine(t *testing.T, what string, code int, stderr string, want ...string) {
	t.Helper()
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", what, code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q lacks %q", what, stderr, w)
		}
	}
}

// run refuses a bad model option VALUE or dtype of any entry before the
// first model runs, as it refuses a bad key: exit 2, one line naming the
// file, the entry, the field and what it accepts, and nothing written.
func TestRunPrecheckOptionValues(t *testing.T) {
	dir := t.TempDir()
	siglip := extractModel(t, "tiny-siglip", filepath.Join(dir, "models"))
	dualtoken := extractModel(t, "tiny-dualtoken", filepath.Join(dir, "models"))
	llava := extractModel(t, "tiny-llava", filepath.Join(dir, "models"))
	writer, _ := bench.Demo("imagenet-zeroshot")
	opts, err := writer(filepath.Join(dir, "data"), 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	good := fmt.Sprintf("  - {name: tiny, kind: siglip, path: %s}\n", siglip)
	for i, c := range []struct {
		entry, path, want string
	}{
		{fmt.Sprintf("{name: bad, kind: siglip, path: %s, extra: {preprocess: center}}", siglip),
			siglip, `siglip option preprocess="center": want one of resize, crop`},
		{fmt.Sprintf("{name: bad, kind: siglip, path: %s, extra: {max_length: abc}}", siglip),
			siglip, `siglip option max_length="abc": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: siglip, path: %s, extra: {max_length: 0}}", siglip),
			siglip, `siglip option max_length="0": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: dualtoken, path: %s, extra: {max_length: -3}}", dualtoken),
			dualtoken, `dualtoken option max_length="-3": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: dualtoken, path: %s, extra: {batch: 0}}", dualtoken),
			dualtoken, `dualtoken option batch="0": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: dualtoken, path: %s, extra: {batch: x}}", dualtoken),
			dualtoken, `dualtoken option batch="x": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: llava, path: %s, extra: {max_batch: 0}}", llava),
			llava, `llava option max_batch="0": want a positive integer`},
		{fmt.Sprintf("{name: bad, kind: siglip, path: %s, dtype: float16}", siglip),
			siglip, `dtype "float16": want float32 or bfloat16`},
	} {
		cfg := filepath.Join(dir, fmt.Sprintf("case%d.yaml", i))
		os.WriteFile(cfg, []byte("out: "+out+"\nmodels:\n"+good+"  - "+c.entry+"\ntasks:\n"+fmt.Sprintf("  - {name: imagenet-zeroshot, data: %s}\n", opts.Data)), 0o644)
		code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg)
		wantOneLine(t, c.entry, code, stderr, cfg+": models[1] (bad): model "+c.path+": "+c.want)
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s: %s was written before the check failed", c.entry, out)
		}
	}
	// --dtype is checked before anything runs too, and a model's own dtype
	// wins over it.
	cfg := filepath.Join(dir, "dtype.yaml")
	os.WriteFile(cfg, []byte("out: "+out+"\nmodels:\n"+good+fmt.Sprintf("tasks:\n  - {name: imagenet-zeroshot, data: %s}\n", opts.Data)), 0o644)
	code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg, "--dtype", "fp16")
	wantOneLine(t, "--dtype fp16", code, stderr, "--dtype fp16", "float16 is not implemented")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("--dtype fp16: %s was written before the check failed", out)
	}
}

// A DualToken folder whose spiece.model is neither SigLIP's nor SigLIP2's
// runs its image tasks (recon); a text task fails with the tokenizer's
// reason in one line; naming that tokenizer explicitly fails when the model
// is built. With SigLIP2's Gemma tokenizer.model instead, zero-shot runs.
func TestRunDualTokenForeignTokenizer(t *testing.T) {
	dir := t.TempDir()
	model := extractModel(t, "tiny-dualtoken", filepath.Join(dir, "models"))
	spiece := filepath.Join(model, "spiece.model")
	tokenizertest.WriteForeign(t, spiece)
	out := filepath.Join(dir, "out")

	recon, _ := bench.Demo("recon")
	ropts, err := recon(filepath.Join(dir, "recon"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCaptured(t, "run", "--quiet", "--task", "recon", "--data", ropts.Data, "--opt", "jpeg=none", "--model-kind", "dualtoken", "--model", model, "--out", out)
	if code != 0 || !strings.Contains(stdout, "recon / ") {
		t.Fatalf("recon on a DualToken with a foreign spiece.model: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	zs, _ := bench.Demo("imagenet-zeroshot")
	zopts, err := zs(filepath.Join(dir, "imagenet"), 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", zopts.Data, "--model-kind", "dualtoken", "--model", model, "--out", out)
	wantOneLine(t, "zero-shot", code, stderr, "tokenizer "+spiece, `neither SigLIP's "</s>" nor SigLIP2's`, "texts cannot be encoded")

	code, _, stderr = runCaptured(t, "run", "--quiet", "--task", "recon", "--data", ropts.Data, "--opt", "jpeg=none", "--model-kind", "dualtoken", "--model", model, "--tokenizer", spiece, "--out", out)
	wantOneLine(t, "explicit --tokenizer", code, stderr, "tokenizer "+spiece, `neither SigLIP's "</s>" nor SigLIP2's`)

	os.Remove(spiece)
	tokenizertest.WriteGemmaLike(t, filepath.Join(model, "tokenizer.model"))
	code, stdout, stderr = runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", zopts.Data, "--model-kind", "dualtoken", "--model", model, "--out", filepath.Join(dir, "out2"))
	if code != 0 || !strings.Contains(stdout, "imagenet-zeroshot") {
		t.Errorf("zero-shot with a Gemma-shaped tokenizer.model: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// embed refuses --text with a tokenizer that is neither SigLIP's nor
// SigLIP2's, in the same one line, and still embeds images; a Gemma-shaped
// one encodes texts by SigLIP2's rules (<eos>, then <pad>).
func TestEmbedForeignAndGemmaTokenizers(t *testing.T) {
	dir := t.TempDir()
	model := extractModel(t, "tiny-siglip", dir)
	foreign := filepath.Join(dir, "foreign.model")
	tokenizertest.WriteForeign(t, foreign)
	code, _, stderr := runCaptured(t, "embed", "--model", model, "--tokenizer", foreign, "--text", "a red square")
	wantOneLine(t, "--tokenizer foreign --text", code, stderr, "embed: tokenizer "+foreign, `neither SigLIP's "</s>" nor SigLIP2's`, "texts cannot be encoded")

	gemma := filepath.Join(dir, "gemma.model")
	tokenizertest.WriteGemmaLike(t, gemma)
	code, stdout, stderr := runCaptured(t, "embed", "--model", model, "--tokenizer", gemma, "--text", "A red!", "--json")
	var doc struct {
		Texts []struct {
			IDs []int `json:"input_ids"`
		} `json:"texts"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &doc) != nil || len(doc.Texts) != 1 {
		t.Fatalf("--tokenizer gemma --text: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if ids := doc.Texts[0].IDs; len(ids) < 4 || ids[0] != 3 || ids[1] != 4 || ids[2] != 1 || ids[len(ids)-1] != 0 {
		t.Errorf("--tokenizer gemma: input_ids %v, want ▁a ▁red <eos> then <pad>", ids)
	}

	// Without --tokenizer: a Gemma-shaped tokenizer.model in the folder
	// (no spiece.model) is found and gets SigLIP2's rules.
	spiece := filepath.Join(model, "spiece.model")
	if err := os.Remove(spiece); err != nil {
		t.Fatal(err)
	}
	tokenizertest.WriteGemmaLike(t, filepath.Join(model, "tokenizer.model"))
	code, stdout, stderr = runCaptured(t, "embed", "--model", model, "--text", "A red!", "--json")
	doc.Texts = nil
	if code != 0 || json.Unmarshal([]byte(stdout), &doc) != nil || len(doc.Texts) != 1 {
		t.Fatalf("tokenizer.model in --model: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if ids := doc.Texts[0].IDs; len(ids) < 4 || ids[0] != 3 || ids[1] != 4 || ids[2] != 1 || ids[len(ids)-1] != 0 {
		t.Errorf("tokenizer.model in --model: input_ids %v, want ▁a ▁red <eos> then <pad>", ids)
	}

	// A foreign spiece.model beside it comes first: refused.
	tokenizertest.WriteForeign(t, spiece)
	code, _, stderr = runCaptured(t, "embed", "--model", model, "--text", "a red square")
	wantOneLine(t, "foreign spiece.model --text", code, stderr, "tokenizer "+spiece, `neither SigLIP's "</s>" nor SigLIP2's`)

	img := filepath.Join(dir, "img.png")
	if err := imageio.SavePNG(img, world.Generate(2027, 1).Image(32)); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCaptured(t, "embed", "--model", model, "--image", img, "--json")
	if code != 0 || !strings.Contains(stdout, `"embedding"`) {
		t.Errorf("--image with a foreign spiece.model: exit %d, stderr %q", code, stderr)
	}
}

// --model as a Hub repo id runs the snapshot the local Hugging Face cache
// holds (run: results named after the repo; embed), and an uncached id is
// refused as a missing path.
func TestRunModelFromHFCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "hub")
	t.Setenv("HF_HUB_CACHE", cache)
	snaps := filepath.Join(cache, "models--someorg--tiny-siglip", "snapshots")
	extractModel(t, "tiny-siglip", snaps)
	if err := os.Rename(filepath.Join(snaps, "tiny-siglip"), filepath.Join(snaps, "0123abcd")); err != nil {
		t.Fatal(err)
	}
	zs, _ := bench.Demo("imagenet-zeroshot")
	zopts, err := zs(filepath.Join(dir, "imagenet"), 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", zopts.Data, "--model-kind", "siglip", "--model", "someorg/tiny-siglip", "--out", out)
	if code != 0 || !strings.Contains(stdout, "imagenet-zeroshot / tiny-siglip") {
		t.Fatalf("--model someorg/tiny-siglip: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "imagenet-zeroshot", "tiny-siglip", "results.json")); err != nil {
		t.Errorf("results not under the repo's name: %v", err)
	}
	code, _, stderr = runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", zopts.Data, "--model-kind", "siglip", "--model", "someorg/not-cached", "--out", out)
	wantOneLine(t, "uncached repo id", code, stderr, "--model: ", "someorg/not-cached")

	// embed takes the repo id too, tokenizer from the snapshot; "model"
	// in its JSON is --model as given.
	code, stdout, stderr = runCaptured(t, "embed", "--model", "someorg/tiny-siglip", "--text", "a red square", "--json")
	if code != 0 || !strings.Contains(stdout, `"model": "someorg/tiny-siglip"`) || !strings.Contains(stdout, `"input_ids"`) {
		t.Errorf("embed --model someorg/tiny-siglip: exit %d, stdout %.200q, stderr %q", code, stdout, stderr)
	}
}
