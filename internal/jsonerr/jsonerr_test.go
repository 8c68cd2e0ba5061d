package jsonerr

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDescribe(t *testing.T) {
	type counts struct {
		Total int `json:"total"`
	}
	type file struct {
		N       counts             `json:"n_samples"`
		Metrics map[string]float64 `json:"metrics"`
		IDs     []string           `json:"ids"`
		OK      *bool              `json:"ok"`
	}
	for body, want := range map[string]string{
		`{"n_samples": {"total": "9"}}`: `field "n_samples.total": want an integer, found a string`,
		`{"n_samples": "9"}`:            `field "n_samples": want an object, found a string`,
		`{"metrics": [1]}`:              `field "metrics": want an object, found a list`,
		`{"ids": {"a": 1}}`:             `field "ids": want a list, found an object`,
		`{"ok": 1}`:                     `field "ok": want true or false, found a number`,
		`{"n_samples": {"total": 1.5}}`: `field "n_samples.total": want an integer, found number 1.5`,
		`[1, 2]`:                        "want an object, found a list",
	} {
		var f file
		err := json.Unmarshal([]byte(body), &f)
		got := Describe(err)
		var te *json.UnmarshalTypeError
		if got == nil || got.Error() != want || !errors.As(got, &te) {
			t.Errorf("%s: got %v, want %q wrapping the original", body, got, want)
		}
	}
	syntax := json.Unmarshal([]byte(`{`), &struct{}{})
	if Describe(syntax) != syntax {
		t.Errorf("a syntax error is not restated")
	}
}
