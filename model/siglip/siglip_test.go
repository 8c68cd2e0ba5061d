package siglip

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

func newBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// TestParitySiglip runs the fixture model on the golden inputs and compares
// every golden output at the README's tolerance; every golden key must be an
// input or compared (none skipped), and the hidden-state count must match the
// config's layer counts.
func TestParitySiglip(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	goldenPath := filepath.Join(dir, "golden.safetensors")
	rep, err := verify.Run(newBackend(t), dir, goldenPath, 1e-4, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range rep.Rows {
		status[r.Name] = r.Status
		switch r.Status {
		case "compared":
			if !r.OK {
				t.Errorf("%s %v: max |Δ| %.3g, worst ratio %.3g %s", r.Name, r.Shape, r.MaxAbsErr, r.WorstRatio, r.Note)
			} else {
				t.Logf("%s %v: max |Δ| %.3g (ratio %.3g)", r.Name, r.Shape, r.MaxAbsErr, r.WorstRatio)
			}
		case "input":
			if r.Name != "pixel_values" && r.Name != "input_ids" {
				t.Errorf("%s reported as an input", r.Name)
			}
		default:
			t.Errorf("golden tensor %s was %s", r.Name, r.Status)
		}
	}
	// The expected outputs follow from the config, whatever the golden holds.
	want := []string{OutVisionLast, OutVisionPooled, OutTextLast, OutTextPooled, OutImageEmbeds, OutTextEmbeds, OutLogits}
	for i := 0; i <= cfg.Vision.NumLayers; i++ {
		want = append(want, fmt.Sprintf(OutVisionHidden, i))
	}
	for i := 0; i <= cfg.Text.NumLayers; i++ {
		want = append(want, fmt.Sprintf(OutTextHidden, i))
	}
	for _, n := range want {
		if status[n] != "compared" {
			t.Errorf("expected output %s not compared (status %q)", n, status[n])
		}
	}
	if !rep.OK {
		t.Errorf("%d of %d tensors differ", rep.Failed, rep.Compared)
	}
}

// TestCoverage proves the name table consumes every key of the fixture
// checkpoint (or ignores it deliberately), and that it reads every tensor
// the table lists.
func TestCoverage(t *testing.T) {
	dir := fixtures.Dir(t, "siglip")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := weights.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	m, err := LoadFrom(cfg, set) // runs CheckConsumed
	if err != nil {
		t.Fatal(err)
	}
	table := Table(cfg)
	if got := m.Store.NumVariables(); got != len(table) {
		t.Errorf("store has %d variables, table %d", got, len(table))
	}
	if len(table) != len(set.Names()) {
		t.Errorf("table lists %d tensors, checkpoint holds %d", len(table), len(set.Names()))
	}
}
