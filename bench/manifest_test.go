package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func hexOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestDataDiffers(t *testing.T) {
	h := func(s string) string { return hexOf([]byte(s)) }
	a := &Result{DataFiles: map[string]string{"q.json": h("q"), "ann.json": h("a"), "only-a.txt": h("x"), "z/gt.txt": h("g")}}
	b := &Result{DataFiles: map[string]string{"q.json": h("q2"), "ann.json": h("a"), "only-b.txt": h("y"), "z/gt.txt": h("g2")}}
	if got, want := DataDiffers(a, b), []string{"q.json", "z/gt.txt"}; !slices.Equal(got, want) {
		t.Errorf("DataDiffers = %q, want %q (sorted; keys in one result only left out)", got, want)
	}
	if got := DataDiffers(b, a); !slices.Equal(got, []string{"q.json", "z/gt.txt"}) {
		t.Errorf("DataDiffers(b, a) = %q", got)
	}
	if got := DataDiffers(a, a); got != nil {
		t.Errorf("a result against itself: %q", got)
	}
	if got := DataDiffers(a, &Result{}); got != nil {
		t.Errorf("against a result with no data_files (an older run): %q", got)
	}
}

func TestHashDataFiles(t *testing.T) {
	root := t.TempDir()
	write := func(p, body string) string {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ann := write("annotations/val.json", `{"a":1}`)
	set := []string{write("sub/b.txt", "two"), write("sub/a.txt", "one")}
	outside := filepath.Join(t.TempDir(), "names.txt")
	os.WriteFile(outside, []byte("tench\n"), 0o644)

	got, err := HashDataFiles(root, []DataFile{{Path: ann}, {Path: filepath.Join(root, "sub"), Files: set}, {Path: outside}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"annotations/val.json": hexOf([]byte(`{"a":1}`)),
		// a set: sorted "path\thash\n" lines
		"sub":       hexOf([]byte("a.txt\t" + hexOf([]byte("one")) + "\nb.txt\t" + hexOf([]byte("two")) + "\n")),
		"names.txt": hexOf([]byte("tench\n")), // outside the root: its base name
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("manifest %v\nwant %v", got, want)
	}

	for _, c := range []struct {
		name  string
		files []DataFile
		want  string
	}{
		{"missing file", []DataFile{{Path: filepath.Join(root, "gone.json")}}, "gone.json: no such file"},
		{"two files, one key", []DataFile{{Path: write("names.txt", "x")}, {Path: outside}}, `would both be recorded as "names.txt"`},
		{"set member outside its folder", []DataFile{{Path: filepath.Join(root, "sub"), Files: []string{ann}}}, "is not inside its set's folder"},
	} {
		if _, err := HashDataFiles(root, c.files); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// data_files written by a run reads back; a hostile or malformed entry is
// one error naming the file and the entry.
func TestReadResultDataFiles(t *testing.T) {
	sum := hexOf([]byte("x"))
	with := func(entries string) string {
		return strings.Replace(goodResult, `"predictions":`, `"data_files": {`+entries+`}, "predictions":`, 1)
	}
	p := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(p, []byte(with(`"coco_pope_random.json": "`+sum+`", "MME_Benchmark_release_version/artwork/questions_answers_YN": "`+sum+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	good, err := ReadResult(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(good.DataFiles) != 2 || good.DataFiles["coco_pope_random.json"] != sum {
		t.Fatalf("data_files read as %v", good.DataFiles)
	}
	if err := good.Write(p); err != nil {
		t.Fatal(err)
	}
	again, err := ReadResult(p)
	if err != nil || !reflect.DeepEqual(again.DataFiles, good.DataFiles) {
		t.Fatalf("round trip: %v, %v", again, err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), `"data_files": {`) {
		t.Errorf("written without a data_files field:\n%s", b)
	}

	for _, c := range []struct{ name, entries, want string }{
		{"parent", `"../x.json": "` + sum + `"`, `field "data_files" key "../x.json": want a clean relative path`},
		{"absolute", `"/etc/passwd": "` + sum + `"`, `key "/etc/passwd": want a clean relative path`},
		{"through a parent", `"a/../../b": "` + sum + `"`, `key "a/../../b": want a clean relative path`},
		{"unclean", `"a//b": "` + sum + `"`, `key "a//b": want a clean relative path`},
		{"dot", `"./a": "` + sum + `"`, `key "./a": want a clean relative path`},
		{"backslash", `"a\\b": "` + sum + `"`, `want a path with forward slashes`},
		{"empty key", `"": "` + sum + `"`, `key "": empty path`},
		{"newline", `"a\nb": "` + sum + `"`, `want a printable path`},
		{"escape sequence", `"\u001b[2Ja": "` + sum + `"`, `want a printable path`},
		{"short hash", `"a": "` + sum[:63] + `"`, `field "data_files" "a": want a SHA-256 as 64 lowercase hex digits, found "` + sum[:39]},
		{"upper-case hash", `"a": "` + strings.ToUpper(sum) + `"`, `want a SHA-256 as 64 lowercase hex digits`},
		{"not hex", `"a": "` + strings.Repeat("g", 64) + `"`, `want a SHA-256 as 64 lowercase hex digits`},
		{"a number", `"a": 1`, `field "data_files" "a": want a SHA-256 as 64 lowercase hex digits, found 1`},
		{"null", `"a": null`, `found null`},
		{"a key twice", `"a": "` + sum + `", "a": "` + sum + `"`, `key "a" appears twice in object data_files`},
	} {
		p := filepath.Join(t.TempDir(), "results.json")
		os.WriteFile(p, []byte(with(c.entries)), 0o644)
		_, err := ReadResult(p)
		if err == nil || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v\nwant one line naming %s with %q", c.name, err, p, c.want)
		}
	}
	p = filepath.Join(t.TempDir(), "results.json")
	os.WriteFile(p, []byte(strings.Replace(goodResult, `"predictions":`, `"data_files": ["a"], "predictions":`, 1)), 0o644)
	if _, err := ReadResult(p); err == nil || !strings.Contains(err.Error(), "data_files") {
		t.Errorf("data_files a list: got %v", err)
	}
}
