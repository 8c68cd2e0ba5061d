package main

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Every subcommand's --help teaches by example: it exits 0 and has an
// indented line that runs that very subcommand (evalrun run had only a
// run.yaml, no command line).
func TestEveryCommandHelpHasExample(t *testing.T) {
	if len(commands) == 0 {
		t.Fatal("no subcommands registered")
	}
	for _, c := range commands {
		code, out, errOut := runCaptured(t, c.name, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d, stderr %q", c.name, code, errOut)
			continue
		}
		example := regexp.MustCompile(`(?m)^\s+(\S+=\S+\s+)*evalrun (--\S+ \S+ )*` + regexp.QuoteMeta(c.name) + `( |$)`)
		if !strings.Contains(out, "Example") || !example.MatchString(out) {
			t.Errorf("%s --help has no example command line (an indented 'evalrun %s ...' under Example):\n%s", c.name, c.name, out)
		}
	}
}

// A flag with a placeholder hides its default in --help (kong prints
// --out=DIR, not --out="ablation-out"), so its help text must say the
// default itself: a new user of 'evalrun ablation' could not tell where
// the study would be written.
func TestPlaceholderFlagsStateTheirDefault(t *testing.T) {
	for _, c := range commands {
		typ := reflect.TypeOf(c.cmd)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			def, hasDef := f.Tag.Lookup("default")
			_, hasPH := f.Tag.Lookup("placeholder")
			if !hasDef || !hasPH || def == "" || f.Type.Kind() == reflect.Bool {
				continue
			}
			if !strings.Contains(f.Tag.Get("help"), "default") {
				t.Errorf("%s: flag field %s has default %q hidden by its placeholder, and its help does not state it", c.name, f.Name, def)
			}
		}
	}
}

// TestParseErrorsPointToHelp: a command line kong cannot parse exits 2 with
// one line that names the problem and the help to read: the command's own
// when a word of the line names one (the first such word), else the
// top-level list.
func TestParseErrorsPointToHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "(see evalrun --help)"},
		{[]string{"nosuch"}, "unexpected argument nosuch (see evalrun --help)"},
		{[]string{"check", "--bogus"}, "unknown flag --bogus (see evalrun check --help)"},
		{[]string{"run", "--task", "check", "--batch", "x"}, "(see evalrun run --help)"},
	} {
		code, _, stderr := runCaptured(t, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("evalrun %q: exit %d, stderr %q; want 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}
}
