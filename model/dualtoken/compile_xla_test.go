//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package dualtoken

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
	"github.com/dualtoken/evalharness/model/precision"
)

// dryModel is the tiny model on the dry XLA CUDA backend as on the GPU:
// bfloat16, the tower's layers as loops.
func dryModel(t *testing.T) (*xladry.Backend, *Model) {
	t.Helper()
	xb, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(xb.Finalize)
	tower := tinyTower(t)
	m := NewModel(xb, &FullConfig{Config: PresetTiny(), Tower: tower.Config, SemanticBranch: true})
	if err := m.Init(tower, 5); err != nil {
		t.Fatal(err)
	}
	if err := m.SetDType(precision.BF16); err != nil {
		t.Fatal(err)
	}
	if err := m.Siglip().SetScanLayers(true); err != nil {
		t.Fatal(err)
	}
	return xb, m
}

// TestCompileXLADry: on the dry XLA CUDA backend, as on the GPU (bfloat16,
// the tower's layers as loops), Compile(batch, "encode", "decode") builds the
// two programs the GPU would compile, with the inputs Encode and
// DecodePixels are then called with: running them builds nothing more.
func TestCompileXLADry(t *testing.T) {
	xb, m := dryModel(t)
	fc := m.Config
	const batch = 2
	if err := m.Compile(batch, "encode", "decode"); err != nil {
		t.Fatal(err)
	}
	ps := xb.Programs()
	if len(ps) != 2 {
		t.Fatalf("%d programs built, want 2:\n%s", len(ps), xladry.Summary(ps))
	}
	v := &fc.Tower.Vision
	_, q := fc.PixelQuantizer()
	inputs := map[string]string{
		"encode": fmt.Sprintf("%%arg0: tensor<%dx%dx%dx%dxf32>", batch, v.NumChannels, v.ImageSize, v.ImageSize),
		"decode": fmt.Sprintf("%%arg0: tensor<%dx%dx%dx%dxi64>", batch, q.CodeShape[0], q.CodeShape[1], q.Depth()),
	}
	for name, arg := range inputs {
		n := 0
		for _, p := range ps {
			if strings.Contains(p.Text, arg) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d programs take %s (the %s input), want 1", n, arg, name)
		}
	}
	for _, p := range ps {
		if p.Ops["stablehlo.while"] == 0 && strings.Contains(p.Text, inputs["encode"]) {
			t.Errorf("the encode program has no while loop: the tower's layer loop is missing")
		}
	}

	enc, err := m.Encode(randomPixels(batch, v.ImageSize, 1))
	if err != nil {
		t.Fatal(err)
	}
	img, err := m.DecodePixels(enc.PixelCodes)
	if err != nil {
		t.Fatal(err)
	}
	if d := img.Shape().Dimensions; d[0] != batch || d[1] != 3 {
		t.Errorf("images %v", img.Shape())
	}
	if ps := xb.Programs(); len(ps) != 2 {
		t.Errorf("%d programs after Encode and DecodePixels, want still 2:\n%s", len(ps), xladry.Summary(ps))
	}
}

// TestUpsamplePhasesXLADry: with DUALTOKEN_UPSAMPLE_CONV=phases the decode
// program builds on the dry XLA CUDA backend in bfloat16, each of the tiny
// decoder's upsample convolutions as four (asymmetrically padded 2x2)
// convolutions: three more per upsample than the plain program has.
func TestUpsamplePhasesXLADry(t *testing.T) {
	convs := map[string]int{}
	for _, form := range []string{UpsamplePlain, UpsamplePhases} {
		t.Setenv(EnvUpsampleConv, form)
		xb, m := dryModel(t)
		if err := m.Compile(2, "decode"); err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		ps := xb.Programs()
		if len(ps) != 1 {
			t.Fatalf("%s: %d programs, want 1:\n%s", form, len(ps), xladry.Summary(ps))
		}
		convs[form] = ps[0].Ops["stablehlo.convolution"]
	}
	ups := len(PresetTiny().Decoder.ChMult) - 1
	if convs[UpsamplePhases] != convs[UpsamplePlain]+3*ups {
		t.Errorf("convolutions: plain %d, phases %d; want %d more with phases (%d upsamples)", convs[UpsamplePlain], convs[UpsamplePhases], 3*ups, ups)
	}
}

// TestUpsamplePhasesTrainsOnXLADry: with DUALTOKEN_UPSAMPLE_CONV=phases a
// train step (gradients through the decoder) still builds on the dry XLA
// CUDA backend: training graphs keep the plain upsample, whose gradient
// GoMLX can build (the phase form's low-padded 2x2 Convolve it cannot).
func TestUpsamplePhasesTrainsOnXLADry(t *testing.T) {
	t.Setenv(EnvUpsampleConv, UpsamplePhases)
	xb, err := xladry.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(xb.Finalize)
	runTinyTrain(t, xb, PresetTiny())
}
