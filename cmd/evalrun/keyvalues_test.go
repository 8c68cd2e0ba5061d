package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

func TestKeyValuesFlag(t *testing.T) {
	parse := func(args ...string) (keyValues, error) {
		var cli struct {
			Opt keyValues
		}
		p, err := kong.New(&cli)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Parse(args)
		return cli.Opt, err
	}
	got, err := parse("--opt", "rule=vlmevalkit", "--opt=splits=random,popular", "--opt", "url=http://h/x?a=1;b=2")
	want := keyValues{"rule": "vlmevalkit", "splits": "random,popular", "url": "http://h/x?a=1;b=2"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if got, err := parse(); err != nil || len(got) != 0 {
		t.Errorf("no flag: got %v, %v", got, err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--opt", "splits=random", "--opt", "splits=popular"}, `"splits" is given twice (splits=random, then splits=popular)`},
		{[]string{"--opt", "splits"}, `"splits" is not KEY=VALUE`},
		{[]string{"--opt", "=x"}, `"=x" is not KEY=VALUE`},
	} {
		if _, err := parse(c.args...); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want one containing %s", c.args, err, c.msg)
		}
	}
}

// TestRepeatedOptionIsUsage: a key given twice to run, score or report stops
// with exit 2 and one line naming the flag and the key.
func TestRepeatedOptionIsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--task", "pope", "--data", t.TempDir(), "--opt", "rule=a", "--opt", "rule=b"},
		{"score", "results.json", "--opt", "rule=a", "--opt", "rule=b"},
		{"report", t.TempDir(), "--match", "m=A", "--match", "m=B"},
	} {
		code, _, stderr := runCaptured(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(stderr, "given twice") || !strings.Contains(stderr, "--") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}
