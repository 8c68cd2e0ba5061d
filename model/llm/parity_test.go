package llm

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// parity runs the verify runner on a fixture folder and requires every
// golden output (logits, each hidden state, generated_ids) to be compared and
// to match within the fixtures README's tolerance (ints exactly).
func parity(t *testing.T, name string) {
	dir := fixtures.Dir(t, name)
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	goldenPath := filepath.Join(dir, "golden.safetensors")
	rep, err := verify.Run(b, dir, goldenPath, 1e-4, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"logits": true, "generated_ids": true}
	for i := 0; i <= cfg.NumLayers; i++ {
		want[fmt.Sprintf("hidden_states.%d", i)] = true
	}
	golden, err := weights.OpenSafetensors(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	for n := range want {
		if !golden.Has(n) {
			t.Errorf("golden file lacks %q", n)
		}
	}
	for _, r := range rep.Rows {
		t.Logf("%-18s %-12s %-9s max|Δ| %.3g ratio %.3g %s", r.Name, fmt.Sprint(r.Shape), r.Status, r.MaxAbsErr, r.WorstRatio, r.Note)
		if want[r.Name] && r.Status != "compared" {
			t.Errorf("%s was %s, not compared", r.Name, r.Status)
		}
		if !r.OK {
			t.Errorf("%s differs: max|Δ| %.3g, worst |Δ|/tol %.3g %s", r.Name, r.MaxAbsErr, r.WorstRatio, r.Note)
		}
	}
	if !rep.OK || rep.Compared < len(want) {
		t.Errorf("report: %d compared (want ≥ %d), %d failed", rep.Compared, len(want), rep.Failed)
	}
}

func TestParityQwen2(t *testing.T) { parity(t, "qwen2") }
func TestParityLlama(t *testing.T) { parity(t, "llama") }
