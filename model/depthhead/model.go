package depthhead

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/verify"
	"github.com/dualtoken/evalharness/model/weights"
)

// Model is a loaded head: its config, weights (and codebook) as variables
// of Store's root scope, and the graphs compiled so far.
type Model struct {
	Config  *Config
	Store   *model.Store
	Backend compute.Backend

	mu    sync.Mutex
	execs map[string]*model.Exec
}

// Load reads a head from dir: config.json (the head's own, or a tower
// config with an "rqtransformer" section, whose weights are then under
// "rqtransformer." beside the tower's) and its checkpoint. Every tensor of
// the head's (under the prefix, if any) must be in the name table or be the
// codebook.
func Load(b compute.Backend, dir string) (*Model, error) {
	raw, err := config.Load(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	var src weights.Set = set
	if inTower(raw) {
		src = weights.Prefixed{Set: set, Prefix: TowerPrefix}
	}
	m, err := New(b, cfg, src)
	if err != nil {
		if inTower(raw) {
			return nil, fmt.Errorf("%s (tensors under %q): %w", dir, TowerPrefix, err)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// New builds a head for cfg from set's tensors (VILA-U's names, no
// prefix: see weights.Prefixed), which must hold nothing but the head and
// its codebook.
func New(b compute.Backend, cfg *Config, set weights.Set) (*Model, error) {
	m := &Model{Config: cfg, Store: model.NewStore(), Backend: b, execs: map[string]*model.Exec{}}
	l := weights.NewLoader(set)
	if err := LoadVariables(m.Store.RootScope(), cfg, l, ""); err != nil {
		return nil, err
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, fmt.Errorf("depth head: %w", err)
	}
	return m, nil
}

// SetCodebook gives the head the codebook its codes index: [V,E] float32,
// the tokenizer's shared codebook without its padding row. Compiled graphs
// are dropped: the Go backend bakes variables into them as constants.
func (m *Model) SetCodebook(cb *tensors.Tensor) error {
	c := m.Config
	if d := cb.Shape().Dimensions; len(d) != 2 || d[0] != c.VocabSize || d[1] != c.CodeDim || cb.DType() != dtypes.Float32 {
		return fmt.Errorf("%w: codebook is %s, expected float32 [%d,%d] (vocab_size, input_embed_dim_1)", ErrBadInput, cb.Shape(), c.VocabSize, c.CodeDim)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = map[string]*model.Exec{}
	root := m.Store.RootScope()
	if v := root.GetVariable(CodebookName); v != nil {
		return v.SetValue(cb)
	}
	_, err := root.CreateVariable(CodebookName, cb)
	return err
}

// exec returns the compiled graph named key, making it with fn on first use.
func (m *Model) exec(key string, fn func(s *model.Scope, in []*Node) *Node) (*model.Exec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.execs[key]; e != nil {
		return e, nil
	}
	e, err := model.NewExec(m.Backend, m.Store, fn)
	if err != nil {
		return nil, err
	}
	m.execs[key] = e
	return e, nil
}

// ErrBadInput marks errors in the caller's tensors or options (verify's,
// so that `evalrun verify` exits 2 on them).
var ErrBadInput = verify.ErrBadInput

func (m *Model) checkBody(body *tensors.Tensor) error {
	if d := body.Shape().Dimensions; len(d) != 3 || d[0] < 1 || d[1] < 1 || d[2] != m.Config.BodyDim || body.DType() != dtypes.Float32 {
		return fmt.Errorf("%w: body is %s, expected float32 [B,L,%d] with B, L >= 1 (input_embed_dim_2)", ErrBadInput, body.Shape(), m.Config.BodyDim)
	}
	return nil
}

// checkCodes requires codes [B,L,D] of integers in [0, vocab_size): Gather
// would clamp an index out of range where torch raises.
func (m *Model) checkCodes(codes *tensors.Tensor, b, l int) error {
	c := m.Config
	if d := codes.Shape().Dimensions; len(d) != 3 || d[0] != b || d[1] != l || d[2] != c.Depth {
		return fmt.Errorf("%w: codes are %s, expected integers [%d,%d,%d] (block_size[2] = %d depths)", ErrBadInput, codes.Shape(), b, l, c.Depth, c.Depth)
	}
	var flat []int64
	switch codes.DType() {
	case dtypes.Int64:
		flat = tensors.MustCopyFlatData[int64](codes)
	case dtypes.Int32:
		for _, v := range tensors.MustCopyFlatData[int32](codes) {
			flat = append(flat, int64(v))
		}
	default:
		return fmt.Errorf("%w: codes are %s, expected int32 or int64", ErrBadInput, codes.Shape())
	}
	for i, v := range flat {
		if v < 0 || v >= int64(c.VocabSize) {
			return fmt.Errorf("%w: codes[%d] (flat index) = %d, expected 0..%d (vocab_size %d)", ErrBadInput, i, v, c.VocabSize-1, c.VocabSize)
		}
	}
	return nil
}

// Logits runs Forward: body [B,L,H] float32 and codes [B,L,D] (int32 or
// int64) -> logits [B,L,D,V] float32.
func (m *Model) Logits(body, codes *tensors.Tensor) (*tensors.Tensor, error) {
	if err := m.checkBody(body); err != nil {
		return nil, err
	}
	c := m.Config
	bd := body.Shape().Dimensions
	if err := m.checkCodes(codes, bd[0], bd[1]); err != nil {
		return nil, err
	}
	e, err := m.exec("forward", func(s *model.Scope, in []*Node) *Node { return Forward(s, c, in[0], in[1]) })
	if err != nil {
		return nil, err
	}
	out, err := e.Call(body, codes)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Sampling is how a code is chosen from a depth's guided logits: llm's
// rule (Generate's), which is VILA-U's sample_from_logits except that TopK
// ≥ vocab_size and TopP 0 mean off (torch.topk would raise; VILA-U's top-p
// 0 keeps the best code only).
type Sampling struct {
	Temperature float64 // 0: argmax; > 0: sample from softmax(logits/T)
	TopK        int     // keep the K most likely codes (ties kept); 0: off
	TopP        float64 // keep codes while the mass before them is below P; 0 or 1: off
	// Seed makes sampling reproducible: position (n, l) draws from
	// PCG(Seed, n·L+l) over its depths.
	Seed uint64
}

// VILAUSampling is VILA-U's generation default (temperature 1, top-k 900,
// top-p 0.96).
var VILAUSampling = Sampling{Temperature: 1, TopK: 900, TopP: 0.96}

// Generate chooses the D codes of each position from body [2N,L,H] — rows
// [conditional; unconditional], as VILA-U's generate takes them — depth by
// depth with guidance scale on every depth's logits. Positions are
// independent, so L may exceed 1 (VILA-U's generate takes one position at
// a time, L = 1). It returns codes
// [2N,L,D] int64 (the conditional rows' codes, repeated for the
// unconditional half, as VILA-U returns them) and features [2N,L,E], the sum
// of each position's code embeddings (what the tokenizer decodes).
// Argmax ignores NaN logits (VILA-U's sampler maps them to -Inf).
func (m *Model) Generate(body *tensors.Tensor, scale float64, s Sampling) (codes, features *tensors.Tensor, err error) {
	if err := m.checkBody(body); err != nil {
		return nil, nil, err
	}
	if bad := s.Temperature < 0 || math.IsNaN(s.Temperature) || s.TopK < 0 || s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP); bad {
		return nil, nil, fmt.Errorf("%w: sampling %+v: expected temperature ≥ 0, top-k ≥ 0, top-p in [0,1]", ErrBadInput, s)
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, nil, fmt.Errorf("%w: guidance scale %g, expected a finite number", ErrBadInput, scale)
	}
	c := m.Config
	bd := body.Shape().Dimensions
	if bd[0]%2 != 0 || bd[0] == 0 {
		return nil, nil, fmt.Errorf("%w: body has %d rows, expected [conditional; unconditional] (an even number)", ErrBadInput, bd[0])
	}
	n, l, D, V := bd[0]/2, bd[1], c.Depth, c.VocabSize
	chosen := make([]int64, 2*n*l*D) // [2N,L,D]
	rngs := make([]*rand.Rand, n*l)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(s.Seed, uint64(i)))
	}
	opts := &llm.GenerateOptions{Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP}
	for d := range D {
		e, err := m.exec(fmt.Sprintf("depth%d", d), func(sc *model.Scope, in []*Node) *Node {
			return GuidedLogits(sc, c, in[0], in[1], d, in[2])
		})
		if err != nil {
			return nil, nil, err
		}
		out, err := e.Call(body, tensors.FromFlatDataAndDimensions(chosen, 2*n, l, D), float32(scale))
		if err != nil {
			return nil, nil, err
		}
		logits, err := tensors.CopyFlatData[float32](out[0]) // [N,L,V]
		out[0].FinalizeAll()
		if err != nil {
			return nil, nil, err
		}
		for i := range n * l {
			row := logits[i*V : (i+1)*V]
			for j, v := range row {
				if v != v { // VILA-U's sampler: NaN logits count as -Inf
					row[j] = float32(math.Inf(-1))
				}
			}
			var code int
			if s.Temperature == 0 {
				code = argmaxFinite(row)
			} else {
				code = llm.Sample(row, opts, rngs[i])
			}
			chosen[i*D+d] = int64(code)
			chosen[(n*l+i)*D+d] = int64(code) // the unconditional half follows
		}
	}
	codes = tensors.FromFlatDataAndDimensions(chosen, 2*n, l, D)
	f, err := m.exec("features", func(sc *model.Scope, in []*Node) *Node {
		e := Embed(sc, in[0]) // [2N,L,D,E]; sizes from the node: one exec serves every shape
		d := e.Shape().Dimensions
		return Reshape(SliceAxis(e, 2, AxisElem(d[2]-1)), d[0], d[1], d[3])
	})
	if err != nil {
		return nil, nil, err
	}
	out, err := f.Call(codes)
	if err != nil {
		return nil, nil, err
	}
	return codes, out[0], nil
}

// argmaxFinite returns the first index of the largest value, NaN ignored
// (all NaN: 0): the argmax of VILA-U's sampler after it maps NaN to -Inf
// (torch.argmax, llm's greedy rule, would pick the NaN).
func argmaxFinite(x []float32) int {
	best := -1
	for i, v := range x {
		if v == v && (best < 0 || v > x[best]) {
			best = i
		}
	}
	return max(best, 0)
}
