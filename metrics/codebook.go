package metrics

// Codebook statistics for (residual) vector quantisers: how much of a K-entry
// codebook the codes use, per quantisation depth and pooled over depths (for
// a codebook shared across depths, as DualToken's). Codes come as [N, D]
// row-major, N = positions (e.g. B·G·G for a G×G grid), D = depth.
//
// With counts n_k over N codes and p_k = n_k/N:
//
//	usage       = |{k : n_k > 0}| / K
//	entropy H   = −Σ p_k ln p_k (nats; bits = H/ln 2)
//	perplexity  = exp(H)            (1 … K; K for a perfectly uniform usage)
//	KL(p‖U)     = Σ p_k ln(p_k·K) = ln K − H

import (
	"fmt"
	"math"
)

// CodebookDepthStats are the statistics of one depth (or of all depths pooled).
type CodebookDepthStats struct {
	Depth       int     // 0-based depth; −1 for the pooled row
	Codes       int     // K, codebook size
	Tokens      int64   // codes counted
	Used        int     // distinct codes hit
	Usage       float64 // Used / K
	Entropy     float64 // nats
	EntropyBits float64
	Perplexity  float64 // exp(Entropy)
	KLUniform   float64 // KL(p ‖ uniform over K), nats
	Counts      []int64 // per code
}

// CodebookReport holds per-depth and pooled statistics.
type CodebookReport struct {
	PerDepth []CodebookDepthStats
	Pooled   CodebookDepthStats // all depths together (Depth = −1)
}

// CodebookCounter accumulates code counts batch by batch.
type CodebookCounter struct {
	k, depth int
	counts   [][]int64 // [depth][k]
	tokens   int64
}

// NewCodebookCounter counts codes in [0, k) at depth positions per row.
func NewCodebookCounter(k, depth int) (*CodebookCounter, error) {
	if k <= 0 || depth <= 0 {
		return nil, fmt.Errorf("codebook: codebook size %d and depth %d must be positive", k, depth)
	}
	c := &CodebookCounter{k: k, depth: depth, counts: make([][]int64, depth)}
	for d := range c.counts {
		c.counts[d] = make([]int64, k)
	}
	return c, nil
}

// Add counts codes [n, depth] row-major; a code outside [0, K) is an error and nothing is counted.
func (c *CodebookCounter) Add(codes []int64, n int) error {
	if n < 0 || len(codes) != n*c.depth {
		return fmt.Errorf("codebook: %d codes, want n×depth = %d×%d", len(codes), n, c.depth)
	}
	for i, v := range codes {
		if v < 0 || v >= int64(c.k) {
			return fmt.Errorf("codebook: code [%d,%d] = %d outside [0, %d)", i/c.depth, i%c.depth, v, c.k)
		}
	}
	for i, v := range codes {
		c.counts[i%c.depth][v]++
	}
	c.tokens += int64(n)
	return nil
}

// AddInt32 is Add for int32 codes.
func (c *CodebookCounter) AddInt32(codes []int32, n int) error {
	wide := make([]int64, len(codes))
	for i, v := range codes {
		wide[i] = int64(v)
	}
	return c.Add(wide, n)
}

// Report computes the statistics of everything added so far.
func (c *CodebookCounter) Report() CodebookReport {
	var r CodebookReport
	pooled := make([]int64, c.k)
	for d, cnt := range c.counts {
		r.PerDepth = append(r.PerDepth, codebookStatsOf(d, cnt))
		for k, v := range cnt {
			pooled[k] += v
		}
	}
	r.Pooled = codebookStatsOf(-1, pooled)
	return r
}

// CodebookStatistics is NewCodebookCounter + Add + Report for one array of codes [n, depth].
func CodebookStatistics(codes []int64, n, depth, k int) (CodebookReport, error) {
	c, err := NewCodebookCounter(k, depth)
	if err != nil {
		return CodebookReport{}, err
	}
	if err := c.Add(codes, n); err != nil {
		return CodebookReport{}, err
	}
	return c.Report(), nil
}

func codebookStatsOf(depth int, counts []int64) CodebookDepthStats {
	s := CodebookDepthStats{Depth: depth, Codes: len(counts), Counts: append([]int64(nil), counts...)}
	for _, v := range counts {
		s.Tokens += v
		if v > 0 {
			s.Used++
		}
	}
	s.Usage = float64(s.Used) / float64(s.Codes)
	if s.Tokens == 0 {
		// No codes: entropy undefined; report NaN rather than a fake 0.
		s.Entropy, s.EntropyBits, s.Perplexity, s.KLUniform = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return s
	}
	n := float64(s.Tokens)
	for _, v := range counts {
		if v > 0 {
			p := float64(v) / n
			s.Entropy -= p * math.Log(p)
		}
	}
	s.EntropyBits = s.Entropy / math.Ln2
	s.Perplexity = math.Exp(s.Entropy)
	s.KLUniform = math.Log(float64(s.Codes)) - s.Entropy
	return s
}
