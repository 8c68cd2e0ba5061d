package llm

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// benchConfig is a ~100M-parameter Qwen2-shaped decoder: width 768, 12
// layers, 12 query / 2 KV heads (head dim 64), MLP 2048, vocab 32000, tied.
func benchConfig() *Config { return TestConfig(32000, 768, 12, 12, 2, 2048, true) }

var (
	benchOnce  sync.Once
	benchModel *Model
)

func loadBench(b *testing.B) *Model {
	benchOnce.Do(func() {
		cfg := benchConfig()
		m, err := New(testBackend(b), cfg, RandomWeights(cfg, 1))
		if err != nil {
			b.Fatal(err)
		}
		benchModel = m
		b.Logf("bench model: %s, %.1fM parameters", cfg, float64(cfg.NumParameters())/1e6)
	})
	return benchModel
}

// BenchmarkPrefill: one 128-token prompt (batch 1) into an empty cache.
// Reports prompt tokens per second.
func BenchmarkPrefill(b *testing.B) {
	m := loadBench(b)
	const n = 128
	prompt := Input{IDs: [][]int{randomTokens(rand.New(rand.NewPCG(1, 1)), n, m.Config.VocabSize)}}
	run := func() {
		st, err := m.NewState(1, 256)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Append(prompt, nil); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	run() // compile
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// benchDecode times single-token steps of `batch` rows after a 128-token
// prompt, in a 256-slot cache (restarted, untimed, when full). Reports
// generated tokens per second over all rows.
func benchDecode(b *testing.B, batch int) {
	m := loadBench(b)
	rng := rand.New(rand.NewPCG(2, 2))
	prompt := Input{IDs: make([][]int, batch)}
	step := Input{IDs: make([][]int, batch)}
	for r := range batch {
		prompt.IDs[r] = randomTokens(rng, 128, m.Config.VocabSize)
		step.IDs[r] = []int{rng.IntN(m.Config.VocabSize)}
	}
	var st *State
	restart := func() {
		if st != nil {
			st.Close()
		}
		var err error
		if st, err = m.NewState(batch, 256); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Append(prompt, nil); err != nil {
			b.Fatal(err)
		}
	}
	restart()
	if _, err := st.Append(step, nil); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if st.Used() == st.Capacity() {
			b.StopTimer()
			restart()
			b.StartTimer()
		}
		if _, err := st.Append(step, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "tokens/s")
	st.Close()
}

func BenchmarkDecode(b *testing.B)       { benchDecode(b, 1) }
func BenchmarkDecodeBatch4(b *testing.B) { benchDecode(b, 4) }
