package train

import (
	"os"
	"path/filepath"
	"testing"
)

// An exported row takes its tower's text tokenizer under the tower's file
// name: SigLIP's spiece.model, else SigLIP2's tokenizer.model, else its
// tokenizer.json; none when the tower has none of them.
func TestCopyTowerTokenizer(t *testing.T) {
	for _, c := range []struct {
		have []string // files in the tower folder
		want string   // the one copied, "" for none
	}{
		{[]string{"spiece.model"}, "spiece.model"},
		{[]string{"tokenizer.model", "tokenizer.json"}, "tokenizer.model"},
		{[]string{"spiece.model", "tokenizer.model"}, "spiece.model"},
		{[]string{"tokenizer.json"}, "tokenizer.json"},
		{[]string{"vocab.txt", "config.json"}, ""},
	} {
		tower, out := t.TempDir(), t.TempDir()
		for _, f := range c.have {
			if err := os.WriteFile(filepath.Join(tower, f), []byte("bytes of "+f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := copyTowerTokenizer(tower, out); err != nil {
			t.Fatalf("%v: %v", c.have, err)
		}
		got, _ := os.ReadDir(out)
		switch {
		case c.want == "" && len(got) != 0:
			t.Errorf("%v: copied %v, want nothing", c.have, got)
		case c.want != "":
			b, err := os.ReadFile(filepath.Join(out, c.want))
			if err != nil || string(b) != "bytes of "+c.want || len(got) != 1 {
				t.Errorf("%v: out holds %v (%q, %v), want only %s", c.have, got, b, err, c.want)
			}
		}
	}
}
