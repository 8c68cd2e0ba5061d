package llava_test

import (
	"context"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llava"
)

// BenchmarkAnswer measures questions/s through Answer (image features,
// prefill, 8 greedy tokens) on the fixture-shaped LLaVA, batches of 8.
func BenchmarkAnswer(b *testing.B) {
	be := testBackend(b)
	m := load(b, be, build(b, "llama", llava.TemplateVicunaV1, nil))
	qs := make([]llava.Query, 8)
	for i := range qs {
		qs[i] = llava.Query{Images: []*imageio.Image{scene(i, 64, 64)}, Prompt: qCount, MaxNewTokens: 8}
	}
	ctx := context.Background()
	if _, err := m.Answer(ctx, qs); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := m.Answer(ctx, qs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(qs))/b.Elapsed().Seconds(), "questions/s")
}

// BenchmarkMeanNLL measures candidates/s scored (four per question).
func BenchmarkMeanNLL(b *testing.B) {
	be := testBackend(b)
	m := load(b, be, build(b, "qwen2", llava.TemplateQwen, nil))
	q := llava.Query{Images: []*imageio.Image{scene(1, 64, 64)}, Prompt: qWhat}
	ctx := context.Background()
	if _, err := m.MeanNLL(ctx, q, cands); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := m.MeanNLL(ctx, q, cands); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(cands))/b.Elapsed().Seconds(), "candidates/s")
}
