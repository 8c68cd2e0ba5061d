package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DataFile names one fixed file of a task's data layout (an annotation,
// question, ground-truth or class-list file), or a set of small ones recorded
// as one entry. Images are never listed: there are too many to hash each run,
// and the items digest (n_samples.ids_sha256) already says which were used.
type DataFile struct {
	// Path is the file as the task opened it; for a set, the folder that
	// holds Files.
	Path string
	// Files, when not nil, makes this entry a set: the files under Path the
	// task read (MME's hundreds of two-line question files). The entry's
	// hash is then SHA-256 over the lines "<path relative to Path, with
	// slashes>\t<its SHA-256 hex>\n", sorted by path.
	Files []string
}

// DataFiler is implemented by a task whose data layout has fixed files. The
// runner hashes them once per run (Run and Rescore) and records them in
// results.json as data_files, so that two results made from different copies
// of a benchmark's files can be told apart (DataDiffers).
//
// Keys are the files' paths relative to root, with slashes; a file outside
// root (one given by an option such as classnames=FILE) is keyed by its base
// name. A task without a DataFiler records no data_files.
//
// Known official hashes: the project ships none, as nobody has hashed the
// official files here. Were a table of them added (the key as recorded,
// e.g. "v2_mscoco_val2014_annotations.json", to the official SHA-256 hex),
// the check would compare each recorded data_files value whose key is in the
// table and, on a mismatch, name the file, both hashes and where the official
// copy comes from; a key not in the table stays unchecked, never failed.
type DataFiler interface {
	DataFiles() (root string, files []DataFile, err error)
}

// HashDataFiles hashes files (each read once, streamed) and returns the
// data_files manifest: key (see DataFiler) → lowercase SHA-256 hex. Two
// files that would get the same key are an error, as is a set member
// outside its folder.
func HashDataFiles(root string, files []DataFile) (map[string]string, error) {
	out := make(map[string]string, len(files))
	from := map[string]string{}
	for _, f := range files {
		key := dataFileKey(root, f.Path)
		if prev, dup := from[key]; dup {
			return nil, fmt.Errorf("data files %s and %s would both be recorded as %q in data_files", prev, f.Path, key)
		}
		from[key] = f.Path
		var sum string
		var err error
		if f.Files == nil {
			sum, err = hashFile(f.Path)
		} else {
			sum, err = hashFileSet(f.Path, f.Files)
		}
		if err != nil {
			return nil, err
		}
		out[key] = sum
	}
	return out, nil
}

// dataFileKey is p's data_files key: relative to root with slashes when
// inside it, else p's base name.
func dataFileKey(root, p string) string {
	if root != "" {
		if rel, err := filepath.Rel(root, p); err == nil && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(p)
}

func hashFile(p string) (string, error) {
	sum, err := FileSHA256(p)
	if err != nil {
		return "", fmt.Errorf("hashing data file: %v", err)
	}
	return sum, nil
}

// hashFileSet is a set entry's hash (see DataFile.Files).
func hashFileSet(dir string, files []string) (string, error) {
	lines := make([]string, 0, len(files))
	for _, p := range files {
		rel, err := filepath.Rel(dir, p)
		if err != nil || !filepath.IsLocal(rel) {
			return "", fmt.Errorf("data file %s is not inside its set's folder %s", p, dir)
		}
		sum, err := hashFile(p)
		if err != nil {
			return "", err
		}
		lines = append(lines, filepath.ToSlash(rel)+"\t"+sum+"\n")
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(h[:]), nil
}

// taskDataFiles is the data_files manifest of task, nil if it declares no
// fixed files (not a DataFiler).
func taskDataFiles(task Task) (map[string]string, error) {
	df, ok := task.(DataFiler)
	if !ok {
		return nil, nil
	}
	root, files, err := df.DataFiles()
	if err == nil {
		var m map[string]string
		if m, err = HashDataFiles(root, files); err == nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s: %v", task.Name(), err)
}

// DataDiffers lists, sorted, the data_files keys present in both results
// whose hashes differ: the fixed files that were not the same bytes in the
// two runs. A key recorded by only one of them is not listed (a different
// layout or split shows in the protocol instead).
func DataDiffers(a, b *Result) []string {
	var out []string
	for k, ha := range a.DataFiles {
		if hb, ok := b.DataFiles[k]; ok && hb != ha {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// parseDataFiles reads and checks results.json's data_files: every key a
// local relative path with slashes, in clean form and printable, every value
// 64 lowercase hex digits.
func parseDataFiles(raw map[string]json.RawMessage) (map[string]string, error) {
	if raw == nil {
		return nil, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if err := checkDataFileKey(k); err != nil {
			return nil, fmt.Errorf("field \"data_files\" key %q: %v", k, err)
		}
		var sum string
		if err := json.Unmarshal(v, &sum); err != nil || !isSHA256Hex(sum) {
			return nil, fmt.Errorf("field \"data_files\" %q: want a SHA-256 as 64 lowercase hex digits, found %s", k, clip(bytes.TrimSpace(v)))
		}
		out[k] = sum
	}
	return out, nil
}

func checkDataFileKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty path")
	case !utf8.ValidString(k) || strings.IndexFunc(k, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("want a printable path")
	case strings.Contains(k, `\`):
		return fmt.Errorf("want a path with forward slashes")
	case !filepath.IsLocal(filepath.FromSlash(k)) || path.Clean(k) != k:
		return fmt.Errorf("want a clean relative path inside the data root (no leading /, no . or .. elements)")
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
