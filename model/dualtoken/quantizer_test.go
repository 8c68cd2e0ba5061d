package dualtoken

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
)

func testBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// vqStore holds one quantiser "q" with codebook rows (the padding row is
// appended), cluster sizes cs and embed_ema = the codebook.
func vqStore(t testing.TB, rows [][]float32, cs []float32) *model.Store {
	t.Helper()
	e := len(rows[0])
	flat := make([]float32, 0, (len(rows)+1)*e)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	store := model.NewStore()
	s := store.RootScope()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(SetValue(s, "q.codebooks.0.embed_ema", tensors.FromFlatDataAndDimensions(append([]float32(nil), flat...), len(rows), e)))
	flat = append(flat, make([]float32, e)...)
	must(SetValue(s, "q.codebooks.0.weight", tensors.FromFlatDataAndDimensions(flat, len(rows)+1, e)))
	must(SetValue(s, "q.codebooks.0.cluster_size_ema", tensors.FromFlatDataAndDimensions(cs, len(rows))))
	return store
}

func vq(k, e, depth int, bottleneck string) VQConfig {
	return VQConfig{BottleneckType: bottleneck, LatentShape: [3]int{1, 0, e}, CodeShape: [3]int{1, 0, depth},
		EmbedDim: e, NEmbed: k, Decay: 0.99, Eps: 1e-5, SharedCodebook: true}
}

// runQuant quantises x [N, E] (as a [1, 1, N, E] latent) and returns zq,
// codes [N, D] and the per-depth cumulative sums [D][N*E].
func runQuant(t testing.TB, b compute.Backend, store *model.Store, v VQConfig, x [][]float32, train bool) (zq []float32, codes [][]int64, cum [][]float32) {
	t.Helper()
	n, e := len(x), len(x[0])
	v.LatentShape[1], v.CodeShape[1] = n, n
	flat := make([]float32, 0, n*e)
	for _, r := range x {
		flat = append(flat, r...)
	}
	exec, err := model.NewExec(b, store, func(scope *model.Scope, xs []*Node) []*Node {
		if train {
			scope.SetTraining(xs[0].Graph(), true)
		}
		q := Quantize(NewParts(scope, xs[0].Graph()).At("q"), v, xs[0], train)
		return append([]*Node{q.ZQ, q.Codes}, q.Cumulative...)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(flat, 1, 1, n, e))
	if err != nil {
		t.Fatal(err)
	}
	zq = tensors.MustCopyFlatData[float32](out[0])
	c := tensors.MustCopyFlatData[int64](out[1])
	d := v.Depth()
	for i := range n {
		codes = append(codes, c[i*d:(i+1)*d])
	}
	for _, o := range out[2:] {
		cum = append(cum, tensors.MustCopyFlatData[float32](o))
	}
	return
}

func randRows(r *rand.Rand, n, e int, scale float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, e)
		for j := range out[i] {
			out[i][j] = float32(r.NormFloat64() * scale)
		}
	}
	return out
}

// TestQuantizerDepth1IsPlainVQ: with D = 1 the quantiser is plain VQ: each
// vector's code is the brute-force nearest codebook row (float64 search here)
// and the quantised vector is that row (zq = z + (q - z) up to float32 rounding).
func TestQuantizerDepth1IsPlainVQ(t *testing.T) {
	b := testBackend(t)
	r := rand.New(rand.NewPCG(1, 2))
	const k, e, n = 37, 5, 64
	book := randRows(r, k, e, 1)
	x := randRows(r, n, e, 1.2)
	zq, codes, cum := runQuant(t, b, vqStore(t, book, make([]float32, k)), vq(k, e, 1, BottleneckRQ), x, false)
	for i, xi := range x {
		best, bestD := -1, math.Inf(1)
		for j, c := range book {
			d := 0.0
			for a := range xi {
				d += (float64(xi[a]) - float64(c[a])) * (float64(xi[a]) - float64(c[a]))
			}
			if d < bestD {
				best, bestD = j, d
			}
		}
		if codes[i][0] != int64(best) {
			t.Fatalf("vector %d: code %d, nearest is %d", i, codes[i][0], best)
		}
		for a := range e {
			if cum[0][i*e+a] != book[best][a] || math.Abs(float64(zq[i*e+a]-book[best][a])) > 1e-6 {
				t.Fatalf("vector %d: q[%d] = %v, zq = %v, code row has %v", i, a, cum[0][i*e+a], zq[i*e+a], book[best][a])
			}
		}
	}
}

// TestQuantizerPaddingRowNeverChosen: the codebook's padding row (index K)
// is excluded from the search even when it is the nearest vector.
func TestQuantizerPaddingRowNeverChosen(t *testing.T) {
	b := testBackend(t)
	book := [][]float32{{5, 5}, {-5, 5}} // padding row (0,0) is nearest to x
	_, codes, _ := runQuant(t, b, vqStore(t, book, []float32{1, 1}), vq(2, 2, 2, BottleneckRQ), [][]float32{{0.1, -0.1}, {0, 0}}, false)
	for i, c := range codes {
		for _, ci := range c {
			if ci < 0 || ci >= 2 {
				t.Fatalf("vector %d: code %d outside the %d real codes", i, ci, 2)
			}
		}
	}
}

// TestQuantizerResidualNormsShrink: with a multi-scale codebook that holds
// the zero vector, every residual |z - sum_{d'<=d} q_d'| is non-increasing in
// d and the mean strictly decreases.
func TestQuantizerResidualNormsShrink(t *testing.T) {
	b := testBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	const e, n, depth = 4, 50, 4
	var book [][]float32
	book = append(book, make([]float32, e))
	for _, s := range []float64{1, 0.4, 0.15, 0.05} {
		book = append(book, randRows(r, 64, e, s)...)
	}
	x := randRows(r, n, e, 1)
	_, _, cum := runQuant(t, b, vqStore(t, book, make([]float32, len(book))), vq(len(book), e, depth, BottleneckRQ), x, false)
	prev := make([]float64, n)
	prevMean := math.Inf(1)
	for i := range prev {
		prev[i] = math.Inf(1)
	}
	for d := range depth {
		mean := 0.0
		for i := range n {
			s := 0.0
			for a := range e {
				diff := float64(x[i][a] - cum[d][i*e+a])
				s += diff * diff
			}
			norm := math.Sqrt(s)
			if norm > prev[i]+1e-6 {
				t.Errorf("depth %d vector %d: residual norm %.4g grew from %.4g", d, i, norm, prev[i])
			}
			prev[i] = norm
			mean += norm / n
		}
		t.Logf("depth %d: mean residual norm %.4f", d+1, mean)
		if mean >= prevMean {
			t.Errorf("depth %d: mean residual norm %.4g did not shrink from %.4g", d+1, mean, prevMean)
		}
		prevMean = mean
	}
}

// TestQuantizerStraightThroughGradient: d(sum zq*R)/dz = R exactly (the
// quantiser is the identity for gradients), and the commitment loss pulls z
// towards the cumulative sums: d commit/dz = 2/(D*numel) sum_d (z - q_<=d).
func TestQuantizerStraightThroughGradient(t *testing.T) {
	b := testBackend(t)
	r := rand.New(rand.NewPCG(5, 6))
	const k, e, n, depth = 16, 3, 10, 3
	book := randRows(r, k, e, 1)
	x := randRows(r, n, e, 1)
	w := randRows(r, n, e, 1)
	v := vq(k, e, depth, BottleneckRQ)
	v.LatentShape[1], v.CodeShape[1] = n, n
	flat := func(m [][]float32) *tensors.Tensor {
		var f []float32
		for _, row := range m {
			f = append(f, row...)
		}
		return tensors.FromFlatDataAndDimensions(f, 1, 1, n, e)
	}
	exec, err := model.NewExec(b, vqStore(t, book, make([]float32, k)), func(scope *model.Scope, xs []*Node) []*Node {
		q := Quantize(NewParts(scope, xs[0].Graph()).At("q"), v, xs[0], false)
		gz := Gradient(ReduceAllSum(Mul(q.ZQ, xs[1])), xs[0])[0]
		gc := Gradient(q.Commit, xs[0])[0]
		return append([]*Node{gz, gc}, q.Cumulative...)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(flat(x), flat(w))
	if err != nil {
		t.Fatal(err)
	}
	gz := tensors.MustCopyFlatData[float32](out[0])
	gc := tensors.MustCopyFlatData[float32](out[1])
	for i := range n {
		for a := range e {
			if gz[i*e+a] != w[i][a] {
				t.Fatalf("d zq / d z at %d,%d = %v, want %v", i, a, gz[i*e+a], w[i][a])
			}
			want := 0.0
			for d := range depth {
				want += 2 * float64(x[i][a]-tensors.MustCopyFlatData[float32](out[2+d])[i*e+a]) / float64(depth*n*e)
			}
			if math.Abs(float64(gc[i*e+a])-want) > 1e-6 {
				t.Fatalf("d commit / d z at %d,%d = %v, want %v", i, a, gc[i*e+a], want)
			}
		}
	}
}

// handBook is the hand-worked EMA example: K = 4 codes in 2-D, decay 0.5,
// eps 0.1 (large, so the smoothing shows), every cluster size 1.
var (
	handBook  = [][]float32{{0, 0}, {4, 0}, {0, 4}, {10, 10}}
	handBatch = [][]float32{{1, 0}, {3, 0}, {0, 3}, {0, 5}} // nearest: 0, 1, 2, 2
)

func handVQ(restart bool) VQConfig {
	v := vq(4, 2, 1, BottleneckRQ)
	v.Decay, v.Eps, v.RestartUnusedCodes = 0.5, 0.1, restart
	return v
}

func readVar(t testing.TB, store *model.Store, name string) []float32 {
	t.Helper()
	val, err := Variable(store.RootScope(), name).Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](val)
}

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol || math.IsNaN(float64(a[i])) {
			return false
		}
	}
	return true
}

// TestQuantizerEMAHandExample checks one train step against arithmetic done
// by hand. Counts [1, 1, 2, 0], sums (1,0) (3,0) (0,8) (0,0);
// cs = 0.5*1 + 0.5*counts = [1, 1, 1.5, 0.5]; ee = 0.5*W + 0.5*sums =
// (0.5,0) (3.5,0) (0,6) (5,5); n = 4, smoothed cs = 4(cs+0.1)/(4+0.4) =
// [1, 1, 16/11, 6/11]; W = ee/smoothed = (0.5,0) (3.5,0) (0,4.125) (55/6,55/6).
func TestQuantizerEMAHandExample(t *testing.T) {
	b := testBackend(t)
	store := vqStore(t, handBook, []float32{1, 1, 1, 1})
	_, codes, _ := runQuant(t, b, store, handVQ(false), handBatch, true)
	for i, want := range []int64{0, 1, 2, 2} {
		if codes[i][0] != want {
			t.Fatalf("codes %v, want [0 1 2 2]", codes)
		}
	}
	cs := readVar(t, store, "q.codebooks.0.cluster_size_ema")
	ee := readVar(t, store, "q.codebooks.0.embed_ema")
	w := readVar(t, store, "q.codebooks.0.weight")
	if !near(cs, []float32{1, 1, 1.5, 0.5}, 1e-6) {
		t.Errorf("cluster_size_ema %v, want [1 1 1.5 0.5]", cs)
	}
	if !near(ee, []float32{0.5, 0, 3.5, 0, 0, 6, 5, 5}, 1e-6) {
		t.Errorf("embed_ema %v, want [0.5 0 3.5 0 0 6 5 5]", ee)
	}
	if !near(w, []float32{0.5, 0, 3.5, 0, 0, 4.125, 55.0 / 6, 55.0 / 6, 0, 0}, 1e-5) {
		t.Errorf("weight %v, want [0.5 0 3.5 0 0 4.125 9.1667 9.1667 0 0] (padding row untouched)", w)
	}
}

// TestQuantizerRestartHandExample: as above with restarts on. Code 3's EMA
// count 0.5 < 1, so its embed_ema becomes one of the batch vectors and its
// count 1: cs = [1, 1, 1.5, 1], n = 4.5, smoothed = 4.5(cs+0.1)/4.9, so
// W0 = 0.5*4.9/4.95, W2 = 6*4.9/7.2 = 4.08333 and W3 = v*4.9/4.95. The pick
// is deterministic given the seed, and varies with it.
func TestQuantizerRestartHandExample(t *testing.T) {
	b := testBackend(t)
	picks := map[int]bool{}
	for seed := range int64(8) {
		var first []float32
		for range 2 {
			store := vqStore(t, handBook, []float32{1, 1, 1, 1})
			if err := store.SetRNGStateFromSeed(seed); err != nil {
				t.Fatal(err)
			}
			runQuant(t, b, store, handVQ(true), handBatch, true)
			cs := readVar(t, store, "q.codebooks.0.cluster_size_ema")
			ee := readVar(t, store, "q.codebooks.0.embed_ema")
			w := readVar(t, store, "q.codebooks.0.weight")
			if !near(cs, []float32{1, 1, 1.5, 1}, 1e-6) {
				t.Fatalf("cluster_size_ema %v, want [1 1 1.5 1]", cs)
			}
			pick := -1
			for i, v := range handBatch {
				if near(ee[6:8], v, 0) {
					pick = i
				}
			}
			if pick < 0 {
				t.Fatalf("restarted embed_ema %v is not a batch vector %v", ee[6:8], handBatch)
			}
			s := float32(4.9 / 4.95)
			want := []float32{0.5 * s, 0, 3.5 * s, 0, 0, float32(6 * 4.9 / 7.2), handBatch[pick][0] * s, handBatch[pick][1] * s}
			if !near(w[:8], want, 1e-5) {
				t.Fatalf("weight %v, want %v", w[:8], want)
			}
			if first == nil {
				first = ee[6:8]
			} else if !near(first, ee[6:8], 0) {
				t.Fatalf("seed %d: restart picked %v then %v", seed, first, ee[6:8])
			}
			picks[pick] = true
		}
	}
	if len(picks) < 2 {
		t.Errorf("8 seeds all restarted code 3 from the same batch vector %v", picks)
	}
}

// TestQuantizerRestartTilesSmallBatch: with fewer batch vectors than codes,
// restarted codes are batch vectors plus uniform noise in [0, 0.01/sqrt(E)).
func TestQuantizerRestartTilesSmallBatch(t *testing.T) {
	b := testBackend(t)
	r := rand.New(rand.NewPCG(7, 8))
	const k, e = 12, 3
	book := randRows(r, k, e, 1)
	x := randRows(r, 2, e, 1)
	v := vq(k, e, 1, BottleneckRQ)
	v.RestartUnusedCodes = true
	store := vqStore(t, book, make([]float32, k)) // every count < 1: all restart
	runQuant(t, b, store, v, x, true)
	ee := readVar(t, store, "q.codebooks.0.embed_ema")
	cs := readVar(t, store, "q.codebooks.0.cluster_size_ema")
	bound := 0.01 / math.Sqrt(e)
	noisy := false
	for c := range k {
		if cs[c] != 1 {
			t.Fatalf("code %d count %v after restart, want 1", c, cs[c])
		}
		ok := false
		for _, xi := range x {
			in := true
			for a := range e {
				d := float64(ee[c*e+a] - xi[a])
				if d < -1e-7 || d >= bound {
					in = false
				}
				if d > 1e-7 {
					noisy = true
				}
			}
			ok = ok || in
		}
		if !ok {
			t.Fatalf("restarted code %d = %v is no batch vector + noise in [0, %.4g)", c, ee[c*e:(c+1)*e], bound)
		}
	}
	if !noisy {
		t.Error("tiled restart vectors carry no noise")
	}
}

// TestQuantizerCodebookNeverNaN: 60 train steps on batches that leave most
// codes unused, with and without restarts, in both EMA schedules, keep the
// codebook and its statistics finite.
func TestQuantizerCodebookNeverNaN(t *testing.T) {
	b := testBackend(t)
	for _, bt := range []string{BottleneckRQ, BottleneckRQEMA} {
		for _, restart := range []bool{false, true} {
			r := rand.New(rand.NewPCG(9, 10))
			const k, e, depth = 64, 4, 3
			v := vq(k, e, depth, bt)
			v.RestartUnusedCodes = restart
			store := vqStore(t, randRows(r, k, e, 1), make([]float32, k))
			store.SetRNGStateFromSeed(1)
			v.LatentShape[1], v.CodeShape[1] = 8, 8
			exec, err := model.NewExec(b, store, func(scope *model.Scope, x *Node) *Node {
				scope.SetTraining(x.Graph(), true)
				return Quantize(NewParts(scope, x.Graph()).At("q"), v, x, true).Commit
			})
			if err != nil {
				t.Fatal(err)
			}
			for step := range 60 {
				x := randRows(r, 8, e, 0.5)
				if step%3 == 0 {
					x = make([][]float32, 8) // all-zero batch
					for i := range x {
						x[i] = make([]float32, e)
					}
				}
				var f []float32
				for _, row := range x {
					f = append(f, row...)
				}
				if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(f, 1, 1, 8, e)); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"weight", "cluster_size_ema", "embed_ema"} {
				for i, x := range readVar(t, store, "q.codebooks.0."+name) {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("%s restart=%v: %s[%d] = %v after 60 steps", bt, restart, name, i, x)
					}
				}
			}
		}
	}
}

// TestQuantizerSemanticEMAResiduals: the after-all-depths (rq_ema) EMA, by
// hand. x = (5,0): depth 1 takes code 1 (4,0), leaving (1,0); depth 2 takes
// code 0 (0,0). As the authors' code runs, both depths contribute the final
// residual (1,0): embed_ema[1] = 0.5*(4,0) + 0.5*(1,0) = (2.5,0). With
// EMADepthResiduals depth 1 contributes its own residual (5,0): (4.5,0).
// Either way embed_ema[0] = 0.5*(0,0) + 0.5*(1,0) and counts are [1,1,0,0].
func TestQuantizerSemanticEMAResiduals(t *testing.T) {
	b := testBackend(t)
	for _, c := range []struct {
		perDepth bool
		want1    float32
	}{{false, 2.5}, {true, 4.5}} {
		v := vq(4, 2, 2, BottleneckRQEMA)
		v.Decay, v.Eps, v.EMADepthResiduals = 0.5, 0.1, c.perDepth
		store := vqStore(t, handBook, []float32{1, 1, 1, 1})
		_, codes, _ := runQuant(t, b, store, v, [][]float32{{5, 0}}, true)
		if codes[0][0] != 1 || codes[0][1] != 0 {
			t.Fatalf("codes %v, want [1 0]", codes)
		}
		cs := readVar(t, store, "q.codebooks.0.cluster_size_ema")
		ee := readVar(t, store, "q.codebooks.0.embed_ema")
		if !near(cs, []float32{1, 1, 0.5, 0.5}, 1e-6) {
			t.Errorf("perDepth=%v: cluster_size_ema %v, want [1 1 0.5 0.5]", c.perDepth, cs)
		}
		if !near(ee, []float32{0.5, 0, c.want1, 0, 0, 2, 5, 5}, 1e-6) {
			t.Errorf("perDepth=%v: embed_ema %v, want [0.5 0 %v 0 0 2 5 5]", c.perDepth, ee, c.want1)
		}
	}
}
