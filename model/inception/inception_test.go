package inception

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/internal/fixtures"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

func goBackend(t testing.TB) compute.Backend {
	return backendtest.New(t)
}

// golden opens fixtures/fid_inception and its formula weights.
func golden(t testing.TB) (*weights.SafetensorsFile, *weights.MemSet) {
	t.Helper()
	dir := fixtures.Dir(t, "fid_inception")
	g, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	specs, err := ReadTensorSpecs(filepath.Join(dir, "tensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	return g, FormulaWeights(specs)
}

func getF32(t testing.TB, s weights.Set, name string) ([]float32, []int) {
	t.Helper()
	w, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, w.Shape
}

// compareScaled checks |got − want| ≤ rel·max|want| elementwise (the
// fixtures' rule for deep features), reporting the worst element.
func compareScaled(t *testing.T, name string, got, want []float32, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, 0
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > worst {
			worst, at = d, i
		}
	}
	t.Logf("%s: max |Δ| %.3g (tolerance %.3g = %g·max|want| %.3g)", name, worst, rel*scale, rel, scale)
	if worst > rel*scale || math.IsNaN(worst) {
		t.Errorf("%s: |Δ| %.3g at %d (got %g, want %g) exceeds %.3g", name, worst, at, got[at], want[at], rel*scale)
	}
}

// TestParityFIDInception runs the network with the fixture's formula weights
// on its resized_299 input (pytorch-fid normalisation 2x−1) and compares
// Mixed_6e and pool3 with torch.
func TestParityFIDInception(t *testing.T) {
	g, w := golden(t)
	net, err := New(goBackend(t), w)
	if err != nil {
		t.Fatal(err)
	}
	resized, shape := getF32(t, g, "resized_299")
	x := make([]float32, len(resized))
	for i, v := range resized {
		x[i] = 2*v - 1
	}
	pool3, mixed, err := net.Features(tensors.FromFlatDataAndDimensions(x, shape...))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  *tensors.Tensor
	}{{"mixed_6e", mixed}, {"pool3", pool3}} {
		want, wshape := getF32(t, g, c.name)
		if !slices.Equal(c.got.Shape().Dimensions, wshape) {
			t.Fatalf("%s: shape %v, want %v", c.name, c.got.Shape().Dimensions, wshape)
		}
		compareScaled(t, c.name, tensors.MustCopyFlatData[float32](c.got), want, 1e-4)
	}
	// End to end: the fixture's uint8 images through the pytorch-fid pipeline.
	img, err := g.Get("images_uint8")
	if err != nil {
		t.Fatal(err)
	}
	pix, _ := img.Uint8()
	n, ih, iw := img.Shape[0], img.Shape[1], img.Shape[2]
	var imgs []*imageio.Image
	for i := range n {
		imgs = append(imgs, &imageio.Image{H: ih, W: iw, Pix: pix[i*ih*iw*3 : (i+1)*ih*iw*3]})
	}
	if shape[2] != InputSize || shape[3] != InputSize {
		t.Skipf("resized_299 is %dx%d; the FID pipeline resizes to %d", shape[2], shape[3], InputSize)
	}
	rows, err := net.BatchPool3(imgs, PytorchFID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := getF32(t, g, "pool3")
	got := make([]float32, len(rows))
	for i, v := range rows {
		got[i] = float32(v)
	}
	compareScaled(t, "pool3 from images_uint8", got, want, 1e-4)
}

// TestParityFIDResize: both FID pipelines' resize of the fixture images
// (resized_299: x/255 then torch bilinear; cleanfid_resized_299: per-channel
// PIL "F" bicubic, clipped) within |Δ| ≤ 1e-4 + 1e-4·|want|.
func TestParityFIDResize(t *testing.T) {
	g, _ := golden(t)
	w, err := g.Get("images_uint8")
	if err != nil {
		t.Fatal(err)
	}
	pix, err := w.Uint8()
	if err != nil {
		t.Fatal(err)
	}
	n, h, wd := w.Shape[0], w.Shape[1], w.Shape[2]
	for _, c := range []struct {
		key  string
		mode Mode
	}{{"resized_299", PytorchFID}, {"cleanfid_resized_299", Clean}} {
		want, shape := getF32(t, g, c.key)
		if len(shape) != 4 || shape[0] != n || shape[1] != 3 || shape[2] != shape[3] {
			t.Fatalf("%s: shape %v, want [%d,3,S,S]", c.key, shape, n)
		}
		size := shape[2]
		var got []float32
		for i := range n {
			img := &imageio.Image{H: h, W: wd, Pix: pix[i*h*wd*3 : (i+1)*h*wd*3]}
			got = append(got, Resize(img, c.mode, size)...)
		}
		worst, at := 0.0, 0
		for i := range got {
			d := math.Abs(float64(got[i] - want[i]))
			if d-1e-4*math.Abs(float64(want[i])) > worst {
				worst, at = d-1e-4*math.Abs(float64(want[i])), i
			}
		}
		if worst > 1e-4 {
			t.Errorf("%s: element %d: got %g, want %g", c.key, at, got[at], want[at])
		}
	}
}

// TestStateDictSpecsMatchFixture: the architecture table names exactly the
// fixture's tensors with their shapes (so formula weights built from it are
// the fixture's).
func TestStateDictSpecsMatchFixture(t *testing.T) {
	specs, err := ReadTensorSpecs(filepath.Join(fixtures.Dir(t, "fid_inception"), "tensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	mine := StateDictSpecs()
	if len(mine) != len(specs) {
		t.Fatalf("%d tensors, fixture has %d", len(mine), len(specs))
	}
	for i := range specs {
		if mine[i].Name != specs[i].Name || !slices.Equal(mine[i].Shape, specs[i].Shape) {
			t.Errorf("tensor %d: %s%v, fixture %s%v", i, mine[i].Name, mine[i].Shape, specs[i].Name, specs[i].Shape)
		}
	}
}

// TestLoadErrors: a wrong file, a missing tensor, a mis-shaped tensor and an
// unexpected extra tensor each give an error naming it.
func TestLoadErrors(t *testing.T) {
	b := goBackend(t)
	good := FormulaWeights(StateDictSpecs())
	cases := []struct {
		name string
		edit func(s *weights.MemSet) weights.Set
		want string
	}{
		{"not inception", func(s *weights.MemSet) weights.Set {
			return weights.NewMemSet("x.pth", weights.FromFloat32("features.0.weight", []int{1}, []float32{1}))
		}, "Conv2d_1a_3x3.conv.weight"},
		{"missing", func(s *weights.MemSet) weights.Set { return without(s, "Mixed_6c.branch7x7_2.bn.running_var") },
			"Mixed_6c.branch7x7_2.bn.running_var"},
		{"misshaped", func(s *weights.MemSet) weights.Set {
			s.Add(weights.FromFloat32("Mixed_5b.branch5x5_2.conv.weight", []int{64, 48, 3, 3}, make([]float32, 64*48*9)))
			return s
		}, "Mixed_5b.branch5x5_2.conv.weight"},
		{"unexpected", func(s *weights.MemSet) weights.Set {
			s.Add(weights.FromFloat32("Mixed_9z.conv.weight", []int{1}, []float32{1}))
			return s
		}, "Mixed_9z.conv.weight"},
	}
	for _, c := range cases {
		set := c.edit(without(good, ""))
		_, err := New(b, set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.want)
		}
	}
	// Wrapped checkpoints ({"state_dict": ...}) load through the prefix.
	wrapped := weights.NewMemSet("wrapped.pth")
	for _, n := range good.Names() {
		x, _ := good.Get(n)
		c := *x
		c.Name = "state_dict." + n
		wrapped.Add(&c)
	}
	if _, err := New(b, wrapped); err != nil {
		t.Errorf("state_dict-wrapped weights: %v", err)
	}
}

func without(s *weights.MemSet, drop string) *weights.MemSet {
	out := weights.NewMemSet(s.Source)
	for _, n := range s.Names() {
		if n != drop {
			x, _ := s.Get(n)
			out.Add(x)
		}
	}
	return out
}

// BenchmarkPool3 measures pool3 feature extraction (images/s, and CPU
// seconds per image) at batch 8 on 299×299 inputs with formula weights, on
// the backend from $GOMLX_BACKEND (default go).
func BenchmarkPool3(b *testing.B) {
	for _, batch := range []int{8} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			net, err := New(goBackend(b), FormulaWeights(StateDictSpecs()))
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float32, batch*3*InputSize*InputSize)
			for i := range x {
				x[i] = float32(FormulaBase(7, i))
			}
			in := tensors.FromFlatDataAndDimensions(x, batch, 3, InputSize, InputSize)
			if _, err := net.Pool3(in); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				out, err := net.Pool3(in)
				if err != nil {
					b.Fatal(err)
				}
				out.FinalizeAll()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
			// CPU seconds per image: stable when the machine is shared.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(batch*b.N), "cpu-s/image")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
