package main

import (
	"io"
	"os"
	"testing"
)

// runCaptured runs evalrun with args, returning exit code, stdout and stderr.
func runCaptured(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	capture := func(f **os.File) func() string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := *f
		*f = w
		done := make(chan string)
		go func() {
			b, _ := io.ReadAll(r)
			done <- string(b)
		}()
		return func() string { *f = old; w.Close(); return <-done }
	}
	stopOut := capture(&os.Stdout)
	stopErr := capture(&os.Stderr)
	code := run(args)
	return code, stopOut(), stopErr()
}

// runStdout is runCaptured without stderr.
func runStdout(t *testing.T, args ...string) (int, string) {
	t.Helper()
	code, out, _ := runCaptured(t, args...)
	return code, out
}
