package main

import "testing"

// A misspelt backend is refused by every command, even one that needs no
// backend, with one line naming where the value came from.
func TestBackendRefusedNamingItsSource(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "nonsense")
	code, _, stderr := runCaptured(t, "tasks")
	if code != 2 {
		t.Errorf("$GOMLX_BACKEND=nonsense tasks: exit %d", code)
	}
	oneLine(t, "env", stderr, `$GOMLX_BACKEND=nonsense: unknown backend "nonsense"`)
	t.Setenv("GOMLX_BACKEND", "")
	code, _, stderr = runCaptured(t, "--backend", "go:nonsense", "tasks")
	if code != 2 {
		t.Errorf("--backend go:nonsense tasks: exit %d", code)
	}
	oneLine(t, "flag", stderr, `--backend=go:nonsense: unknown Go backend option "nonsense"`)
}
