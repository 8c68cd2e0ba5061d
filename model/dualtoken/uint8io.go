package dualtoken

// Reconstruction with uint8 images on both ends: the recon task's crops go
// to the device as bytes and the reconstructions come back as bytes, a
// quarter of the float32 transfers (at 384 px a batch of 32 is 14 MB each
// way instead of 57 MB), and the host converts nothing. The conversions in
// the graph give the host's values to the bit: the input through the same
// lookup table (imageio.NormalizeLUT), the output with the same float32
// operations in the same order as imageio.FromFloatCHW.

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/imageio"
)

// execReconstructUint8 is ReconstructUint8's key in Model.execs.
const execReconstructUint8 = "reconstruct-uint8"

// PixelsFromUint8 maps images uint8 [B,S,S,C] (HWC, as imageio holds them)
// to the tokenizer's input float32 [B,C,S,S] in [-1,1]: the SigLIP
// processor's (v/255 − 0.5)/0.5, looked up per byte.
func PixelsFromUint8(x *Node) *Node {
	lut := imageio.NormalizeLUT(0.5, 0.5)
	table := ConstTensor(x.Graph(), tensors.FromFlatDataAndDimensions(lut[:], len(lut)))
	v := Gather(table, InsertAxes(ConvertDType(x, dtypes.Int32), -1)) // [B,S,S,C]
	return TransposeAllAxes(v, 0, 3, 1, 2)
}

// ImagesToUint8 maps decoder images float32 [B,C,H,W] (compared with the
// input in [-1,1]) to uint8 [B,H,W,C]: (x+1)·127.5 in float32, NaN and
// negatives to 0, above 255 to 255, then truncated, as
// imageio.FromFloatCHW does on the host.
func ImagesToUint8(x *Node) *Node {
	v := MulScalar(AddScalar(x, 1), 127.5)
	zero := ScalarZero(x.Graph(), v.DType())
	v = Where(GreaterThan(v, zero), v, zero) // NaN too
	v = Min(v, Scalar(x.Graph(), v.DType(), 255))
	return TransposeAllAxes(ConvertDType(v, dtypes.Uint8), 0, 2, 3, 1)
}

// reconstructUint8Graph is ReconstructUint8's graph: images uint8 [B,S,S,C]
// -> reconstructions uint8 [B,S',S',C] and pixel codes [B,G,G,D].
func (m *Model) reconstructUint8Graph() func(*model.Scope, *Node) []*Node {
	return func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, m.Config, PixelsFromUint8(x), Options{Decode: true, SkipSemantic: true})
		return []*Node{ImagesToUint8(o.Decoded.Images), o.Pix.Codes}
	}
}

// CheckImagesUint8 validates an image batch uint8 [B,S,S,C].
func (m *Model) CheckImagesUint8(images *tensors.Tensor) error {
	v := &m.Config.Tower.Vision
	d := images.Shape().Dimensions
	if images.DType() != dtypes.Uint8 || len(d) != 4 || d[0] < 1 || d[1] != v.ImageSize || d[2] != v.ImageSize || d[3] != v.NumChannels {
		return fmt.Errorf("dualtoken: images %s, expected uint8 [batch, %d, %d, %d] (image_size of %s)", images.Shape(), v.ImageSize, v.ImageSize, v.NumChannels, m.Config.Tower.Path)
	}
	return nil
}

// ReconstructUint8 is Reconstruct on uint8 images [B,S,S,C] (HWC bytes):
// reconstructions uint8 [B,S',S',C] as imageio.FromFloatCHW would make them
// from Reconstruct's, and the pixel codes [B,G,G,D].
func (m *Model) ReconstructUint8(images *tensors.Tensor) (recon, codes *tensors.Tensor, err error) {
	if err := m.CheckImagesUint8(images); err != nil {
		return nil, nil, err
	}
	res, err := m.call(execReconstructUint8, m.reconstructUint8Graph(), images)
	if err != nil {
		return nil, nil, err
	}
	return res[0], res[1], nil
}
