package tinyllava

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/train"
)

// EvalSeed is the world seed of the held-out scenes: `evalrun demo`'s
// default seed (the demo's suites draw their images from it); training
// refuses it.
const EvalSeed = 2026

// EvalFirst is the first world index of the held-out scenes, apart from
// the index ranges the demo's suites use (2,000,000 and up per suite).
const EvalFirst = 9_000_000

// Options is the training recipe.
type Options struct {
	Out             string // LLaVA folder written at the end
	Steps           int
	Seed            uint64 // world seed of the training scenes and weight init
	Batch           int
	SeqLen          int // positions per example (the longest, a lettered choice, needs 88 with the shipped tokenizer)
	LearningRate    float64
	MinLearningRate float64
	WarmupSteps     int
	WeightDecay     float64
	ClipGradNorm    float64
	AuxWeight       float64 // weight of the training-only scene classifiers on the tower
	CheckpointEvery int
	KeepCheckpoint  bool   // keep Out/checkpoint after the export
	EvalPerKind     int    // held-out questions per kind (0: no evaluation)
	Command         string `json:"-"` // the command line, recorded in training.json
}

// DefaultOptions is the shipped recipe.
func DefaultOptions() Options {
	return Options{
		Steps: 1100, Seed: 1, Batch: 32, SeqLen: 92,
		LearningRate: 2e-3, MinLearningRate: 2e-5, WarmupSteps: 60,
		WeightDecay: 1e-4, ClipGradNorm: 1, AuxWeight: 1, CheckpointEvery: 100, EvalPerKind: 200,
	}
}

// CheckpointDir is where Train keeps its resumable state.
func CheckpointDir(out string) string { return filepath.Join(out, "checkpoint") }

// trainedEarlier returns Out's training.json when it records a finished
// run of this recipe beside an exported model (what decides the model and
// its evaluation; not the folder, the checkpoint cadence or the command
// line): running the command again reuses it. Another recipe trains anew.
func trainedEarlier(o Options) *Record {
	b, err := os.ReadFile(filepath.Join(o.Out, "training.json"))
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(o.Out, "config.json")); err != nil {
		return nil
	}
	var prev Record
	if json.Unmarshal(b, &prev) != nil {
		return nil
	}
	recipe := func(r Options) Options {
		r.Out, r.CheckpointEvery, r.KeepCheckpoint, r.Command = "", 0, false, ""
		return r
	}
	if recipe(prev.Recipe) != recipe(o) {
		return nil
	}
	prev.Reused = true
	return &prev
}

// KindResult is the held-out accuracy of one question kind.
type KindResult struct {
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"` // percent
	Chance   float64 `json:"chance"`   // percent
}

// EvalResult is the held-out measurement through the exported folder.
type EvalResult struct {
	Seed    uint64                `json:"world_seed"`
	First   int                   `json:"first_index"`
	Kinds   map[string]KindResult `json:"kinds"`
	Overall KindResult            `json:"overall"` // mean over kinds of accuracy and chance
	Samples []string              `json:"samples"` // a few "question → answer (reference)" lines
}

// Record is training.json, written beside the exported model.
type Record struct {
	Command        string  `json:"command"`
	Recipe         Options `json:"recipe"`
	Backend        string  `json:"backend"`
	Vocab          int     `json:"vocab"`
	Parameters     int     `json:"parameters"`
	ResumedAt      int     `json:"resumed_at_step"`
	WallSeconds    float64 `json:"wall_seconds"`
	StepsPerSecond float64 `json:"steps_per_second"`
	FinalLoss      float64 `json:"final_loss"` // mean of the last 50 steps
	// Reused is set when Out already held a model trained with this recipe
	// (its training.json), which Train then returns without training.
	Reused         bool           `json:"-"`
	FinalAnswerAcc float64        `json:"final_answer_acc"` // training batches, last 50 steps
	Losses         []float64      `json:"loss_every_10_steps"`
	Eval           *EvalResult    `json:"held_out,omitempty"`
	Extra          map[string]any `json:"extra,omitempty"`
}

// Tokenizer builds the tiny tokenizer from the question corpus of world
// seed 1 (the same words whatever the training seed): the serialized model
// and the parsed one.
func Tokenizer() ([]byte, *tokenizer.SentencePiece, error) {
	data, err := TokenizerSpec(Words(1, 20000)).Marshal()
	if err != nil {
		return nil, nil, err
	}
	sp, err := tokenizer.ParseSentencePiece(data)
	if err != nil {
		return nil, nil, fmt.Errorf("tinyllava: the generated tokenizer does not parse: %w", err)
	}
	return data, sp, nil
}

// Train trains (or resumes) the tiny LLaVA, exports it to o.Out, measures
// held-out accuracy through the exported folder (model/llava, the path the
// bench adapter uses) and writes training.json.
func Train(ctx context.Context, b compute.Backend, o Options, onStep func(train.Result)) (*Record, error) {
	if o.Out == "" {
		return nil, fmt.Errorf("tinyllava: no output directory")
	}
	if o.Seed == EvalSeed {
		return nil, fmt.Errorf("tinyllava: seed %d is the held-out evaluation seed; train with another", EvalSeed)
	}
	spBytes, sp, err := Tokenizer()
	if err != nil {
		return nil, err
	}
	if prev := trainedEarlier(o); prev != nil {
		return prev, nil
	}
	sizes := Preset(sp.VocabSize())
	task, err := NewTask(sizes, sp, o.Seed, o.Batch, o.SeqLen)
	if err != nil {
		return nil, err
	}
	task.AuxWeight = o.AuxWeight
	store, err := NewStore(sizes, o.Seed)
	if err != nil {
		return nil, err
	}
	tr, err := train.New(b, store, task, train.Config{
		Steps: o.Steps, LearningRate: o.LearningRate, MinLearningRate: o.MinLearningRate,
		WarmupSteps: o.WarmupSteps, WeightDecay: o.WeightDecay, ClipGradNorm: o.ClipGradNorm,
		Dir: CheckpointDir(o.Out), CheckpointEvery: o.CheckpointEvery,
	})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if _, err := tr.Resume(); err != nil {
		return nil, err
	}
	rec := &Record{Command: o.Command, Recipe: o, Backend: b.Name(), Vocab: sp.VocabSize(), ResumedAt: tr.Done()}
	var lastLoss, lastAcc []float64
	start := time.Now()
	err = tr.Run(ctx, func(r train.Result) {
		lastLoss, lastAcc = append(lastLoss, r.Loss), append(lastAcc, r.Metrics["answer_acc"])
		if len(lastLoss) > 50 {
			lastLoss, lastAcc = lastLoss[1:], lastAcc[1:]
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
	if n := o.Steps - rec.ResumedAt; n > 0 && rec.WallSeconds > 0 {
		rec.StepsPerSecond = float64(n) / rec.WallSeconds
	}
	for i := range lastLoss {
		rec.FinalLoss += lastLoss[i] / float64(len(lastLoss))
		rec.FinalAnswerAcc += lastAcc[i] / float64(len(lastAcc))
	}
	for _, prefix := range []string{"/vision_model/", "/mm_projector/", "/llm/"} {
		for v := range store.IterVariables() {
			if s := v.Scope() + "/"; len(s) >= len(prefix) && s[:len(prefix)] == prefix {
				rec.Parameters += v.Shape().Size()
			}
		}
	}
	if err := Export(o.Out, store, sizes, spBytes); err != nil {
		return nil, err
	}
	if o.EvalPerKind > 0 {
		m, err := llava.Load(b, o.Out)
		if err != nil {
			return nil, fmt.Errorf("tinyllava: the exported model does not load: %w", err)
		}
		ev, err := Evaluate(ctx, m, EvalSeed, EvalFirst, o.EvalPerKind)
		m.Close()
		if err != nil {
			return nil, err
		}
		rec.Eval = ev
	}
	js, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, "training.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	if !o.KeepCheckpoint {
		if err := os.RemoveAll(CheckpointDir(o.Out)); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// Evaluate asks m perKind questions of every kind about held-out scenes
// first, first+1, ... of world seed (each kind on its own run of scenes,
// skipping scenes a kind cannot ask about) and scores the greedy answers
// with Correct.
func Evaluate(ctx context.Context, m *llava.Model, seed uint64, first, perKind int) (*EvalResult, error) {
	res := &EvalResult{Seed: seed, First: first, Kinds: map[string]KindResult{}}
	for k, kind := range Kinds {
		var exs []Example
		var qs []llava.Query
		for i := first + k*10*perKind; len(exs) < perKind; i++ {
			e, ok := MakeExampleOfKind(seed, i, kind)
			if !ok {
				continue
			}
			exs = append(exs, e)
			qs = append(qs, llava.Query{Images: []*imageio.Image{e.Scene.Image(RenderSize)}, Prompt: e.Question, MaxNewTokens: 8})
		}
		answers, err := m.Answer(ctx, qs)
		if err != nil {
			return nil, err
		}
		r := KindResult{N: len(exs), Chance: 100 * Chance(kind)}
		for i, e := range exs {
			if Correct(answers[i], e.Answer) {
				r.Correct++
			}
		}
		for i := range min(2, len(exs)) {
			res.Samples = append(res.Samples, fmt.Sprintf("%q → %q (reference %q)", exs[i].Question, answers[i], exs[i].Answer))
		}
		r.Accuracy = 100 * float64(r.Correct) / float64(r.N)
		res.Kinds[kind] = r
		res.Overall.N += r.N
		res.Overall.Correct += r.Correct
		res.Overall.Accuracy += r.Accuracy / float64(len(Kinds))
		res.Overall.Chance += r.Chance / float64(len(Kinds))
	}
	return res, nil
}
