package dualtoken

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPartsVariantsMatchAuthors runs the parts parity check on quantiser
// layouts no released config uses but the authors' code supports: per-depth
// codebooks, a 2×2 code-shape fold, and a 1×2 fold with per-depth codebooks.
// The goldens are the authors' code (scripts/fixtures/dualtoken_variants.py),
// committed under testdata/parts_variants.
func TestPartsVariantsMatchAuthors(t *testing.T) {
	root := filepath.Join("testdata", "parts_variants")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%s: %d variants, want 3", root, len(entries))
	}
	b := newParityBackend(t)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) { parityParts(t, filepath.Join(root, e.Name()), b) })
	}
}
