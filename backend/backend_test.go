package backend

import (
	"fmt"
	"runtime"
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
		err := Check(spec)
		switch {
		case xlaBuilt || strings.HasPrefix(spec, "go"):
			if err != nil {
				t.Errorf("Check(%q): %v", spec, err)
			}
		// A build without XLA (CGO_ENABLED=0 or -tags noxla) refuses the
		// XLA backends in one line that says how to get them.
		case err == nil || !strings.Contains(err.Error(), "built without XLA") || !strings.Contains(err.Error(), "CGO_ENABLED=1") ||
			!strings.Contains(err.Error(), "--backend go") || strings.Contains(err.Error(), "\n"):
			t.Errorf("Check(%q) without XLA: %v", spec, err)
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

// TestBackendMessagesInUserTerms: a misspelt Go option, an xladry target
// other than cuda or cpu, and an XLA plugin that is not installed are
// refused by the global check (where it can tell) and by New with the same
// one line, saying which backends and options exist and how to select them,
// not Go import paths or "see code for documentation".
func TestBackendMessagesInUserTerms(t *testing.T) {
	t.Setenv(EnvAutoInstall, "")
	for spec, want := range map[string][]string{
		"go:nonsense":          {`unknown Go backend option "nonsense"`, "ops_sequential", "parallelism=N", "go:ops_sequential"},
		"go:parallelism=x":     {"parallelism wants a whole number", `"x"`},
		"xladry:tpu":           {"xladry:cuda", "xladry:cpu"},
		"xla:nosuchplugin_abc": {`no XLA PJRT plugin "nosuchplugin_abc"`, "--backend xla:/path/to/xla_cuda_plugin.so", EnvAutoInstall + "=1", "--backend go"},
	} {
		if !xlaBuilt && !strings.HasPrefix(spec, "go") {
			continue // TestCheckAcceptsKnownBackends checks how a build without XLA refuses these
		}
		_, err := New(spec)
		if err == nil {
			t.Errorf("New(%q): no error", spec)
			continue
		}
		msg := err.Error()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("New(%q) = %q, want it to contain %q", spec, msg, w)
			}
		}
		for _, bad := range []string{"import _", "see code", "\n"} {
			if strings.Contains(msg, bad) {
				t.Errorf("New(%q) = %q: contains %q", spec, msg, bad)
			}
		}
		if !strings.HasPrefix(spec, "xla:") { // a plugin name is only known missing when loading
			if cerr := Check(spec); cerr == nil || cerr.Error() != msg {
				t.Errorf("Check(%q) = %v, want New's error", spec, cerr)
			}
		}
	}
	for _, spec := range []string{"go:parallelism=2,ops_sequential", "go:parallelism=-1", "go:ops_sequential=1", "go:", "xladry:cpu"} {
		if err := Check(spec); err != nil && (xlaBuilt || strings.HasPrefix(spec, "go")) {
			t.Errorf("Check(%q): %v", spec, err)
		}
	}
}

// The plain Go backend runs at most one op executor per core, so that its
// worker pool (2×GOMAXPROCS slots) keeps room for a matrix product's own
// workers; a spec with options is left as given.
func TestGoDefaultsLeaveWorkersForProducts(t *testing.T) {
	for _, procs := range []int{1, 2, 4, 16} {
		old := runtime.GOMAXPROCS(procs)
		got := goDefaults("go")
		runtime.GOMAXPROCS(old)
		var n int
		if _, err := fmt.Sscanf(got, "go:num_executors=%d", &n); err != nil || n < 1 || n > procs || n > 8 {
			t.Errorf("GOMAXPROCS %d: %q", procs, got)
		}
	}
	for _, spec := range []string{"go:ops_sequential", "go:parallelism=-1", "xla:cuda"} {
		if got := goDefaults(spec); got != spec {
			t.Errorf("goDefaults(%q) = %q", spec, got)
		}
	}
}
