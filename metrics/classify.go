package metrics

// Zero-shot classification and image–text retrieval over embedding matrices
// (benchmarks.md §7, §8). Pure functions over row-major float32 matrices; dot
// products accumulate in float64. Ties are broken toward the lowest index
// everywhere: a candidate ranks ahead of the target when its score is larger,
// or equal with a smaller index (a stable descending sort). This matters for
// ImageNet, whose class list repeats "missile" (657/744) and "sunglasses"
// (836/837): identical names give identical columns, and the lower index wins.

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// L2Normalize scales each of the n rows (length d) of x to unit L2 norm in
// place; a zero row is left zero (as F.normalize with its eps does).
func L2Normalize(x []float32, n, d int) error {
	if n < 0 || d <= 0 || len(x) != n*d {
		return fmt.Errorf("l2 normalise: %d values, want n×d = %d×%d", len(x), n, d)
	}
	for i := range n {
		row := x[i*d : (i+1)*d]
		s := 0.0
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		nrm := math.Sqrt(s)
		if nrm == 0 {
			continue
		}
		for j, v := range row {
			row[j] = float32(float64(v) / nrm)
		}
	}
	return nil
}

// ClassEmbeddings builds the zero-shot classifier from template embeddings:
// emb is [classes, templates, d] row-major (class c's prompts "a photo of a
// {c}." …, embedded by the text tower). Per class every template embedding is
// L2-normalised, the normalised vectors are averaged and the mean is
// renormalised (OpenAI CLIP / open_clip zero_shot_classifier). Returns
// [classes, d].
func ClassEmbeddings(emb []float32, classes, templates, d int) ([]float32, error) {
	if classes <= 0 || templates <= 0 || d <= 0 || len(emb) != classes*templates*d {
		return nil, fmt.Errorf("class embeddings: %d values, want classes×templates×d = %d×%d×%d", len(emb), classes, templates, d)
	}
	out := make([]float32, classes*d)
	mean := make([]float64, d)
	for c := range classes {
		clear(mean)
		for t := range templates {
			row := emb[(c*templates+t)*d : (c*templates+t+1)*d]
			s := 0.0
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			nrm := math.Sqrt(s)
			if nrm == 0 || math.IsNaN(nrm) || math.IsInf(nrm, 0) {
				return nil, fmt.Errorf("class embeddings: class %d template %d has norm %v", c, t, nrm)
			}
			for j, v := range row {
				mean[j] += float64(v) / nrm
			}
		}
		s := 0.0
		for j := range mean {
			mean[j] /= float64(templates)
			s += mean[j] * mean[j]
		}
		nrm := math.Sqrt(s)
		if nrm == 0 {
			return nil, fmt.Errorf("class embeddings: class %d template mean is zero", c)
		}
		for j, v := range mean {
			out[c*d+j] = float32(v / nrm)
		}
	}
	return out, nil
}

// Similarity returns scale·A·Bᵀ, [na, nb] row-major, for A [na, d] and B
// [nb, d] (both row-major float32; float64 accumulation). Each entry is the
// same deterministic dot product, so identical rows of B give identical
// columns (exact ties).
func Similarity(a []float32, na int, b []float32, nb int, d int, scale float64) ([]float32, error) {
	if d <= 0 || na < 0 || nb < 0 || len(a) != na*d || len(b) != nb*d {
		return nil, fmt.Errorf("similarity: %d and %d values, want na×d = %d×%d and nb×d = %d×%d", len(a), len(b), na, d, nb, d)
	}
	a64 := make([]float64, len(a))
	for i, v := range a {
		a64[i] = float64(v)
	}
	b64 := make([]float64, len(b))
	for i, v := range b {
		b64[i] = float64(v)
	}
	c := make([]float64, na*nb)
	if na > 0 && nb > 0 {
		blas64.Gemm(blas.NoTrans, blas.Trans, scale,
			blas64.General{Rows: na, Cols: d, Stride: d, Data: a64},
			blas64.General{Rows: nb, Cols: d, Stride: d, Data: b64}, 0,
			blas64.General{Rows: na, Cols: nb, Stride: nb, Data: c})
	}
	out := make([]float32, len(c))
	for i, v := range c {
		out[i] = float32(v)
	}
	return out, nil
}

// RankOf returns the 0-based rank of row[target] in a descending sort of row
// with ties to the lowest index: the number of entries that are larger, plus
// equal entries at a lower index. NaN scores rank last.
func RankOf(row []float32, target int) int {
	v := row[target]
	if math.IsNaN(float64(v)) {
		return len(row) - 1
	}
	rank := 0
	for j, x := range row {
		if x > v || (x == v && j < target) {
			rank++
		}
	}
	return rank
}

// ZeroShotResult holds zero-shot classification metrics.
type ZeroShotResult struct {
	N                  int     // images scored
	Top1               float64 // fraction with the label ranked first
	Top5               float64 // fraction with the label in the top 5
	MeanPerClassRecall float64 // mean over classes present in the labels of per-class top-1 recall (sklearn balanced accuracy, as CLIP_benchmark)
	Predictions        []int   // top-1 class per image (lowest index among ties)
	Ranks              []int   // 0-based rank of the true label per image
}

// ZeroShot scores logits [n, classes] (row-major; e.g. Similarity of the
// L2-normalised image embeddings with ClassEmbeddings, scale 100) against
// labels in [0, classes).
func ZeroShot(logits []float32, n, classes int, labels []int) (ZeroShotResult, error) {
	var res ZeroShotResult
	if n <= 0 || classes <= 0 || len(logits) != n*classes {
		return res, fmt.Errorf("zero-shot: %d logits, want n×classes = %d×%d (n > 0)", len(logits), n, classes)
	}
	if len(labels) != n {
		return res, fmt.Errorf("zero-shot: %d labels for %d images", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || l >= classes {
			return res, fmt.Errorf("zero-shot: label[%d] = %d outside [0, %d)", i, l, classes)
		}
	}
	res.N = n
	res.Predictions = make([]int, n)
	res.Ranks = make([]int, n)
	classifyParallel(n, func(i int) {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, x := range row {
			if x > row[best] || math.IsNaN(float64(row[best])) && !math.IsNaN(float64(x)) {
				best = j
			}
		}
		res.Predictions[i] = best
		res.Ranks[i] = RankOf(row, labels[i])
	})
	hits := make([]int, classes)
	count := make([]int, classes)
	top1, top5 := 0, 0
	for i, r := range res.Ranks {
		count[labels[i]]++
		if r == 0 {
			top1++
			hits[labels[i]]++
		}
		if r < 5 {
			top5++
		}
	}
	res.Top1 = float64(top1) / float64(n)
	res.Top5 = float64(top5) / float64(n)
	present, sum := 0, 0.0
	for c := range classes {
		if count[c] > 0 {
			present++
			sum += float64(hits[c]) / float64(count[c])
		}
	}
	res.MeanPerClassRecall = sum / float64(present)
	return res, nil
}

// TopKAccuracy returns, for each k, the fraction of rows whose label ranks
// within the top k (ties to the lowest index).
func TopKAccuracy(logits []float32, n, classes int, labels []int, ks ...int) ([]float64, error) {
	res, err := ZeroShot(logits, n, classes, labels)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(ks))
	for i, k := range ks {
		hit := 0
		for _, r := range res.Ranks {
			if r < k {
				hit++
			}
		}
		out[i] = float64(hit) / float64(n)
	}
	return out, nil
}

// RetrievalResult holds recall@K in both directions, CLIP_benchmark's names
// in the comments.
type RetrievalResult struct {
	Ks          []int
	TextToImage []float64 // image_retrieval_recall@K: fraction of captions whose image is in the top K images
	ImageToText []float64 // text_retrieval_recall@K: fraction of images with at least one caption in the top K captions
	// Per-query 0-based ranks: a caption's image among all images; an
	// image's best-ranked caption among all captions (−1 for an image with
	// no caption, which counts as a miss at every K, as in CLIP_benchmark).
	TextRanks  []int
	ImageRanks []int
	// ImagesWithoutText counts images no caption points to.
	ImagesWithoutText int
}

// Retrieval computes recall@K (default 1, 5, 10) from L2-normalised text
// embeddings [nText, d] and image embeddings [nImage, d]; textImage[t] is the
// image caption t describes (many captions per image).
func Retrieval(text []float32, nText int, images []float32, nImage int, d int, textImage []int, ks ...int) (RetrievalResult, error) {
	scores, err := Similarity(text, nText, images, nImage, d, 1)
	if err != nil {
		return RetrievalResult{}, fmt.Errorf("retrieval: %w", err)
	}
	return RetrievalFromScores(scores, nText, nImage, textImage, ks...)
}

// RetrievalFromScores is Retrieval from a precomputed score matrix S = T·Iᵀ
// [nText, nImage] row-major.
func RetrievalFromScores(scores []float32, nText, nImage int, textImage []int, ks ...int) (RetrievalResult, error) {
	var res RetrievalResult
	if nText <= 0 || nImage <= 0 || len(scores) != nText*nImage {
		return res, fmt.Errorf("retrieval: %d scores, want texts×images = %d×%d (both > 0)", len(scores), nText, nImage)
	}
	if len(textImage) != nText {
		return res, fmt.Errorf("retrieval: %d caption→image indices for %d captions", len(textImage), nText)
	}
	for t, i := range textImage {
		if i < 0 || i >= nImage {
			return res, fmt.Errorf("retrieval: caption %d points to image %d outside [0, %d)", t, i, nImage)
		}
	}
	if len(ks) == 0 {
		ks = []int{1, 5, 10}
	}
	for _, k := range ks {
		if k <= 0 {
			return res, fmt.Errorf("retrieval: recall@%d: K must be positive", k)
		}
	}
	res.Ks = append([]int(nil), ks...)
	res.TextRanks = make([]int, nText)
	classifyParallel(nText, func(t int) {
		res.TextRanks[t] = RankOf(scores[t*nImage:(t+1)*nImage], textImage[t])
	})
	// Image → text: column i of S. The best-ranked positive caption is the one
	// with the highest score, lowest index among equals; its rank is the image's.
	captions := make([][]int, nImage)
	for t, i := range textImage {
		captions[i] = append(captions[i], t)
	}
	res.ImageRanks = make([]int, nImage)
	classifyParallel(nImage, func(i int) {
		if len(captions[i]) == 0 {
			res.ImageRanks[i] = -1
			return
		}
		best := -1
		for _, t := range captions[i] { // ascending t
			if best < 0 || scores[t*nImage+i] > scores[best*nImage+i] {
				best = t
			}
		}
		v := scores[best*nImage+i]
		rank := 0
		for t := range nText {
			x := scores[t*nImage+i]
			if x > v || (x == v && t < best) {
				rank++
			}
		}
		res.ImageRanks[i] = rank
	})
	for _, r := range res.ImageRanks {
		if r < 0 {
			res.ImagesWithoutText++
		}
	}
	recall := func(ranks []int, k int) float64 {
		hit := 0
		for _, r := range ranks {
			if r >= 0 && r < k {
				hit++
			}
		}
		return float64(hit) / float64(len(ranks))
	}
	for _, k := range ks {
		res.TextToImage = append(res.TextToImage, recall(res.TextRanks, k))
		res.ImageToText = append(res.ImageToText, recall(res.ImageRanks, k))
	}
	return res, nil
}

// classifyParallel runs f(0..n−1) over GOMAXPROCS workers in contiguous chunks.
func classifyParallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/64))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				f(i)
			}
		})
	}
	wg.Wait()
}

// SortedClassesByScore returns class indices of one logit row in descending
// order, ties to the lowest index (for printing top-k predictions).
func SortedClassesByScore(row []float32) []int {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	return idx
}
