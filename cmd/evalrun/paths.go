package main

import (
	"os"
	"path/filepath"

	"github.com/dualtoken/evalharness/internal/hfcache"
)

// hubOrPath is path, or, when nothing exists there, the local Hugging Face
// cache's snapshot of path read as a Hub repo id ("Qwen/Qwen2.5-3B-Instruct"),
// so that a model transformers has downloaded can be named as in Python;
// nothing is downloaded. A path that is neither stays as given, for the
// command's own "not found" error.
func hubOrPath(path string) string {
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if snap, ok := hfcache.Snapshot(path); ok {
		return snap
	}
	return path
}

// samePath reports whether a and b name one file: the same cleaned
// absolute path, or (both existing) the same file by inode.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
