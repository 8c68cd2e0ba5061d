//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package dualtoken

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/backend/xladry"
)

// On the dry XLA CUDA backend (bfloat16, layer loops) the uint8 program
// builds, taking bytes and returning bytes.
func TestReconstructUint8XLADry(t *testing.T) {
	xb, m := dryModel(t)
	fc := m.Config
	if err := m.Compile(2, "reconstruct-uint8"); err != nil {
		t.Fatal(err)
	}
	ps := xb.Programs()
	v := &fc.Tower.Vision
	in := fmt.Sprintf("%%arg0: tensor<2x%dx%dx%dxui8>", v.ImageSize, v.ImageSize, v.NumChannels)
	if len(ps) != 1 || !strings.Contains(ps[0].Text, in) || !regexp.MustCompile(`-> \(tensor<2x\d+x\d+x3xui8>`).MatchString(ps[0].Text) {
		t.Fatalf("programs %s: want one taking %s and returning uint8 images", xladry.Summary(ps), in)
	}
}
