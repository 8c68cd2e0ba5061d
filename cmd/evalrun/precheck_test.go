package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run checks every task's data and every model's path before the first
// model runs: a bad last entry fails at once, naming the file and entry,
// and nothing is written.
func TestRunChecksEveryEntryFirst(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 8)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		name, models, tasks, want string
	}{
		{"missing data in the last task",
			fmt.Sprintf("  - {name: tiny, kind: siglip, path: %s}\n", model),
			fmt.Sprintf("  - {name: imagenet-zeroshot, data: %s}\n  - {name: flickr8k, data: %s}\n", opts.Data, filepath.Join(dir, "nonexistent")),
			"tasks[1] (flickr8k): "},
		{"missing model path",
			fmt.Sprintf("  - {name: tiny, kind: siglip, path: %s}\n  - {name: gone, kind: siglip, path: %s}\n", model, filepath.Join(dir, "nomodel")),
			fmt.Sprintf("  - {name: imagenet-zeroshot, data: %s}\n", opts.Data),
			"models[1] (gone): path: "},
		{"misspelt option of the last model",
			fmt.Sprintf("  - {name: tiny, kind: siglip, path: %s}\n  - {name: crop, kind: siglip, path: %s, extra: {preproces: crop}}\n", model, model),
			fmt.Sprintf("  - {name: imagenet-zeroshot, data: %s}\n", opts.Data),
			"models[1] (crop): model " + model + ": unknown siglip option(s) preproces (known: max_length, preprocess)"},
	} {
		cfg := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
		os.WriteFile(cfg, []byte("out: "+out+"\nmodels:\n"+c.models+"tasks:\n"+c.tasks), 0o644)
		code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg)
		if code != 2 || !strings.Contains(stderr, cfg+": "+c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line naming %q", c.name, code, stderr, cfg+": "+c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written before the check failed", c.name, out)
		}
	}
	if code, _, stderr := runCaptured(t, "run", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--limit=-1"); code != 2 || !strings.Contains(stderr, "--limit -1") {
		t.Errorf("--limit -1: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCaptured(t, "--backend", "nosuch", "tokenize", "--tokenizer", filepath.Join(model, "spiece.model"), "hi"); code != 2 || !strings.Contains(stderr, `unknown backend "nosuch"`) {
		t.Errorf("--backend nosuch: exit %d, %q", code, stderr)
	}
}

// A command stopped by Ctrl-C exits 130 with one line saying so, whether it
// says so itself or returns its context's error.
func TestInterruptedExitCode(t *testing.T) {
	for _, err := range []error{
		usageErr("%v", context.Canceled),
		failErr("recon: %v", fmt.Errorf("batch 3: %w", context.Canceled)),
		interruptedErr("interrupted; the checkpoint in X resumes with the same command"),
	} {
		var ee *exitError
		if e, ok := err.(*exitError); ok {
			ee = e
		}
		if ee == nil || ee.code != exitInterrupted {
			t.Errorf("%v: code %v, want %d", err, ee, exitInterrupted)
		}
	}
	if usageErr("%v", fmt.Errorf("bad")).(*exitError).code != 2 {
		t.Error("a plain usage error changed code")
	}
}

// Flags that describe one task or model go with --task; a --subset belongs
// to one task and is checked against it; a model's tokenizer must exist —
// all before anything runs.
func TestRunConfigFlagsAndSubsetChecked(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 8)
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "run.yaml")
	write := func(models, tasks string) {
		os.WriteFile(cfg, []byte("out: "+out+"\nmodels:\n"+models+"tasks:\n"+tasks), 0o644)
	}
	one := fmt.Sprintf("  - {name: tiny, kind: siglip, path: %s}\n", model)
	task := fmt.Sprintf("  - {name: imagenet-zeroshot, data: %s}\n", opts.Data)
	write(one, task)
	subset := filepath.Join(dir, "subset.txt")
	os.WriteFile(subset, []byte("no/such/item.png\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--opt", "templates=clip_best"}, "--opt goes with --task"},
		{[]string{"--data", opts.Data}, "--data goes with --task"},
		{[]string{"--subset", subset}, `--subset ` + subset + `: imagenet-zeroshot: subset lists item "no/such/item.png", which the task does not have`},
	} {
		code, _, stderr := runCaptured(t, append([]string{"run", "--quiet", "--config", cfg}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	write(one, task+fmt.Sprintf("  - {name: flickr8k, data: %s}\n", opts.Data))
	if code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg, "--subset", subset); code != 2 || !strings.Contains(stderr, "--subset selects items of one task") {
		t.Errorf("--subset with two tasks: exit %d, %q", code, stderr)
	}
	write(one+fmt.Sprintf("  - {name: b, kind: siglip, path: %s, tokenizer: %s}\n", model, filepath.Join(dir, "none.model")), task)
	if code, _, stderr := runCaptured(t, "run", "--quiet", "--config", cfg); code != 2 || !strings.Contains(stderr, cfg+": models[1] (b): tokenizer: ") {
		t.Errorf("missing tokenizer: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written before the checks failed", out)
	}
}
