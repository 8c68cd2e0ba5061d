package reports

import (
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

func TestCheckpointOf(t *testing.T) {
	for _, c := range []struct {
		name, series string
		step         int
		ok           bool
	}{
		{"run-step-000200", "run-step-#", 200, true},
		{"ckpt-7.safetensors", "ckpt-#.safetensors", 7, true},
		{"v2-step-1000", "v2-step-#", 1000, true},
		{"tiny-dualtoken", "", 0, false},
	} {
		s, n, ok := checkpointOf(c.name)
		if s != c.series || n != c.step || ok != c.ok {
			t.Errorf("checkpointOf(%q) = %q, %d, %v; want %q, %d, %v", c.name, s, n, ok, c.series, c.step, c.ok)
		}
	}
}

func TestOverCheckpointsGroupsSeries(t *testing.T) {
	mk := func(model string, top1 float64) *bench.Result {
		r := &bench.Result{Schema: 1, Task: "imagenet-zeroshot", Metrics: map[string]float64{"top1": top1}}
		r.Model.Name = model
		return r
	}
	rs := []*bench.Result{
		mk("run-step-1000", 3), mk("run-step-200", 1), mk("run-step-600", 2), // one series, out of order
		mk("tiny-siglip", 5), mk("tiny-dualtoken", 4), // different models: no line plot
		mk("other-step-5", 1), // a series of one: no plot
	}
	plots, err := OverCheckpoints(t.TempDir(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) != 1 {
		t.Fatalf("got %d plots, want 1 (the run-step series)", len(plots))
	}
	if !strings.Contains(plots[0].Title, "run-step-#") || len(plots[0].Files) == 0 {
		t.Errorf("plot %+v: want the run-step series with files", plots[0])
	}
}

func TestBarValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{1492.7, "1492.7"}, {28.69, "28.69"}, {82, "82.00"}, {0.744, "0.744"}, {-0.16, "-0.160"}, {0, "0.000"}} {
		if got := barValue(c.v); got != c.want {
			t.Errorf("barValue(%g) = %q, want %q", c.v, got, c.want)
		}
	}
}
