package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/bench"
)

// runWantUsage asserts exit 2 and one stderr line holding every part of want.
func runWantUsage(t *testing.T, what string, code int, stderr string, want ...string) {
	t.Helper()
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("%s: exit %d, stderr %q; want 2 and one line", what, code, stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q lacks %q", what, stderr, w)
		}
	}
}

// runNotWritten asserts that a refused command left path absent.
func runNotWritten(t *testing.T, what, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s: %s was written before the check failed", what, path)
	}
}

// A --task that --model-kind cannot run is a usage error naming the task,
// the kind, the capability needed and the kinds that have it, before any
// model loads; a config where no pair can run is one too, while a config
// where some pair runs skips the others with a note and exits 0.
func TestRunRefusesTasksTheModelCannotRun(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 4)
	recon, _ := bench.Demo("recon")
	ropts, err := recon(filepath.Join(dir, "recon"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := runCaptured(t, "run", "--quiet", "--task", "recon", "--data", ropts.Data, "--model-kind", "siglip", "--model", model, "--out", out)
	runWantUsage(t, "recon on siglip", code, stderr, "--task recon needs a reconstructor", "--model-kind siglip is an embedder only", "use --model-kind dualtoken")
	runNotWritten(t, "recon on siglip", out)

	cfg := filepath.Join(dir, "run.yaml")
	models := fmt.Sprintf("models:\n  - {name: tiny, kind: siglip, path: %s}\n", model)
	os.WriteFile(cfg, []byte("out: "+out+"\n"+models+"tasks:\n  - {name: recon, data: "+ropts.Data+"}\n"), 0o644)
	code, _, stderr = runCaptured(t, "run", "--quiet", "--config", cfg)
	runWantUsage(t, "config with no runnable pair", code, stderr, cfg+": no model can run any task: recon needs a reconstructor (kinds: dualtoken)", "tiny (siglip) is an embedder only")
	runNotWritten(t, "config with no runnable pair", out)

	os.WriteFile(cfg, []byte("out: "+out+"\n"+models+"tasks:\n  - {name: recon, data: "+ropts.Data+"}\n  - {name: imagenet-zeroshot, data: "+opts.Data+"}\n"), 0o644)
	code, stdout, stderr := runCaptured(t, "run", "--quiet", "--config", cfg)
	if code != 0 || !strings.Contains(stderr, "evalrun: skip recon on tiny: the task needs a reconstructor") || !strings.Contains(stdout, "imagenet-zeroshot / tiny") {
		t.Errorf("config with one runnable pair: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// Flags and paths of run are checked before any model loads, each refusal
// one line naming the flag and the value.
func TestRunRefusesBadFlagsNamingThem(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 4)
	file := filepath.Join(dir, "good.jpg")
	os.WriteFile(file, []byte("\xff\xd8\xff"), 0o644)
	out := filepath.Join(dir, "out")
	base := []string{"run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip"}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--model", model, "--out", out, "--limit=-1"}, []string{"--limit -1: want a number of items (0 = all)"}},
		{[]string{"--model", model, "--out", out, "--batch", "0"}, []string{"--batch 0: want a positive batch size"}},
		{[]string{"--model", file, "--out", out}, []string{"--model " + file + ": a file, but a siglip model is an HF SigLIP or SigLIP2 folder"}},
		{[]string{"--model", model, "--out", filepath.Join(file, "x")}, []string{"--out " + filepath.Join(file, "x") + ": mkdir " + file + ": not a directory"}},
	} {
		code, _, stderr := runCaptured(t, append(base, c.args...)...)
		runWantUsage(t, strings.Join(c.args, " "), code, stderr, c.want...)
	}
	runNotWritten(t, "bad flags", out)
	code, _, stderr := runCaptured(t, "run", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "gpt", "--model", model, "--out", out)
	runWantUsage(t, "--model-kind gpt", code, stderr, "--model-kind gpt: unknown kind (known: dualtoken, llava, siglip)")
	// --config names its own out: key.
	cfg := filepath.Join(dir, "run.yaml")
	os.WriteFile(cfg, []byte("out: "+filepath.Join(file, "x")+"\nmodels:\n  - {name: tiny, kind: siglip, path: "+model+"}\ntasks:\n  - {name: imagenet-zeroshot, data: "+opts.Data+"}\n"), 0o644)
	code, _, stderr = runCaptured(t, "run", "--quiet", "--config", cfg)
	runWantUsage(t, "config out under a file", code, stderr, cfg+": out "+filepath.Join(file, "x")+": mkdir "+file+": not a directory")
	// A config with --batch 0 used to pass when the config had batch_size.
	os.WriteFile(cfg, []byte("batch_size: 4\nmodels:\n  - {name: tiny, kind: siglip, path: "+model+"}\ntasks:\n  - {name: imagenet-zeroshot, data: "+opts.Data+"}\n"), 0o644)
	code, _, stderr = runCaptured(t, "run", "--quiet", "--config", cfg, "--batch", "0", "--out", out)
	runWantUsage(t, "config with --batch 0", code, stderr, "--batch 0")
}

// Items that fail (a truncated image) are recorded and counted, and run
// says so in one stderr line, even with --quiet, naming the first item, its
// reason and the predictions file; the exit code stays 0.
func TestRunReportsFailedItems(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 4)
	imgs, _ := filepath.Glob(filepath.Join(opts.Data, "val", "*"))
	sort.Strings(imgs)
	if len(imgs) < 4 {
		t.Fatalf("demo data has %d images", len(imgs))
	}
	raw, err := os.ReadFile(imgs[1])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(imgs[1], raw[:len(raw)/3], 0o644)
	out := filepath.Join(dir, "out")
	code, _, stderr := runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--out", out)
	runDir := filepath.Join(out, "imagenet-zeroshot", "tiny-siglip")
	res, err := bench.ReadResult(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	pred := filepath.Join(runDir, res.Predictions)
	want := fmt.Sprintf("evalrun: imagenet-zeroshot/tiny-siglip: 1 of 4 items failed (first: val/%s: ", filepath.Base(imgs[1]))
	if code != 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, want) || !strings.HasSuffix(stderr, "; see "+pred+"\n") {
		t.Errorf("exit %d, stderr %q; want 0 and one line %q…%q", code, stderr, want, "; see "+pred)
	}
	if res.NSamples.Failed != 1 || res.NSamples.Scored != 3 || res.NSamples.Total != 4 {
		t.Errorf("n_samples %+v, want 1 failed of 4", res.NSamples)
	}
	// Resumed from the cache, the failure is still reported.
	if code, _, stderr = runCaptured(t, "run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--out", out); code != 0 || !strings.HasPrefix(stderr, want) {
		t.Errorf("rerun: exit %d, stderr %q", code, stderr)
	}
}

// demo refuses a non-positive --n or --batch and an --out it cannot make,
// up front, writing nothing.
func TestDemoRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "demo")
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--n", "0"}, "--n 0: want a positive number"},
		{[]string{"--n=-5"}, "--n -5: want a positive number"},
		{[]string{"--batch", "0"}, "--batch 0: want a positive batch size"},
	} {
		code, _, stderr := runCaptured(t, append([]string{"demo", "--quiet", "--out", out}, c.args...)...)
		runWantUsage(t, "demo "+strings.Join(c.args, " "), code, stderr, c.want)
	}
	runNotWritten(t, "demo", out)
	code, _, stderr := runCaptured(t, "demo", "--quiet", "--out", filepath.Join(file, "x"))
	runWantUsage(t, "demo --out under a file", code, stderr, "--out "+filepath.Join(file, "x")+": ")
}

// train-tiny and train-tiny-llava refuse negative or zero counts (0 only
// where the help says what it means) and an --out they cannot make, before
// training; a value equal to the old "default" sentinel -1 is no default.
func TestTrainTinyRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tt")
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train-tiny", "siglip", "--steps=-1"}, "--steps -1: expected a positive number"},
		{[]string{"train-tiny", "siglip", "--batch", "0"}, "--batch 0: expected a positive number"},
		{[]string{"train-tiny", "siglip", "--checkpoint-every=-1"}, "--checkpoint-every -1: expected 0 or a positive number"},
		{[]string{"train-tiny", "siglip", "--eval-images=-1"}, "--eval-images -1: expected 0 or a positive number"},
		{[]string{"train-tiny", "siglip", "--lr=-1"}, "--lr -1: expected a finite number > 0"},
		{[]string{"train-tiny", "siglip", "--lr", "Inf"}, "--lr +Inf: expected a finite number > 0"},
		{[]string{"train-tiny-llava", "--steps=-1"}, "--steps -1: expected a positive number"},
		{[]string{"train-tiny-llava", "--eval-per-kind=-1"}, "--eval-per-kind -1: expected 0 or more"},
	} {
		code, _, stderr := runCaptured(t, append(c.args, "--quiet", "--out", out)...)
		runWantUsage(t, strings.Join(c.args, " "), code, stderr, c.want)
	}
	runNotWritten(t, "train-tiny", out)
	for _, cmd := range [][]string{{"train-tiny", "siglip"}, {"train-tiny-llava"}} {
		code, _, stderr := runCaptured(t, append(cmd, "--quiet", "--steps", "1", "--out", filepath.Join(file, "x"))...)
		runWantUsage(t, cmd[0]+" --out under a file", code, stderr, "--out "+filepath.Join(file, "x")+": ")
	}
}

// ablation loads every input file before it trains or writes anything
// (recipe.json would lock --out), naming the flag; and a study folder of
// another recipe is refused naming the keys that differ, old → new.
func TestAblationChecksInputsFirst(t *testing.T) {
	dir := t.TempDir()
	tower, err := assets.Extract("tiny-siglip", filepath.Join(dir, "towers"))
	if err != nil {
		t.Fatal(err)
	}
	noTok := filepath.Join(dir, "notok")
	os.MkdirAll(noTok, 0o755)
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, _ := os.ReadFile(filepath.Join(tower, f))
		os.WriteFile(filepath.Join(noTok, f), b, 0o644)
	}
	out := filepath.Join(dir, "study")
	weightsNotInception := filepath.Join(tower, "model.safetensors")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--inception", filepath.Join(dir, "nope.pth")}, []string{"--inception: stat " + filepath.Join(dir, "nope.pth")}},
		{[]string{"--inception", weightsNotInception}, []string{"--inception: " + weightsNotInception + ": ", "not pytorch-fid's FID Inception weights"}},
		{[]string{"--lpips-vgg", filepath.Join(dir, "vgg.pth"), "--lpips-lin", filepath.Join(dir, "lin.pth")}, []string{"--lpips-vgg/--lpips-lin: ", filepath.Join(dir, "vgg.pth") + " not found"}},
		{[]string{"--tower", noTok}, []string{"--tower " + noTok + ": no spiece.model (SigLIP), tokenizer.model or tokenizer.json"}},
		{[]string{"--tower", weightsNotInception}, []string{"--tower " + weightsNotInception + ": a file"}},
		{[]string{"--steps=-1"}, []string{"--steps -1: expected a positive number"}},
		{[]string{"--gan-from", "NaN"}, []string{"--gan-from NaN"}},
	} {
		code, _, stderr := runCaptured(t, append([]string{"ablation", "--quiet", "--out", out, "--steps", "1", "--q-steps", "1", "--rows", "q"}, c.args...)...)
		runWantUsage(t, strings.Join(c.args, " "), code, stderr, c.want...)
	}
	runNotWritten(t, "ablation", out)

	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	code, _, stderr := runCaptured(t, "ablation", "--quiet", "--out", filepath.Join(file, "x"))
	runWantUsage(t, "ablation --out under a file", code, stderr, "--out "+filepath.Join(file, "x")+": ")

	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "recipe.json"), []byte(`{"steps":1,"q_steps":3}`), 0o644)
	code, _, stderr = runCaptured(t, "ablation", "--quiet", "--out", out, "--steps", "2", "--q-steps", "3")
	runWantUsage(t, "another recipe", code, stderr, "--out "+out+" was made with another recipe (recipe.json has ", "steps 1 → 2", "use a fresh --out")
	if strings.Contains(stderr, "{") || strings.Contains(stderr, "q_steps") {
		t.Errorf("another recipe: stderr %q shows more than the differing keys", stderr)
	}
}
