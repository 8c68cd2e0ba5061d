//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package goxla_test

import (
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"

	"github.com/dualtoken/evalharness/backend/goxla"
	"github.com/dualtoken/evalharness/backend/xladry"
)

type inner struct {
	n    int
	name string
}

// The accessors read and set unexported fields, and say which type, field
// and go-xla version they expected when they cannot.
func TestFields(t *testing.T) {
	v := &inner{n: 3}
	if n, err := goxla.Field[int](v, "n"); err != nil || n != 3 {
		t.Errorf("Field n = %d, %v", n, err)
	}
	if err := goxla.SetField(v, "name", "x"); err != nil || v.name != "x" {
		t.Errorf("SetField name: %v, %q", err, v.name)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := goxla.Field[int](v, "missing"); return err }(), `has no field "missing" (written for go-xla ` + goxla.Version},
		{func() error { _, err := goxla.Field[string](v, "n"); return err }(), "is int, not string"},
		{goxla.SetField(v, "n", "three"), "is int, not string"},
		{func() error { _, err := goxla.FieldValue(*v, "n"); return err }(), "is not a pointer to a struct"},
		{func() error { _, err := goxla.PointerField(v, "n"); return err }(), "not a pointer"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got %v, want an error saying %q", c.err, c.want)
		}
	}
}

// wrapped is a builder that wraps go-xla's, as xladry's and xlacache's do.
type wrapped struct{ compute.Builder }

func (w wrapped) Unwrap() compute.Builder { return w.Builder }

// Builder looks through wrappers; Program and ReadSignature read what
// go-xla's Compile would use.
func TestBuilderProgramSignature(t *testing.T) {
	dry, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	b := wrapped{wrapped{dry.Backend.Builder("p")}}
	xb, err := goxla.Builder(b)
	if err != nil {
		t.Fatal(err)
	}
	main := xb.Main()
	x, err := main.Parameter("x", shapes.Make(dtypes.Float32, 2, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := main.Return([]compute.Value{x, x}, nil); err != nil {
		t.Fatal(err)
	}
	text, err := goxla.Program(xb)
	if err != nil || !strings.Contains(string(text), "func.func @main(%x: tensor<2x3xf32>") {
		t.Errorf("program %v:\n%s", err, text)
	}
	sig, err := goxla.ReadSignature(xb)
	if err != nil || len(sig.Names) != 1 || sig.Names[0] != "x" || len(sig.Outputs) != 2 || sig.Outputs[1].Dimensions[1] != 3 {
		t.Errorf("signature %+v, %v", sig, err)
	}
	if _, err := goxla.Builder(wrapped{nil}); err == nil {
		t.Error("a builder that is not go-xla's gave no error")
	}
	var _ *xla.Builder = xb
}
