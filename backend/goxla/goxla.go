//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

// Package goxla reaches into go-xla v0.4.13's unexported state, for the
// packages that need what its API does not give: xladry (a builder's
// program without a plugin), xlacache (a compiled program's PJRT handles,
// and wrapping one go-xla did not compile) and model/scan (the builder's
// closure caches). Every accessor names the type and
// field it expected, so a go-xla upgrade that renames one fails with a clear
// error instead of silently.
package goxla

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/stablehlo"
)

// Version is the go-xla version these accessors were written for.
const Version = "v0.4.13"

// FieldValue is the (settable) unexported field name of *ptr.
func FieldValue(ptr any, name string) (reflect.Value, error) {
	s := reflect.ValueOf(ptr)
	if s.Kind() != reflect.Pointer || s.IsNil() || s.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("goxla: %T is not a pointer to a struct", ptr)
	}
	s = s.Elem()
	f := s.FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("goxla: %s has no field %q (written for go-xla %s)", s.Type(), name, Version)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

// Field reads field name of *ptr as a T.
func Field[T any](ptr any, name string) (T, error) {
	var zero T
	f, err := FieldValue(ptr, name)
	if err != nil {
		return zero, err
	}
	v, ok := f.Interface().(T)
	if !ok {
		return zero, fmt.Errorf("goxla: %T.%s is %s, not %T (written for go-xla %s)", ptr, name, f.Type(), zero, Version)
	}
	return v, nil
}

// SetField sets field name of *ptr to v.
func SetField(ptr any, name string, v any) error {
	f, err := FieldValue(ptr, name)
	if err != nil {
		return err
	}
	val := reflect.ValueOf(v)
	if !val.Type().AssignableTo(f.Type()) {
		return fmt.Errorf("goxla: %T.%s is %s, not %s (written for go-xla %s)", ptr, name, f.Type(), val.Type(), Version)
	}
	f.Set(val)
	return nil
}

// PointerField reads a C-pointer field (*C.T in go-xla) as an unsafe.Pointer.
func PointerField(ptr any, name string) (unsafe.Pointer, error) {
	f, err := FieldValue(ptr, name)
	if err != nil {
		return nil, err
	}
	if f.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("goxla: %T.%s is %s, not a pointer (written for go-xla %s)", ptr, name, f.Type(), Version)
	}
	return f.UnsafePointer(), nil
}

// Builder is go-xla's builder inside b (looking through wrappers that have
// an Unwrap method).
func Builder(b compute.Builder) (*xla.Builder, error) {
	for {
		switch v := b.(type) {
		case *xla.Builder:
			return v, nil
		case interface{ Unwrap() compute.Builder }:
			b = v.Unwrap()
		default:
			return nil, fmt.Errorf("goxla: builder is %T, not go-xla's", b)
		}
	}
}

// Program is the StableHLO program go-xla's Compile would hand to PJRT.
func Program(xb *xla.Builder) ([]byte, error) {
	shlo, err := Field[*stablehlo.Builder](xb, "builder")
	if err != nil {
		return nil, err
	}
	if shlo == nil {
		return nil, fmt.Errorf("goxla: %q has no StableHLO builder (compiled already?)", xb.Name())
	}
	text, err := shlo.Build()
	if err != nil {
		return nil, fmt.Errorf("goxla: StableHLO of %q did not build: %w", xb.Name(), err)
	}
	return text, nil
}

// Signature is what go-xla's Compile copies from a builder's main function.
type Signature struct {
	Names   []string
	Inputs  []shapes.Shape
	Specs   []*compute.ShardingSpec
	Outputs []shapes.Shape
}

// ReadSignature reads the main function's parameters and output shapes off
// go-xla's builder.
func ReadSignature(xb *xla.Builder) (*Signature, error) {
	mv, err := FieldValue(xb, "mainFn")
	if err != nil {
		return nil, err
	}
	if mv.IsNil() {
		return nil, fmt.Errorf("goxla: %q has no main function", xb.Name())
	}
	main := mv.Interface()
	s := &Signature{}
	if s.Names, err = Field[[]string](main, "parameterNames"); err != nil {
		return nil, err
	}
	if s.Inputs, err = Field[[]shapes.Shape](main, "parameterShapes"); err != nil {
		return nil, err
	}
	if s.Specs, err = Field[[]*compute.ShardingSpec](main, "parameterSpecs"); err != nil {
		return nil, err
	}
	outs, err := FieldValue(main, "outputs")
	if err != nil {
		return nil, err
	}
	if outs.Kind() != reflect.Slice {
		return nil, errors.New("goxla: the main function's outputs are not a slice (written for go-xla " + Version + ")")
	}
	for i := range outs.Len() {
		shape, err := Field[shapes.Shape](outs.Index(i).Interface(), "shape")
		if err != nil {
			return nil, err
		}
		s.Outputs = append(s.Outputs, shape)
	}
	return s, nil
}
