package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodRunFile = `out: results
batch_size: 16
models:
  - {name: tiny, kind: siglip, path: ckpt/tiny}
  - {name: tiny-bf16, kind: siglip, path: ckpt/tiny, dtype: bfloat16}
tasks:
  - {name: imagenet-zeroshot, data: /data/imagenet}
  - {name: recon, data: /data/imagenet, extra: {mode: clean}}
`

func TestParseRunFile(t *testing.T) {
	rf, err := parseRunFile("run.yaml", []byte(goodRunFile))
	if err != nil {
		t.Fatal(err)
	}
	// YAML merge keys are accepted where the mapping they merge is.
	merged, err := parseRunFile("run.yaml", []byte("models: [{name: a, kind: siglip, path: p}]\ntasks:\n  - {name: pope, data: /d1, extra: &e {rule: vlmevalkit}}\n  - {name: mme, data: /d2, extra: {<<: *e}}\n"))
	if err != nil || merged.Tasks[1].Extra["rule"] != "vlmevalkit" {
		t.Errorf("merge key: %+v, %v", merged, err)
	}
	if rf.BatchSize != 16 || len(rf.Models) != 2 || rf.Models[1].DType != "bfloat16" || rf.Tasks[1].Extra["mode"] != "clean" {
		t.Errorf("parsed %+v", rf)
	}
	edit := func(old, new string) string {
		if !strings.Contains(goodRunFile, old) {
			t.Fatalf("%q is not in the good file", old)
		}
		return strings.Replace(goodRunFile, old, new, 1)
	}
	for _, c := range []struct{ name, body, want string }{
		{"empty", "", "run.yaml: empty; needs at least one entry"},
		{"no tasks", "models: [{name: a, kind: siglip, path: p}]", `run.yaml: needs at least one entry under "models" and one under "tasks"`},
		{"misspelt key", edit("batch_size: 16", "batchsize: 16"), "run.yaml: line 2: field batchsize is not a key of run.yaml (keys: out, batch_size, limit, seed, models, tasks)"},
		{"misspelt model key", edit("path: ckpt/tiny}", "pth: ckpt/tiny}"), "run.yaml: line 4: field pth is not a key of a model entry (keys: name, kind, path, tokenizer, extra, dtype)"},
		{"wrong type", edit("batch_size: 16", "batch_size: many"), `run.yaml: line 2: batch_size: want a whole number, found "many"`},
		{"quoted number", edit("batch_size: 16", `batch_size: "16"`), `run.yaml: line 2: batch_size: want a whole number, found the quoted text "16"`},
		{"fraction", edit("batch_size: 16", "batch_size: 1.5"), `run.yaml: line 2: batch_size: want a whole number, found "1.5"`},
		{"fraction merged in", "tasks:\n  - {name: recon, data: /d, extra: &d {batch_size: 1.5}}\n<<: *d\nmodels: [{name: a, kind: siglip, path: p}]\n", `batch_size: want a whole number, found "1.5"`},
		{"float limit", goodRunFile + "limit: 2.0\n", `limit: want a whole number, found "2.0"`},
		{"models a mapping", "models:\n  tiny: {kind: siglip, path: p}\ntasks: [{name: pope}]\n", `run.yaml: line 2: models: want a list of model entries ("- {name: NAME, kind: KIND, path: DIR}"), found a mapping`},
		{"model entry a string", "models: [tiny]\ntasks: [{name: pope}]\n", `run.yaml: line 1: models[0]: want a model entry {name, kind, path, tokenizer, extra, dtype}, found "tiny"`},
		{"extra a list", edit("extra: {mode: clean}", "extra: [mode, clean]"), `run.yaml: line 8: tasks[1].extra: want a mapping of option: value (e.g. {rule: vlmevalkit}), found a list`},
		{"extra not a string", edit("{mode: clean}", "{mode: [a, b]}"), "run.yaml: line 8: tasks[1].extra.mode: want a single value (text or number), found a list"},
		{"two documents", goodRunFile + "---\nlimit: 5\n", "run.yaml: more than one YAML document"},
		{"negative batch", edit("batch_size: 16", "batch_size: -1"), "run.yaml: batch_size = -1, want a positive number"},
		{"negative limit", goodRunFile + "limit: -3\n", "run.yaml: limit = -3, want a number of items (0 or none = all)"},
		{"model without name", edit("{name: tiny, kind", "{kind"), `run.yaml: models[0]: field "name" is missing`},
		{"model name a path", edit("{name: tiny,", "{name: ../tiny,"), `run.yaml: models[0]: name "../tiny" cannot name a folder`},
		{"model name dot-dot", edit("{name: tiny,", "{name: '..',"), `run.yaml: models[0]: name ".." cannot name a folder`},
		{"model without kind", edit("kind: siglip, path: ckpt/tiny}", "path: ckpt/tiny}"), `run.yaml: models[0] (tiny): field "kind" is missing`},
		{"unknown kind", edit("kind: siglip, path: ckpt/tiny}", "kind: siglop, path: ckpt/tiny}"), `run.yaml: models[0] (tiny): kind "siglop" is unknown`},
		{"model without path", edit("kind: siglip, path: ckpt/tiny}", "kind: siglip}"), `run.yaml: models[0] (tiny): field "path" is missing`},
		{"model twice", edit("name: tiny-bf16", "name: tiny"), `run.yaml: models[1]: name "tiny" is also models[0]'s`},
		{"task without name", edit("{name: recon,", "{"), `run.yaml: tasks[1]: field "name" is missing`},
		{"unknown task", edit("{name: recon,", "{name: recn,"), `run.yaml: tasks[1]: task "recn" is unknown`},
		{"task twice", edit("{name: recon,", "{name: imagenet-zeroshot,"), `run.yaml: tasks[1]: task "imagenet-zeroshot" is also tasks[0]`},
		{"not YAML", "models: [", "run.yaml: yaml: line 1: did not find expected node content"},
	} {
		_, err := parseRunFile("run.yaml", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v\nwant one line with %q", c.name, err, c.want)
		}
	}
}

// The results folder of --model is its last path element, also for "." and
// "..", which name folders, and never empty.
func TestModelName(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"ckpt/tiny": "tiny", "ckpt/tiny/": "tiny", ".": filepath.Base(wd), "..": filepath.Base(filepath.Dir(wd)), "/": "model",
	} {
		if got := modelName(path); got != want {
			t.Errorf("modelName(%q) = %q, want %q", path, got, want)
		}
	}
}
