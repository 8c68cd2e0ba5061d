package bench

import (
	"strings"
	"testing"
)

// An Int option accepts whole numbers of at least Min and nothing else; a
// declaration without Int keeps its old meaning (any value, or one of
// Values).
func TestOptionDocCheckInt(t *testing.T) {
	pos := OptionDoc{Key: "batch", Int: true, Min: 1}
	nonneg := OptionDoc{Key: "skip", Int: true}
	for _, c := range []struct {
		d    OptionDoc
		v    string
		want string // "" accepted, else a fragment of the error
	}{
		{pos, "1", ""}, {pos, "64", ""},
		{pos, "0", `option batch="0": want a positive integer`},
		{pos, "-3", `option batch="-3": want a positive integer`},
		{pos, "abc", `option batch="abc": want a positive integer`},
		{pos, "1.5", "want a positive integer"},
		{pos, " 8", "want a positive integer"},
		{nonneg, "0", ""},
		{nonneg, "-1", `option skip="-1": want an integer >= 0`},
		{OptionDoc{Key: "path"}, "anything", ""},
		{OptionDoc{Key: "mode", Values: []string{"a", "b"}}, "c", `option mode="c": want one of a, b`},
	} {
		err := c.d.Check(c.v)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s=%q: %v, want accepted", c.d.Key, c.v, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s=%q: %v, want an error with %q", c.d.Key, c.v, err, c.want)
		}
	}
}

// CheckModelOptions refuses, in one line naming the model path and the
// field, what a kind's constructor would refuse only once built: an
// unknown key, a value outside the declared set, a bad integer, a dtype
// model/precision does not implement. Option and IntOption read values by
// the same declaration, defaults filled in.
func TestCheckModelOptionsValues(t *testing.T) {
	RegisterModelOptions("optcheck-test",
		OptionDoc{Key: "batch", Default: "16", Int: true, Min: 1},
		OptionDoc{Key: "length", Int: true, Min: 1},
		OptionDoc{Key: "preprocess", Default: "crop", Values: []string{"crop", "resize"}},
	)
	spec := func(dtype string, kv ...string) ModelSpec {
		s := ModelSpec{Name: "m", Kind: "optcheck-test", Path: "ckpt/m", DType: dtype, Extra: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			s.Extra[kv[i]] = kv[i+1]
		}
		return s
	}
	for _, s := range []ModelSpec{
		spec(""), spec("bfloat16"), spec("bf16"), spec("float32"),
		spec("", "batch", "4", "length", "64", "preprocess", "resize"),
		spec("", "batch", ""), // "" is unset, as for tasks
	} {
		if err := CheckModelOptions(s); err != nil {
			t.Errorf("%v dtype %q: %v", s.Extra, s.DType, err)
		}
	}
	for _, c := range []struct {
		s    ModelSpec
		want string
	}{
		{spec("", "preproces", "crop"), "model ckpt/m: unknown optcheck-test option(s) preproces (known: batch, length, preprocess)"},
		{spec("", "preprocess", "center"), `model ckpt/m: optcheck-test option preprocess="center": want one of crop, resize`},
		{spec("", "length", "abc"), `model ckpt/m: optcheck-test option length="abc": want a positive integer`},
		{spec("", "length", "0"), `option length="0": want a positive integer`},
		{spec("", "length", "-3"), `option length="-3": want a positive integer`},
		{spec("", "batch", "x"), `option batch="x": want a positive integer`},
		{spec("", "batch", "0"), `option batch="0": want a positive integer`},
		{spec("float16"), `model ckpt/m: dtype "float16": want float32 or bfloat16 (bf16); float16 is not implemented`},
		{spec("int8"), `model ckpt/m: dtype "int8": want float32 or bfloat16`},
	} {
		err := CheckModelOptions(c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v dtype %q: %v, want one line with %q", c.s.Extra, c.s.DType, err, c.want)
		}
	}

	s := spec("", "length", "32")
	if got := s.Option("preprocess"); got != "crop" {
		t.Errorf("Option(preprocess) unset = %q, want the declared default crop", got)
	}
	if n, ok, err := s.IntOption("batch"); n != 16 || !ok || err != nil {
		t.Errorf("IntOption(batch) unset = %d, %v, %v; want the declared default 16", n, ok, err)
	}
	if n, ok, err := s.IntOption("length"); n != 32 || !ok || err != nil {
		t.Errorf("IntOption(length) = %d, %v, %v; want 32", n, ok, err)
	}
	if _, ok, err := spec("").IntOption("length"); ok || err != nil {
		t.Errorf("IntOption(length) unset without default: ok %v, %v; want not set", ok, err)
	}
	if _, _, err := spec("", "batch", "0").IntOption("batch"); err == nil {
		t.Error("IntOption(batch=0) accepted a value the declaration refuses")
	}
	if _, _, err := s.IntOption("preprocess"); err == nil {
		t.Error("IntOption(preprocess) read a non-integer option")
	}
}
