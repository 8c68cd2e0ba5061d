package imagenet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// flat1000 writes a flat-layout root with ImageNet-1K's class count: 1000
// made-up WNIDs numbered in an order that is not sorted, and two images.
func flat1000(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 2, 16); err != nil {
		t.Fatal(err)
	}
	var syn strings.Builder
	for id := range 1000 {
		fmt.Fprintf(&syn, "n%08d\n", 1000-id) // ID 1 = the last WNID in sorted order
	}
	os.WriteFile(filepath.Join(dir, "synsets.txt"), []byte(syn.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "ILSVRC2012_validation_ground_truth.txt"), []byte("1\n1000\n"), 0o644)
	os.Remove(filepath.Join(dir, "classnames.txt"))
	return dir
}

// TestBuiltinClassNames: without classnames.txt the task uses OpenAI CLIP's
// list, which benchmarks.md §7 describes: 1000 names in sorted-WNID order,
// 0 = tench, "missile" at 657 and 744, "sunglasses" at 836 and 837.
func TestBuiltinClassNames(t *testing.T) {
	dir := flat1000(t)
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	tk := task.(*Task)
	names := tk.classNames
	if len(names) != 1000 || names[0] != "tench" || names[657] != "missile" || names[744] != "missile" ||
		names[836] != "sunglasses" || names[837] != "sunglasses" {
		t.Fatalf("built-in names: %d, [0]=%q [657]=%q [744]=%q [836]=%q [837]=%q", len(names), names[0], names[657], names[744], names[836], names[837])
	}
	seen := map[string]int{}
	for i, n := range names {
		if n == "" || n != strings.TrimSpace(n) {
			t.Errorf("name %d is %q", i, n)
		}
		seen[n]++
	}
	if len(seen) != 998 {
		t.Errorf("%d distinct names, want 998 (two duplicated pairs)", len(seen))
	}
	p := task.Protocol()
	if p["classnames"] != BuiltinClassNames || len(p["classnames_sha256"].(string)) != 64 {
		t.Errorf("protocol %v", p)
	}
	_, files, err := tk.DataFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f.Path) == BuiltinClassNames || strings.Contains(f.Path, "classnames") {
			t.Errorf("data files list the built-in names: %v", files)
		}
	}

	// A classnames.txt in the root wins; classnames=openai picks the list anyway.
	var own strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&own, "class %d\n", i)
	}
	os.WriteFile(filepath.Join(dir, "classnames.txt"), []byte(own.String()), 0o644)
	task, err = New(bench.Options{Data: dir})
	if err != nil || task.(*Task).classNames[0] != "class 0" || task.Protocol()["classnames"] != filepath.Join(dir, "classnames.txt") {
		t.Errorf("root classnames.txt: %v, %v", err, task.Protocol())
	}
	task, err = New(bench.Options{Data: dir, Extra: map[string]string{"classnames": "openai"}})
	if err != nil || task.(*Task).classNames[0] != "tench" {
		t.Errorf("classnames=openai: %v", err)
	}
}

// TestBuiltinClassNamesNeedAllClasses: a root with fewer classes and no
// classnames.txt gets an error naming the built-in list and the fix.
func TestBuiltinClassNamesNeedAllClasses(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 2, 16); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "classnames.txt"))
	_, err := New(bench.Options{Data: dir})
	if err == nil || !strings.Contains(err.Error(), "built-in class names") || !strings.Contains(err.Error(), "classnames.txt") {
		t.Errorf("err = %v", err)
	}
}
