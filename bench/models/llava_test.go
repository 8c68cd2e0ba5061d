package models

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/pope"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/llava/llavatest"
	"github.com/dualtoken/evalharness/world"
)

func buildLlava(t *testing.T) string {
	t.Helper()
	dir, err := llavatest.Build(t.TempDir(), llavatest.Options{
		Tower: fixtures.Dir(t, "siglip"), LM: fixtures.Dir(t, "llama"), Template: llava.TemplateVicunaV1, Seed: 3,
		Texts: []string{
			"A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:",
			world.ObjectQuestion("red", "circle"), "yes no",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLlavaAnswerer drives the tiny LLaVA through bench.NewModel and the
// Answerer interface, and checks that its answers are those of model/llava.
func TestLlavaAnswerer(t *testing.T) {
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	dir := buildLlava(t)
	m, err := bench.NewModel(bench.ModelSpec{Name: "tiny", Kind: "llava", Path: dir, Extra: map[string]string{"max_batch": "2"}}, b)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := m.(bench.Answerer)
	if !ok {
		t.Fatalf("%T is not a bench.Answerer", m)
	}
	info := m.Info()
	if info.Name != "tiny" || len(info.ConfigSHA256) != 64 || len(info.WeightsSHA256) != 64 {
		t.Fatalf("info %+v", info)
	}
	img := world.Generate(1, 0).Image(32)
	q := world.ObjectQuestion("red", "circle")
	qs := []bench.Question{
		{Images: []*imageio.Image{img}, Prompt: q, MaxNewTokens: 4},
		{Images: []*imageio.Image{world.Generate(1, 1).Image(32)}, Prompt: q, MaxNewTokens: 4},
		{Images: []*imageio.Image{img}, Prompt: "How many?", MaxNewTokens: 2},
	}
	got, err := a.Answer(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := llava.Load(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, bq := range qs {
		want, err := direct.Answer(context.Background(), []llava.Query{{Images: bq.Images, Prompt: bq.Prompt, MaxNewTokens: bq.MaxNewTokens}})
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want[0] {
			t.Fatalf("question %d: adapter %q, model/llava %q", i, got[i], want[0])
		}
	}
	nll, err := a.MeanNLL(context.Background(), bench.Question{Images: []*imageio.Image{img}, Prompt: q}, []string{"yes", "no"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := direct.MeanNLL(context.Background(), llava.Query{Images: []*imageio.Image{img}, Prompt: q}, []string{"yes", "no"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nll, want) || nll[0] <= 0 || nll[0] == nll[1] {
		t.Fatalf("MeanNLL %v, model/llava %v", nll, want)
	}

	// Identity follows the weights; bad options are refused.
	if err := llavatest.WriteProjector(filepath.Join(dir, "mm_projector.safetensors"), direct.Tower.Vision.HiddenSize, direct.LLM.Config.HiddenSize, 99); err != nil {
		t.Fatal(err)
	}
	info2, err := LlavaIdentity(bench.ModelSpec{Path: dir}, direct.Config)
	if err != nil {
		t.Fatal(err)
	}
	if info2.WeightsSHA256 == info.WeightsSHA256 || info2.ConfigSHA256 != info.ConfigSHA256 || info2.Name != filepath.Base(dir) {
		t.Fatalf("identity after a projector change: %+v, before %+v", info2, info)
	}
	_, err = bench.NewModel(bench.ModelSpec{Kind: "llava", Path: dir, Extra: map[string]string{"max_batch": "0"}}, b)
	if err == nil || !strings.Contains(err.Error(), "max_batch") {
		t.Fatalf("max_batch 0: %v", err)
	}
	_, err = bench.NewModel(bench.ModelSpec{Kind: "llava", Path: filepath.Join(dir, "missing")}, b)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing folder: %v", err)
	}
}

// TestLlavaRunsPOPE runs the POPE suite on its demo layout end to end with
// the tiny (untrained) LLaVA: every question is asked and scored, results
// are written, and a rerun is served from the prediction cache.
func TestLlavaRunsPOPE(t *testing.T) {
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bench.NewModel(bench.ModelSpec{Name: "tiny-llava", Kind: "llava", Path: buildLlava(t)}, b)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	const nImages = 3
	if err := pope.WriteDemo(data, 5, 100, nImages, 24); err != nil {
		t.Fatal(err)
	}
	task, err := bench.New(pope.Name, bench.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := bench.Run(context.Background(), task, m, bench.RunConfig{OutDir: out, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.NSamples; n.Total != 3*2*nImages || n.Scored != n.Total || n.Failed != 0 {
		t.Fatalf("n_samples %+v", n)
	}
	if _, err := os.Stat(filepath.Join(bench.RunDir(bench.RunConfig{OutDir: out}, task, m.Info()), "results.json")); err != nil {
		t.Fatal(err)
	}
	again, err := bench.Run(context.Background(), task, m, bench.RunConfig{OutDir: out, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if again.Run.Computed != 0 || again.Run.Cached != res.NSamples.Total {
		t.Fatalf("rerun computed %d, cached %d", again.Run.Computed, again.Run.Cached)
	}
	for k, v := range res.Metrics {
		if again.Metrics[k] != v {
			t.Fatalf("metric %s: %g then %g", k, v, again.Metrics[k])
		}
	}
}
