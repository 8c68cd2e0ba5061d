// Package assets embeds the tiny models the repo ships (trained on the
// procedural world by `evalrun train-tiny`), so the demo runs from a bare
// binary with no download.
package assets

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed all:models
var files embed.FS

// Models lists the shipped model directories (e.g. "tiny-siglip").
func Models() []string {
	entries, _ := fs.ReadDir(files, "models")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// Has reports whether model name is shipped.
func Has(name string) bool {
	_, err := fs.Stat(files, "models/"+name+"/config.json")
	return err == nil
}

// Extract writes model name's files under dir/name and returns that path.
func Extract(name, dir string) (string, error) {
	root := "models/" + name
	out := filepath.Join(dir, name)
	err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		target := filepath.Join(out, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	return out, err
}
