package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// FuzzRunFile feeds `evalrun run --config` arbitrary YAML: parseRunFile must
// refuse it with one line naming the file, or give models and tasks that
// can all run, each writing its own OUT/<task>/<model>/ folder.
//
//	go test -run '^$' -fuzz '^FuzzRunFile$' -fuzztime 60s -fuzzminimizetime 200x -parallel 1 ./cmd/evalrun
func FuzzRunFile(f *testing.F) {
	f.Add([]byte(goodRunFile))
	f.Add([]byte("models: [{name: a, kind: siglip, path: p}]\ntasks: [{name: pope}]\nlimit: 3\nseed: -1\n"))
	f.Add([]byte("models: &m [{name: a, kind: siglip, path: p}]\ntasks: [{name: pope, extra: {x: 1, y: ~}}]\nout: *m\n"))
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rf, err := parseRunFile("run.yaml", b)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "run.yaml: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line naming run.yaml: %q", msg)
			}
			return
		}
		if len(rf.Models) == 0 || len(rf.Tasks) == 0 || rf.BatchSize < 0 || rf.Limit < 0 {
			t.Fatalf("accepted %d models, %d tasks, batch %d, limit %d", len(rf.Models), len(rf.Tasks), rf.BatchSize, rf.Limit)
		}
		dirs := map[string]bool{}
		for _, m := range rf.Models {
			if !slices.Contains(bench.ModelKinds(), m.Kind) || m.Path == "" {
				t.Fatalf("accepted model %+v", m)
			}
			dir := filepath.Join("out", "task", m.Name)
			if filepath.Dir(dir) != filepath.Join("out", "task") || dirs[dir] {
				t.Fatalf("model %q: folder %s is not its own", m.Name, dir)
			}
			dirs[dir] = true
		}
		seen := map[string]bool{}
		for _, tk := range rf.Tasks {
			if !slices.Contains(bench.Names(), tk.Name) || seen[tk.Name] {
				t.Fatalf("accepted task %q (twice: %v)", tk.Name, seen[tk.Name])
			}
			seen[tk.Name] = true
		}
	})
}
