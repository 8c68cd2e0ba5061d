package weights

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/ml/model"
)

// Loader hands out the tensors of a Set by checkpoint name and records which
// were taken, so a model can prove that every key of a checkpoint was either
// consumed or deliberately ignored (see CheckConsumed).
type Loader struct {
	Set    Set
	used   map[string]bool
	ignore []string
}

// NewLoader wraps s.
func NewLoader(s Set) *Loader { return &Loader{Set: s, used: map[string]bool{}} }

// Ignore declares checkpoint names that the model deliberately does not use,
// as path.Match patterns ("text_model.*", "*.num_batches_tracked").
func (l *Loader) Ignore(patterns ...string) { l.ignore = append(l.ignore, patterns...) }

// Take returns the named tensor, checking its shape when want is given
// (-1 matches any size), and marks it consumed.
func (l *Loader) Take(name string, want ...int) (*Tensor, error) {
	t, err := l.Set.Get(name)
	if err != nil {
		return nil, fmt.Errorf("missing tensor %q: %w", name, err)
	}
	if want != nil {
		if err := t.ExpectShape(want...); err != nil {
			return nil, err
		}
	}
	l.used[name] = true
	return t, nil
}

// Has reports whether the checkpoint holds name (without consuming it).
func (l *Loader) Has(name string) bool { return l.Set.Has(name) }

// Variable takes tensor name (shape-checked) and stores it as float32
// variable varName in scope.
func (l *Loader) Variable(scope *model.Scope, varName, name string, want ...int) error {
	t, err := l.Take(name, want...)
	if err != nil {
		return err
	}
	v, err := t.ToGoMLX(false)
	if err != nil {
		return err
	}
	if existing := scope.GetVariable(varName); existing != nil {
		return existing.SetValue(v)
	}
	_, err = scope.CreateVariable(varName, v)
	return err
}

// Unconsumed lists the checkpoint names neither taken nor ignored.
func (l *Loader) Unconsumed() []string {
	var out []string
	for _, n := range l.Set.Names() {
		if l.used[n] || l.ignored(n) {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (l *Loader) ignored(name string) bool {
	for _, p := range l.ignore {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if strings.HasSuffix(p, "*") && strings.HasPrefix(name, strings.TrimSuffix(p, "*")) {
			return true // "prefix.*" also covers deeper names
		}
	}
	return false
}

// CheckConsumed errors, listing up to 10 names, when some checkpoint tensors
// were neither consumed nor ignored: a sign of a wrong name table.
func (l *Loader) CheckConsumed() error {
	u := l.Unconsumed()
	if len(u) == 0 {
		return nil
	}
	show := u
	if len(show) > 10 {
		show = show[:10]
	}
	return fmt.Errorf("%d checkpoint tensors were not used by the model: %s", len(u), strings.Join(show, ", "))
}
