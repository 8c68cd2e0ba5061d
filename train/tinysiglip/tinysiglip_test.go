package tinysiglip

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/train"
	"github.com/dualtoken/evalharness/world"
)

func tsBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// TestSentencePieceRoundTrip writes the world's spiece.model to disk, loads
// it back with package tokenizer and checks: SigLIP's special layout, every
// caption and every template prompt encodes without <unk> and fits the
// preset's positions, whole words beat characters, unseen words are spelled.
func TestSentencePieceRoundTrip(t *testing.T) {
	data, _, err := SentencePiece()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spiece.model")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := tokenizer.LoadSentencePiece(path)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range []string{"<pad>", "</s>", "<unk>"} {
		if got := sp.IDToPiece(id); got != want {
			t.Errorf("piece %d = %q, want %q", id, got, want)
		}
	}
	if _, ok := sp.BOS(); ok || !slices.Equal(sp.EOS(), []int{1}) || sp.UnkID() != 2 {
		t.Errorf("specials: bos present %v, eos %v, unk %d; want none, [1], 2", ok, sp.EOS(), sp.UnkID())
	}
	maxLen, err := CheckCoverage(sp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Preset(sp.VocabSize())
	if maxLen > cfg.Text.MaxPositions || maxLen < 5 {
		t.Errorf("longest text %d ids; the preset has %d positions", maxLen, cfg.Text.MaxPositions)
	}
	tok := tokenizer.NewSiglip(sp, cfg.Text.MaxPositions)
	// Every template word and class word is one piece: "a photo of the
	// hard to see red triangle." is 9 words + eos, then padding with eos.
	ids, _ := tok.Encode("A photo of the hard to see red triangle.")
	if len(ids) != cfg.Text.MaxPositions || ids[9] != 1 || ids[8] != sp.PieceToID("▁triangle") || slices.Contains(ids, sp.UnkID()) {
		t.Errorf("template ids %v", ids)
	}
	caption := world.Generate(3, 0).Captions()[1]
	ids, _ = tok.Encode(caption)
	if n := slices.Index(ids, 1); n != len(strings.Fields(caption)) {
		t.Errorf("%q: %d pieces before eos, want one per word (%v)", caption, n, ids)
	}
	ids, _ = sp.Encode("zebra")
	if slices.Contains(ids, sp.UnkID()) || len(ids) != 6 { // ▁ z e b r a
		t.Errorf("unseen word zebra = %v, want 6 character pieces", ids)
	}
}

// evalLoss is the sigmoid loss of a fixed batch under the store's weights.
func evalLoss(t *testing.T, b compute.Backend, store *model.Store, cfg *siglip.Config, batch []*tensors.Tensor) float64 {
	t.Helper()
	out, err := model.CallOnce(b, store, func(root *model.Scope, px, ids *Node) *Node {
		l, _ := SigmoidLoss(root, cfg, px, ids)
		return l
	}, batch[0], batch[1])
	if err != nil {
		t.Fatal(err)
	}
	return float64(tensors.ToScalar[float32](out))
}

func smallTask(t *testing.T, seed uint64, batch int) (*Task, []byte) {
	t.Helper()
	data, sp, err := SentencePiece()
	if err != nil {
		t.Fatal(err)
	}
	task, err := NewTask(Preset(sp.VocabSize()), sp, seed, batch)
	if err != nil {
		t.Fatal(err)
	}
	return task, data
}

// TestTrainingReducesLoss: 40 steps of the shipped recipe's optimiser on
// batches of 32 lower the loss of a fixed, unseen batch by a third.
func TestTrainingReducesLoss(t *testing.T) {
	b := tsBackend(t)
	task, _ := smallTask(t, 5, 32)
	store, err := NewModel(task.Config, 5)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := (&Task{Config: task.Config, Tok: task.Tok, Seed: 6, BatchSize: 32}).Batch(0)
	if err != nil {
		t.Fatal(err)
	}
	before := evalLoss(t, b, store, task.Config, probe)
	o := DefaultOptions()
	tr, err := train.New(b, store, task, train.Config{Steps: 40, LearningRate: o.LearningRate, WarmupSteps: 5,
		WeightDecay: o.WeightDecay, Beta2: o.Beta2, ClipGradNorm: o.ClipGradNorm})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	after := evalLoss(t, b, store, task.Config, probe)
	t.Logf("held-out batch loss %.3f -> %.3f", before, after)
	if !(after < before*2/3) {
		t.Fatalf("held-out batch loss %.3f -> %.3f after 40 steps; expected a drop of at least a third", before, after)
	}
}

// TestResumeMatchesUninterrupted: the SigLIP task trained 6 steps straight
// and 3 + (save, fresh process state, resume) 3 ends with identical weights
// and optimizer state.
func TestResumeMatchesUninterrupted(t *testing.T) {
	b := tsBackend(t)
	task, _ := smallTask(t, 7, 8)
	cfg := train.Config{Steps: 6, LearningRate: 2e-3, WarmupSteps: 1, WeightDecay: 1e-4, ClipGradNorm: 1, CheckpointEvery: 3}
	run := func(dir string, stopAt int) (*model.Store, []float64) {
		store, err := NewModel(task.Config, 7)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Dir = dir
		tr, err := train.New(b, store, task, c)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Resume(); err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for tr.Done() < stopAt {
			r, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, r.Loss)
		}
		if err := tr.Save(); err != nil {
			t.Fatal(err)
		}
		return store, losses
	}
	full, want := run(filepath.Join(t.TempDir(), "a"), 6)
	dir := filepath.Join(t.TempDir(), "b")
	_, first := run(dir, 3)
	resumed, rest := run(dir, 6)
	if got := append(first, rest...); !slices.Equal(got, want) {
		t.Errorf("losses\n got %v\nwant %v", got, want)
	}
	n := 0
	for v := range full.IterVariables() {
		w, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		rv := resumed.GetVariable(v.Path())
		if rv == nil {
			t.Errorf("resumed run has no %s", v.Path())
			continue
		}
		g, _ := rv.Value()
		if !w.Equal(g) {
			t.Errorf("variable %s differs after resuming", v.Path())
		}
		n++
	}
	if n < len(siglip.Table(task.Config))*3 { // weights + two Adam moments each
		t.Errorf("compared only %d variables", n)
	}
}

// TestExportRoundTrip exports a (briefly trained) store, reloads it with
// siglip.Load and checks with model/verify that every output of the
// reloaded directory equals the training store's (the HF name table read
// backwards, with shapes), and that the bench adapter accepts it.
func TestExportRoundTrip(t *testing.T) {
	b := tsBackend(t)
	task, spData := smallTask(t, 9, 4)
	store, err := NewModel(task.Config, 9)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(b, store, task, train.Config{Steps: 2, LearningRate: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	dir := t.TempDir()
	if err := Export(dir, store, task.Config, spData, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := siglip.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vision != task.Config.Vision || *cfg.Text != *task.Config.Text {
		t.Errorf("config.json reads back as\n%+v %+v\nwant\n%+v %+v", cfg.Vision, *cfg.Text, task.Config.Vision, *task.Config.Text)
	}
	batch, err := task.Batch(3)
	if err != nil {
		t.Fatal(err)
	}
	trained := &siglip.Model{Config: task.Config, Store: store}
	outs, err := trained.Forward(b, batch[0], batch[1])
	if err != nil {
		t.Fatal(err)
	}
	var golden []*weights.Tensor
	for name, tt := range outs {
		w, err := weights.FromGoMLX(name, tt)
		if err != nil {
			t.Fatal(err)
		}
		golden = append(golden, w)
	}
	for i, name := range []string{"pixel_values", "input_ids"} {
		w, err := weights.FromGoMLX(name, batch[i])
		if err != nil {
			t.Fatal(err)
		}
		golden = append(golden, w)
	}
	gpath := filepath.Join(t.TempDir(), "golden.safetensors")
	if err := weights.WriteSafetensors(gpath, golden, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Run(b, dir, gpath, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Compared != len(outs) {
		t.Fatalf("verify: ok %v, compared %d of %d outputs, failed %d", rep.OK, rep.Compared, len(outs), rep.Failed)
	}
	if _, err := bench.NewModel(bench.ModelSpec{Kind: "siglip", Path: dir}, b); err != nil {
		t.Fatalf("bench adapter: %v", err)
	}
	// A tensor missing from the export is reported by name.
	os.Remove(filepath.Join(dir, "model.safetensors"))
	ts, _ := HFWeights(store, task.Config)
	if err := weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts[1:], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := siglip.Load(dir); err == nil || !strings.Contains(err.Error(), ts[0].Name) {
		t.Errorf("loading without %s: error %v", ts[0].Name, err)
	}
}

// TestBadInput: the task and the trainer refuse unusable settings.
func TestBadInput(t *testing.T) {
	_, sp, err := SentencePiece()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTask(Preset(sp.VocabSize()), sp, 1, 1); err == nil || !strings.Contains(err.Error(), "batch 1") {
		t.Errorf("batch 1: error %v", err)
	}
	if _, err := NewTask(Preset(sp.VocabSize()-1), sp, 1, 8); err == nil || !strings.Contains(err.Error(), "embeddings") {
		t.Errorf("small vocabulary: error %v", err)
	}
	o := DefaultOptions()
	o.Out, o.Seed = t.TempDir(), EvalSeed
	if _, err := Train(context.Background(), tsBackend(t), o, nil); err == nil || !strings.Contains(err.Error(), "held-out") {
		t.Errorf("training on the evaluation seed: error %v", err)
	}
	o.Seed, o.PatchSize = 1, 7
	if _, err := Train(context.Background(), tsBackend(t), o, nil); err == nil || !strings.Contains(err.Error(), "patch size 7") {
		t.Errorf("patch 7: error %v", err)
	}
}

// shippedFloor is the regression guard on the committed model: its top-1
// zero-shot accuracy on the first 48 held-out world scenes (openai80
// templates, 24 classes, chance 4.2%) must stay at or above this. The
// committed model scored 47/48 there and 99.2% on 480 scenes when it was
// trained (its training.json); the floor leaves room for arithmetic
// differences between backends, not for a broken pipeline (a colour-only
// model, the failure mode seen while tuning, scores about 25%).
const shippedFloor = 85.0

// TestShippedTinySiglip loads assets/models/tiny-siglip through the bench
// adapter (as `evalrun demo` does) and measures held-out zero-shot accuracy.
func TestShippedTinySiglip(t *testing.T) {
	dir := filepath.Join("..", "..", "assets", "models", "tiny-siglip")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Fatalf("shipped model missing: %v", err)
	}
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if e.IsDir() {
			t.Errorf("shipped model has a folder %s (a leftover checkpoint?)", e.Name())
		}
		total += info.Size()
	}
	if total > 2_000_000 {
		t.Errorf("shipped model is %d bytes, over the 2 MB budget", total)
	}
	raw, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := raw.ModelType(); mt != "siglip" {
		t.Errorf("model_type %q", mt)
	}
	b := tsBackend(t)
	m, err := bench.NewModel(bench.ModelSpec{Kind: "siglip", Path: dir}, b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ZeroShot(context.Background(), m.(bench.Embedder), EvalSeed, 48)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Top1 < shippedFloor {
		t.Fatalf("%v: below the floor %.0f%%", res, shippedFloor)
	}
}

// TestTrainReusesFinishedRun: running Train again on a finished folder with
// the same recipe returns its training.json without training; another
// recipe (more steps) trains anew.
func TestTrainReusesFinishedRun(t *testing.T) {
	o := DefaultOptions()
	o.Out, o.Steps, o.Batch, o.WarmupSteps, o.EvalImages, o.CheckpointEvery = t.TempDir(), 2, 4, 1, 0, 1
	b := tsBackend(t)
	steps := 0
	count := func(train.Result) { steps++ }
	first, err := Train(context.Background(), b, o, count)
	if err != nil || first.Reused || steps != 2 {
		t.Fatalf("first run: %+v, %v, %d steps", first, err, steps)
	}
	steps = 0
	again, err := Train(context.Background(), b, o, count)
	if err != nil || !again.Reused || steps != 0 || again.FinalLoss != first.FinalLoss {
		t.Errorf("same recipe: reused %v, %d steps, loss %v vs %v, %v", again != nil && again.Reused, steps, again.FinalLoss, first.FinalLoss, err)
	}
	o.Steps = 3
	more, err := Train(context.Background(), b, o, count)
	if err != nil || more.Reused || steps != 3 {
		t.Errorf("another recipe: reused %v, %d steps, %v", more != nil && more.Reused, steps, err)
	}
}
