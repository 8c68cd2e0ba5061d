package models

import (
	"slices"
	"testing"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
)

// Every kind declares its model type, and the declared capabilities are
// those of the model its factory builds: `evalrun run` refuses a task by
// the declaration, before loading, where CanRun would refuse it after.
func TestKindCapabilitiesMatchLoadedModels(t *testing.T) {
	shipped := map[string]string{"siglip": "tiny-siglip", "dualtoken": "tiny-dualtoken", "llava": "tiny-llava"}
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	for _, kind := range bench.ModelKinds() {
		caps, ok := bench.KindCapabilities(kind)
		if !ok || len(caps) == 0 {
			t.Errorf("kind %s: declared capabilities %v, %v (RegisterModelType missing?)", kind, caps, ok)
			continue
		}
		name, ok := shipped[kind]
		if !ok {
			t.Errorf("kind %s: no shipped model to check it against", kind)
			continue
		}
		if !assets.Has(name) {
			t.Fatalf("assets/models/%s is not shipped", name)
		}
		dir, err := assets.Extract(name, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m, err := bench.NewModel(bench.ModelSpec{Name: name, Kind: kind, Path: dir}, b)
		if err != nil {
			t.Fatal(err)
		}
		if got := bench.Capabilities(m); !slices.Equal(got, caps) {
			t.Errorf("kind %s: loaded model has %v, declared %v", kind, got, caps)
		}
	}
	if got, want := bench.KindsWith(bench.NeedsReconstructor), []string{"dualtoken"}; !slices.Equal(got, want) {
		t.Errorf("KindsWith(reconstructor) = %v, want %v", got, want)
	}
}
