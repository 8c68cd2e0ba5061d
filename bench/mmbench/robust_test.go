package mmbench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestHeaderOnlyTSV: a TSV with its header and no rows is an error naming
// it, not a task with nothing to ask.
func TestHeaderOnlyTSV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DemoFile)
	if err := os.WriteFile(path, []byte(strings.Join(Columns, "\t")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(bench.Options{Data: dir})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no question rows") {
		t.Errorf("header-only TSV: %v", err)
	}
}

// TestIndicesNameOneItem: item IDs are row indices, and a generated circular
// pass is numbered index + i·1e6, so a negative index (-5's pass is 999995,
// another question's index) or a repeated one used to give two items one ID
// (the runner's cache would answer both with one prediction). Both are
// errors naming the file and row.
func TestIndicesNameOneItem(t *testing.T) {
	img := strings.Repeat("A", 70)
	for name, c := range map[string]struct{ rows, want string }{
		"negative": {"-5\tq1\tx\ty\tA\t" + img + "\n999995\tq2\tu\tv\tB\t" + img + "\n", "row 2: index -5 is negative"},
		"repeated": {"7\tq1\tx\ty\tA\t" + img + "\n7\tq2\tu\tv\tB\t" + img + "\n", "row 3: index 7 is already used by row 2"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.tsv")
		os.WriteFile(path, []byte("index\tquestion\tA\tB\tanswer\timage\n"+c.rows), 0o644)
		if _, err := New(bench.Options{Data: path}); err == nil || !strings.Contains(err.Error(), path+": "+c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

// TestOnlyPassRows (found by FuzzRead): with circular=false only main rows
// are asked; a file holding circular passes alone used to load as a task
// with no items. It is an error naming the file.
func TestOnlyPassRows(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.tsv")
	os.WriteFile(path, []byte("index\tquestion\tA\tB\tanswer\timage\n1000001\tq\tx\ty\tA\t"+strings.Repeat("A", 70)+"\n"), 0o644)
	_, err := New(bench.Options{Data: path, Extra: map[string]string{"circular": "false"}})
	if err == nil || !strings.Contains(err.Error(), path+": no main rows") {
		t.Errorf("passes only, circular=false: %v", err)
	}
}
