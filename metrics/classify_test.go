package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestRankOfTies(t *testing.T) {
	row := []float32{0.5, 0.9, 0.9, 0.1, float32(math.NaN())}
	cases := []struct{ target, want int }{
		{1, 0}, // first of the tied maxima
		{2, 1}, // tied with index 1, which is lower
		{0, 2},
		{3, 3},
		{4, 4}, // NaN ranks last
	}
	for _, c := range cases {
		if got := RankOf(row, c.target); got != c.want {
			t.Errorf("RankOf(target %d) = %d, want %d", c.target, got, c.want)
		}
	}
	if got := SortedClassesByScore(row[:4]); got[0] != 1 || got[1] != 2 || got[2] != 0 || got[3] != 3 {
		t.Errorf("SortedClassesByScore = %v, want [1 2 0 3]", got)
	}
}

func TestZeroShotTopKAndRecall(t *testing.T) {
	// 6 classes; classes 2 and 4 have identical logits in every row (duplicate
	// names like "missile" 657/744), so 4 can never beat 2.
	logits := []float32{
		// c0  c1   c2   c3   c4   c5
		9, 1, 5, 2, 5, 0, // img0 label 0: rank 0
		1, 2, 7, 3, 7, 6, // img1 label 4: 2 ties ahead (idx 2) → rank 1 (5 higher? 7=7 tie, 6<7) → rank 1
		1, 2, 7, 3, 7, 6, // img2 label 2: rank 0
		8, 7, 6, 5, 6, 9, // img3 label 3: ahead 8,7,6,6,9 → rank 5
		0, 0, 0, 0, 0, 0, // img4 label 5: all tied, 5 lower indices → rank 5
		0, 0, 0, 0, 0, 0, // img5 label 0: rank 0
	}
	labels := []int{0, 4, 2, 3, 5, 0}
	res, err := ZeroShot(logits, 6, 6, labels)
	if err != nil {
		t.Fatal(err)
	}
	wantRanks := []int{0, 1, 0, 5, 5, 0}
	wantPred := []int{0, 2, 2, 5, 0, 0}
	for i := range wantRanks {
		if res.Ranks[i] != wantRanks[i] || res.Predictions[i] != wantPred[i] {
			t.Errorf("img %d: rank %d pred %d, want rank %d pred %d", i, res.Ranks[i], res.Predictions[i], wantRanks[i], wantPred[i])
		}
	}
	if res.Top1 != 3.0/6 || res.Top5 != 4.0/6 {
		t.Errorf("top1 %v top5 %v, want 0.5 and 0.6667", res.Top1, res.Top5)
	}
	// Per-class recall over classes present (0,2,3,4,5): 2/2, 1, 0, 0, 0 → 2/5.
	if math.Abs(res.MeanPerClassRecall-0.4) > 1e-15 {
		t.Errorf("mean per-class recall %v, want 0.4", res.MeanPerClassRecall)
	}
	acc, err := TopKAccuracy(logits, 6, 6, labels, 1, 2, 6)
	if err != nil {
		t.Fatal(err)
	}
	if acc[0] != 0.5 || acc[1] != 4.0/6 || acc[2] != 1 {
		t.Errorf("TopKAccuracy(1,2,6) = %v, want [0.5 0.667 1]", acc)
	}
	for _, bad := range []struct {
		labels []int
		n      int
		want   string
	}{
		{[]int{0, 6, 0, 0, 0, 0}, 6, "label[1] = 6 outside [0, 6)"},
		{[]int{0}, 6, "1 labels for 6 images"},
		{labels, 5, "want n×classes = 5×6"},
	} {
		if _, err := ZeroShot(logits, bad.n, 6, bad.labels); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("bad input: %v, want %q", err, bad.want)
		}
	}
}

func TestClassEmbeddings(t *testing.T) {
	// class 0: (3,4) → (0.6,0.8); (0,2) → (0,1); mean (0.3,0.9) → /√0.9.
	// class 1: (2,0) → (1,0); (0,−5) → (0,−1); mean (0.5,−0.5) → (1/√2, −1/√2).
	emb := []float32{3, 4, 0, 2, 2, 0, 0, -5}
	got, err := ClassEmbeddings(emb, 2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.3 / math.Sqrt(0.9), 0.9 / math.Sqrt(0.9), 1 / math.Sqrt2, -1 / math.Sqrt2}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-7 {
			t.Errorf("class embeddings[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := ClassEmbeddings([]float32{1, 0, -1, 0}, 1, 2, 2); err == nil || !strings.Contains(err.Error(), "class 0 template mean is zero") {
		t.Errorf("opposite templates: %v", err)
	}
	if _, err := ClassEmbeddings(emb, 2, 3, 2); err == nil || !strings.Contains(err.Error(), "want classes×templates×d = 2×3×2") {
		t.Errorf("bad size: %v", err)
	}
	x := []float32{3, 4, 0, 0}
	if err := L2Normalize(x, 2, 2); err != nil || x[0] != 0.6 || x[1] != 0.8 || x[2] != 0 {
		t.Errorf("L2Normalize = %v (%v)", x, err)
	}
}

func TestSimilarityDuplicateRowsTie(t *testing.T) {
	// Rows 1 and 3 of B are identical: their columns must be bit-identical.
	a := []float32{0.1, 0.2, 0.3, -0.7, 0.5, 0.11, 0.13, 0.17, 0.19}
	b := []float32{1, 0, 0, 0.3, 0.3, 0.4, 0, 1, 0, 0.3, 0.3, 0.4}
	s, err := Similarity(a, 3, b, 4, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if s[i*4+1] != s[i*4+3] {
			t.Errorf("row %d: duplicate columns differ: %v vs %v", i, s[i*4+1], s[i*4+3])
		}
	}
	if want := float32(100 * (0.1*0.3 + 0.2*0.3 + 0.3*0.4)); math.Abs(float64(s[1]-want)) > 1e-5 {
		t.Errorf("s[0,1] = %v, want %v", s[1], want)
	}
	// Label 3 loses the tie to 1.
	if r := RankOf(s[4:8], 3); r != RankOf(s[4:8], 1)+1 {
		t.Errorf("tied duplicate ranks %d, want one after index 1", r)
	}
}

func TestRetrievalRanks(t *testing.T) {
	// 5 captions × 3 images; captions 0,1 → image 0; 2,3 → image 1; 4 → image 2.
	scores := []float32{
		0.9, 0.1, 0.9, // t0 → img0: tie with img2 (higher index) → rank 0
		0.2, 0.5, 0.5, // t1 → img0: rank 2
		0.7, 0.7, 0.1, // t2 → img1: tie with img0 (lower index) → rank 1
		0.3, 0.8, 0.0, // t3 → img1: rank 0
		0.4, 0.4, 0.4, // t4 → img2: two lower-index ties → rank 2
	}
	textImage := []int{0, 0, 1, 1, 2}
	res, err := RetrievalFromScores(scores, 5, 3, textImage, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantT := []int{0, 2, 1, 0, 2}
	// Image columns: img0 best caption t0 (0.9) rank 0; img1 best t3 (0.8) rank 0;
	// img2 only t4 (0.4), beaten by t0 0.9 and t1 0.5 → rank 2.
	wantI := []int{0, 0, 2}
	for i, w := range wantT {
		if res.TextRanks[i] != w {
			t.Errorf("text %d rank %d, want %d", i, res.TextRanks[i], w)
		}
	}
	for i, w := range wantI {
		if res.ImageRanks[i] != w {
			t.Errorf("image %d rank %d, want %d", i, res.ImageRanks[i], w)
		}
	}
	wantT2I := []float64{0.4, 0.6, 1}
	wantI2T := []float64{2.0 / 3, 2.0 / 3, 1}
	for i := range wantT2I {
		if res.TextToImage[i] != wantT2I[i] || res.ImageToText[i] != wantI2T[i] {
			t.Errorf("recall@%d: t→i %v i→t %v, want %v %v", res.Ks[i], res.TextToImage[i], res.ImageToText[i], wantT2I[i], wantI2T[i])
		}
	}
	// Tie between two positive captions of one image: the lower caption index is the one ranked.
	res, err = RetrievalFromScores([]float32{0.5, 0.5, 0.5}, 3, 1, []int{0, 0, 0}, 1)
	if err != nil || res.ImageRanks[0] != 0 || res.ImageToText[0] != 1 {
		t.Errorf("tied positives: rank %v recall %v err %v", res.ImageRanks, res.ImageToText, err)
	}
	// An image without captions counts as a miss (CLIP_benchmark: 0/0 is not > 0).
	res, err = RetrievalFromScores([]float32{0.9, 0.1}, 1, 2, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImagesWithoutText != 1 || res.ImageRanks[1] != -1 || res.ImageToText[0] != 0.5 || res.TextToImage[0] != 1 {
		t.Errorf("no-caption image: %+v", res)
	}
	if len(res.Ks) != 3 || res.Ks[2] != 10 {
		t.Errorf("default Ks %v, want [1 5 10]", res.Ks)
	}
	// Through embeddings: unit vectors at angles; caption i matches image i.
	text := []float32{1, 0, 0, 1}
	img := []float32{0.8, 0.6, 0.6, 0.8}
	res, err = Retrieval(text, 2, img, 2, 2, []int{0, 1}, 1)
	if err != nil || res.TextToImage[0] != 1 || res.ImageToText[0] != 1 {
		t.Errorf("embeddings: %+v %v", res, err)
	}
	for _, bad := range []struct {
		ti   []int
		want string
	}{
		{[]int{0, 0, 1, 1, 3}, "caption 4 points to image 3 outside [0, 3)"},
		{[]int{0}, "1 caption→image indices for 5 captions"},
	} {
		if _, err := RetrievalFromScores(scores, 5, 3, bad.ti); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("bad input: %v, want %q", err, bad.want)
		}
	}
}

func TestSimilarityDuplicateRowsLarge(t *testing.T) {
	// ImageNet-like shape: duplicate class rows 657/744 and 836/837 far apart in
	// the blocked, parallel matrix product must still give identical columns.
	na, nb, d := 67, 1000, 96
	a := make([]float32, na*d)
	b := make([]float32, nb*d)
	for i := range a {
		a[i] = float32(math.Sin(float64(i) * 0.731))
	}
	for i := range b {
		b[i] = float32(math.Cos(float64(i) * 0.377))
	}
	copy(b[744*d:745*d], b[657*d:658*d])
	copy(b[837*d:838*d], b[836*d:837*d])
	s, err := Similarity(a, na, b, nb, d, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range na {
		if s[i*nb+657] != s[i*nb+744] || s[i*nb+836] != s[i*nb+837] {
			t.Fatalf("row %d: duplicate class columns differ", i)
		}
	}
}
