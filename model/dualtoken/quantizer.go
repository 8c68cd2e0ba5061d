package dualtoken

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/model/precision"
)

// QuantOutput is what a residual quantiser returns (float32 values).
type QuantOutput struct {
	// ZQ [B, H, W, C] is the quantised latent with the straight-through
	// estimator: forward value = sum of the D code vectors, gradient = identity.
	ZQ *Node
	// Codes [B, h, w, D] (int64) are the chosen code indices per depth.
	Codes *Node
	// Commit is the commitment loss: mean over depths d of
	// MSE(z, stopgrad(q_1 + ... + q_d)).
	Commit *Node
	// Cumulative[d] [B, h, w, E] is q_1 + ... + q_{d+1} (code shape).
	Cumulative []*Node
}

// codebook is the graph state of one codebook: weight [K+1, E] (the last row
// is nn.Embedding's padding row, never searched nor updated), the EMA cluster
// sizes [K] and the EMA vector sums [K, E].
type codebook struct {
	weight, clusterSize, embedSum *Node
}

// Quantize runs the residual quantiser of module p ("quantizer_pix" or
// "quantizer_sem") on x [B, H, W, C] (latent_shape).
//
// Eval (train=false): depth d picks, for the residual r_d = z - sum_{d'<d} q_d',
// the code of least squared Euclidean distance |r|^2 + |c|^2 - 2 r.c over the
// K real codes, and q_d = that code vector.
//
// Train (train=true) additionally updates the codebook variables in the graph
// as the authors' code does: cluster_size_ema and embed_ema decay towards the
// batch counts and vector sums (decay), unused codes (EMA count < 1) restart
// from random batch vectors when restart_unused_codes, and the codebook becomes
// embed_ema / (n (c + eps) / (n + K eps)) with n = sum c (Laplace smoothing).
// BottleneckRQ (pixel) updates after every depth, so later depths search the
// updated codebook (q_d itself comes from the codebook before that depth's
// update); BottleneckRQEMA (semantic) updates once after all depths.
// The graph's store must be in training mode (Scope.SetTraining) so the
// codebook variables are graph parameters, and random restarts draw from the
// store's RNG state (Store.SetRNGStateFromSeed makes them deterministic).
//
// The quantiser is a float32 island whatever p.DType: x is converted on
// entry (the straight-through gradient flows back through the conversion)
// and the codebooks are read in float32, because the nearest code is an
// argmin over |r|² + |c|² − 2r·c, a difference of large terms in which
// bfloat16's 2⁻⁸ relative rounding would reorder near ties (unstable codes),
// and the EMA sums and Laplace smoothing accumulate small updates.
func Quantize(p Parts, v VQConfig, x *Node, train bool) QuantOutput {
	g := x.Graph()
	x = precision.ToF32(x)
	if train && !p.Scope.IsTraining(g) {
		exceptions.Panicf("dualtoken: train-mode %s needs Scope.SetTraining(g, true) before any variable is read", p.Name())
	}
	xc := toCodeShape(v, x) // [B, h, w, E]
	dims := xc.Shape().Dimensions
	e := dims[3]
	m := dims[0] * dims[1] * dims[2]
	depth := v.Depth()

	books := make([]codebook, v.NumCodebooks())
	for i := range books {
		cb := p.At(fmt.Sprintf("codebooks.%d", i))
		books[i] = codebook{cb.WAs("weight", precision.F32), cb.WAs("cluster_size_ema", precision.F32), cb.WAs("embed_ema", precision.F32)}
		if got := books[i].weight.Shape().Dimensions; got[0] != v.NEmbed+1 || got[1] != e {
			exceptions.Panicf("dualtoken: %s.codebooks.%d.weight is %v, expected [%d, %d]", p.Name(), i, got, v.NEmbed+1, e)
		}
	}
	book := func(d int) int {
		if v.SharedCodebook {
			return 0
		}
		return d
	}

	residual := StopGradient(Reshape(xc, m, e))
	agg := ZerosLike(residual)
	cumulative := make([]*Node, depth)
	codes := make([]*Node, depth)
	residuals := make([]*Node, depth) // r_d, for EMADepthResiduals
	for d := range depth {
		cb := &books[book(d)]
		idx := nearestCode(residual, cb.weight, v.NEmbed) // [M]
		q := Gather(cb.weight, Reshape(idx, m, 1))        // [M, E], before any update of this depth
		if train && v.BottleneckType == BottleneckRQ {
			*cb = emaUpdate(p, v, *cb, residual, idx)
		}
		residuals[d] = residual
		residual = Sub(residual, q)
		agg = Add(agg, q)
		cumulative[d] = Reshape(agg, dims...)
		codes[d] = Reshape(idx, dims[0], dims[1], dims[2], 1)
	}
	if train && v.BottleneckType == BottleneckRQEMA {
		// The authors' RQBottleneck_ema caches each depth's residual as a view
		// of one tensor that is then updated in place (residual.sub_), so at the
		// flush every cached vector equals the FINAL residual z - sum_d q_d.
		// We reproduce that (it is what their checkpoints trained with) unless
		// EMADepthResiduals asks for each depth's own residual r_d.
		vecs := make([][]*Node, len(books))
		idxs := make([][]*Node, len(books))
		for d := range depth {
			r := residual
			if v.EMADepthResiduals {
				r = residuals[d]
			}
			vecs[book(d)] = append(vecs[book(d)], r)
			idxs[book(d)] = append(idxs[book(d)], Reshape(codes[d], m))
		}
		for i := range books {
			books[i] = emaUpdate(p, v, books[i], Concatenate(vecs[i], 0), Concatenate(idxs[i], 0))
		}
	}
	if train {
		for i, cb := range books {
			n := fmt.Sprintf("codebooks.%d", i)
			p.At(n).Var("weight").SetNodeValue(cb.weight)
			p.At(n).Var("cluster_size_ema").SetNodeValue(cb.clusterSize)
			p.At(n).Var("embed_ema").SetNodeValue(cb.embedSum)
		}
	}

	var losses []*Node
	for _, c := range cumulative {
		losses = append(losses, ReduceAllMean(Square(Sub(xc, StopGradient(c)))))
	}
	commit := DivScalar(addN(losses...), float64(depth))
	zq := toLatentShape(v, cumulative[depth-1])
	zq = Add(x, StopGradient(Sub(zq, x)))
	return QuantOutput{ZQ: zq, Codes: Concatenate(codes, 3), Commit: commit, Cumulative: cumulative}
}

// addN sums nodes.
func addN(xs ...*Node) *Node {
	s := xs[0]
	for _, x := range xs[1:] {
		s = Add(s, x)
	}
	return s
}

// nearestCode returns, for each row of r [M, E], the index (int64) of the
// nearest of the first k rows of weight [k+1, E] by squared Euclidean distance
// in the matmul form |r|^2 + |c|^2 - 2 r.c (the padding row is excluded).
func nearestCode(r, weight *Node, k int) *Node {
	c := StopGradient(Slice(weight, AxisRange(0, k))) // [K, E]
	r = StopGradient(r)
	rr := ReduceAndKeep(Square(r), ReduceSum, 1)          // [M, 1]
	cc := Reshape(ReduceSum(Square(c), 1), 1, k)          // [1, K]
	dot := DotGeneral(r, []int{1}, nil, c, []int{1}, nil) // [M, K]
	dist := Add(Add(rr, cc), MulScalar(dot, -2))
	return ArgMin(dist, 1, dtypes.Int64)
}

// emaUpdate is one EMA step of a codebook from vectors vecs [N, E] assigned
// to codes idx [N], with the optional dead-code restart.
func emaUpdate(p Parts, v VQConfig, cb codebook, vecs, idx *Node) codebook {
	g := vecs.Graph()
	k := v.NEmbed
	vecs, idx = StopGradient(vecs), StopGradient(idx)
	n := vecs.Shape().Dimensions[0]
	e := vecs.Shape().Dimensions[1]
	dt := vecs.DType()
	at := Reshape(idx, n, 1)
	counts := ScatterSum(Zeros(g, shapes.Make(dt, k)), at, Ones(g, shapes.Make(dt, n)), false, false)
	sums := ScatterSum(Zeros(g, shapes.Make(dt, k, e)), at, vecs, false, false)
	decay := v.Decay
	cs := Add(MulScalar(cb.clusterSize, decay), MulScalar(counts, 1-decay))
	es := Add(MulScalar(cb.embedSum, decay), MulScalar(sums, 1-decay))
	if v.RestartUnusedCodes {
		random := randomRows(p, vecs, k)
		used := GreaterOrEqual(cs, ScalarOne(g, dt)) // [K]
		es = Where(BroadcastToDims(Reshape(used, k, 1), k, e), es, random)
		cs = Where(used, cs, OnesLike(cs))
	}
	total := ReduceAllSum(cs)
	norm := Div(Mul(total, AddScalar(cs, v.Eps)), AddScalar(total, float64(k)*v.Eps)) // [K]
	w := Div(es, Reshape(norm, k, 1))
	pad := Slice(cb.weight, AxisRange(k, k+1))
	return codebook{weight: Concatenate([]*Node{w, pad}, 0), clusterSize: cs, embedSum: es}
}

// randomRows draws k distinct random rows of vecs [N, E] (a random
// permutation's first k, as torch.randperm(N)[:k]); when N < k the batch is
// first tiled ceil(k/N) times plus uniform noise in [0, 0.01/sqrt(E)), as the
// authors' _tile_with_noise.
func randomRows(p Parts, vecs *Node, k int) *Node {
	g := vecs.Graph()
	n, e := vecs.Shape().Dimensions[0], vecs.Shape().Dimensions[1]
	if n < k {
		reps := (k + n - 1) / n
		tiled := make([]*Node, reps)
		for i := range tiled {
			tiled[i] = vecs
		}
		vecs = Concatenate(tiled, 0)
		n = reps * n
		noise := p.Scope.RandomUniform(g, shapes.Make(vecs.DType(), n, e))
		vecs = Add(vecs, MulScalar(noise, 0.01/math.Sqrt(float64(e))))
	}
	keys := p.Scope.RandomUniform(g, shapes.Make(vecs.DType(), n))
	_, pick := TopK(keys, k, 0)
	return Gather(vecs, Reshape(ConvertDType(pick, dtypes.Int64), k, 1))
}

// toCodeShape folds latent [B, H, W, C] into codes [B, H/rH, W/rW, rH*rW*C].
func toCodeShape(v VQConfig, x *Node) *Node {
	rh, rw := v.Divisor()
	d := x.Shape().Dimensions
	if rh == 1 && rw == 1 {
		return x
	}
	y := Reshape(x, d[0], d[1]/rh, rh, d[2]/rw, rw, d[3])
	y = TransposeAllAxes(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, d[0], d[1]/rh, d[2]/rw, -1)
}

// toLatentShape is the inverse of toCodeShape.
func toLatentShape(v VQConfig, x *Node) *Node {
	rh, rw := v.Divisor()
	if rh == 1 && rw == 1 {
		return x
	}
	d := x.Shape().Dimensions
	c := v.LatentShape[2]
	y := Reshape(x, d[0], d[1], d[2], rh, rw, c)
	y = TransposeAllAxes(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, d[0], d[1]*rh, d[2]*rw, c)
}

// CodeEmbeddings returns the per-depth code vectors of codes [B, h, w, D]:
// [B, h, w, D, E] (the authors' embed_code_with_depth).
func CodeEmbeddings(p Parts, v VQConfig, codes *Node) *Node {
	d := codes.Shape().Dimensions
	depth := d[3]
	parts := make([]*Node, depth)
	for i := range depth {
		b := 0
		if !v.SharedCodebook {
			b = i
		}
		w := p.At(fmt.Sprintf("codebooks.%d", b)).WAs("weight", precision.F32)
		idx := Reshape(Slice(codes, AxisRange(), AxisRange(), AxisRange(), AxisElem(i)), d[0], d[1], d[2], 1)
		parts[i] = Reshape(Gather(w, ConvertDType(idx, dtypes.Int64)), d[0], d[1], d[2], 1, -1)
	}
	return Concatenate(parts, 3)
}

// EmbedCodes is the token embedding of codes [B, h, w, D]: the sum over
// depths of the code vectors, in latent shape [B, H, W, C] (embed_code).
func EmbedCodes(p Parts, v VQConfig, codes *Node) *Node {
	return toLatentShape(v, ReduceSum(CodeEmbeddings(p, v, codes), 3))
}
