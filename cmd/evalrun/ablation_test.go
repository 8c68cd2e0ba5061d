package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAblationBadInput: flags that cannot work exit 2 before any training,
// and a study folder made with another recipe is refused.
func TestAblationBadInput(t *testing.T) {
	out := t.TempDir()
	for _, args := range [][]string{
		{"--rows", "a,z"},
		{"--lpips-vgg", "vgg16.pth"},
		{"--gan-from", "1.5"},
		{"--steps", "0"},
		{"--accum-steps", "0"},
		{"--epochs", "-2"},
		{"--disc-restart-epochs", "-3"},
		{"--eval-images", "0"},
		{"--dtype", "float16"},
		{"--tower", filepath.Join(out, "missing")},
	} {
		if code := run(append([]string{"ablation", "--out", out}, args...)); code != 2 {
			t.Errorf("ablation %v: exit %d, want 2", args, code)
		}
	}
	study := t.TempDir()
	if err := os.WriteFile(filepath.Join(study, "recipe.json"), []byte(`{"steps":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"ablation", "--out", study}); code != 2 {
		t.Errorf("study folder with another recipe: exit %d, want 2", code)
	}
}
