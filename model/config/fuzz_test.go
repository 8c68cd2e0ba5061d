package config

// FuzzLoad: any config.json either fails to load with an error naming the
// file, or loads and answers every accessor without panicking; a value an
// accessor returns is the one in the file. Run with
//
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 90s -fuzzminimizetime 100x -parallel 1 ./model/config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		`{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"rope_theta":10000.0,"torch_dtype":"bfloat16"}`,
		`{"model_type":"qwen2","rope_parameters":{"rope_theta":1e6},"dtype":"float32","layers":[1,2,3]}`,
		`{"vision_config":{"hidden_size":32,"image_size":64,"layers":[2,2]},"text_config":{"vocab_size":100}}`,
		`{"hidden_size":1e300,"layers":[1e19,-1e19,2.5],"vision_config":[]}`,
		`{"hidden_size":"64","model_type":7,"rope_theta":null,"use_cache":true}`,
		`{"a.b":1,"a":{"b":{"c":2}}}`,
		`[1,2]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir() // calls are sequential
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		check(t, r, 0)
	})
}

// check calls the accessors on r and on its sub-objects. An error must name
// the file; an integer must be the JSON number exactly.
func check(t *testing.T, r *Raw, depth int) {
	named := func(err error) {
		t.Helper()
		if err != nil && !strings.Contains(err.Error(), r.Path) {
			t.Fatalf("error does not name %s: %v", r.Path, err)
		}
	}
	keys := []string{"hidden_size", "vocab_size", "layers", "rope_theta", "rope_parameters.rope_theta", "a.b", "model_type"}
	for _, k := range keys {
		if n, err := r.Int(k); err == nil {
			v, _ := r.lookup(k)
			if f, ok := v.(float64); !ok || f != float64(n) {
				t.Fatalf("Int(%q) = %d, the file has %v", k, n, v)
			}
		} else {
			named(err)
		}
		if ns, err := r.Ints(k); err == nil {
			v, _ := r.lookup(k)
			arr, _ := v.([]any)
			for i, n := range ns {
				if f, ok := arr[i].(float64); !ok || f != float64(n) {
					t.Fatalf("Ints(%q)[%d] = %d, the file has %v", k, i, n, arr[i])
				}
			}
		} else {
			named(err)
		}
		_, err := r.Float(k)
		named(err)
		_, err = r.String(k)
		named(err)
		_, err = r.BoolOr(false, k)
		named(err)
		_, err = r.IntOr(1, k, "hidden_size")
		named(err)
		r.Has(k, "missing")
	}
	_, err := r.ModelType()
	named(err)
	_, err = r.DType()
	named(err)
	named(r.UnknownModelType("llama", "qwen2"))
	if depth > 2 {
		return
	}
	for _, k := range []string{"vision_config", "text_config", "rope_parameters", "a", "a.b"} {
		sub, err := r.Sub(k)
		if err != nil {
			named(err)
			continue
		}
		if !strings.HasPrefix(sub.Path, r.Path+"#") {
			t.Fatalf("Sub(%q).Path = %q, want it under %q", k, sub.Path, r.Path)
		}
		check(t, sub, depth+1)
	}
}
