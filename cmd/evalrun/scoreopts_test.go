package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

// score may change a scoring option (pope's rule) but not one that decided
// the saved predictions (the prompt, the token budget): those need a new run.
func TestScoreRefusesPredictionOptions(t *testing.T) {
	res := popeDemoRun(t, t.TempDir())
	for _, c := range []struct {
		opt  string
		code int
		want string
	}{
		{"rule=vlmevalkit", 0, ""},
		{"prompt=plain", 2, `--opt prompt=plain: prompt decides the predictions, which were made with prompt="llava": rerun the model (evalrun run); score changes only scoring options (splits, rule, images)`},
		{"max_new_tokens=5", 2, "max_new_tokens decides the predictions"},
		{"prompt=llava", 0, ""}, // the value the run used
	} {
		code, _, stderr := runCaptured(t, "score", res, "--opt", c.opt)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("score --opt %s: exit %d, %q; want %d and %q", c.opt, code, stderr, c.code, c.want)
		}
	}
}

// popeDemoRun runs pope on a small demo bundle under dir with a model that
// always answers yes, returning the results.json path.
func popeDemoRun(t *testing.T, dir string) string {
	t.Helper()
	writer, _ := bench.Demo("pope")
	opts, err := writer(filepath.Join(dir, "data"), 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	task, err := bench.New("pope", opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.RunConfig{OutDir: filepath.Join(dir, "results")}
	m := qatest.Const{Text: "Yes, there is."}
	if _, err := bench.Run(context.Background(), task, m, cfg); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bench.RunDir(cfg, task, m.Info()), "results.json")
}
