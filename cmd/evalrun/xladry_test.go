//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
)

// The demo (every suite, every shipped model kind) and bfloat16 runs of each
// model kind go through the XLA CUDA path's program builder (backend
// xladry): every graph they compile must be accepted by go-xla's StableHLO
// builder, and the stand-in results land in "<model>@xladry" folders.
func TestDemoAndBF16OnXLABuilder(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "programs")
	t.Setenv(xladry.EnvDump, dump)
	demo := filepath.Join(dir, "demo")
	if code, _, errOut := runCaptured(t, "demo", "--backend", "xladry", "--out", demo, "--n", "16", "--quiet"); code != 0 {
		t.Fatalf("demo on xladry: exit %d: %s", code, errOut)
	}
	programs := func() int {
		ents, err := os.ReadDir(dump)
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	n := programs()
	if n == 0 {
		t.Fatal("the demo built no program")
	}
	runs, err := filepath.Glob(filepath.Join(demo, "results", "*", "*"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no result folders: %v", err)
	}
	for _, r := range runs {
		if !strings.HasSuffix(r, "@xladry") {
			t.Errorf("dry-run results in %s, want a folder ending in @xladry", r)
		}
	}
	for _, c := range [][]string{
		{"--task", "vqav2", "--model-kind", "llava", "--model", "tiny-llava"},
		{"--task", "recon", "--model-kind", "dualtoken", "--model", "tiny-dualtoken"},
		{"--task", "imagenet-zeroshot", "--model-kind", "siglip", "--model", "tiny-siglip"},
	} {
		args := []string{"run", "--backend", "xladry", "--dtype", "bfloat16", "--limit", "4", "--quiet", "--out", filepath.Join(dir, "bf16")}
		args = append(args, c[0], c[1], c[2], c[3], c[4], filepath.Join(demo, "models", c[5]), "--data", filepath.Join(demo, "data", c[1]))
		if code, _, errOut := runCaptured(t, args...); code != 0 {
			t.Errorf("%s %s in bfloat16 on xladry: exit %d: %s", c[3], c[1], code, errOut)
		}
		if m := programs(); m == n {
			t.Errorf("%s %s in bfloat16 built no program", c[3], c[1])
		} else {
			n = m
		}
	}
}

// The tokenizer training (gradients, optimizers, the GAN) builds on the XLA
// path too, and a dry study is written beside the folder asked for, as
// "<out>@xladry", so no real run resumes from its stand-in weights.
func TestAblationOnXLABuilder(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "programs")
	t.Setenv(xladry.EnvDump, dump)
	out := filepath.Join(dir, "study")
	code, _, errOut := runCaptured(t, "ablation", "--backend", "xladry", "--out", out, "--steps", "4", "--q-steps", "2",
		"--epochs", "2", "--gan-from", "0.5", "--rows", "q,d", "--eval-images", "16", "--quiet")
	if code != 0 {
		t.Fatalf("ablation on xladry: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the dry study wrote into %s (%v)", out, err)
	}
	if _, err := os.Stat(filepath.Join(out+"@xladry", "table3.json")); err != nil {
		t.Errorf("no dry study in %s@xladry: %v", out, err)
	}
	if ents, err := os.ReadDir(dump); err != nil || len(ents) == 0 {
		t.Errorf("the study built no program (%v)", err)
	}
}
