package models

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/config"
)

// Every bad option value the review found only when the model was built is
// refused by bench.CheckModelOptions (what `evalrun run` checks before the
// first model runs), and the kind's constructor refuses it with the very
// same error: both read one declaration.
func TestModelOptionValuesCheckedUpFront(t *testing.T) {
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for kind, asset := range map[string]string{"siglip": "tiny-siglip", "dualtoken": "tiny-dualtoken", "llava": "tiny-llava"} {
		paths[kind] = extractAsset(t, asset)
	}
	for _, c := range []struct {
		kind, key, value, dtype, want string
	}{
		{"siglip", "preprocess", "center", "", `siglip option preprocess="center": want one of resize, crop`},
		{"siglip", "max_length", "abc", "", `siglip option max_length="abc": want a positive integer`},
		{"siglip", "max_length", "0", "", `siglip option max_length="0": want a positive integer`},
		{"siglip", "max_length", "-3", "", `siglip option max_length="-3": want a positive integer`},
		{"dualtoken", "preprocess", "center", "", `dualtoken option preprocess="center": want one of crop, resize`},
		{"dualtoken", "max_length", "abc", "", `dualtoken option max_length="abc": want a positive integer`},
		{"dualtoken", "batch", "0", "", `dualtoken option batch="0": want a positive integer`},
		{"dualtoken", "batch", "x", "", `dualtoken option batch="x": want a positive integer`},
		{"llava", "max_batch", "0", "", `llava option max_batch="0": want a positive integer`},
		{"llava", "max_batch", "many", "", `llava option max_batch="many": want a positive integer`},
		{"siglip", "", "", "float16", `dtype "float16": want float32 or bfloat16`},
		{"dualtoken", "", "", "fp16", `dtype "fp16": want float32 or bfloat16`},
		{"llava", "", "", "int8", `dtype "int8": want float32 or bfloat16`},
	} {
		spec := bench.ModelSpec{Name: "m", Kind: c.kind, Path: paths[c.kind], DType: c.dtype}
		if c.key != "" {
			spec.Extra = map[string]string{c.key: c.value}
		}
		pre := bench.CheckModelOptions(spec)
		want := "model " + paths[c.kind] + ": " + c.want
		if pre == nil || !strings.Contains(pre.Error(), want) || strings.Contains(pre.Error(), "\n") {
			t.Errorf("%s %s=%q dtype %q: CheckModelOptions %v, want one line with %q", c.kind, c.key, c.value, c.dtype, pre, want)
			continue
		}
		if _, err := bench.NewModel(spec, b); err == nil || err.Error() != pre.Error() {
			t.Errorf("%s %s=%q dtype %q: constructor %v, want CheckModelOptions' %q", c.kind, c.key, c.value, c.dtype, err, pre)
		}
	}
	// Good values pass the check.
	for _, spec := range []bench.ModelSpec{
		{Kind: "siglip", Path: paths["siglip"], Extra: map[string]string{"preprocess": "crop", "max_length": "8"}, DType: "bf16"},
		{Kind: "dualtoken", Path: paths["dualtoken"], Extra: map[string]string{"preprocess": "resize", "batch": "3", "max_length": "4"}},
		{Kind: "llava", Path: paths["llava"], Extra: map[string]string{"max_batch": "2"}, DType: "float32"},
	} {
		if err := bench.CheckModelOptions(spec); err != nil {
			t.Errorf("%s %v: %v", spec.Kind, spec.Extra, err)
		}
	}
}

// max_length's bound is the checkpoint's text positions: the up-front check
// lets any positive length through and the constructor refuses one past
// the bound, naming it; the declared defaults are what the identity holds.
func TestModelMaxLengthBoundAndDefaults(t *testing.T) {
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, asset, textSub string }{{"siglip", "tiny-siglip", "text_config"}, {"dualtoken", "tiny-dualtoken", ""}} {
		dir := extractAsset(t, c.asset)
		m, err := bench.NewModel(bench.ModelSpec{Name: "m", Kind: c.kind, Path: dir}, b)
		if err != nil {
			t.Fatal(err)
		}
		info := m.Info()
		if want := (bench.ModelSpec{Kind: c.kind}).Option("preprocess"); want == "" || info.Options["preprocess"] != want {
			t.Errorf("%s: identity preprocess %q, want the declared default %q", c.kind, info.Options["preprocess"], want)
		}
		positions := info.Options["max_length"] // the default: the tower's positions
		if c.kind == "siglip" {
			raw, err := config.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			text, err := raw.Sub(c.textSub)
			if err != nil {
				t.Fatal(err)
			}
			want, err := text.Int("max_position_embeddings")
			if err != nil {
				t.Fatal(err)
			}
			if positions != strconv.Itoa(want) {
				t.Errorf("siglip: default max_length %q, want the text tower's %d positions", positions, want)
			}
		}
		n, err := strconv.Atoi(positions)
		if err != nil {
			t.Fatalf("%s: identity max_length %q", c.kind, positions)
		}
		past := bench.ModelSpec{Name: "m", Kind: c.kind, Path: dir, Extra: map[string]string{"max_length": strconv.Itoa(n + 1)}}
		if err := bench.CheckModelOptions(past); err != nil {
			t.Errorf("%s: max_length %d refused up front: %v", c.kind, n+1, err)
		}
		if _, err := bench.NewModel(past, b); err == nil || !strings.Contains(err.Error(), "max_length "+strconv.Itoa(n+1)+" must be 1.."+positions) {
			t.Errorf("%s: max_length %d past %s positions: %v", c.kind, n+1, positions, err)
		}
	}
}
