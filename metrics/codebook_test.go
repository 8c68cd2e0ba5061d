package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestCodebookStatistics(t *testing.T) {
	// 4 positions × depth 2, K = 4.
	// depth 0: 0,0,1,2 → counts 2,1,1,0; depth 1: 3,3,3,3; pooled 2,1,1,4 over 8.
	codes := []int64{0, 3, 0, 3, 1, 3, 2, 3}
	rep, err := CodebookStatistics(codes, 4, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	ln2 := math.Ln2
	cases := []struct {
		name                         string
		got                          CodebookDepthStats
		used                         int
		usage, hBits, perplexity, kl float64
	}{
		// H = ½ln2 + 2·¼·ln4 = 1.5 ln2; perplexity 2^1.5; KL = ln4 − 1.5ln2 = ½ln2.
		{"depth 0", rep.PerDepth[0], 3, 0.75, 1.5, math.Pow(2, 1.5), 0.5 * ln2},
		// one code: H 0, perplexity 1, KL ln4.
		{"depth 1", rep.PerDepth[1], 1, 0.25, 0, 1, 2 * ln2},
		// p = ¼,⅛,⅛,½: H = (½ + ¾ + ½) ln2 = 1.75 ln2.
		{"pooled", rep.Pooled, 4, 1, 1.75, math.Pow(2, 1.75), 0.25 * ln2},
	}
	for _, c := range cases {
		g := c.got
		if g.Used != c.used || g.Usage != c.usage || math.Abs(g.EntropyBits-c.hBits) > 1e-12 ||
			math.Abs(g.Entropy-c.hBits*ln2) > 1e-12 || math.Abs(g.Perplexity-c.perplexity) > 1e-12 || math.Abs(g.KLUniform-c.kl) > 1e-12 {
			t.Errorf("%s: used %d usage %v H %v bits perplexity %v KL %v; want %d %v %v %v %v",
				c.name, g.Used, g.Usage, g.EntropyBits, g.Perplexity, g.KLUniform, c.used, c.usage, c.hBits, c.perplexity, c.kl)
		}
	}
	if rep.PerDepth[0].Tokens != 4 || rep.Pooled.Tokens != 8 || rep.Pooled.Depth != -1 || rep.PerDepth[1].Counts[3] != 4 {
		t.Errorf("tokens/counts: %+v", rep)
	}
}

func TestCodebookUniformAndBatches(t *testing.T) {
	c, err := NewCodebookCounter(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add([]int64{0, 1}, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.AddInt32([]int32{2, 3}, 2); err != nil {
		t.Fatal(err)
	}
	s := c.Report().PerDepth[0]
	if math.Abs(s.Perplexity-4) > 1e-12 || math.Abs(s.KLUniform) > 1e-12 || s.Usage != 1 {
		t.Errorf("uniform: perplexity %v KL %v usage %v, want 4, 0, 1", s.Perplexity, s.KLUniform, s.Usage)
	}
	empty, _ := NewCodebookCounter(4, 1)
	if e := empty.Report().PerDepth[0]; !math.IsNaN(e.Entropy) || e.Usage != 0 {
		t.Errorf("empty counter: %+v", e)
	}
}

func TestCodebookBadInput(t *testing.T) {
	cases := []struct {
		codes   []int64
		n, d, k int
		want    string
	}{
		{[]int64{0, 4}, 1, 2, 4, "code [0,1] = 4 outside [0, 4)"},
		{[]int64{0, -1}, 2, 1, 4, "code [1,0] = -1 outside"},
		{[]int64{0, 1, 2}, 2, 2, 4, "3 codes, want n×depth = 2×2"},
		{[]int64{0}, 1, 1, 0, "codebook size 0 and depth 1 must be positive"},
	}
	for _, c := range cases {
		if _, err := CodebookStatistics(c.codes, c.n, c.d, c.k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.codes, err, c.want)
		}
	}
}
