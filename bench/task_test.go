package bench

import (
	"context"
	"strings"
	"testing"
)

// optTask is a task whose factory reads the options it is told to.
type optTask struct{ opts Options }

func (t *optTask) Name() string                             { return "opt-test" }
func (t *optTask) Version() int                             { return 1 }
func (t *optTask) Protocol() map[string]any                 { return map[string]any{"data": t.opts.Data} }
func (t *optTask) Items() ([]Item, error)                   { return nil, nil }
func (t *optTask) Needs() string                            { return "answerer" }
func (t *optTask) Score([]Item, []Record) (*Metrics, error) { return &Metrics{}, nil }
func (t *optTask) Predict(context.Context, Model, []Item) ([]Record, error) {
	return nil, nil
}

// reads is the keys the opt-test factory reads (a test sets it).
var reads = []string{"rule", "splits", "path"}

func init() {
	Register(Spec{Name: "opt-test", Version: 1, Help: "test task", Data: "nothing",
		Options: []OptionDoc{
			{Key: "rule", Help: "a fixed set", Default: "a", Values: []string{"a", "b"}},
			{Key: "splits", Help: "a list", Default: "x,y", Values: []string{"x", "y", "z"}, List: true},
			{Key: "path", Help: "free-form"},
		},
		New: func(opts Options) (Task, error) {
			for _, k := range reads {
				opts.Get(k, "")
			}
			return &optTask{opts}, nil
		}})
}

func TestNewRefusesUnknownOption(t *testing.T) {
	_, err := New("opt-test", Options{Extra: map[string]string{"split": "x"}})
	want := `opt-test: unknown option "split" (known: rule, splits, path)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestNewRefusesValueOutsideSet(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"rule", "c", `opt-test: option rule="c": want one of a, b`},
		{"rule", "A", `opt-test: option rule="A": want one of a, b`},
		{"splits", "x,w", `opt-test: option splits="x,w": want a comma list of x, y, z`},
	} {
		_, err := New("opt-test", Options{Extra: map[string]string{tc.key: tc.val}})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s=%s: got %v, want %s", tc.key, tc.val, err, tc.want)
		}
	}
	for _, extra := range []map[string]string{
		nil, {"rule": "b"}, {"splits": "z"}, {"splits": "x, z"}, {"path": "/any/thing"}, {"rule": ""},
	} {
		if _, err := New("opt-test", Options{Extra: extra}); err != nil {
			t.Errorf("%v: %v", extra, err)
		}
	}
}

// A factory reading a key its Spec does not declare panics under New, so the
// suites' tests catch an undocumented option; called directly it does not.
func TestGetPanicsOnUndeclaredKey(t *testing.T) {
	defer func(old []string) { reads = old }(reads)
	reads = []string{"rule", "secret"}
	s, _ := Lookup("opt-test")
	if _, err := s.New(Options{}); err != nil { // direct call: no declared set
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), `opt-test reads option "secret"`) {
			t.Errorf("recover %v, want a panic naming the task and the key", r)
		}
	}()
	New("opt-test", Options{})
}

func TestOptionsFromProtocol(t *testing.T) {
	p := map[string]any{"data": "/d", "rule": "b", "splits": "not computed", "path": 3.0, "decoding": "greedy"}
	opts, err := OptionsFromProtocol("opt-test", p)
	if err != nil {
		t.Fatal(err)
	}
	// splits holds a description, not a value: left to its default.
	if opts.Data != "/d" || len(opts.Extra) != 2 || opts.Extra["rule"] != "b" || opts.Extra["path"] != "3" {
		t.Errorf("got %+v", opts)
	}
	if _, err := New("opt-test", opts); err != nil {
		t.Error(err)
	}
	if _, err := OptionsFromProtocol("nope", p); err == nil || !strings.Contains(err.Error(), `unknown task "nope"`) {
		t.Errorf("unknown task: %v", err)
	}
}

func TestRegisterRefusesBadDeclarations(t *testing.T) {
	for name, s := range map[string]Spec{
		"dup key":     {Options: []OptionDoc{{Key: "a"}, {Key: "a"}}},
		"empty key":   {Options: []OptionDoc{{Key: ""}}},
		"bad default": {Options: []OptionDoc{{Key: "a", Default: "c", Values: []string{"a", "b"}}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			s.Name = "bad-" + strings.ReplaceAll(name, " ", "-")
			Register(s)
		}()
	}
}
