package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// score re-scores only what the predictions were made from: a moved data
// folder is followed (with the class names inside it), an edited class-name
// list is refused.
func TestScoreChecksRecordedInputs(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 8)
	out := filepath.Join(dir, "out")
	if code := run([]string{"run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--out", out}); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	res := filepath.Join(out, "imagenet-zeroshot", "tiny-siglip", "results.json")
	first, err := bench.ReadResult(res)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(opts.Data, moved); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCaptured(t, "score", res); code != 2 || !strings.Contains(stderr, "pass --data DIR") {
		t.Errorf("score after the data moved: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCaptured(t, "score", res, "--data", moved); code != 0 {
		t.Fatalf("score --data MOVED: exit %d, %q", code, stderr)
	}
	again, _ := bench.ReadResult(res)
	if again.Metrics["top1"] != first.Metrics["top1"] || again.Protocol["classnames"] != filepath.Join(moved, "classnames.txt") {
		t.Errorf("rescored %v %v, run %v", again.Metrics, again.Protocol["classnames"], first.Metrics)
	}
	names := filepath.Join(moved, "classnames.txt")
	b, _ := os.ReadFile(names)
	os.WriteFile(names, append([]byte("z"), b...), 0o644)
	if code, _, stderr := runCaptured(t, "score", res, "--data", moved); code != 2 || !strings.Contains(stderr, "protocol classnames_sha256 was") {
		t.Errorf("score after classnames.txt changed: exit %d, %q", code, stderr)
	}
}

// recon's save option writes images while predicting: a rerun asking for
// them predicts again (a cached run never wrote them), and score refuses it.
func TestReconSaveIsNotAScoringOption(t *testing.T) {
	dir := t.TempDir()
	writer, _ := bench.Demo("recon")
	opts, err := writer(filepath.Join(dir, "data"), 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	model := extractModel(t, "tiny-dualtoken", dir)
	out := filepath.Join(dir, "out")
	args := []string{"run", "--quiet", "--task", "recon", "--data", opts.Data, "--model-kind", "dualtoken", "--model", model, "--out", out}
	if code := run(args); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	save := filepath.Join(dir, "saved")
	if code := run(append(args, "--opt", "save="+save)); code != 0 {
		t.Fatalf("run with save: exit %d", code)
	}
	pngs, _ := filepath.Glob(filepath.Join(save, "*", "*.png"))
	pngs2, _ := filepath.Glob(filepath.Join(save, "*.png"))
	if len(pngs)+len(pngs2) != 4 {
		t.Errorf("save wrote %d images, want 4", len(pngs)+len(pngs2))
	}
	res := filepath.Join(out, "recon", "tiny-dualtoken", "results.json")
	if code, _, stderr := runCaptured(t, "score", res, "--opt", "save="+filepath.Join(dir, "other")); code != 2 || !strings.Contains(stderr, "save decides the predictions") {
		t.Errorf("score --opt save: exit %d, %q", code, stderr)
	}
}
