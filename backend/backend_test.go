package backend

import (
	"strings"
	"testing"
)

func TestGoBackendIsDefault(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.Contains(strings.ToLower(b.Name()), "go") {
		t.Errorf("default backend = %q, want the Go backend", b.Name())
	}
}

func TestBadBackendsGiveOneLineErrors(t *testing.T) {
	for _, spec := range []string{"nosuch", "xla:/nonexistent/xla_cuda_plugin.so", "xla:relative/plugin.so"} {
		_, err := New(spec)
		if err == nil {
			t.Fatalf("New(%q): want error", spec)
		}
		if cerr := Check(spec); cerr == nil || cerr.Error() != err.Error() {
			t.Errorf("Check(%q) = %v, want New's error %v", spec, cerr, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%q): error spans lines: %q", spec, err)
		}
	}
}

func TestCheckAcceptsKnownBackends(t *testing.T) {
	for _, spec := range []string{"go", "go:ops_sequential", "xla:cpu", "xla:cuda", "xladry", "xladry:cuda"} {
		if err := Check(spec); err != nil {
			t.Errorf("Check(%q): %v", spec, err)
		}
	}
}

func TestForLoops(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	for in, want := range map[string]string{"": "go:ops_sequential", "go": "go:ops_sequential", "go:ops_sequential": "go:ops_sequential", "xla:cuda": "xla:cuda"} {
		if got := ForLoops(in); got != want {
			t.Errorf("ForLoops(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFusedAttentionChoice(t *testing.T) {
	b, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	for env, want := range map[string]bool{"": false, "auto": false, "fused": true, "decomposed": false} {
		t.Setenv(EnvAttention, env)
		if got := FusedAttention(b); got != want {
			t.Errorf("%s=%q on the Go backend: fused %v, want %v", EnvAttention, env, got, want)
		}
	}
	t.Setenv(EnvAttention, "flash")
	if _, err := New("go"); err == nil || !strings.Contains(err.Error(), EnvAttention) {
		t.Errorf("%s=flash: %v, want an error naming the variable", EnvAttention, err)
	}
}
