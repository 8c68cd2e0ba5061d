package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/bench"
)

func TestTasksText(t *testing.T) {
	code, stdout, stderr := runCaptured(t, "tasks")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range bench.Names() {
		s, _ := bench.Lookup(name)
		if !strings.Contains(stdout, name+" (version ") || !strings.Contains(stdout, s.Data) {
			t.Errorf("tasks: no %s with its data layout", name)
		}
		for _, o := range s.Options {
			if !strings.Contains(stdout, "    "+o.Key+" ") || !strings.Contains(stdout, o.Help) {
				t.Errorf("tasks: %s option %s missing", name, o.Key)
			}
		}
	}
	for _, want := range []string{
		"default random,popular,adversarial  [comma list of random,popular,adversarial]",
		"default clean  [values clean|pytorch-fid]",
		"inception", "default -",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tasks: no %q in\n%s", want, stdout)
		}
	}

	code, stdout, _ = runCaptured(t, "tasks", "pope")
	if code != 0 || !strings.HasPrefix(stdout, "pope (version ") || strings.Contains(stdout, "recon") {
		t.Errorf("tasks pope: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCaptured(t, "tasks", "popee")
	if code != 2 || !strings.Contains(stderr, `unknown task "popee"`) || !strings.Contains(stderr, "pope, recon") {
		t.Errorf("tasks popee: exit %d, stderr %q", code, stderr)
	}
}

func TestTasksJSON(t *testing.T) {
	code, stdout, stderr := runCaptured(t, "tasks", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Schema int `json:"schema"`
		Tasks  []struct {
			Name        string `json:"name"`
			Version     int    `json:"version"`
			Description string `json:"description"`
			Options     []map[string]json.RawMessage
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != 1 || len(doc.Tasks) != len(bench.Names()) {
		t.Fatalf("schema %d, %d tasks; want 1 and %d", doc.Schema, len(doc.Tasks), len(bench.Names()))
	}
	for i, task := range doc.Tasks {
		s, _ := bench.Lookup(task.Name)
		if task.Name != bench.Names()[i] || task.Version != s.Version || task.Description != s.Help || len(task.Options) != len(s.Options) {
			t.Errorf("task %d: %+v, want %s", i, task, bench.Names()[i])
			continue
		}
		for j, o := range task.Options {
			var key, def string
			var values []string
			json.Unmarshal(o["key"], &key)
			json.Unmarshal(o["default"], &def)
			if err := json.Unmarshal(o["values"], &values); err != nil || values == nil || o["help"] == nil {
				t.Errorf("%s option %s: values %s, help %s: want a list and a help", task.Name, key, o["values"], o["help"])
			}
			want := s.Options[j]
			if key != want.Key || def != want.Default || (len(want.Values) > 0 && !reflect.DeepEqual(values, want.Values)) {
				t.Errorf("%s option %d: %s=%s %v, want %+v", task.Name, j, key, def, values, want)
			}
		}
	}
	code, stdout, _ = runCaptured(t, "tasks", "recon", "--json")
	if code != 0 || !strings.Contains(stdout, `"key": "inception"`) || strings.Contains(stdout, `"pope"`) {
		t.Errorf("tasks recon --json: exit %d\n%s", code, stdout)
	}
}

// run and score refuse the options that used to be ignored, naming the task,
// the key and the known keys (exit 2), before any item is run.
func TestRunRefusesUnknownOptions(t *testing.T) {
	dir := t.TempDir()
	model, err := assets.Extract("tiny-siglip", filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	out := filepath.Join(dir, "results")
	for _, tc := range []struct {
		opt, want string
	}{
		{"split=random", `pope: unknown option "split" (known: splits, rule, prompt, max_new_tokens, images)`},
		{"rule=rulez", `pope: option rule="rulez": want one of official, vlmevalkit`},
	} {
		code, _, stderr := runCaptured(t, "run", "--quiet", "--task", "pope", "--data", data, "--model-kind", "siglip", "--model", model, "--out", out, "--opt", tc.opt)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("--opt %s: exit %d, stderr %q; want 2 and %s", tc.opt, code, stderr, tc.want)
		}
	}
	// run.yaml: the example that used to be in run's help.
	cfg := filepath.Join(dir, "run.yaml")
	yaml := "models:\n  - {name: m, kind: siglip, path: " + model + "}\ntasks:\n  - {name: recon, data: " + data + ", extra: {mode: clean}}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg, "--out", out)
	if code != 2 || !strings.Contains(stderr, cfg+`: tasks[0] (recon): unknown option "mode" (known: inception, fid_mode, jpeg, save)`) {
		t.Errorf("run.yaml extra {mode: clean}: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused run wrote %s", out)
	}
}

// TestScoreRecon re-scores a recon run without inception weights (whose
// protocol records fid_mode as "not computed ...", not an option value) and
// refuses an unknown --opt.
func TestScoreRecon(t *testing.T) {
	dir := t.TempDir()
	model, err := assets.Extract("tiny-dualtoken", filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	writer, _ := bench.Demo("recon")
	opts, err := writer(filepath.Join(dir, "data"), 5, 4)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	if code, _, stderr := runCaptured(t, "run", "--quiet", "--task", "recon", "--data", opts.Data, "--opt", "jpeg=none",
		"--model-kind", "dualtoken", "--model", model, "--out", out); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	resPath := filepath.Join(out, "recon", "tiny-dualtoken", "results.json")
	first, err := bench.ReadResult(resPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCaptured(t, "score", resPath); code != 0 {
		t.Fatalf("score: exit %d: %s", code, stderr)
	}
	again, err := bench.ReadResult(resPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Metrics, first.Metrics) || !reflect.DeepEqual(again.Protocol, first.Protocol) {
		t.Errorf("rescore: metrics %v protocol %v; run: %v %v", again.Metrics, again.Protocol, first.Metrics, first.Protocol)
	}
	code, _, stderr := runCaptured(t, "score", resPath, "--opt", "rulez=foo")
	if code != 2 || !strings.Contains(stderr, `recon: unknown option "rulez" (known: inception, fid_mode, jpeg, save)`) {
		t.Errorf("score --opt rulez=foo: exit %d, stderr %q", code, stderr)
	}
}
