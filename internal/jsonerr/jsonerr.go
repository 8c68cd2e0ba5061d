// Package jsonerr restates encoding/json type errors in a file's terms: the
// field's path and the kind of JSON value wanted and found, instead of the
// Go type it decodes into ("Go struct field .n_samples of type
// bench.NSamples").
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Describe returns err restated when it is a *json.UnmarshalTypeError
// ("field n_samples.total: want an integer, found a string"; "want an
// object, found a list" for the top level), else err itself. The original
// stays wrapped.
func Describe(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	msg := fmt.Sprintf("want %s, found %s", Want(te.Type), found(te.Value))
	if f := strings.TrimPrefix(te.Field, "."); f != "" {
		msg = fmt.Sprintf("field %q: %s", f, msg)
	}
	return &typeError{msg, err}
}

// Want names the JSON value a Go type decodes from.
func Want(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return Want(t.Elem())
	}
	return "an object"
}

// found names the JSON value json reports ("array", "number 1.5").
func found(v string) string {
	switch v {
	case "":
		return "another kind of value"
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "number":
		return "a number"
	}
	return v // "number 1.5", "number -1"
}

type typeError struct {
	msg string
	err error
}

func (e *typeError) Error() string { return e.msg }
func (e *typeError) Unwrap() error { return e.err }
