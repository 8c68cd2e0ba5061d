package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mmbChoices(texts ...string) []MMBenchChoice {
	out := make([]MMBenchChoice, len(texts))
	for i, t := range texts {
		out[i] = MMBenchChoice{Letter: string(rune('A' + i)), Text: t}
	}
	return out
}

func TestMMBenchExtract(t *testing.T) {
	ch := mmbChoices("dog", "cat", "bird", "fish")
	for _, c := range []struct{ in, legacy, last4 string }{
		{"A", "A", "A"},
		{"B.", "B", "B"},
		{"(C)", "C", "C"},
		{"The answer is B.", "B", "B"},
		{"B. cat", "B", "B"},
		{"**D**", "D", "D"},
		{"Option {C}", "C", "C"},
		{"Answer: B", "B", "B"},
		{"[B] [B]", "B", "B"},
		{"A or B", "", ""},                        // two letters: no option, no single text
		{"E", "", ""},                             // not a choice
		{"Z", "Z", "Z"},                           // explicit Z
		{"Cannot determine the answer", "Z", "Z"}, // refusal
		{"Sorry, I can't help with images of people yet. A", "Z", "Z"}, // refusal wins over a letter
		{"I think it's a cat", "B", "B"},                               // option-text fallback
		{"fish", "D", "D"},
		{"bird is flying", "C", "C"},
		{"a dog or a cat", "", ""},   // two option texts
		{"A cat is shown", "A", "A"}, // "A" as an article still counts
		// Aug 2025: the letter's first occurrence must be among the last 4 tokens.
		{"The correct answer is B because the dog sits on the left of the picture", "B", ""},
		{"B B B B B B", "B", ""},
		{"The answer is B. Well, actually this is long text that keeps going on and on.", "B", ""},
		// The API-failure marker skips letter reading; last4 also skips the text
		// fallback for answers longer than twice the options' total length.
		{"Failed to obtain answer via API: cat", "B", ""},
	} {
		if got := MMBenchExtract(c.in, ch, MMBenchRuleLegacy); got != c.legacy {
			t.Errorf("legacy MMBenchExtract(%q) = %q, want %q", c.in, got, c.legacy)
		}
		if got := MMBenchExtract(c.in, ch, MMBenchRuleLast4); got != c.last4 {
			t.Errorf("last4 MMBenchExtract(%q) = %q, want %q", c.in, got, c.last4)
		}
	}
	for _, s := range []string{"", "legacy", "LAST4"} {
		if _, err := ParseMMBenchRule(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMMBenchRule("2024"); err == nil {
		t.Error("ParseMMBenchRule(\"2024\") accepted")
	}
}

// mmbQuestion builds the 4 circular passes of one question whose answer is B.
func mmbQuestion(base int64, preds ...string) []MMBenchRow {
	rows := MMBenchCircularize([]MMBenchRow{{Index: base, Choices: mmbChoices("dog", "cat", "bird", "fish"), Answer: "B",
		Category: "image_scene", L2Category: "coarse_perception", Split: "dev"}})
	for i := range rows {
		rows[i].HasGIndex = false // legacy TSVs: group = index mod 1e6
		rows[i].Prediction = preds[i]
	}
	return rows
}

func TestMMBenchCircularize(t *testing.T) {
	rows := mmbQuestion(7, "", "", "", "")
	if len(rows) != 4 {
		t.Fatalf("%d passes, want 4", len(rows))
	}
	// Pass i shows original option (j+i) mod 4 at letter j; "cat" moves.
	wantAns := []string{"B", "A", "D", "C"}
	for i, r := range rows {
		if r.Index != 7+int64(i)*1000000 || r.Group() != 7 {
			t.Errorf("pass %d: index %d group %d", i, r.Index, r.Group())
		}
		if r.Answer != wantAns[i] {
			t.Errorf("pass %d: answer %s, want %s", i, r.Answer, wantAns[i])
		}
		for j, c := range r.Choices {
			want := []string{"dog", "cat", "bird", "fish"}[(j+i)%4]
			if c.Text != want {
				t.Errorf("pass %d letter %s: %q, want %q", i, c.Letter, c.Text, want)
			}
		}
		if ans := r.Choices[strings.Index("ABCD", r.Answer)].Text; ans != "cat" {
			t.Errorf("pass %d: answer points at %q", i, ans)
		}
	}
	// Options that carry choice labels are not circularised.
	ab := MMBenchCircularize([]MMBenchRow{{Index: 1, Choices: mmbChoices("A and B", "none"), Answer: "A"}})
	lab := MMBenchCircularize([]MMBenchRow{{Index: 2, Choices: mmbChoices("A", "B", "C"), Answer: "A"}})
	if len(ab) != 1 || len(lab) != 1 {
		t.Errorf("labelled options were circularised: %d, %d rows", len(ab), len(lab))
	}
	// Indices past 1e6 push the offset to 1e7.
	big := MMBenchCircularize([]MMBenchRow{{Index: 1500000, Choices: mmbChoices("x", "y"), Answer: "A"}})
	if len(big) != 2 || big[1].Index != 11500000 {
		t.Errorf("offset: %+v", big)
	}
}

func TestMMBenchCircularAllPasses(t *testing.T) {
	var rows []MMBenchRow
	rows = append(rows, mmbQuestion(1, "B", "A", "D", "C")...)            // all right
	rows = append(rows, mmbQuestion(2, "B", "A", "D", "A")...)            // last pass wrong
	rows = append(rows, mmbQuestion(3, "B", "A", "I don't know", "C")...) // one unreadable
	rep, err := MMBenchEvaluate(rows, MMBenchRuleLegacy, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Questions) != 3 {
		t.Fatalf("%d questions, want 3", len(rep.Questions))
	}
	hits := []bool{true, false, false}
	for i, q := range rep.Questions {
		if q.Hit != hits[i] || q.Passes != 4 {
			t.Errorf("question %d: hit %v passes %d, want %v and 4", q.Index, q.Hit, q.Passes, hits[i])
		}
	}
	qaClose(t, "overall", rep.Overall["dev"], 1.0/3)
	qaClose(t, "CP", rep.L2Category["CP"]["dev"], 1.0/3)
	qaClose(t, "image_scene", rep.Category["image_scene"]["dev"], 1.0/3)

	// A judge can resolve the unreadable pass.
	judge := func(r MMBenchRow) (string, bool, error) { return r.Answer, true, nil }
	rep, err = MMBenchEvaluate(rows, MMBenchRuleLegacy, true, judge)
	if err != nil || !rep.Questions[2].Hit || rep.Questions[1].Hit {
		t.Errorf("with judge: %+v, %v", rep, err)
	}
	// Without circular grouping every pass is a question.
	rep, err = MMBenchEvaluate(rows, MMBenchRuleLegacy, false, nil)
	if err != nil || len(rep.Questions) != 12 {
		t.Fatalf("vanilla: %v, %v", rep, err)
	}
	qaClose(t, "vanilla overall", rep.Overall["dev"], 10.0/12)
}

func TestMMBenchEvaluateErrors(t *testing.T) {
	rows := mmbQuestion(5, "B", "A", "D", "C")
	if _, err := MMBenchEvaluate(rows[1:], MMBenchRuleLegacy, true, nil); err == nil || !strings.Contains(err.Error(), "main row") {
		t.Errorf("group without main row: err = %v", err)
	}
	dup := append(rows, rows[0])
	if _, err := MMBenchEvaluate(dup, MMBenchRuleLegacy, true, nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate index: err = %v", err)
	}
}

func TestMMBenchReadTSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mmb.tsv")
	tsv := "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category\tsplit\tprediction\n" +
		"0\tWhat is it?\tnan\tdog\tcat\tNone\t\tB\tscene\tAAAA\tcoarse_perception\tdev\tB\n" +
		"1000000\tWhat is it?\tA hint\tcat\tdog\t\t\tA\tscene\tAAAA\tcoarse_perception\tdev\tA\n"
	os.WriteFile(p, []byte(tsv), 0o644)
	rows, err := MMBenchReadTSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0].Choices) != 2 || rows[0].Hint != "" || rows[1].Hint != "A hint" || rows[1].Group() != 0 {
		t.Fatalf("%+v", rows)
	}
	rep, err := MMBenchEvaluate(rows, MMBenchRuleLegacy, true, nil)
	if err != nil || !rep.Questions[0].Hit || rep.Questions[0].Passes != 2 {
		t.Errorf("%+v, %v", rep, err)
	}
	os.WriteFile(p, []byte("index\tA\nx\tdog\n"), 0o644)
	if _, err := MMBenchReadTSV(p); err == nil || !strings.Contains(err.Error(), "index") {
		t.Errorf("bad index: err = %v", err)
	}
}
