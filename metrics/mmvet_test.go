package metrics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The SHA-256 of the `prompt` string in yuweihao/MM-Vet@acde843
// mm-vet_evaluator.py (computed from the reference file, not from this code).
const mmvetReferencePromptSHA256 = "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f"

func TestMMVetGraderPrompt(t *testing.T) {
	h := sha256.Sum256([]byte(MMVetGraderInstruction))
	if got := hex.EncodeToString(h[:]); got != mmvetReferencePromptSHA256 {
		t.Errorf("instruction sha256 %s, want the reference's %s", got, mmvetReferencePromptSHA256)
	}
	if n := strings.Count(MMVetGraderInstruction, "\n"); n != 11 { // sentence, blank, header, rule, 7 rows
		t.Errorf("%d lines, want 11", n)
	}
	p := MMVetGraderPrompt("What is x?", "-1<AND>-5<OR>2", "x = -1", false)
	if !strings.HasPrefix(p, MMVetGraderInstruction+"\n") || !strings.HasSuffix(p, "\nWhat is x? | -1 <AND> -5 <OR> 2 | x = -1 | ") {
		t.Errorf("prompt tail %q", p[len(MMVetGraderInstruction):])
	}
	r := MMVetGraderPrompt("What is x?", "-1", "x", true)
	if !strings.HasSuffix(r, "x | \nPredict the correctness of the answer (digit): ") {
		t.Errorf("retry tail %q", r[len(MMVetGraderInstruction):])
	}
}

func TestMMVetParseScore(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.5", 0.5, true},
		{"1.0", 1, true},
		{"1", 1, true},
		{"0", 0, true},
		{"0.7 because", 0.7, true},
		{"0.5\n", 0.5, true}, // the token is stripped
		{"\n0.4", 0.4, true}, // idem
		{".5", 0.5, true},    // Python float syntax
		{"5e-1", 0.5, true},  // idem
		{"+0.3", 0.3, true},  // idem
		{"٠.٥", 0.5, true},   // Python's float() reads any Unicode digit
		{" 0.5", 0, false},   // first token is empty
		{"1.1", 0, false},    // out of range
		{"-0.1", 0, false},   // idem
		{"nan", 0, false},    // float() accepts it; we refuse it
		{"inf", 0, false},    // out of range
		{"0_5", 0, false},    // 5: out of range
		{"0.5.", 0, false},   // not a float
		{"0.5,", 0, false},   // idem
		{"Correctness:", 0, false},
		{"", 0, false},
		{"0x1", 0, false}, // no hex in float()
		{"1__0", 0, false},
	} {
		got, ok := MMVetParseScore(c.in)
		if ok != c.ok || (ok && math.Abs(got-c.want) > 1e-15) {
			t.Errorf("MMVetParseScore(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if v, ok := qaPyFloat("1_000.000_1e0_1"); !ok || v != 1000.0001e1 {
		t.Errorf("underscores: %v %v", v, ok)
	}
}

func TestMMVetGradeRetries(t *testing.T) {
	item := MMVetItem{ID: "v1_0", Question: "What is x?", Answer: "-1<AND>-5"}
	// Unreadable replies until the third.
	f := newJudgeFake(t, func(i int, _ judgeCall) (int, *string) {
		return 200, strp([]string{"The answer", "Correct", "0.5 points"}[min(i, 2)])
	})
	j, _ := NewJudge(JudgeConfig{URL: f.srv.URL})
	g, err := MMVetGradeOne(context.Background(), j, item, "x = -1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Score != 0.5 || g.Tries != 3 || g.Failed || g.Content != "0.5" || g.Model != "gpt-4-0613-served" {
		t.Errorf("grade %+v", g)
	}
	wantT := []float64{0, 0, 0.5}
	for i, c := range f.calls {
		if c.Temperature != wantT[i] || c.MaxTokens != 3 || c.Model != MMVetGraderModel || len(c.Messages) != 1 || c.Messages[0].Role != "user" {
			t.Errorf("call %d: %+v", i, c)
		}
		retry := strings.HasSuffix(c.Messages[0].Content, MMVetRetrySuffix)
		if retry != (i > 0) {
			t.Errorf("call %d: retry suffix %v", i, retry)
		}
	}

	// Never readable: 5 replies read, temperatures 0, 0, 0.5, 1.0, 1.5, score 0.
	bad := newJudgeFake(t, func(int, judgeCall) (int, *string) { return 200, strp("I cannot") })
	jb, _ := NewJudge(JudgeConfig{URL: bad.srv.URL})
	g, err = MMVetGradeOne(context.Background(), jb, item, "x = 3", 0)
	if err != nil || g.Score != 0 || !g.Failed || g.Tries != 5 || bad.n() != 5 {
		t.Fatalf("grade %+v, err %v, %d calls", g, err, bad.n())
	}
	for i, w := range []float64{0, 0, 0.5, 1.0, 1.5} {
		if bad.calls[i].Temperature != w {
			t.Errorf("failing call %d at temperature %v, want %v", i, bad.calls[i].Temperature, w)
		}
	}

	// Null content counts as unreadable.
	null := newJudgeFake(t, func(i int, _ judgeCall) (int, *string) {
		if i == 0 {
			return 200, nil
		}
		return 200, strp("1.0")
	})
	jn, _ := NewJudge(JudgeConfig{URL: null.srv.URL})
	if g, err := MMVetGradeOne(context.Background(), jn, item, "x", 0); err != nil || g.Score != 1 || g.Tries != 2 {
		t.Errorf("null then 1.0: %+v, %v", g, err)
	}
}

func TestMMVetGradeAllCachedRuns(t *testing.T) {
	items := []MMVetItem{
		{ID: "v1_0", Question: "q0", Answer: "a", Capabilities: []string{"rec"}},
		{ID: "v1_1", Question: "q1", Answer: "b", Capabilities: []string{"ocr", "rec"}},
	}
	f := newJudgeFake(t, func(i int, c judgeCall) (int, *string) {
		if strings.Contains(c.Messages[0].Content, "\nq0 | ") {
			return 200, strp("1.0")
		}
		return 200, strp("0.4")
	})
	cache := t.TempDir()
	j, _ := NewJudge(JudgeConfig{URL: f.srv.URL, CacheDir: cache})
	res := map[string]string{"v1_0": "p0", "v1_1": "p1"}
	grades, err := MMVetGradeAll(context.Background(), j, items, res, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if f.n() != 4 {
		t.Errorf("%d calls, want 4 (2 items × 2 runs)", f.n())
	}
	if _, err := MMVetGradeAll(context.Background(), j, items, res, 2, 3); err != nil || f.n() != 4 {
		t.Errorf("re-run queried again: %d calls, %v", f.n(), err)
	}
	rep, err := MMVetAggregate(items, MMVetScores(grades))
	if err != nil {
		t.Fatal(err)
	}
	qaClose(t, "total", rep.Total, 70)
	if rep.Capabilities[0].Name != "rec" || rep.Capabilities[0].Count != 2 || rep.Capabilities[1].Name != "ocr" {
		t.Errorf("capabilities %+v", rep.Capabilities)
	}
	if _, err := MMVetGradeAll(context.Background(), j, items, map[string]string{"v1_0": "p"}, 1, 1); err == nil || !strings.Contains(err.Error(), "v1_1") {
		t.Errorf("missing prediction: err = %v", err)
	}
}

func TestMMVetAggregate(t *testing.T) {
	items := []MMVetItem{
		{ID: "a", Capabilities: []string{"rec"}},
		{ID: "b", Capabilities: []string{"ocr", "math"}},
		{ID: "c", Capabilities: []string{"rec", "know"}},
		{ID: "d", Capabilities: []string{"math", "ocr"}},
	}
	scores := [][]float64{
		{1.0, 0.5, 0.0, 0.3},
		{0.9, 0.5, 0.1, 0.3},
		{1.0, 0.4, 0.0, 0.3},
	}
	rep, err := MMVetAggregate(items, scores)
	if err != nil {
		t.Fatal(err)
	}
	totals := []float64{(1.0 + 0.5 + 0.0 + 0.3) / 4 * 100, (0.9 + 0.5 + 0.1 + 0.3) / 4 * 100, (1.0 + 0.4 + 0.0 + 0.3) / 4 * 100}
	for r := range totals {
		qaClose(t, "total run", rep.TotalPerRun[r], totals[r])
	}
	mean := (totals[0] + totals[1] + totals[2]) / 3
	qaClose(t, "total", rep.Total, math.RoundToEven(mean*10)/10)
	var v float64
	for _, x := range totals {
		v += (x - mean) * (x - mean)
	}
	qaClose(t, "std", rep.Std, math.RoundToEven(math.Sqrt(v/3)*10)/10) // population std
	byName := map[string]MMVetGroupScore{}
	for _, c := range rep.Capabilities {
		byName[c.Name] = c
	}
	qaClose(t, "rec run 0", byName["rec"].PerRun[0], (1.0+0.0)/2*100)
	qaClose(t, "ocr run 1", byName["ocr"].PerRun[1], (0.5+0.3)/2*100)
	if byName["know"].Count != 1 || byName["math"].Count != 2 {
		t.Errorf("counts %+v", byName)
	}
	// Capability sets: {ocr, math} twice (named in first-seen order), then singles.
	if rep.Integrations[0].Name != "ocr_math" || rep.Integrations[0].Count != 2 || len(rep.Integrations) != 3 {
		t.Errorf("integrations %+v", rep.Integrations)
	}
	if _, err := MMVetAggregate(items, [][]float64{{1}}); err == nil {
		t.Error("short run accepted")
	}
}

func TestQANumpy(t *testing.T) {
	// numpy rounds x·10 half-even: 0.15 → 0.2 where Python's round gives 0.1.
	for _, c := range []struct{ x, want float64 }{{0.15, 0.2}, {0.25, 0.2}, {2.675, 2.7}, {-0.05, -0}, {66.65, 66.6}} {
		if got := qaNumpyRound(c.x, 1); got != c.want {
			t.Errorf("qaNumpyRound(%v, 1) = %v, want %v", c.x, got, c.want)
		}
	}
	// Pairwise summation differs from a left-to-right sum from 9 elements on:
	// np.array([1/(i+3) for i in range(9)]).sum() is 1.5198773448773446
	// (numpy 1.24), the sequential sum 1.5198773448773448.
	xs := make([]float64, 9)
	for i := range xs {
		xs[i] = 1 / float64(i+3)
	}
	if got := qaNumpySum(xs); got != 1.5198773448773446 {
		t.Errorf("qaNumpySum = %.17g, want numpy's 1.5198773448773446", got)
	}
	if got := qaPySum(xs); got != 1.5198773448773448 {
		t.Errorf("qaPySum = %.17g, want 1.5198773448773448", got)
	}
}

func TestMMVetReadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mm-vet.json")
	os.WriteFile(p, []byte(`{"v1_1": {"imagename": "v1_1.png", "capability": ["ocr"], "question": "q", "answer": "a"},
		"v1_0": {"imagename": "v1_0.png", "capability": ["rec", "know"], "question": "q0", "answer": "a0"}}`), 0o644)
	items, err := MMVetReadItems(p)
	if err != nil || len(items) != 2 || items[0].ID != "v1_1" || items[1].Capabilities[1] != "know" {
		t.Fatalf("%+v %v", items, err)
	}
	os.WriteFile(p, []byte(`{"v1_0": {"capability": ["rec"], "question": "q"}}`), 0o644)
	if _, err := MMVetReadItems(p); err == nil || !strings.Contains(err.Error(), "v1_0") || !strings.Contains(err.Error(), "answer") {
		t.Errorf("err = %v", err)
	}
}
