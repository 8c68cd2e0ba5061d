package llm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// ErrBadOptions marks generation errors caused by the caller's input (prompt
// too long, ids outside the vocabulary, inconsistent options).
var ErrBadOptions = errors.New("bad generation input")

// GenerateOptions controls decoding. The logit processing follows
// transformers' order: repetition penalty, eos suppression before
// MinNewTokens, temperature, top-k, top-p, then sampling (or argmax).
type GenerateOptions struct {
	MaxNewTokens int // new tokens per row (clipped to the context); required
	MinNewTokens int // eos/stop ids are suppressed until this many tokens exist

	Temperature       float64 // 0: greedy (argmax); > 0: sample from softmax(logits/T)
	TopK              int     // keep the K most likely tokens (ties kept); 0: off
	TopP              float64 // keep the smallest set with probability ≥ P; 0 or 1: off
	RepetitionPenalty float64 // > 1 penalises tokens already in the row; 0 or 1: off

	// EOS ids end a row. nil: generation_config.json's eos_token_id, else
	// config.json's. Use an empty non-nil slice for none.
	EOS []int
	// StopIDs end a row as EOS does.
	StopIDs []int
	// StopStrings end a row once its decoded new text contains one of them;
	// Decode (the tokenizer's) is then required.
	StopStrings []string
	Decode      func(ids []int) string

	// Seed makes sampling reproducible: row b draws from PCG(Seed, b).
	Seed uint64

	// OnStep, when set, is called after every step with the new token of each
	// row (-1 for rows already finished); returning false stops generation.
	OnStep func(step int, tokens []int) bool
}

// Finish reasons of a Result.
const (
	FinishEOS        = "eos"         // an eos or stop id was produced (it is the last token)
	FinishStopString = "stop_string" // the decoded text contains a stop string
	FinishLength     = "length"      // MaxNewTokens reached
	FinishContext    = "context"     // the context (max_position_embeddings) is full
	FinishStopped    = "stopped"     // OnStep returned false
)

// Result is one row's generation.
type Result struct {
	Tokens []int  // new tokens, including the eos/stop id that ended the row
	Finish string // one of the Finish* constants
}

// Generate continues each prompt (token ids, rows of any lengths: they are
// left-padded into one batch) and returns the new tokens of every row.
func (m *Model) Generate(prompts [][]int, opts GenerateOptions) ([]Result, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%w: no prompts", ErrBadOptions)
	}
	longest := 0
	for b, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: prompt %d is empty", ErrBadOptions, b)
		}
		longest = max(longest, len(p))
	}
	in := Input{IDs: make([][]int, len(prompts)), Mask: make([][]bool, len(prompts))}
	for b, p := range prompts {
		pad := longest - len(p)
		in.IDs[b] = append(make([]int, pad), p...) // id 0 under the mask: never attended
		in.Mask[b] = make([]bool, longest)
		for i := pad; i < longest; i++ {
			in.Mask[b][i] = true
		}
	}
	return m.GenerateFrom(in, opts)
}

// GenerateFrom is Generate for a prepared prompt batch: left-padded with
// Mask, and possibly with precomputed embeddings at some positions (the
// unified model's images). The repetition penalty sees the real text ids.
func (m *Model) GenerateFrom(in Input, opts GenerateOptions) ([]Result, error) {
	c := m.Config
	B := len(in.IDs)
	S, err := in.check(c, B)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	if err := m.checkOptions(&opts); err != nil {
		return nil, err
	}
	history := make([][]int, B) // real text ids per row, for the repetition penalty
	promptLen := 0
	for b := range B {
		n := 0
		for i := range S {
			if in.real(b, i) {
				n++
				if !in.fromEmbeds(b, i) {
					history[b] = append(history[b], in.IDs[b][i])
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: prompt %d has no real tokens", ErrBadOptions, b)
		}
		promptLen = max(promptLen, n)
	}
	if in.Positions == nil && promptLen >= c.MaxPositions {
		return nil, fmt.Errorf("%w: prompt has %d tokens, the context is %d (max_position_embeddings in %s): nothing can be generated", ErrBadOptions, promptLen, c.MaxPositions, c.Path)
	}
	maxNew, clipped := opts.MaxNewTokens, false
	if in.Positions == nil && promptLen+maxNew > c.MaxPositions {
		maxNew, clipped = c.MaxPositions-promptLen, true
	}

	st, err := m.NewState(B, bucketChunk(S)+maxNew)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	stop := map[int]bool{}
	for _, id := range append(slices.Clone(opts.EOS), opts.StopIDs...) {
		stop[id] = true
	}
	// fetch: where pick would take the plain argmax (greedy, no repetition
	// penalty, no eos suppression at this step), the device computes it and
	// the logits stay there.
	plainGreedy := opts.Temperature == 0 && (opts.RepetitionPenalty == 0 || opts.RepetitionPenalty == 1)
	fetch := func(step int) Fetch {
		if plainGreedy && (step >= opts.MinNewTokens || len(stop) == 0) {
			return FetchArgmax
		}
		return FetchLogits
	}
	out, err := st.Step(in, nil, fetch(0))
	if err != nil {
		return nil, err
	}
	rngs := make([]*rand.Rand, B)
	for b := range rngs {
		rngs[b] = rand.New(rand.NewPCG(opts.Seed, uint64(b)))
	}
	results := make([]Result, B)
	running := B
	for step := 0; ; step++ {
		tokens := make([]int, B)
		for b := range B {
			tokens[b] = -1
			if results[b].Finish != "" {
				continue
			}
			var tok int
			if out.Argmax != nil {
				tok = out.Argmax[b][0]
			} else {
				tok = pick(out.Logits[b][0], history[b], step, &opts, stop, rngs[b])
			}
			tokens[b] = tok
			results[b].Tokens = append(results[b].Tokens, tok)
			history[b] = append(history[b], tok)
			switch {
			case stop[tok]:
				results[b].Finish = FinishEOS
			case hasStopString(results[b].Tokens, &opts):
				results[b].Finish = FinishStopString
			case len(results[b].Tokens) >= maxNew && clipped:
				results[b].Finish = FinishContext
			case len(results[b].Tokens) >= maxNew:
				results[b].Finish = FinishLength
			}
			if results[b].Finish != "" {
				running--
			}
		}
		if opts.OnStep != nil && !opts.OnStep(step, tokens) {
			for b := range results {
				if results[b].Finish == "" {
					results[b].Finish = FinishStopped
				}
			}
			break
		}
		if running == 0 {
			break
		}
		// Feed every row's token; finished rows feed padding (masked).
		next := Input{IDs: make([][]int, B), Mask: make([][]bool, B)}
		for b := range B {
			next.IDs[b] = []int{max(tokens[b], 0)}
			next.Mask[b] = []bool{tokens[b] >= 0}
		}
		if out, err = st.Step(next, nil, fetch(step+1)); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// checkOptions validates opts and fills the eos ids from the model's files.
func (m *Model) checkOptions(o *GenerateOptions) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.MaxNewTokens <= 0:
		return bad("MaxNewTokens = %d, expected > 0", o.MaxNewTokens)
	case o.MinNewTokens < 0 || o.MinNewTokens > o.MaxNewTokens:
		return bad("MinNewTokens = %d, expected 0..MaxNewTokens (%d)", o.MinNewTokens, o.MaxNewTokens)
	case o.Temperature < 0 || math.IsNaN(o.Temperature):
		return bad("temperature = %g, expected ≥ 0 (0 = greedy)", o.Temperature)
	case o.TopK < 0:
		return bad("top-k = %d, expected ≥ 0 (0 = off)", o.TopK)
	case o.TopP < 0 || o.TopP > 1 || math.IsNaN(o.TopP):
		return bad("top-p = %g, expected in [0,1] (0 or 1 = off)", o.TopP)
	case o.RepetitionPenalty < 0:
		return bad("repetition penalty = %g, expected > 0 (1 = off)", o.RepetitionPenalty)
	case len(o.StopStrings) > 0 && o.Decode == nil:
		return bad("stop strings need a Decode function (the tokenizer's)")
	}
	if o.EOS == nil {
		o.EOS = m.Config.EOS
		if m.Gen != nil && m.Gen.EOS != nil {
			o.EOS = m.Gen.EOS
		}
	}
	for _, id := range append(slices.Clone(o.EOS), o.StopIDs...) {
		if id < 0 || id >= m.Config.VocabSize {
			return bad("eos/stop id %d outside the vocabulary [0,%d)", id, m.Config.VocabSize)
		}
	}
	return nil
}

// hasStopString reports whether the decoded tail of tokens contains a stop
// string. A string of n bytes spans at most n tokens, plus one for a split
// multi-byte character, so decoding that many suffices.
func hasStopString(tokens []int, o *GenerateOptions) bool {
	if len(o.StopStrings) == 0 {
		return false
	}
	n := 0
	for _, s := range o.StopStrings {
		n = max(n, len(s)+1)
	}
	text := o.Decode(tokens[max(0, len(tokens)-n):])
	for _, s := range o.StopStrings {
		if s != "" && strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// pick chooses the next token from one row's logits [V] (modified in place).
func pick(logits []float32, history []int, generated int, o *GenerateOptions, stop map[int]bool, rng *rand.Rand) int {
	if p := float32(o.RepetitionPenalty); p > 0 && p != 1 {
		seen := map[int]bool{}
		for _, id := range history {
			if seen[id] {
				continue
			}
			seen[id] = true
			if logits[id] < 0 {
				logits[id] *= p
			} else {
				logits[id] /= p
			}
		}
	}
	if generated < o.MinNewTokens {
		for id := range stop {
			logits[id] = float32(math.Inf(-1))
		}
	}
	if o.Temperature == 0 {
		return argmax(logits)
	}
	return sample(logits, o, rng)
}

// Sample picks one index of logits [V] (modified in place) by o's
// Temperature, TopK and TopP, drawing from rng; argmax when Temperature is 0.
// It is Generate's rule, for other heads that sample codes (model/depthhead).
func Sample(logits []float32, o *GenerateOptions, rng *rand.Rand) int {
	if o.Temperature == 0 {
		return argmax(logits)
	}
	return sample(logits, o, rng)
}

// argmax returns the first index of the largest value, NaN counting as
// +Inf (torch.argmax's choice but where +Inf precedes a NaN; the device's
// argmax of State.Step is the same).
func argmax(x []float32) int {
	best, bv := 0, float32(math.Inf(-1))
	for i, v := range x {
		if v != v {
			v = float32(math.Inf(1))
		}
		if v > bv || i == 0 {
			best, bv = i, v
		}
	}
	return best
}

// sample applies temperature, top-k and top-p and draws one token.
func sample(logits []float32, o *GenerateOptions, rng *rand.Rand) int {
	t := float32(o.Temperature)
	cand := make([]int, 0, len(logits))
	for i := range logits {
		logits[i] /= t
		if !math.IsInf(float64(logits[i]), -1) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return argmax(logits)
	}
	// Descending by logit, index order for ties (deterministic).
	slices.SortStableFunc(cand, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	if o.TopK > 0 && o.TopK < len(cand) {
		kth := logits[cand[o.TopK-1]]
		n := o.TopK
		for n < len(cand) && logits[cand[n]] >= kth { // ties with the k-th survive
			n++
		}
		cand = cand[:n]
	}
	probs := softmax(logits, cand)
	if o.TopP > 0 && o.TopP < 1 {
		// Keep token i while the mass before it is below P (at least one).
		mass, n := 0.0, 0
		for n < len(cand) && (n == 0 || mass < o.TopP) {
			mass += probs[n]
			n++
		}
		cand, probs = cand[:n], softmax(logits, cand[:n])
	}
	u := rng.Float64()
	acc := 0.0
	for i, p := range probs {
		acc += p
		if u < acc {
			return cand[i]
		}
	}
	return cand[len(cand)-1]
}

// softmax of logits over the candidate indices (sorted descending).
func softmax(logits []float32, cand []int) []float64 {
	out := make([]float64, len(cand))
	top := float64(logits[cand[0]])
	sum := 0.0
	for i, id := range cand {
		out[i] = math.Exp(float64(logits[id]) - top)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
