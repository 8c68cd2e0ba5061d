// Package backendtest gives tests their backend: $GOMLX_BACKEND or the Go
// backend, failing the test when it cannot be created.
package backendtest

import (
	"testing"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/backend"
)

// New is backend.New("") for a test.
func New(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ForLoops is the test backend in a configuration that can run layer loops
// (backend.ForLoops: the Go backend with sequential op scheduling).
func ForLoops(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New(backend.ForLoops(""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
