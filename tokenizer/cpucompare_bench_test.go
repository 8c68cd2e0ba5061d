//go:build linux

package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkCPUCompareSentencePiece encodes the text file of
// scripts/cpu/ref_bench.py's manifest.json ($CPUCOMPARE_INPUTS) with each
// of its SentencePiece models, one line per Encode call (as a caption or prompt
// is encoded), the whole file per op; it reports the token count per op so
// the script can check it against the sentencepiece module's.
func BenchmarkCPUCompareSentencePiece(b *testing.B) {
	dir := os.Getenv("CPUCOMPARE_INPUTS")
	if dir == "" {
		b.Skip("CPUCOMPARE_INPUTS not set (scripts/cpu/bench.sh sets it)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	var m struct {
		Text struct {
			File   string
			Models []struct{ Name, File string }
		} `json:"text"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatalf("%s/manifest.json: %v", dir, err)
	}
	var tf struct{ Lines []string }
	data, err := os.ReadFile(filepath.Join(dir, m.Text.File))
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(data, &tf); err != nil {
		b.Fatalf("%s: %v", m.Text.File, err)
	}
	lines := tf.Lines
	for _, model := range m.Text.Models {
		b.Run(model.Name, func(b *testing.B) {
			sp, err := LoadSentencePiece(model.File)
			if err != nil {
				b.Fatal(err)
			}
			tokens := 0
			cpu0 := cpuCompareCPU()
			for b.Loop() {
				tokens = 0
				for _, l := range lines {
					ids, err := sp.Encode(l)
					if err != nil {
						b.Fatal(err)
					}
					tokens += len(ids)
				}
			}
			b.ReportMetric(float64(cpuCompareCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(tokens), "tokens/op")
		})
	}
}

// cpuCompareCPU is the process's user+system CPU time in nanoseconds.
func cpuCompareCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
