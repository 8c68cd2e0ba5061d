package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
)

// TestEmbedDType: `embed --dtype bf16` gives the float32 image embedding
// within bfloat16's tolerance for the tower's stage count (embedding, two
// per layer, post-LN, MAP head; see precision.CompareBF16), unit length; a
// bad --dtype exits 2. (Text in bfloat16: model/siglip's TestParityBF16Siglip.)
func TestEmbedDType(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	pre := fixtures.Dir(t, "preprocess")
	img := filepath.Join(pre, "src0.png")
	docs := map[string]embedOutput{}
	for _, dt := range []string{"float32", "bf16"} {
		code, out := runStdout(t, "embed", "--model", dir, "--image", img, "--dtype", dt, "--json")
		if code != 0 {
			t.Fatalf("--dtype %s: exit %d: %s", dt, code, out)
		}
		var doc embedOutput
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		docs[dt] = doc
	}
	cfg, err := siglip.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	f32, bf := docs["float32"], docs["bf16"]
	img16, img32 := bf.Images[0].Embedding, f32.Images[0].Embedding
	a := precision.CompareBF16(img16, img32, 1+2*cfg.Vision.NumLayers+1+2)
	t.Logf("image embedding: %s", a)
	if !a.OK {
		t.Errorf("bf16 image embedding: %s; %s", a, a.Mismatched)
	}
	var norm float64
	for _, v := range img16 {
		norm += float64(v) * float64(v)
	}
	if norm < 0.999 || norm > 1.001 {
		t.Errorf("bf16 image embedding has squared norm %v", norm)
	}
	code, out := runStdout(t, "embed", "--model", dir, "--image", img, "--dtype", "fp16")
	if code != 2 {
		t.Errorf("--dtype fp16: exit %d (%s), want 2", code, out)
	}
}

// TestGenerateDType: `generate --dtype bf16` runs (bfloat16 weights and KV
// cache) and prints its summary; a bad --dtype exits 2 with one line.
func TestGenerateDType(t *testing.T) {
	tokPath := filepath.Join(fixtures.Dir(t, "bpe"), "tokenizer.json")
	dir := writeRandomQwen2(t, 448, 512)
	code, out, errOut := runCaptured(t, "generate", "--model", dir, "--tokenizer", tokPath, "--prompt", "a red square", "--max-new-tokens", "5", "--temperature", "0", "--dtype", "bf16")
	if code != 0 || !strings.Contains(errOut, "new tokens") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCaptured(t, "generate", "--model", dir, "--tokenizer", tokPath, "--prompt", "hi", "--dtype", "int8")
	if code != 2 || !strings.Contains(errOut, "int8") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Errorf("--dtype int8: exit %d, stderr %q; want 2 and one line naming it", code, errOut)
	}
}
