package tinysiglip

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/models"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/train"
)

// Options configures a training run. DefaultOptions gives the recipe of the
// shipped model.
type Options struct {
	Out             string // model directory written at the end (HF layout)
	Steps           int
	Seed            uint64 // world seed of the training scenes and weight init
	Batch           int
	LearningRate    float64
	MinLearningRate float64
	WarmupSteps     int
	WeightDecay     float64
	Beta2           float64
	ClipGradNorm    float64
	CheckpointEvery int
	KeepCheckpoint  bool           // keep Out/checkpoint after the export
	EvalImages      int            // held-out scenes for the final zero-shot (0: skip)
	PatchSize       int            // overrides the preset's vision patch size (0: keep it)
	Config          *siglip.Config // nil: Preset
}

// DefaultOptions is the shipped recipe.
func DefaultOptions() Options {
	return Options{
		Steps: 1200, Seed: 1, Batch: 64,
		LearningRate: 2e-3, MinLearningRate: 2e-5, WarmupSteps: 60,
		WeightDecay: 1e-4, Beta2: 0.98, ClipGradNorm: 1,
		CheckpointEvery: 100, EvalImages: 480,
	}
}

// Record is training.json, written beside the exported model.
type Record struct {
	Config         json.RawMessage `json:"config"`
	Steps          int             `json:"steps"`
	Seed           uint64          `json:"seed"`
	Batch          int             `json:"batch"`
	Optimizer      map[string]any  `json:"optimizer"`
	ResumedAt      int             `json:"resumed_at_step"`
	WallSeconds    float64         `json:"wall_seconds"`     // this invocation's training time
	StepsPerSecond float64         `json:"steps_per_second"` // over this invocation's steps
	FinalLoss      float64         `json:"final_loss"`       // mean over this invocation's last <= 50 steps
	// Reused is set when Out already held a model trained with this recipe
	// (its training.json), which Train then returns without training.
	Reused     bool            `json:"-"`
	Backend    string          `json:"backend"`
	ZeroShot   *ZeroShotResult `json:"zero_shot,omitempty"`
	Parameters int             `json:"parameters"`
	Losses     []float64       `json:"loss_every_10_steps"`
	Extra      map[string]any  `json:"extra,omitempty"`
}

// trainedEarlier returns Out's training.json when it records a finished
// run of this recipe (steps, seed, batch, model config, optimizer settings,
// zero-shot evaluation size) beside an exported model: running the command
// again then reuses it, as the ablation reuses its finished rows. Another
// recipe trains anew.
func trainedEarlier(o Options, cfg *siglip.Config) *Record {
	b, err := os.ReadFile(filepath.Join(o.Out, "training.json"))
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(o.Out, "model.safetensors")); err != nil {
		return nil
	}
	var prev Record
	if json.Unmarshal(b, &prev) != nil {
		return nil
	}
	cfgJSON, err := ConfigJSON(cfg)
	if err != nil || !jsonEqual(prev.Config, cfgJSON) || prev.Steps != o.Steps || prev.Seed != o.Seed || prev.Batch != o.Batch {
		return nil
	}
	for k, v := range map[string]float64{"lr": o.LearningRate, "min_lr": o.MinLearningRate, "warmup_steps": float64(o.WarmupSteps),
		"weight_decay": o.WeightDecay, "beta2": o.Beta2, "clip_grad_norm": o.ClipGradNorm} {
		if got, ok := prev.Optimizer[k].(float64); !ok || got != v {
			return nil
		}
	}
	if evaluated := prev.ZeroShot != nil && prev.ZeroShot.N == o.EvalImages; !evaluated && !(o.EvalImages == 0 && prev.ZeroShot == nil) {
		return nil
	}
	prev.Reused = true
	return &prev
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// CheckpointDir is where Train keeps its resumable state.
func CheckpointDir(out string) string { return filepath.Join(out, "checkpoint") }

// Train trains (or resumes) the tiny SigLIP, exports it to o.Out, measures
// held-out zero-shot accuracy through the bench adapter (the path the demo
// uses) and writes training.json. onStep (may be nil) sees every step; the
// first call tells how many steps were already done (r.Step-1).
func Train(ctx context.Context, b compute.Backend, o Options, onStep func(train.Result)) (*Record, error) {
	if o.Out == "" {
		return nil, fmt.Errorf("tinysiglip: no output directory")
	}
	if o.Seed == EvalSeed {
		return nil, fmt.Errorf("tinysiglip: seed %d is the held-out evaluation seed; train with another", EvalSeed)
	}
	spBytes, sp, err := SentencePiece()
	if err != nil {
		return nil, err
	}
	cfg := Preset(sp.VocabSize())
	if o.Config != nil {
		c := *o.Config // PatchSize must not edit the caller's config
		cfg = &c
	}
	if p := o.PatchSize; p > 0 {
		if p < 2 || cfg.Vision.ImageSize%p != 0 {
			return nil, fmt.Errorf("tinysiglip: patch size %d does not divide the %d px image", p, cfg.Vision.ImageSize)
		}
		cfg.Vision.PatchSize = p
	}
	maxLen, err := CheckCoverage(sp)
	if err != nil {
		return nil, err
	}
	if maxLen > cfg.Text.MaxPositions {
		return nil, fmt.Errorf("tinysiglip: the longest caption/prompt has %d ids, the text tower %d positions", maxLen, cfg.Text.MaxPositions)
	}
	if prev := trainedEarlier(o, cfg); prev != nil {
		return prev, nil
	}
	task, err := NewTask(cfg, sp, o.Seed, o.Batch)
	if err != nil {
		return nil, err
	}
	store, err := NewModel(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	tcfg := train.Config{
		Steps: o.Steps, LearningRate: o.LearningRate, MinLearningRate: o.MinLearningRate,
		WarmupSteps: o.WarmupSteps, WeightDecay: o.WeightDecay, Beta2: o.Beta2, ClipGradNorm: o.ClipGradNorm,
		Dir: CheckpointDir(o.Out), CheckpointEvery: o.CheckpointEvery,
	}
	tr, err := train.New(b, store, task, tcfg)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if _, err := tr.Resume(); err != nil {
		return nil, err
	}
	rec := &Record{Steps: o.Steps, Seed: o.Seed, Batch: o.Batch, ResumedAt: tr.Done(), Backend: b.Name()}
	rec.Config, _ = ConfigJSON(cfg)
	rec.Optimizer = map[string]any{
		"name": "AdamW (GoMLX Adam + decoupled decay, none on rank<=1)", "lr": o.LearningRate, "min_lr": o.MinLearningRate,
		"warmup_steps": o.WarmupSteps, "schedule": "linear warmup + cosine", "weight_decay": o.WeightDecay,
		"beta1": tr.Config.Beta1, "beta2": tr.Config.Beta2, "eps": tr.Config.Epsilon, "clip_grad_norm": o.ClipGradNorm,
	}
	var last []float64
	start := time.Now()
	err = tr.Run(ctx, func(r train.Result) {
		last = append(last, r.Loss)
		if len(last) > 50 {
			last = last[1:]
		}
		if r.Step%10 == 0 {
			rec.Losses = append(rec.Losses, r.Loss)
		}
		if onStep != nil {
			onStep(r)
		}
	})
	if err != nil {
		return nil, err
	}
	rec.WallSeconds = time.Since(start).Seconds()
	if n := o.Steps - rec.ResumedAt; n > 0 {
		rec.StepsPerSecond = float64(n) / rec.WallSeconds
	}
	for _, l := range last {
		rec.FinalLoss += l / float64(len(last))
	}
	for v := range store.IterVariables() {
		if v.Trainable {
			rec.Parameters += v.Shape().Size()
		}
	}
	if err := Export(o.Out, store, cfg, spBytes, nil); err != nil {
		return nil, err
	}
	if o.EvalImages > 0 {
		m, err := models.NewSiglip(bench.ModelSpec{Kind: "siglip", Path: o.Out}, b)
		if err != nil {
			return nil, fmt.Errorf("tinysiglip: the exported model does not load: %w", err)
		}
		zs, err := ZeroShot(ctx, m, EvalSeed, o.EvalImages)
		if err != nil {
			return nil, err
		}
		rec.ZeroShot = &zs
	}
	recJSON, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, "training.json"), append(recJSON, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "README.md"), []byte(modelCard(rec, cfg, o)), 0o644); err != nil {
		return nil, err
	}
	if !o.KeepCheckpoint {
		if err := os.RemoveAll(CheckpointDir(o.Out)); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// modelCard is the README.md written beside the model, from the record.
func modelCard(rec *Record, cfg *siglip.Config, o Options) string {
	v, t := cfg.Vision, cfg.Text
	var b strings.Builder
	fmt.Fprintf(&b, "# tiny-siglip (procedural world)\n\n")
	fmt.Fprintf(&b, "A SigLIP (HF SiglipModel layout) trained from scratch by `evalrun train-tiny siglip --seed %d --steps %d --batch %d --patch %d` "+
		"on the repo's procedural image–caption world with the sigmoid contrastive loss. It exists so that the demo, the tests "+
		"and the DualToken study have a real two-tower model; it knows nothing outside the world's vocabulary.\n\n", o.Seed, o.Steps, o.Batch, v.PatchSize)
	fmt.Fprintf(&b, "- vision: %d px images, patch %d (%dx%d tokens), width %d, %d layers, %d heads, MLP %d, MAP head\n",
		v.ImageSize, v.PatchSize, v.GridSize(), v.GridSize(), v.HiddenSize, v.NumLayers, v.NumHeads, v.IntermediateSize)
	fmt.Fprintf(&b, "- text: SentencePiece unigram of %d pieces (spiece.model, world words + characters), %d positions, width %d, %d layers, projection %d\n",
		t.VocabSize, t.MaxPositions, t.HiddenSize, t.NumLayers, t.ProjectionSize)
	fmt.Fprintf(&b, "- %d parameters; %d steps of %d pairs, AdamW lr %g (warmup %d, cosine to %g), weight decay %g, clip %g\n",
		rec.Parameters, rec.Steps, rec.Batch, o.LearningRate, o.WarmupSteps, o.MinLearningRate, o.WeightDecay, o.ClipGradNorm)
	fmt.Fprintf(&b, "- training: %.0f s, %.2f steps/s on %s (this invocation; resumed at step %d), final loss %.4f\n",
		rec.WallSeconds, rec.StepsPerSecond, rec.Backend, rec.ResumedAt, rec.FinalLoss)
	if rec.ZeroShot != nil {
		fmt.Fprintf(&b, "- %s\n", rec.ZeroShot)
	}
	fmt.Fprintf(&b, "\nFull record: training.json.\n")
	return b.String()
}
