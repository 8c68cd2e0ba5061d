package hfcache

import (
	"os"
	"path/filepath"
	"testing"
)

// Snapshot follows refs/main, else takes the only snapshot; it refuses
// what is not a repo id, an uncached repo and an ambiguous one.
func TestSnapshot(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	mk := func(repo string, snaps []string, ref string) {
		t.Helper()
		for _, s := range snaps {
			if err := os.MkdirAll(filepath.Join(cache, repo, "snapshots", s), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if ref != "" {
			os.MkdirAll(filepath.Join(cache, repo, "refs"), 0o755)
			if err := os.WriteFile(filepath.Join(cache, repo, "refs", "main"), []byte(ref+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("models--google--siglip2-so400m-patch16-256", []string{"aaa", "bbb"}, "bbb")
	mk("models--org--one", []string{"ccc"}, "")
	mk("models--org--two", []string{"d1", "d2"}, "")
	mk("models--plain", []string{"eee"}, "gone") // refs/main names a missing snapshot
	for id, want := range map[string]string{
		"google/siglip2-so400m-patch16-256": filepath.Join(cache, "models--google--siglip2-so400m-patch16-256", "snapshots", "bbb"),
		"org/one":                           filepath.Join(cache, "models--org--one", "snapshots", "ccc"),
		"plain":                             filepath.Join(cache, "models--plain", "snapshots", "eee"),
		"org/two":                           "", // two snapshots, no refs/main
		"org/missing":                       "",
		"/abs/path":                         "",
		"a/b/c":                             "",
		"../x":                              "",
		"org/..":                            "",
	} {
		got, ok := Snapshot(id)
		if got != want || ok != (want != "") {
			t.Errorf("Snapshot(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

// Dir honours HF_HUB_CACHE, then HF_HOME, then XDG_CACHE_HOME.
func TestDir(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_HOME", "/h")
	t.Setenv("XDG_CACHE_HOME", "/x")
	if d := Dir(); d != filepath.Join("/h", "hub") {
		t.Errorf("HF_HOME: Dir() = %q", d)
	}
	t.Setenv("HF_HOME", "")
	if d := Dir(); d != filepath.Join("/x", "huggingface", "hub") {
		t.Errorf("XDG_CACHE_HOME: Dir() = %q", d)
	}
	t.Setenv("HF_HUB_CACHE", "/c")
	if d := Dir(); d != "/c" {
		t.Errorf("HF_HUB_CACHE: Dir() = %q", d)
	}
}
