package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// score refuses a results.json whose recorded task version or scoring
// options this evalrun cannot honour, instead of re-scoring it with the
// defaults and overwriting the record.
func TestScoreRefusesUnknownRecordedValues(t *testing.T) {
	res := popeDemoRun(t, t.TempDir())
	orig, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(r map[string]any)) {
		var r map[string]any
		if err := json.Unmarshal(orig, &r); err != nil {
			t.Fatal(err)
		}
		f(r)
		b, _ := json.Marshal(r)
		os.WriteFile(res, b, 0o644)
	}
	proto := func(k string, v any) func(r map[string]any) {
		return func(r map[string]any) { r["protocol"].(map[string]any)[k] = v }
	}
	for _, c := range []struct {
		name string
		f    func(r map[string]any)
		args []string
		code int
		want string
	}{
		{"as written", func(map[string]any) {}, nil, 0, ""},
		{"bogus rule", proto("rule", "bogus"), nil, 2, `protocol.rule is "bogus", which this evalrun does not take (option rule="bogus": want one of official, vlmevalkit)`},
		{"numeric rule", proto("rule", 5), nil, 2, `protocol.rule is 5`},
		{"bogus split", proto("splits", "random,bogus"), nil, 2, `protocol.splits is "random,bogus"`},
		{"bogus rule replaced by --opt", proto("rule", "bogus"), []string{"--opt", "rule=vlmevalkit"}, 0, ""},
		{"other version", func(r map[string]any) { r["task_version"] = 9 }, nil, 2, "task_version 9, but this evalrun has pope version 1"},
		{"bad token budget", proto("max_new_tokens", -5), nil, 2, `max_new_tokens`},
		{"bad prompt", proto("prompt", "fancy"), nil, 2, `prompt`},
	} {
		edit(c.f)
		before, _ := os.ReadFile(res)
		code, _, stderr := runCaptured(t, append([]string{"score", res}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
		if after, _ := os.ReadFile(res); c.code != 0 && string(after) != string(before) {
			t.Errorf("%s: results.json was rewritten", c.name)
		}
	}
}
