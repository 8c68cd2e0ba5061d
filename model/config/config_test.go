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
