package llm

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Input is a batch of new positions, one row per sequence, all rows the same
// length S (pad rows yourself, usually on the left, and mark the padding).
type Input struct {
	// IDs [B][S] are the token ids. At positions taken from Embeds any valid
	// id may stand (it is not used).
	IDs [][]int
	// Mask [B][S]: false marks padding, which is never attended to and does
	// not advance the row's position. nil: every position is real.
	Mask [][]bool
	// Positions [B][S] are explicit RoPE positions. nil: each row continues
	// its count of real tokens (what transformers' generate does).
	Positions [][]int
	// Embeds [B,S,H] float32 are precomputed input embeddings (the unified
	// model's visual positions) used instead of embed_tokens(IDs) where
	// UseEmbeds is true (nil UseEmbeds with Embeds: everywhere).
	Embeds    *tensors.Tensor
	UseEmbeds [][]bool
}

// check validates the shape and ids of in against the model; it returns S.
func (in *Input) check(c *Config, batch int) (int, error) {
	if len(in.IDs) != batch || batch == 0 {
		return 0, fmt.Errorf("input has %d rows, expected %d", len(in.IDs), batch)
	}
	S := len(in.IDs[0])
	if S == 0 {
		return 0, fmt.Errorf("input row 0 is empty")
	}
	for b, row := range in.IDs {
		if len(row) != S {
			return 0, fmt.Errorf("input row %d has %d ids, row 0 has %d: pad rows to one length and mark padding in Mask", b, len(row), S)
		}
		for i, id := range row {
			if id < 0 || id >= c.VocabSize {
				return 0, fmt.Errorf("input row %d position %d: token id %d outside the vocabulary [0,%d) of %s", b, i, id, c.VocabSize, c.Path)
			}
		}
	}
	for name, m := range map[string][][]bool{"Mask": in.Mask, "UseEmbeds": in.UseEmbeds} {
		if m != nil && (len(m) != batch || !allLen(m, S)) {
			return 0, fmt.Errorf("input %s must be [%d][%d] like IDs", name, batch, S)
		}
	}
	if in.Positions != nil && (len(in.Positions) != batch || !allLen(in.Positions, S)) {
		return 0, fmt.Errorf("input Positions must be [%d][%d] like IDs", batch, S)
	}
	if in.Embeds != nil {
		want := []int{batch, S, c.HiddenSize}
		if in.Embeds.DType() != dtypes.Float32 || fmt.Sprint(in.Embeds.Shape().Dimensions) != fmt.Sprint(want) {
			return 0, fmt.Errorf("input Embeds is %s, expected float32%v", in.Embeds.Shape(), want)
		}
	}
	return S, nil
}

func allLen[T any](rows [][]T, n int) bool {
	for _, r := range rows {
		if len(r) != n {
			return false
		}
	}
	return true
}

func (in *Input) real(b, i int) bool { return in.Mask == nil || in.Mask[b][i] }
func (in *Input) fromEmbeds(b, i int) bool {
	return in.Embeds != nil && (in.UseEmbeds == nil || in.UseEmbeds[b][i])
}

// exec returns the compiled-graph cache for one graph variant. Each variant
// compiles once per distinct input shapes, which the callers bucket.
func (m *Model) exec(key string, fn func(scope *model.Scope, in []*graph.Node) []*graph.Node) (*model.Exec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.execs[key]; ok {
		return e, nil
	}
	e, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		m.builds.Add(1)
		return fn(scope, in)
	})
	if err != nil {
		return nil, err
	}
	e.SetMaxCache(256)
	m.execs[key] = e
	return e, nil
}

// GraphBuilds counts the graphs built (each then compiled) so far: one per
// variant and distinct bucketed input shapes, never one per token.
func (m *Model) GraphBuilds() int { return int(m.builds.Load()) }

// ForwardOutput is the result of an uncached forward pass.
type ForwardOutput struct {
	Logits *tensors.Tensor   // [B,S,V] float32
	Hidden []*tensors.Tensor // N+1 states [B,S,H]: embeddings, layers 1..N-1, final (normed); with ScanLayers layers 1..N-1 are nil
}

// Forward runs the whole input at once without a cache (causal attention over
// the real positions of each row), returning logits and every hidden state
// as transformers' forward(output_hidden_states=True). It compiles once per
// input shape.
func (m *Model) Forward(in Input) (*ForwardOutput, error) {
	B := len(in.IDs)
	S, err := in.check(m.Config, B)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, B*S)
	positions := make([]int32, B*S)
	valid := make([]bool, B*S)
	useEmb := make([]bool, B*S)
	for b := range B {
		next := 0
		for i := range S {
			j := b*S + i
			ids[j] = int32(in.IDs[b][i])
			valid[j] = in.real(b, i)
			useEmb[j] = in.fromEmbeds(b, i)
			if in.Positions != nil {
				positions[j] = int32(in.Positions[b][i])
			} else {
				positions[j] = int32(next)
			}
			if valid[j] {
				next++
			}
		}
	}
	key := "forward"
	if in.Embeds != nil {
		key += "+embeds"
	}
	if m.Config.ScanLayers {
		key += "+scan"
	}
	e, err := m.exec(key, func(scope *model.Scope, x []*graph.Node) []*graph.Node {
		var embeds, use *graph.Node
		if len(x) > 3 {
			embeds, use = x[3], x[4]
		}
		logits, states := m.ForwardGraph(scope, x[0], x[1], x[2], embeds, use)
		outs := []*graph.Node{logits}
		for _, st := range states {
			if st != nil { // a layer loop keeps the first and the last
				outs = append(outs, st)
			}
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	args := []any{
		tensors.FromFlatDataAndDimensions(ids, B, S),
		tensors.FromFlatDataAndDimensions(positions, B, S),
		tensors.FromFlatDataAndDimensions(valid, B, S),
	}
	if in.Embeds != nil {
		args = append(args, in.Embeds, tensors.FromFlatDataAndDimensions(useEmb, B, S))
	}
	outs, err := e.Exec(args...)
	if err != nil {
		return nil, err
	}
	hidden := outs[1:]
	if len(hidden) == 2 && m.Config.NumLayers > 1 { // a layer loop's: first and last
		hidden = make([]*tensors.Tensor, m.Config.NumLayers+1)
		hidden[0], hidden[m.Config.NumLayers] = outs[1], outs[2]
	}
	return &ForwardOutput{Logits: outs[0], Hidden: hidden}, nil
}

// State is the KV cache of a batch of sequences being decoded: per layer K
// and V of shape [rows, nKV, L, hd] on the device (with Config.ScanLayers
// one K and one V of all layers, [N, rows, nKV, L, hd]), plus, on the host, which
// slots each row may attend to and each row's next RoPE position. Slots are
// shared by the batch (slot t of every row is written by the same call);
// positions are per row, so left-padded rows stay correct.
//
// Shapes are bucketed so that decoding compiles a handful of graphs, not one
// per token: the batch to a power of two (extra rows are all padding), the
// cache length L to a power of two (grown when full), and chunk lengths to a
// power of two up to 64 and a multiple of 64 beyond (the chunk is left-padded
// with unused slots).
type State struct {
	m        *Model
	batch    int               // rows the caller sees
	rows     int               // bucketed batch
	capacity int               // L
	used     int               // slots written so far
	next     []int             // next RoPE position per row
	valid    []bool            // [rows*capacity]: slot may be attended
	cache    []*tensors.Tensor // [K0,V0,K1,V1,...] or, scanned, [K,V]; nil before the first Append
	scan     bool              // Config.ScanLayers when the state was made: the cache layout
}

// NewState starts an empty cache for batch sequences with room for at least
// capacity slots (it grows on demand).
func (m *Model) NewState(batch, capacity int) (*State, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("batch must be positive, got %d", batch)
	}
	rows := ceilPow2(batch, 1)
	L := ceilPow2(capacity, 16)
	return &State{m: m, batch: batch, rows: rows, capacity: L, next: make([]int, rows), valid: make([]bool, rows*L), scan: m.Config.ScanLayers}, nil
}

// Used is the number of cache slots written (padding slots included).
func (s *State) Used() int { return s.used }

// Capacity is the current cache length L.
func (s *State) Capacity() int { return s.capacity }

// Next returns the RoPE position the next real token of row b gets.
func (s *State) Next(b int) int { return s.next[b] }

// StepOutput holds, for each row of the batch, what a step fetched at the
// requested positions of the chunk (nil where not fetched).
type StepOutput struct {
	Logits [][][]float32 // [batch][P][V]
	Hidden [][][]float32 // [batch][P][H]: the final (normed) hidden state
	Argmax [][]int       // [batch][P]: the first index of each row's largest logit (NaN counting as +Inf)
}

// Fetch selects which of a step's outputs are copied to the host; the
// others are released on the device. Greedy decoding needs only the argmax,
// computed on the device: a 152k-token vocabulary's float32 logits are
// 0.6 MB per row and step, a transfer comparable to a whole decoding step of
// a 3B model at batch 16 on a GPU.
type Fetch uint8

const (
	FetchLogits Fetch = 1 << iota // StepOutput.Logits
	FetchHidden                   // StepOutput.Hidden
	FetchArgmax                   // StepOutput.Argmax
)

// Append runs the new positions of in through the model, writing their keys
// and values into the cache, and returns logits and hidden states at the
// chunk positions at (nil: the last position, which for left-padded rows is
// every row's last token).
func (s *State) Append(in Input, at []int) (*StepOutput, error) {
	return s.Step(in, at, FetchLogits|FetchHidden)
}

// Step is Append returning only the outputs fetch names (one compiled graph
// serves every fetch).
func (s *State) Step(in Input, at []int, fetch Fetch) (*StepOutput, error) {
	c := s.m.Config
	S, err := in.check(c, s.batch)
	if err != nil {
		return nil, err
	}
	if s.scan != c.ScanLayers {
		return nil, fmt.Errorf("llm: the state was made with ScanLayers = %v and the model now has %v: its cache layout no longer fits", s.scan, c.ScanLayers)
	}
	if at == nil {
		at = []int{S - 1}
	}
	for _, p := range at {
		if p < 0 || p >= S {
			return nil, fmt.Errorf("output position %d outside the chunk of %d positions", p, S)
		}
	}
	Sb := bucketChunk(S)
	pad := Sb - S // unused slots before the chunk
	if s.used+Sb > s.capacity {
		if err := s.grow(s.used + Sb); err != nil {
			return nil, err
		}
	}
	R, L, start := s.rows, s.capacity, s.used
	ids := make([]int32, R*Sb)
	positions := make([]int32, R*Sb)
	useEmb := make([]bool, R*Sb)
	for b := range s.batch {
		for i := range S {
			j := b*Sb + pad + i
			ids[j] = int32(in.IDs[b][i])
			useEmb[j] = in.fromEmbeds(b, i)
			if in.Positions != nil {
				positions[j] = int32(in.Positions[b][i])
			} else {
				positions[j] = int32(s.next[b])
			}
			if in.real(b, i) {
				if int(positions[j]) >= c.MaxPositions {
					return nil, fmt.Errorf("row %d reaches position %d, beyond the context of %d (max_position_embeddings in %s)", b, positions[j], c.MaxPositions, c.Path)
				}
				s.valid[b*L+start+pad+i] = true
				s.next[b] = int(positions[j]) + 1
			}
		}
	}
	outIdx := make([]int32, R*len(at))
	for b := range R {
		for k, p := range at {
			outIdx[b*len(at)+k] = int32(pad + p)
		}
	}

	key := "step"
	if in.Embeds != nil {
		key += "+embeds"
	}
	if s.cache == nil {
		key += "+fresh"
	}
	if s.scan {
		key += "+scan"
	}
	m, hasEmbeds := s.m, in.Embeds != nil
	e, err := m.exec(key, func(scope *model.Scope, x []*graph.Node) []*graph.Node {
		var embeds, use *graph.Node
		rest := x[5:] // after ids, positions, start, valid, outIdx
		if hasEmbeds {
			embeds, use, rest = rest[0], rest[1], rest[2:]
		}
		if len(rest) == 0 {
			rest = nil
		}
		logits, hidden, caches := m.StepGraph(scope, x[0], x[1], x[2], x[3], x[4], embeds, use, rest)
		// NaN counts as +Inf, so that every backend picks what the host's
		// argmax picks: the first of the largest.
		nanAsInf := graph.Where(graph.IsNaN(logits), graph.Infinity(logits.Graph(), logits.DType(), 1), logits)
		return append([]*graph.Node{logits, hidden, graph.ArgMax(nanAsInf, -1)}, caches...)
	})
	if err != nil {
		return nil, err
	}
	args := []any{
		tensors.FromFlatDataAndDimensions(ids, R, Sb),
		tensors.FromFlatDataAndDimensions(positions, R, Sb),
		int32(start),
		tensors.FromFlatDataAndDimensions(s.valid, R, L),
		tensors.FromFlatDataAndDimensions(outIdx, R, len(at)),
	}
	if in.Embeds != nil {
		emb, use := padEmbeds(in, s.batch, R, S, Sb, c.HiddenSize)
		args = append(args, emb, tensors.FromFlatDataAndDimensions(use, R, Sb))
	}
	for _, t := range s.cache {
		// The step overwrites the cache in place when it owns the buffer.
		d, err := graph.DonateTensorBuffer(t, s.m.Backend, 0)
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	outs, err := e.Exec(args...)
	if err != nil {
		return nil, err
	}
	s.cache = outs[3:]
	s.used += Sb
	res := &StepOutput{}
	if fetch&FetchLogits != 0 {
		res.Logits = splitRows(outs[0], s.batch, len(at))
	}
	if fetch&FetchHidden != 0 {
		res.Hidden = splitRows(outs[1], s.batch, len(at))
	}
	if fetch&FetchArgmax != 0 {
		flat := tensors.MustCopyFlatData[int32](outs[2]) // [R,P]
		res.Argmax = make([][]int, s.batch)
		for b := range s.batch {
			res.Argmax[b] = make([]int, len(at))
			for p := range at {
				res.Argmax[b][p] = int(flat[b*len(at)+p])
			}
		}
	}
	for _, t := range outs[:3] {
		_ = t.FinalizeAll() // splitRows copied what was fetched
	}
	return res, nil
}

// grow pads the cache to hold at least need slots.
func (s *State) grow(need int) error {
	L := ceilPow2(need, 16)
	old := s.capacity
	valid := make([]bool, s.rows*L)
	for b := range s.rows {
		copy(valid[b*L:b*L+old], s.valid[b*old:(b+1)*old])
	}
	s.valid, s.capacity = valid, L
	for i, t := range s.cache {
		var err error
		switch t.DType() {
		case dtypes.Float32:
			s.cache[i], err = growSlots[float32](t, L)
		case dtypes.BFloat16:
			s.cache[i], err = growSlots[bfloat16.BFloat16](t, L)
		default:
			err = fmt.Errorf("llm: KV cache of dtype %s", t.DType())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// growSlots copies a cache tensor [...,old,hd] ([R,nKV,old,hd], or
// [N,R,nKV,old,hd] for a layer loop) into a zero-padded [...,L,hd] and frees
// the old one.
func growSlots[T float32 | bfloat16.BFloat16](t *tensors.Tensor, L int) (*tensors.Tensor, error) {
	dims := slices.Clone(t.Shape().Dimensions)
	n := len(dims)
	old, D := dims[n-2], dims[n-1]
	rows := 1
	for _, d := range dims[:n-2] {
		rows *= d
	}
	src, err := tensors.CopyFlatData[T](t)
	if err != nil {
		return nil, err
	}
	dst := make([]T, rows*L*D)
	for r := range rows {
		copy(dst[r*L*D:r*L*D+old*D], src[r*old*D:(r+1)*old*D])
	}
	_ = t.FinalizeAll()
	dims[n-2] = L
	return tensors.FromFlatDataAndDimensions(dst, dims...), nil
}

// Close releases the cache tensors.
func (s *State) Close() {
	for _, t := range s.cache {
		_ = t.FinalizeAll()
	}
	s.cache = nil
}

// padEmbeds lays in.Embeds [batch,S,H] into [rows,Sb,H] (left-padded chunk).
func padEmbeds(in Input, batch, R, S, Sb, H int) (*tensors.Tensor, []bool) {
	src := tensors.MustCopyFlatData[float32](in.Embeds)
	dst := make([]float32, R*Sb*H)
	use := make([]bool, R*Sb)
	pad := Sb - S
	for b := range batch {
		copy(dst[(b*Sb+pad)*H:(b*Sb+pad+S)*H], src[b*S*H:(b+1)*S*H])
		for i := range S {
			use[b*Sb+pad+i] = in.fromEmbeds(b, i)
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, R, Sb, H), use
}

// splitRows copies a [R,P,X] float32 tensor into [batch][P][X] slices.
func splitRows(t *tensors.Tensor, batch, P int) [][][]float32 {
	flat := tensors.MustCopyFlatData[float32](t)
	X := t.Shape().Dimensions[2]
	out := make([][][]float32, batch)
	for b := range batch {
		out[b] = make([][]float32, P)
		for p := range P {
			o := (b*P + p) * X
			out[b][p] = flat[o : o+X : o+X]
		}
	}
	return out
}

// ceilPow2 rounds n up to a power of two, at least min.
func ceilPow2(n, min int) int {
	p := min
	for p < n {
		p *= 2
	}
	return p
}

// bucketChunk rounds a chunk length up: powers of two to 64, then multiples of 64.
func bucketChunk(n int) int {
	if n <= 64 {
		return ceilPow2(n, 1)
	}
	return (n + 63) / 64 * 64
}
