package suites

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// demoOptions writes task name's demo data under a temp folder.
func demoOptions(t *testing.T, name string) bench.Options {
	t.Helper()
	w, ok := bench.Demo(name)
	if !ok {
		t.Fatalf("%s: no demo data writer", name)
	}
	opts, err := w(t.TempDir(), 3, 12)
	if err != nil {
		t.Fatalf("%s: demo data: %v", name, err)
	}
	return opts
}

func with(opts bench.Options, kv map[string]string) bench.Options {
	out := bench.Options{Data: opts.Data, Extra: maps.Clone(opts.Extra)}
	if out.Extra == nil {
		out.Extra = map[string]string{}
	}
	maps.Copy(out.Extra, kv)
	return out
}

// TestSpecs: every suite documents itself and its options, and its declared
// version is what its tasks report.
func TestSpecs(t *testing.T) {
	if len(bench.Names()) < 9 {
		t.Fatalf("registered tasks %v", bench.Names())
	}
	for _, name := range bench.Names() {
		s, _ := bench.Lookup(name)
		if s.Help == "" || s.Data == "" || s.Version < 1 || s.New == nil || strings.Contains(s.Help, "opts:") {
			t.Errorf("%s: incomplete spec %+v", name, s)
		}
		for _, o := range s.Options {
			if o.Help == "" || strings.ContainsAny(o.Help, "\n") {
				t.Errorf("%s: option %s needs a one-line help", name, o.Key)
			}
		}
		task, err := bench.New(name, demoOptions(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if task.Version() != s.Version || task.Name() != name {
			t.Errorf("%s: task says %s version %d, spec version %d", name, task.Name(), task.Version(), s.Version)
		}
	}
}

// TestDeclaredDefaults: passing every declared default explicitly is
// accepted and configures the same task as leaving the options unset.
func TestDeclaredDefaults(t *testing.T) {
	for _, name := range bench.Names() {
		s, _ := bench.Lookup(name)
		base := demoOptions(t, name)
		defs := map[string]string{}
		for _, o := range s.Options {
			if _, set := base.Extra[o.Key]; !set && o.Default != "" {
				defs[o.Key] = o.Default
			}
		}
		plain, err := bench.New(name, base)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		explicit, err := bench.New(name, with(base, defs))
		if err != nil {
			t.Fatalf("%s: declared defaults %v refused: %v", name, defs, err)
		}
		if !reflect.DeepEqual(plain.Protocol(), explicit.Protocol()) {
			t.Errorf("%s: declared defaults %v give protocol %v, unset %v", name, defs, explicit.Protocol(), plain.Protocol())
		}
	}
}

// TestUnknownAndOutOfSetRefused: every suite refuses a key it does not
// declare and, for each fixed-set option, a value outside the set.
func TestUnknownAndOutOfSetRefused(t *testing.T) {
	for _, name := range bench.Names() {
		s, _ := bench.Lookup(name)
		base := demoOptions(t, name)
		_, err := bench.New(name, with(base, map[string]string{"no_such_option": "1"}))
		want := name + `: unknown option "no_such_option" (known: ` + strings.Join(s.Keys(), ", ") + ")"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", name, err, want)
		}
		for _, o := range s.Options {
			if len(o.Values) == 0 {
				continue
			}
			_, err := bench.New(name, with(base, map[string]string{o.Key: "bogus"}))
			if err == nil || !strings.Contains(err.Error(), name+": option "+o.Key+`="bogus": want`) || !strings.Contains(err.Error(), o.Values[0]) {
				t.Errorf("%s: %s=bogus: %v", name, o.Key, err)
			}
		}
	}
}

// The user-facing mistakes that used to pass silently.
func TestReportedMistakes(t *testing.T) {
	for _, tc := range []struct {
		task  string
		extra map[string]string
		want  string
	}{
		{"pope", map[string]string{"split": "random"}, `pope: unknown option "split" (known: splits, rule, prompt, max_new_tokens, images)`},
		{"recon", map[string]string{"mode": "clean"}, `recon: unknown option "mode" (known: inception, fid_mode, jpeg, save)`},
		{"pope", map[string]string{"rule": "rulez"}, `pope: option rule="rulez": want one of official, vlmevalkit`},
		{"pope", map[string]string{"splits": "random,hard"}, `pope: option splits="random,hard": want a comma list of random, popular, adversarial`},
	} {
		_, err := bench.New(tc.task, bench.Options{Data: t.TempDir(), Extra: tc.extra})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %v: got %v, want %s", tc.task, tc.extra, err, tc.want)
		}
	}
}

// TestProtocolRoundTrip is what `evalrun score` relies on: the options
// rebuilt from a recorded protocol configure the same task (same protocol,
// same cache key), for each suite's default and for its variants.
func TestProtocolRoundTrip(t *testing.T) {
	weightsFile := filepath.Join(t.TempDir(), "pt_inception-test.pth")
	if err := os.WriteFile(weightsFile, []byte("stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	variants := map[string][]map[string]string{
		"recon":    {{"inception": weightsFile, "fid_mode": "pytorch-fid"}, {"inception": weightsFile}},
		"mmvet":    {{"grader": "llm", "grader_runs": "3", "judge_model": "judge-x"}},
		"pope":     {{"splits": "popular", "rule": "vlmevalkit", "prompt": "plain", "max_new_tokens": "7"}},
		"seed":     {{"mode": "likelihood"}, {"mode": "likelihood", "prompt": "plain"}},
		"mmbench":  {{"circular": "false", "rule": "last4"}},
		"mme":      {{"subtasks": "available", "prompt": "plain"}},
		"vqav2":    {{"rule": "lmms-eval"}},
		"flickr8k": {},
	}
	info := bench.ModelInfo{Name: "m"}
	for _, name := range bench.Names() {
		base := demoOptions(t, name)
		for _, v := range append([]map[string]string{nil}, variants[name]...) {
			task, err := bench.New(name, with(base, v))
			if err != nil {
				t.Fatalf("%s %v: %v", name, v, err)
			}
			opts, err := bench.OptionsFromProtocol(name, jsonRoundTrip(t, task.Protocol()))
			if err != nil {
				t.Fatal(err)
			}
			opts.Rescore = true
			// Run from elsewhere: recon records the inception weights by base name.
			again, err := bench.New(name, opts)
			if err != nil {
				t.Fatalf("%s %v: rebuilding from the protocol: %v", name, v, err)
			}
			if !reflect.DeepEqual(again.Protocol(), task.Protocol()) || bench.CacheKey(again, info) != bench.CacheKey(task, info) {
				t.Errorf("%s %v: protocol after the round trip %v, want %v", name, v, again.Protocol(), task.Protocol())
			}
		}
	}
}

// jsonRoundTrip is the protocol as results.json gives it back (numbers as float64).
func jsonRoundTrip(t *testing.T, p map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// TestSuitesReadOnlyDeclaredOptions reads every suite's source: each option
// key read (opts.Get, qa.Choice/Int/Bool) is a literal its Spec declares, and
// no suite reads opts.Extra directly. (New also panics on an undeclared
// read; this covers paths the demo data does not take.)
func TestSuitesReadOnlyDeclaredOptions(t *testing.T) {
	dirs, err := filepath.Glob("../*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, dir := range dirs {
		fset := token.NewFileSet()
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		var parsed []*ast.File
		name := ""
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, af)
			if obj := af.Scope.Lookup("Name"); obj != nil && obj.Kind == ast.Con {
				if lit, ok := obj.Decl.(*ast.ValueSpec).Values[0].(*ast.BasicLit); ok {
					name, _ = strconv.Unquote(lit.Value)
				}
			}
		}
		s, ok := bench.Lookup(name)
		if !ok {
			continue // not a suite (qa, models, suites)
		}
		checked++
		for _, af := range parsed {
			assigned := map[ast.Expr]bool{}
			ast.Inspect(af, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.AssignStmt:
					for _, l := range x.Lhs {
						assigned[l] = true
					}
				case *ast.IndexExpr:
					if sel, ok := x.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Extra" && !assigned[x] {
						t.Errorf("%s: %s reads Extra directly: use opts.Get with a declared key", name, fset.Position(x.Pos()))
					}
				case *ast.CallExpr:
					sel, ok := x.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					recv, _ := sel.X.(*ast.Ident)
					arg := -1
					switch {
					case sel.Sel.Name == "Get" && recv != nil && recv.Name == "opts":
						arg = 0
					case recv != nil && recv.Name == "qa" && (sel.Sel.Name == "Choice" || sel.Sel.Name == "Int" || sel.Sel.Name == "Bool"):
						arg = 2
					}
					if arg < 0 {
						return true
					}
					lit, ok := x.Args[arg].(*ast.BasicLit)
					if !ok {
						t.Errorf("%s: %s: option key is not a literal", name, fset.Position(x.Pos()))
						return true
					}
					key, _ := strconv.Unquote(lit.Value)
					if _, ok := s.Option(key); !ok {
						t.Errorf("%s: %s reads option %q, which its Spec does not declare", name, fset.Position(x.Pos()), key)
					}
				}
				return true
			})
		}
	}
	if checked != len(bench.Names()) {
		t.Errorf("checked %d suite folders, %d tasks registered", checked, len(bench.Names()))
	}
}
