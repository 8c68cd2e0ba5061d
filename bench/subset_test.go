package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A subset names each item once: a repeated ID is an error naming both
// lines (it used to be accepted silently).
func TestReadSubsetFileRefusesRepeats(t *testing.T) {
	p := filepath.Join(t.TempDir(), "subset.txt")
	os.WriteFile(p, []byte("a\nb\n\n a \n"), 0o644)
	if _, err := ReadSubsetFile(p); err == nil || !strings.Contains(err.Error(), p+`:4: item "a" is also on line 1`) {
		t.Errorf("repeated id: %v", err)
	}
	os.WriteFile(p, []byte("a\nb\n"), 0o644)
	if ids, err := ReadSubsetFile(p); err != nil || strings.Join(ids, ",") != "a,b" {
		t.Errorf("%v %v", ids, err)
	}
}
