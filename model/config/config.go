// Package config reads HF-style config.json files. Keys are looked up by
// dotted path with aliases, so one call accepts both old and new spellings
// (top-level "rope_theta" and "rope_parameters.rope_theta"; "torch_dtype" and
// "dtype"), and a missing required key is an error naming the file and key.
package config

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Raw is a parsed config.json with typed, alias-aware accessors.
type Raw struct {
	Path string
	Data map[string]any
}

// Load reads path, or path/config.json when path is a directory.
func Load(path string) (*Raw, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON object {\"key\": value, ...}, found %s", path, Show(v))
	}
	return &Raw{Path: path, Data: m}, nil
}

// Sub returns the object at key (e.g. "vision_config") as its own Raw; the
// path in errors shows the nesting.
func (r *Raw) Sub(key string) (*Raw, error) {
	v, ok := r.lookup(key)
	if !ok {
		return nil, fmt.Errorf("%s: missing field %q", r.Path, key)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: field %q = %s, expected an object", r.Path, key, Show(v))
	}
	return &Raw{Path: r.Path + "#" + key, Data: m}, nil
}

// Has reports whether any of the keys is present (and not null).
func (r *Raw) Has(keys ...string) bool {
	for _, k := range keys {
		if v, ok := r.lookup(k); ok && v != nil {
			return true
		}
	}
	return false
}

func (r *Raw) lookup(key string) (any, bool) {
	var cur any = r.Data
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (r *Raw) first(keys []string) (string, any, bool) {
	for _, k := range keys {
		if v, ok := r.lookup(k); ok && v != nil {
			return k, v, true
		}
	}
	return "", nil, false
}

// Int returns the first present key as an integer, or an error naming the keys.
func (r *Raw) Int(keys ...string) (int, error) {
	k, v, ok := r.first(keys)
	if !ok {
		return 0, fmt.Errorf("%s: missing field %s", r.Path, strings.Join(quote(keys), " or "))
	}
	n, ok := asInt(v)
	if !ok {
		return 0, fmt.Errorf("%s: field %q = %s, expected an integer", r.Path, k, Show(v))
	}
	return n, nil
}

// asInt converts a JSON number that is a whole number an int can hold
// (int(1e300) would silently give a wrong value).
func asInt(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < math.MinInt || f >= math.MaxInt {
		return 0, false
	}
	return int(f), true
}

// IntOr is Int with a default when no key is present.
func (r *Raw) IntOr(def int, keys ...string) (int, error) {
	if !r.Has(keys...) {
		return def, nil
	}
	return r.Int(keys...)
}

// Float returns the first present key as a float64.
func (r *Raw) Float(keys ...string) (float64, error) {
	k, v, ok := r.first(keys)
	if !ok {
		return 0, fmt.Errorf("%s: missing field %s", r.Path, strings.Join(quote(keys), " or "))
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("%s: field %q = %s, expected a number", r.Path, k, Show(v))
	}
	return f, nil
}

// FloatOr is Float with a default.
func (r *Raw) FloatOr(def float64, keys ...string) (float64, error) {
	if !r.Has(keys...) {
		return def, nil
	}
	return r.Float(keys...)
}

// String returns the first present key as a string.
func (r *Raw) String(keys ...string) (string, error) {
	k, v, ok := r.first(keys)
	if !ok {
		return "", fmt.Errorf("%s: missing field %s", r.Path, strings.Join(quote(keys), " or "))
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: field %q = %s, expected a string", r.Path, k, Show(v))
	}
	return s, nil
}

// StringOr is String with a default.
func (r *Raw) StringOr(def string, keys ...string) (string, error) {
	if !r.Has(keys...) {
		return def, nil
	}
	return r.String(keys...)
}

// Bool returns the first present key as a bool, def when absent.
func (r *Raw) BoolOr(def bool, keys ...string) (bool, error) {
	k, v, ok := r.first(keys)
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: field %q = %s, expected true or false", r.Path, k, Show(v))
	}
	return b, nil
}

// Ints returns the first present key as a list of integers.
func (r *Raw) Ints(keys ...string) ([]int, error) {
	k, v, ok := r.first(keys)
	if !ok {
		return nil, fmt.Errorf("%s: missing field %s", r.Path, strings.Join(quote(keys), " or "))
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: field %q = %s, expected a list of integers", r.Path, k, Show(v))
	}
	out := make([]int, len(arr))
	for i, e := range arr {
		n, ok := asInt(e)
		if !ok {
			return nil, fmt.Errorf("%s: field %q[%d] = %s, expected an integer", r.Path, k, i, Show(e))
		}
		out[i] = n
	}
	return out, nil
}

// ModelType returns "model_type", the key architecture detection uses.
func (r *Raw) ModelType() (string, error) { return r.String("model_type") }

// DType returns the checkpoint dtype under either spelling ("dtype" in
// transformers 5, "torch_dtype" before), "float32" when absent.
func (r *Raw) DType() (string, error) { return r.StringOr("float32", "dtype", "torch_dtype") }

// UnknownModelType is the error for a config whose model_type no loader knows.
func (r *Raw) UnknownModelType(known ...string) error {
	mt, _ := r.StringOr("", "model_type")
	return fmt.Errorf("%s: unknown model_type %q (supported: %s)", r.Path, mt, strings.Join(known, ", "))
}

// Show formats a JSON value for an error message so that its type shows: a
// string quoted and marked (the string "32" must not read as the number 32),
// a list or object as JSON (cut short), null as null, numbers and booleans as
// they are.
func Show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:57] + "..."
		}
		return strconv.Quote(x) + " (a string)"
	case float64, bool:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	kind := "a list"
	if _, ok := v.(map[string]any); ok {
		kind = "an object"
	}
	if len(b) > 60 {
		b = append(b[:57:57], "..."...)
	}
	return string(b) + " (" + kind + ")"
}

func quote(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%q", k)
	}
	return out
}
