package tokenizer

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// benchSentences make up the long English text the encoders are timed on.
var benchSentences = []string{
	"The harbour was quiet in the early morning, and a thin fog covered the boats that had come back from the night's fishing.",
	"A woman in a yellow raincoat walked her two dogs along the pier, stopping now and then to look at the gulls.",
	"Is there a red bicycle leaning against the wall of the old bakery? Answer the question using a single word or phrase.",
	"Describe the image in detail: a kitchen table with a bowl of apples, three cups of coffee and an open newspaper.",
	"Children were playing football in the park while their parents talked on the benches under the tall chestnut trees.",
	"By noon the fog had lifted, the market stalls were full, and the smell of fresh bread drifted across the square.",
	"How many people are standing near the bus stop, and what colour is the umbrella held by the man in the grey coat?",
	"Later that evening, the lights of the city came on one by one, reflected in the dark water of the canal.",
}

func benchText(words int) string {
	var b strings.Builder
	n := 0
	for i := 0; n < words; i++ {
		s := benchSentences[i%len(benchSentences)]
		if i >= len(benchSentences) {
			s = fmt.Sprintf("%s (%d)", s, i) // keep the text from being one repeated block
		}
		b.WriteString(s)
		b.WriteString(" ")
		n += len(strings.Fields(s))
	}
	return b.String()
}

func benchEncode(b *testing.B, tok Tokenizer) {
	text := benchText(20000)
	ids, err := tok.Encode(text)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tok.Encode(text); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkEncodeSentencePieceUnigram(b *testing.B) {
	sp, err := LoadSentencePiece(filepath.Join(fixtures.Dir(b, "spm"), "spiece.model"))
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, sp)
}

func BenchmarkEncodeSentencePieceBPE(b *testing.B) {
	sp, err := LoadSentencePiece(filepath.Join(fixtures.Dir(b, "spm_bpe"), "tokenizer.model"))
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, sp)
}

func BenchmarkEncodeHFBPE(b *testing.B) {
	tok, err := LoadHFBPE(filepath.Join(fixtures.Dir(b, "bpe"), "tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, tok)
}

// BenchmarkEncodeHFBPENoCache clears the word cache before every
// pass, timing the regex split and merges alone.
func BenchmarkEncodeHFBPENoCache(b *testing.B) {
	tok, err := LoadHFBPE(filepath.Join(fixtures.Dir(b, "bpe"), "tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	text := benchText(20000)
	ids, _ := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(tok.cache)
		if _, err := tok.Encode(text); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeSiglip encodes the sentences one by one as captions
// (SiglipTokenizer pads or truncates each to max_length); tokens/s counts
// the non-padding ids.
func BenchmarkEncodeSiglip(b *testing.B) {
	sp, err := LoadSentencePiece(filepath.Join(fixtures.Dir(b, "spm"), "spiece.model"))
	if err != nil {
		b.Fatal(err)
	}
	tok := NewSiglip(sp, 64)
	free := NewSiglip(sp, 0)
	caps := strings.Split(benchText(20000), ". ")
	total := 0
	for _, c := range caps {
		ids, _ := free.Encode(c)
		total += min(len(ids), 64)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range caps {
			if _, err := tok.Encode(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeUnknownRun times 64 KB of text the vocabulary does not
// cover (no byte fallback): one merged unknown piece, linear in the run.
func BenchmarkEncodeUnknownRun(b *testing.B) {
	sp := mustParse(b, spSpec{modelType: modelUnigram, addDummyPrefix: true, removeExtraWS: true,
		pieces: []spPiece{{"▁", -1, pieceNormal}, {"a", -1, pieceNormal}}})
	text := strings.Repeat("数", 64<<10/3)
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		if ps := sp.EncodePieces(text); len(ps) != 2 {
			b.Fatalf("%d pieces, want ▁ and one unknown run", len(ps))
		}
	}
}
