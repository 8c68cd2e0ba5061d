package dualtoken

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/imageio"
)

// randomImages are n random size×size images.
func randomImages(n, size int, seed uint64) []*imageio.Image {
	r := rand.New(rand.NewPCG(seed, 3))
	imgs := make([]*imageio.Image, n)
	for i := range imgs {
		imgs[i] = imageio.New(size, size)
		for j := range imgs[i].Pix {
			imgs[i].Pix[j] = uint8(r.IntN(256))
		}
	}
	return imgs
}

// stack lays images out as uint8 [B,S,S,3].
func stack(imgs []*imageio.Image) *tensors.Tensor {
	s := imgs[0].H
	flat := make([]uint8, 0, len(imgs)*s*s*3)
	for _, img := range imgs {
		flat = append(flat, img.Pix...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(imgs), s, s, 3)
}

// The graph's byte-to-pixel and pixel-to-byte conversions are the host's to
// the bit: every byte value through NormalizeInto, and FromFloatCHW on
// values at and around every rounding edge, out of range, and NaN.
func TestUint8ConversionsMatchHost(t *testing.T) {
	b := backendtest.New(t)
	// Every byte value, in a 1×16×16×3 image (768 values).
	img := imageio.New(16, 16)
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 256)
	}
	want := make([]float32, 3*16*16)
	imageio.NormalizeInto(want, img, 0.5, 0.5)
	got := MustExecOnce(b, PixelsFromUint8, stack([]*imageio.Image{img}))
	for i, v := range tensors.MustCopyFlatData[float32](got) {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Fatalf("pixel %d: %v, host %v", i, v, want[i])
		}
	}

	// Decoder outputs: k/127.5 − 1 for every k, and its float32 neighbours,
	// plus out-of-range values and NaN.
	var vals []float32
	for k := -2; k <= 258; k++ {
		x := float32(k)/127.5 - 1
		vals = append(vals, x, math.Nextafter32(x, -10), math.Nextafter32(x, 10), x+0.5/127.5)
	}
	vals = append(vals, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -1e30, 1e30)
	for len(vals)%3 != 0 {
		vals = append(vals, 0)
	}
	n := len(vals) / 3
	chw := tensors.FromFlatDataAndDimensions(vals, 1, 3, 1, n)
	host := imageio.FromFloatCHW(vals, 1, n).Pix
	out := tensors.MustCopyFlatData[uint8](MustExecOnce(b, ImagesToUint8, chw))
	for i := range host {
		if out[i] != host[i] {
			c, j := i%3, i/3
			t.Fatalf("value %v (channel %d, column %d): graph %d, host %d", vals[c*n+j], c, j, out[i], host[i])
		}
	}
}

// ReconstructUint8 gives, byte for byte, what Reconstruct on the host's
// pixels followed by FromFloatCHW gives, and the same codes; Compile knows
// it; a wrong input is refused with the expected shape.
//
// On XLA the two are separately compiled programs (fusions and GEMM
// algorithms chosen per program), so their floats may differ in the last
// bits, a code near a tie may flip, and a flipped code changes its region of
// the image. There the test is a sanity check of the layout and scale (at
// most 1% of codes, at least one, may differ; the bytes' mean absolute
// difference must stay under one level); the conversions themselves are
// checked exactly on every backend by TestUint8ConversionsMatchHost.
func TestReconstructUint8MatchesFloatPath(t *testing.T) {
	m := tinyModel(t, nil)
	size := m.Config.Tower.Vision.ImageSize
	imgs := randomImages(2, size, 5)
	per := 3 * size * size
	px := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		imageio.NormalizeInto(px[i*per:(i+1)*per], img, 0.5, 0.5)
	}
	rec, codes, err := m.Reconstruct(tensors.FromFlatDataAndDimensions(px, len(imgs), 3, size, size))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(len(imgs), "reconstruct-uint8"); err != nil {
		t.Fatal(err)
	}
	rec8, codes8, err := m.ReconstructUint8(stack(imgs))
	if err != nil {
		t.Fatal(err)
	}
	exact := m.Backend.Name() != "xla"
	if exact {
		sameInts(t, "codes", codes8, codes)
	} else {
		a, b := tensors.MustCopyFlatData[int64](codes8), tensors.MustCopyFlatData[int64](codes)
		diff := 0
		for i := range a {
			if a[i] != b[i] {
				diff++
			}
		}
		if diff > max(1, len(a)/100) {
			t.Errorf("%d of %d codes differ", diff, len(a))
		}
	}
	d := rec.Shape().Dimensions
	h, w := d[2], d[3]
	if got := rec8.Shape(); got.DType != dtypes.Uint8 || got.Dimensions[1] != h || got.Dimensions[2] != w || got.Dimensions[3] != 3 {
		t.Fatalf("uint8 reconstructions %s, want uint8 [2,%d,%d,3]", got, h, w)
	}
	vals, bytes := tensors.MustCopyFlatData[float32](rec), tensors.MustCopyFlatData[uint8](rec8)
	sum := 0
	for i := range imgs {
		host := imageio.FromFloatCHW(vals[i*3*h*w:(i+1)*3*h*w], h, w).Pix
		for j, v := range host {
			got := bytes[i*3*h*w+j]
			if exact && got != v {
				t.Fatalf("image %d byte %d: %d, host conversion %d", i, j, got, v)
			}
			sum += int(max(got, v) - min(got, v))
		}
	}
	if mean := float64(sum) / float64(len(bytes)); mean >= 1 {
		t.Errorf("bytes differ from the float path's by %.2f levels on average", mean)
	}
	bad := tensors.FromFlatDataAndDimensions(make([]uint8, size*size*3), 1, 3, size, size)
	if _, _, err := m.ReconstructUint8(bad); err == nil {
		t.Error("an image batch laid out CHW was accepted")
	}
}
