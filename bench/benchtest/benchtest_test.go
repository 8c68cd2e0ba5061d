package benchtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// fakeTask serves fixed items and a fixed Score error.
type fakeTask struct {
	items    []bench.Item
	scoreErr error
	scored   []bench.Record
}

func (f *fakeTask) Name() string                 { return "fake" }
func (f *fakeTask) Version() int                 { return 1 }
func (f *fakeTask) Protocol() map[string]any     { return map[string]any{"mode": "x"} }
func (f *fakeTask) Items() ([]bench.Item, error) { return f.items, nil }
func (f *fakeTask) Needs() string                { return "" }
func (f *fakeTask) Predict(context.Context, bench.Model, []bench.Item) ([]bench.Record, error) {
	return nil, nil
}
func (f *fakeTask) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	f.scored = recs
	return &bench.Metrics{}, f.scoreErr
}

// recorder is a testing.TB whose Fatalf stops the check and keeps the message.
type recorder struct {
	testing.TB
	msg string
}

type stop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(stop{})
}

// check runs CheckLoaded on r and returns the failure message ("" if none).
func check(task bench.Task, err error, pred func(int, bench.Item) any) (msg string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stop); !ok {
				panic(p)
			}
		}
		msg = r.msg
	}()
	CheckLoaded(r, "/data/x.json", task, err, pred)
	return ""
}

func TestCheckLoaded(t *testing.T) {
	two := []bench.Item{{ID: "a"}, {ID: "b"}}
	answer := func(i int, it bench.Item) any { return map[string]string{"id": it.ID} }
	for _, c := range []struct {
		name string
		task bench.Task
		err  error
		want string // part of the failure message; "" for a pass
	}{
		{"refusal naming the file", nil, errors.New("bad line in /data/x.json:3"), ""},
		{"refusal naming nothing", nil, errors.New("bad line 3"), "does not name /data/x.json"},
		{"no items", &fakeTask{}, nil, "no items"},
		{"empty id", &fakeTask{items: []bench.Item{{ID: ""}}}, nil, `id ""`},
		{"repeated id", &fakeTask{items: []bench.Item{{ID: "a"}, {ID: "a"}}}, nil, `item 1: id "a"`},
		{"score error", &fakeTask{items: two, scoreErr: errors.New("item b: bad")}, nil, ""},
		{"empty score error", &fakeTask{items: two, scoreErr: errors.New("")}, nil, "empty error"},
	} {
		msg := check(c.task, c.err, answer)
		if c.want == "" && msg != "" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: failure %q, want one containing %q", c.name, msg, c.want)
		}
	}
}

func TestCheckLoadedRecords(t *testing.T) {
	task := &fakeTask{items: []bench.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	items, m, err := CheckLoaded(t, "", task, nil, func(i int, it bench.Item) any {
		switch i {
		case 0:
			return nil
		case 1:
			return []float64{0 / zero}
		}
		return it.ID
	})
	if len(items) != 3 || m == nil || err != nil {
		t.Fatalf("got %d items, metrics %v, error %v", len(items), m, err)
	}
	var got []string
	for _, r := range task.scored {
		got = append(got, r.ID+"="+string(r.Pred))
	}
	// nil and an unmarshallable NaN leave no prediction.
	if want := []string{"a=", "b=", `c="c"`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %q, want %q", got, want)
	}
	task.scored = nil
	if items, m, err := CheckLoaded(t, "", task, nil, nil); len(items) != 3 || m != nil || err != nil || task.scored != nil {
		t.Errorf("with no pred: %d items, metrics %v, error %v, scored %v", len(items), m, err, task.scored)
	}
}

var zero float64
