// Package hfcache finds Hugging Face Hub repositories in the local hub
// cache, in huggingface_hub's layout, so that a config naming a model by
// repo id (DualToken's rqvaesiglip.pretrained_model,
// "google/siglip2-so400m-patch16-256") finds the copy transformers already
// downloaded. Nothing is ever downloaded.
//
// Layout: <cache>/models--<org>--<name>/refs/<revision> holds a commit hash
// and <cache>/models--<org>--<name>/snapshots/<hash>/ the files.
package hfcache

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Dir is the hub cache as huggingface_hub names it: $HF_HUB_CACHE (or the
// older $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub ("" when
// none can be named).
func Dir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return d
		}
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// repoID is a Hub model id: "name" or "owner/name".
var repoID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// Snapshot returns the cached snapshot folder of the model repo id: the
// commit refs/main names, else the only snapshot there is. ok is false when
// id is not a repo id, the repo is not cached, or it has several snapshots
// and no refs/main to choose between them.
func Snapshot(id string) (dir string, ok bool) {
	cache := Dir()
	if cache == "" || !repoID.MatchString(id) || strings.Contains(id, "..") {
		return "", false
	}
	repo := filepath.Join(cache, "models--"+strings.ReplaceAll(id, "/", "--"))
	snaps := filepath.Join(repo, "snapshots")
	if ref, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err == nil {
		if h := strings.TrimSpace(string(ref)); h != "" && !strings.ContainsAny(h, `/\`) {
			if d := filepath.Join(snaps, h); isDir(d) {
				return d, true
			}
		}
	}
	entries, err := os.ReadDir(snaps)
	if err != nil {
		return "", false
	}
	var only string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if only != "" {
			return "", false
		}
		only = filepath.Join(snaps, e.Name())
	}
	return only, only != ""
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
