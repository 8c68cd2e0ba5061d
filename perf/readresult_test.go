package perf

import (
	"strings"
	"testing"
)

// TestReadResultSaysWhy: a file that is not a bench result of this schema
// is refused with what is wrong in the file's terms (no Go types).
func TestReadResultSaysWhy(t *testing.T) {
	for body, want := range map[string]string{
		`{"schema": 1, "tool": "evalrun b`:                     "not valid JSON",
		`{"schema": 1}`:                                        `field "tool" is missing`,
		`{"schema": 1, "tool": "pytest"}`:                      `field "tool" = "pytest"`,
		`{"tool": "evalrun bench"}`:                            `field "schema" is missing`,
		`{"schema": 9, "tool": "evalrun bench"}`:               `field "schema" = 9: this evalrun reads schema 1`,
		`[1, 2]`:                                               "want an object, found a list",
		`{"schema": "1", "tool": "evalrun bench"}`:             `field "schema": want an integer, found a string`,
		`{"schema": 1, "tool": "evalrun bench", "batch": "x"}`: `field "batch": want an integer, found a string`,
	} {
		_, err := ReadResult([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go ") {
			t.Errorf("%s: error %v, want one containing %q", body, err, want)
		}
	}
}
