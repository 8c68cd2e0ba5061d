package dualtoken

// Compiling the tokenizer's executables before their first call, all at once.
//
// XLA compiles a program mostly on one CPU thread (its LLVM code generation
// is not split by default), and the tokenizer is two large programs (Encode:
// tower, quantisers, head; DecodePixels: the decoder) that nothing orders:
// compiled side by side they should take nearer the slower one's time than
// the sum (issue 7's tokenizer compile; not yet measured on a GPU, where the
// two also autotune on the card at once).
//
// Nothing is serialised, because nothing shared is written (GoMLX v0.28.16,
// go-xla v0.4.13):
//   - graph.Exec builds and compiles a graph outside its cache lock (it
//     waits on an in-flight compile of the same shapes instead of starting a
//     second one), and every graph has its own backend builder;
//   - model.Exec's graph function reads the Store only: the variable list
//     and map, and, where the backend bakes variables in as constants (the Go
//     backend), their values under each tensor's own lock; the nodes of a
//     variable in a graph live in that graph's state, not in the Variable;
//   - the graph functions here create no variable and set no Store param
//     (a graph function that did would have to be built under a lock);
//   - go-xla makes one CompileConfig per compile on a PJRT client, which the
//     PJRT C API requires to be thread-safe.
// Model.exec locks only its cache of executables, not their compiles.

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// compileNames are the executables Model.Compile knows: those of Encode,
// DecodePixels, Reconstruct and ReconstructUint8.
var compileNames = []string{execEncode, execDecode, execReconstruct, execReconstructUint8}

// compileTarget is one executable to compile: its Model.exec key, graph
// function and input shape.
type compileTarget struct {
	name  string
	fn    any
	input shapes.Shape
}

// target returns the executable called name at batch, as the method that
// runs it would make it: the same key and graph function, and the input
// shape that method is called with (pixels float32 [B,C,S,S]; codes int64
// [B,G,G,D], the dtype Encode returns them in).
func (m *Model) target(name string, batch int) (compileTarget, bool) {
	v := &m.Config.Tower.Vision
	pixels := shapes.Make(dtypes.Float32, batch, v.NumChannels, v.ImageSize, v.ImageSize)
	switch name {
	case execEncode:
		return compileTarget{name, m.encodeGraph(), pixels}, true
	case execDecode:
		_, q := m.Config.PixelQuantizer()
		return compileTarget{name, m.decodeGraph(), shapes.Make(dtypes.Int64, batch, q.CodeShape[0], q.CodeShape[1], q.Depth())}, true
	case execReconstruct:
		return compileTarget{name, m.reconstructGraph(), pixels}, true
	case execReconstructUint8:
		return compileTarget{name, m.reconstructUint8Graph(), shapes.Make(dtypes.Uint8, batch, v.ImageSize, v.ImageSize, v.NumChannels)}, true
	}
	return compileTarget{}, false
}

// Compile builds and compiles the executables named in graphs ("encode",
// "decode", "reconstruct", "reconstruct-uint8": those of Encode,
// DecodePixels, Reconstruct and ReconstructUint8) for
// a batch of batch images, all at once in goroutines, so that the wall time
// nears the slowest one's rather than their sum. Encode, DecodePixels (int64
// codes, as Encode returns them), Reconstruct and ReconstructUint8 then run
// at that batch without compiling. The error joins
// the failures of each graph, named; the others are compiled nonetheless.
func (m *Model) Compile(batch int, graphs ...string) error {
	valid := strings.Join(compileNames, ", ")
	if batch < 1 {
		return fmt.Errorf("dualtoken: Compile: batch %d, expected at least 1", batch)
	}
	if len(graphs) == 0 {
		return fmt.Errorf("dualtoken: Compile: no executable named (valid: %s)", valid)
	}
	var todo []compileTarget
	var unknown []string
	seen := map[string]bool{}
	for _, name := range graphs {
		t, ok := m.target(name, batch)
		switch {
		case !ok:
			unknown = append(unknown, fmt.Sprintf("%q", name))
		case !seen[name]:
			seen[name] = true
			todo = append(todo, t)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("dualtoken: Compile: unknown executable %s (valid: %s)", strings.Join(unknown, ", "), valid)
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, t := range todo {
		wg.Go(func() { errs[i] = m.compile(t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// compile makes (or finds) t's executable and compiles it for t's input.
// GoMLX turns a panicking graph function into an error; the recover is for
// anything else, which would otherwise end the process from a goroutine.
func (m *Model) compile(t compileTarget) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dualtoken: compiling %q for %s: panic: %v", t.name, t.input, r)
		}
	}()
	e, err := m.exec(t.name, t.fn)
	if err != nil {
		return fmt.Errorf("dualtoken: compiling %q: %w", t.name, err)
	}
	if _, err := e.Compile(t.input); err != nil {
		return fmt.Errorf("dualtoken: compiling %q for %s: %w", t.name, t.input, err)
	}
	return nil
}
