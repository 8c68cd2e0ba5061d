package qa

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

// 27 choices have no letter for the last: an error, not an index panic.
func TestFormatOptionsRefusesMoreThan26(t *testing.T) {
	choices := make([]string, 27)
	for i := range choices {
		choices[i] = "x"
	}
	if _, err := FormatOptions(choices); err == nil || err.Error() != "27 options, want at most 26 (A to Z)" {
		t.Errorf("27 choices: %v", err)
	}
	s, err := FormatOptions(choices[:26])
	if err != nil || !strings.HasPrefix(s, "\nA. x\nB. x") || !strings.HasSuffix(s, "\nZ. x") {
		t.Errorf("26 choices: %q %v", s, err)
	}
	if got := OptionLines([]string{"red", "blue"}); got != "\nA. red\nB. blue" {
		t.Errorf("OptionLines %q", got)
	}
}

type lossModel struct{ losses []float64 }

func (lossModel) Info() bench.ModelInfo { return bench.ModelInfo{Name: "loss"} }
func (lossModel) Answer(context.Context, []bench.Question) ([]string, error) {
	return nil, nil
}
func (m lossModel) MeanNLL(context.Context, bench.Question, []string) ([]float64, error) {
	return m.losses, nil
}

// A candidate of no tokens has an infinite mean NLL (metrics.SEEDChoiceLoss);
// its record was dropped (json.Marshal's error ignored) and scoring failed
// on "neither a prediction nor an error". It is now written and read back.
func TestRankKeepsNonFiniteLosses(t *testing.T) {
	img := func() (*imageio.Image, error) { return &imageio.Image{}, nil }
	m := lossModel{[]float64{1.5, math.Inf(1), math.NaN(), 0.5}}
	recs, err := Rank(context.Background(), "seed", m, []Query{{Image: img, Prompt: "q"}}, [][]string{{"a", "", "c", "d"}},
		func([]float64) string { return "D" })
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"prompt":"q","raw":"","parsed":"D","losses":[1.5,"Infinity","NaN",0.5]}`; string(recs[0].Pred) != want {
		t.Errorf("record %s, want %s", recs[0].Pred, want)
	}
	p, ok, err := Decode(recs[0])
	if err != nil || !ok || len(p.Losses) != 4 || p.Losses[0] != 1.5 || !math.IsInf(p.Losses[1], 1) || !math.IsNaN(p.Losses[2]) {
		t.Errorf("decoded %+v %v %v", p, ok, err)
	}
	// Without losses the record is as before.
	b, _ := json.Marshal(Pred{Prompt: "p", Raw: "r", Parsed: "x"})
	if string(b) != `{"prompt":"p","raw":"r","parsed":"x"}` {
		t.Errorf("plain record %s", b)
	}
	var q Pred
	if err := json.Unmarshal([]byte(`{"raw":"r","losses":[1,"inf"]}`), &q); err == nil {
		t.Errorf("loss \"inf\" accepted: %+v", q)
	}
}
