package main

import (
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/bench"
)

// tinySiglipImagenet extracts the shipped tiny SigLIP and writes n items of
// the ImageNet zero-shot demo data (seed 7) under a temp folder, which it
// returns with the model's path and the data's options.
func tinySiglipImagenet(t *testing.T, n int) (dir, model string, opts bench.Options) {
	t.Helper()
	dir = t.TempDir()
	model, err := assets.Extract("tiny-siglip", filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	writer, _ := bench.Demo("imagenet-zeroshot")
	if opts, err = writer(filepath.Join(dir, "data"), 7, n); err != nil {
		t.Fatal(err)
	}
	return dir, model, opts
}
