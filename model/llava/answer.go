package llava

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llm"
)

// DefaultMaxNewTokens is the answer length limit when a query sets none
// (LLaVA's model_vqa_loader default).
const DefaultMaxNewTokens = 128

// Query is one question about zero or more images.
type Query struct {
	Images []*imageio.Image
	Prompt string // the user's text; the chat template is applied here
	// MaxNewTokens limits the answer; 0 means DefaultMaxNewTokens.
	MaxNewTokens int
}

// Sequence is a query ready for the decoder: ids with every visual position
// marked ImagePlaceholder, and the features of those positions in order
// ([n·P·H]: the query's images one after the other).
type Sequence struct {
	IDs   []int
	Feats []float32
}

// Prepare tokenizes the queries and encodes all their images (in batches
// across queries).
func (m *Model) Prepare(qs []Query) ([]Sequence, error) {
	seqs := make([]Sequence, len(qs))
	var imgs []*imageio.Image
	for i, q := range qs {
		ids, err := m.PromptIDs(q.Prompt, len(q.Images))
		if err != nil {
			return nil, fmt.Errorf("question %d: %w", i, err)
		}
		seqs[i].IDs = m.ExpandImages(ids)
		imgs = append(imgs, q.Images...)
	}
	feats, err := m.ImageFeatures(imgs)
	if err != nil {
		return nil, err
	}
	k := 0
	for i, q := range qs {
		for range q.Images {
			seqs[i].Feats = append(seqs[i].Feats, feats[k]...)
			k++
		}
	}
	return seqs, nil
}

// Input lays sequences out as one decoder batch: rows padded to the longest
// (on the left with leftPad, as for generation; else on the right) with the
// padding masked, id 0 standing at visual positions (never read), Embeds
// [B,S,H] holding the image features there and UseEmbeds marking them.
func (m *Model) Input(seqs []Sequence, leftPad bool) llm.Input {
	H := m.LLM.Config.HiddenSize
	S := 0
	for _, s := range seqs {
		S = max(S, len(s.IDs))
	}
	B := len(seqs)
	in := llm.Input{IDs: make([][]int, B), Mask: make([][]bool, B), UseEmbeds: make([][]bool, B)}
	emb := make([]float32, B*S*H)
	anyImage := false
	for b, s := range seqs {
		in.IDs[b] = make([]int, S)
		in.Mask[b] = make([]bool, S)
		in.UseEmbeds[b] = make([]bool, S)
		off := 0
		if leftPad {
			off = S - len(s.IDs)
		}
		v := 0 // next visual position of this row
		for i, id := range s.IDs {
			j := off + i
			in.Mask[b][j] = true
			if id == ImagePlaceholder {
				in.UseEmbeds[b][j] = true
				copy(emb[(b*S+j)*H:(b*S+j+1)*H], s.Feats[v*H:(v+1)*H])
				v++
				anyImage = true
				continue
			}
			in.IDs[b][j] = id
		}
	}
	if anyImage {
		in.Embeds = tensors.FromFlatDataAndDimensions(emb, B, S, H)
	} else {
		in.UseEmbeds = nil
	}
	return in
}

// Generate answers the queries greedily and returns each one's new tokens
// (ending with the eos/stop id when one was produced). Queries are decoded
// in left-padded batches of at most MaxBatch sharing a MaxNewTokens; rows of
// a batch do not influence each other.
func (m *Model) Generate(ctx context.Context, qs []Query) ([]llm.Result, error) {
	groups := map[int][]int{}
	for i, q := range qs {
		n := q.MaxNewTokens
		if n == 0 {
			n = DefaultMaxNewTokens
		}
		if n < 0 {
			return nil, fmt.Errorf("llava: question %d: MaxNewTokens = %d, expected ≥ 0", i, q.MaxNewTokens)
		}
		groups[n] = append(groups[n], i)
	}
	limits := make([]int, 0, len(groups))
	for n := range groups {
		limits = append(limits, n)
	}
	sort.Ints(limits)
	out := make([]llm.Result, len(qs))
	maxB := max(1, m.MaxBatch)
	for _, n := range limits {
		idx := groups[n]
		for from := 0; from < len(idx); from += maxB {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			chunk := idx[from:min(from+maxB, len(idx))]
			batch := make([]Query, len(chunk))
			for k, i := range chunk {
				batch[k] = qs[i]
			}
			seqs, err := m.Prepare(batch)
			if err != nil {
				return nil, err
			}
			res, err := m.LLM.GenerateFrom(m.Input(seqs, true), llm.GenerateOptions{MaxNewTokens: n, StopIDs: m.stop})
			if err != nil {
				return nil, fmt.Errorf("llava: %w", err)
			}
			for k, i := range chunk {
				out[i] = res[k]
			}
		}
	}
	return out, nil
}

// Answer is Generate decoded as LLaVA's scripts do: the ending eos/stop id
// and special tokens skipped, surrounding whitespace stripped.
func (m *Model) Answer(ctx context.Context, qs []Query) ([]string, error) {
	res, err := m.Generate(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res))
	for i, r := range res {
		toks := r.Tokens
		if r.Finish == llm.FinishEOS && len(toks) > 0 {
			// The eos/stop id is not text; drop it even where the tokenizer
			// would print it (a turn marker stored as a user-defined piece).
			toks = toks[:len(toks)-1]
		}
		out[i] = strings.TrimSpace(m.Tok.Decode(toks))
	}
	return out, nil
}

// MeanNLL scores candidate continuations of the query's prompt (SEED-Bench's
// likelihood mode): for each candidate, the mean over its tokens of the
// cross-entropy −log p(token | image, prompt, earlier candidate tokens),
// teacher-forced. The candidate is tokenized on its own and appended to the
// templated prompt (nothing added after it). Lower is likelier.
func (m *Model) MeanNLL(ctx context.Context, q Query, candidates []string) ([]float64, error) {
	seqs, err := m.Prepare([]Query{q})
	if err != nil {
		return nil, err
	}
	prompt := seqs[0]
	cands := make([][]int, len(candidates))
	for i, c := range candidates {
		if cands[i], err = m.Tok.Encode(c); err != nil {
			return nil, fmt.Errorf("llava: candidate %d: %w", i, err)
		}
		if len(cands[i]) == 0 {
			return nil, fmt.Errorf("llava: candidate %d (%q) has no tokens to score", i, c)
		}
	}
	out := make([]float64, len(candidates))
	maxB := max(1, m.MaxBatch)
	for from := 0; from < len(cands); from += maxB {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := cands[from:min(from+maxB, len(cands))]
		rows := make([]Sequence, len(chunk))
		longest := 0
		for k, c := range chunk {
			rows[k] = Sequence{IDs: append(append([]int(nil), prompt.IDs...), c...), Feats: prompt.Feats}
			longest = max(longest, len(c))
		}
		// Right padding keeps the prompt at the same positions in every row,
		// so the logits that predict candidate token k sit at one chunk
		// position for all rows: len(prompt)-1+k.
		in := m.Input(rows, false)
		at := make([]int, longest)
		for k := range at {
			at[k] = len(prompt.IDs) - 1 + k
		}
		st, err := m.LLM.NewState(len(rows), len(in.IDs[0]))
		if err != nil {
			return nil, err
		}
		res, err := st.Append(in, at)
		st.Close()
		if err != nil {
			return nil, fmt.Errorf("llava: %w", err)
		}
		for k, c := range chunk {
			sum := 0.0
			for j, tok := range c {
				sum += crossEntropy(res.Logits[k][j], tok)
			}
			out[from+k] = sum / float64(len(c))
		}
	}
	return out, nil
}

// crossEntropy is −log softmax(logits)[target], in float64.
func crossEntropy(logits []float32, target int) float64 {
	top := math.Inf(-1)
	for _, v := range logits {
		top = math.Max(top, float64(v))
	}
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - top)
	}
	return top + math.Log(sum) - float64(logits[target])
}
