package tinysiglip

import (
	"testing"

	"github.com/dualtoken/evalharness/train"
)

// BenchmarkTrainStep is one optimisation step of the shipped recipe (batch
// 64, preset sizes): data preparation overlapped with the compiled step.
//
//	go test ./train/tinysiglip/ -run '^$' -bench TrainStep -benchtime 40x
func BenchmarkTrainStep(b *testing.B) {
	o := DefaultOptions()
	_, sp, err := SentencePiece()
	if err != nil {
		b.Fatal(err)
	}
	task, err := NewTask(Preset(sp.VocabSize()), sp, 1, o.Batch)
	if err != nil {
		b.Fatal(err)
	}
	store, err := NewModel(task.Config, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := train.New(tsBackend(b), store, task, train.Config{Steps: b.N + 2, LearningRate: o.LearningRate,
		WarmupSteps: 1, WeightDecay: o.WeightDecay, Beta2: o.Beta2, ClipGradNorm: o.ClipGradNorm})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Step(); err != nil { // compiles the step
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkBatch renders and tokenizes one batch of 64 world scenes.
//
//	go test ./train/tinysiglip/ -run '^$' -bench Batch
func BenchmarkBatch(b *testing.B) {
	_, sp, err := SentencePiece()
	if err != nil {
		b.Fatal(err)
	}
	task, err := NewTask(Preset(sp.VocabSize()), sp, 1, 64)
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, err := task.Batch(i); err != nil {
			b.Fatal(err)
		}
	}
}
