package dualtoken

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

// compileCounter wraps a backend to count the programs compiled on it. With
// barrier > 0, each compile waits until barrier compiles have started (or
// until a deadline, noting that it waited alone): compiles made one after
// another then fail the test instead of passing slowly.
type compileCounter struct {
	compute.Backend
	barrier int

	mu       sync.Mutex
	names    []string
	started  chan struct{} // closed when barrier compiles have started
	lonely   bool          // a compile gave up waiting for the others
	deadline time.Duration
}

func newCompileCounter(b compute.Backend, barrier int) *compileCounter {
	return &compileCounter{Backend: b, barrier: barrier, started: make(chan struct{}), deadline: 20 * time.Second}
}

func (c *compileCounter) Builder(name string) compute.Builder {
	return &countingBuilder{Builder: c.Backend.Builder(name), c: c}
}

func (c *compileCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.names)
}

type countingBuilder struct {
	compute.Builder
	c *compileCounter
}

func (b *countingBuilder) Compile() (compute.Executable, error) {
	c := b.c
	c.mu.Lock()
	c.names = append(c.names, b.Name())
	if len(c.names) == c.barrier {
		close(c.started)
	}
	wait := len(c.names) <= c.barrier
	c.mu.Unlock()
	if wait {
		select {
		case <-c.started:
		case <-time.After(c.deadline):
			c.mu.Lock()
			c.lonely = true
			c.mu.Unlock()
		}
	}
	return b.Builder.Compile()
}

func sameInts(t *testing.T, what string, a, b *tensors.Tensor) {
	t.Helper()
	x, y := tensors.MustCopyFlatData[int64](a), tensors.MustCopyFlatData[int64](b)
	if len(x) != len(y) {
		t.Fatalf("%s: %v and %v", what, a.Shape(), b.Shape())
	}
	for i := range x {
		if x[i] != y[i] {
			t.Errorf("%s differ at %d: %d and %d", what, i, x[i], y[i])
			return
		}
	}
}

// TestCompileThenRun: Compile builds the three executables concurrently
// (all three are in the backend's compile at once), once each however often
// named; Encode, DecodePixels and Reconstruct at that batch then compile
// nothing and give exactly what a model compiling on first call gives. A
// batch not compiled still compiles on its first call (so the count can see
// a compile).
func TestCompileThenRun(t *testing.T) {
	const batch = 2
	lazy, eager := tinyModel(t, nil), tinyModel(t, nil)
	cc := newCompileCounter(eager.Backend, 3)
	eager.Backend = cc
	if err := eager.Compile(batch, "encode", "decode", "reconstruct", "encode"); err != nil {
		t.Fatal(err)
	}
	if n := cc.count(); n != 3 {
		t.Fatalf("Compile compiled %d programs (%q), want 3", n, cc.names)
	}
	if cc.lonely {
		t.Errorf("a compile waited %s for the others: Compile compiled one after another", cc.deadline)
	}

	// A tensor on a device belongs to one backend: each model gets its own.
	size := lazy.Config.Tower.Vision.ImageSize
	px, px2 := randomPixels(batch, size, 7), randomPixels(batch, size, 7)
	want, err := lazy.Encode(px)
	if err != nil {
		t.Fatal(err)
	}
	got, err := eager.Encode(px2)
	if err != nil {
		t.Fatal(err)
	}
	sameInts(t, "pixel codes", got.PixelCodes, want.PixelCodes)
	sameInts(t, "semantic codes", got.SemanticCodes, want.SemanticCodes)
	if d := maxAbsDiff(t, got.Pooled, want.Pooled); d != 0 {
		t.Errorf("pooled differs by %g", d)
	}
	wantImg, err := lazy.DecodePixels(want.PixelCodes)
	if err != nil {
		t.Fatal(err)
	}
	// Encode's outputs belong to the backend inside the counter, not to the
	// counter: DecodePixels on eager takes a host copy of them.
	codes, err := got.PixelCodes.LocalClone()
	if err != nil {
		t.Fatal(err)
	}
	gotImg, err := eager.DecodePixels(codes)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, gotImg, wantImg); d != 0 {
		t.Errorf("decoded images differ by %g", d)
	}
	wantRec, wantCodes, err := lazy.Reconstruct(px)
	if err != nil {
		t.Fatal(err)
	}
	gotRec, gotCodes, err := eager.Reconstruct(px2)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, gotRec, wantRec); d != 0 {
		t.Errorf("reconstructions differ by %g", d)
	}
	sameInts(t, "reconstruct codes", gotCodes, wantCodes)
	if n := cc.count(); n != 3 {
		t.Errorf("%d programs after running at the compiled batch (%q), want still 3", n, cc.names)
	}

	if _, err := eager.Encode(randomPixels(batch+1, size, 8)); err != nil {
		t.Fatal(err)
	}
	if n := cc.count(); n != 4 {
		t.Errorf("%d programs after Encode at batch %d, want 4 (one new compile)", n, batch+1)
	}
}

// TestCompileErrors: bad arguments are refused before anything compiles; a
// graph that fails is named in the error while the others still compile.
func TestCompileErrors(t *testing.T) {
	m := tinyModel(t, nil)
	cc := newCompileCounter(m.Backend, 0)
	m.Backend = cc
	for _, c := range []struct {
		batch  int
		graphs []string
		want   string
	}{
		{2, []string{"encode", "bogus", "pooled"}, `unknown executable "bogus", "pooled" (valid: encode, decode, reconstruct, reconstruct-uint8)`},
		{2, nil, "no executable named (valid: encode, decode, reconstruct, reconstruct-uint8)"},
		{0, []string{"encode"}, "batch 0"},
	} {
		err := m.Compile(c.batch, c.graphs...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%d, %q): %v, want an error saying %q", c.batch, c.graphs, err, c.want)
		}
	}
	if n := cc.count(); n != 0 {
		t.Fatalf("refused calls compiled %d programs", n)
	}

	v := Variable(m.Root(), "decoder.conv_in.weight")
	if v == nil {
		t.Fatal("no decoder.conv_in.weight in the tiny model")
	}
	if err := m.Store.DeleteVariable(v.Path()); err != nil {
		t.Fatal(err)
	}
	err := m.Compile(2, "encode", "decode")
	if err == nil || !strings.Contains(err.Error(), `compiling "decode"`) || !strings.Contains(err.Error(), "decoder.conv_in.weight") ||
		strings.Contains(err.Error(), `"encode"`) {
		t.Fatalf("without a decoder weight: %v, want an error naming the decode graph and the weight only", err)
	}
	if n := cc.count(); n != 1 {
		t.Errorf("%d programs compiled, want 1 (encode)", n)
	}
	enc, err := m.Encode(randomPixels(2, m.Config.Tower.Vision.ImageSize, 1))
	if err != nil {
		t.Fatal(err)
	}
	enc.PixelCodes.FinalizeAll()
	if n := cc.count(); n != 1 {
		t.Errorf("Encode compiled again (%d programs)", n)
	}
}
