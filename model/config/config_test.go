package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, s string) *Raw {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte(s), 0o644)
	r, err := Load(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAliasesOldAndNewSpellings(t *testing.T) {
	newer := write(t, `{"model_type":"qwen2","rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"dtype":"bfloat16"}`)
	older := write(t, `{"model_type":"qwen2","rope_theta":10000.0,"torch_dtype":"float16"}`)
	for _, c := range []struct {
		r     *Raw
		theta float64
		dt    string
	}{{newer, 1e6, "bfloat16"}, {older, 1e4, "float16"}} {
		th, err := c.r.Float("rope_theta", "rope_parameters.rope_theta")
		if err != nil || th != c.theta {
			t.Errorf("theta %v %v, want %v", th, err, c.theta)
		}
		if dt, _ := c.r.DType(); dt != c.dt {
			t.Errorf("dtype %q, want %q", dt, c.dt)
		}
	}
}

func TestErrorsNameFileAndField(t *testing.T) {
	r := write(t, `{"model_type":"mystery","hidden_size":"big","vision_config":{"num_hidden_layers":2.5}}`)
	if _, err := r.Int("hidden_size"); err == nil || !strings.Contains(err.Error(), `"hidden_size"`) || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad type: %v", err)
	}
	if _, err := r.Int("num_heads"); err == nil || !strings.Contains(err.Error(), `missing field "num_heads"`) {
		t.Errorf("missing: %v", err)
	}
	v, _ := r.Sub("vision_config")
	if _, err := v.Int("num_hidden_layers"); err == nil || !strings.Contains(err.Error(), "vision_config") {
		t.Errorf("nested: %v", err)
	}
	if err := r.UnknownModelType("siglip", "qwen2"); !strings.Contains(err.Error(), `unknown model_type "mystery"`) {
		t.Errorf("unknown: %v", err)
	}
	if n, err := r.IntOr(7, "absent"); n != 7 || err != nil {
		t.Errorf("IntOr = %d %v", n, err)
	}
}

// A whole number beyond int's range used to convert to a wrong value
// (int(1e300) is implementation-defined) instead of failing.
func TestIntOutOfRange(t *testing.T) {
	r := write(t, `{"hidden_size":1e300,"layers":[2,1e19],"big":-9.3e18,"ok":9007199254740992}`)
	if n, err := r.Int("hidden_size"); err == nil || !strings.Contains(err.Error(), `field "hidden_size" = 1e+300, expected an integer`) || !strings.Contains(err.Error(), r.Path) {
		t.Errorf("Int(1e300) = %d, %v", n, err)
	}
	if n, err := r.Int("big"); err == nil {
		t.Errorf("Int(-9.3e18) = %d, want an error", n)
	}
	if ns, err := r.Ints("layers"); err == nil || !strings.Contains(err.Error(), `field "layers"[1] = 1e+19, expected an integer`) {
		t.Errorf("Ints([2, 1e19]) = %v, %v", ns, err)
	}
	if n, err := r.Int("ok"); err != nil || n != 1<<53 {
		t.Errorf("Int(2^53) = %d, %v", n, err)
	}
}

// A value of the wrong JSON type is shown with its type: the string "32"
// where an integer is expected must not print as 32, which looks valid.
func TestWrongTypeShowsValueType(t *testing.T) {
	r := write(t, `{"hidden_size":"32","layer_norm_eps":"small","do_sample":"yes","name":7,"ids":"1,2","sub":[1],"heads":[1,"2"],"n":{"a":1}}`)
	checks := []struct {
		err  error
		want string
	}{
		{errOf(r.Int("hidden_size")), `field "hidden_size" = "32" (a string), expected an integer`},
		{errOf(r.Float("layer_norm_eps")), `field "layer_norm_eps" = "small" (a string), expected a number`},
		{errOf(r.BoolOr(false, "do_sample")), `field "do_sample" = "yes" (a string), expected true or false`},
		{errOf(r.String("name")), `field "name" = 7, expected a string`},
		{errOf(r.Ints("ids")), `field "ids" = "1,2" (a string), expected a list of integers`},
		{errOf(r.Ints("heads")), `field "heads"[1] = "2" (a string), expected an integer`},
		{errOf(r.Int("n")), `field "n" = {"a":1} (an object), expected an integer`},
		{errOf(r.Sub("sub")), `field "sub" = [1] (a list), expected an object`},
	}
	for _, c := range checks {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || !strings.Contains(c.err.Error(), r.Path) {
			t.Errorf("error %v, want it to contain %q and the path", c.err, c.want)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// A config.json that is valid JSON but not an object is named as such, not
// as a Go type ("map[string]interface {}").
func TestLoadNotAnObject(t *testing.T) {
	for _, body := range []string{`[]`, `[1,2,3]`, `"x"`, `3`, `null`} {
		p := filepath.Join(t.TempDir(), "config.json")
		os.WriteFile(p, []byte(body), 0o644)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "want a JSON object") || strings.Contains(err.Error(), "interface") {
			t.Errorf("config.json %s: error %v, want one naming the file and a JSON object", body, err)
		}
	}
}
