// Package weights reads and writes checkpoint tensors: safetensors (single file
// and sharded index), PyTorch .pth state dicts (zip and legacy pickle formats),
// and maps checkpoint names onto model scopes with a coverage check.
//
// Tensors are kept as raw little-endian bytes with their dtype and shape until a
// model asks for them, so opening a multi-GB checkpoint costs only its header.
package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/internal/par"
)

// DType names a tensor element type with safetensors' spelling.
type DType string

const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size is the element size in bytes, 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == F64 || d == F32 || d == F16 || d == BF16 }

// Tensor is one named checkpoint tensor: raw little-endian data plus dtype and shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	// Source is the file the tensor came from, for error messages.
	Source string
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// dataBytes is the byte size of a dtype[shape] tensor, false when a
// dimension is negative or the size overflows an int: the checks a header
// from a hostile file must pass before anything is allocated for it. The
// non-zero dimensions must multiply without overflow even when another
// dimension is 0, so that no caller ever sees a wrapped product.
func dataBytes(dt DType, shape []int) (int, bool) {
	n, empty := uint64(dt.Size()), false
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			empty = true
			continue
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		n = lo
	}
	if empty {
		return 0, true
	}
	return int(n), true
}

func (t *Tensor) check() error {
	if t.DType.Size() == 0 {
		return fmt.Errorf("tensor %q in %s: unsupported dtype %q", t.Name, t.Source, t.DType)
	}
	want, ok := dataBytes(t.DType, t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q in %s: shape %v has a negative dimension or too many elements", t.Name, t.Source, t.Shape)
	}
	if len(t.Data) != want {
		return fmt.Errorf("tensor %q in %s: %s%v needs %d bytes, found %d", t.Name, t.Source, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// Float32 converts any numeric tensor to float32 values.
func (t *Tensor) Float32() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	n := t.NumElements()
	out := make([]float32, n)
	b := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case F32:
		if nativeLE && n > 0 {
			par.Copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n), b) // the same bytes
			break
		}
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case F16:
		par.For(n, 1<<18, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = float16.Float16(le.Uint16(b[2*i:])).Float32()
			}
		})
	case BF16: // the usual checkpoint dtype: billions of values
		par.For(n, 1<<18, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
			}
		})
	default:
		ints, err := t.Int64()
		if err != nil {
			return nil, err
		}
		for i, v := range ints {
			out[i] = float32(v)
		}
	}
	return out, nil
}

// Float64 converts any numeric tensor to float64 values (exact for F64 data).
func (t *Tensor) Float64() ([]float64, error) {
	if t.DType == F64 {
		if err := t.check(); err != nil {
			return nil, err
		}
		out := make([]float64, t.NumElements())
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	if !t.DType.IsFloat() {
		ints, err := t.Int64()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(ints))
		for i, v := range ints {
			out[i] = float64(v)
		}
		return out, nil
	}
	f, err := t.Float32()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

// Int64 converts an integer or bool tensor to int64 values.
func (t *Tensor) Int64() ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]int64, t.NumElements())
	b := t.Data
	le := binary.LittleEndian
	switch t.DType {
	case I64:
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(b[4*i:])))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(b[2*i:])))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(b[i]))
		}
	case U8, Bool:
		for i := range out {
			out[i] = int64(b[i])
		}
	default:
		return nil, fmt.Errorf("tensor %q in %s: dtype %s is not an integer type", t.Name, t.Source, t.DType)
	}
	return out, nil
}

// Uint8 returns the data of a U8 tensor.
func (t *Tensor) Uint8() ([]uint8, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.DType != U8 {
		return nil, fmt.Errorf("tensor %q in %s: dtype %s, expected U8", t.Name, t.Source, t.DType)
	}
	return slices.Clone(t.Data), nil
}

// ExpectShape returns an error naming the tensor, file, expected and found shape
// when t's shape differs from want. A -1 in want matches any size.
func (t *Tensor) ExpectShape(want ...int) error {
	ok := len(want) == len(t.Shape)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] < 0 || want[i] == t.Shape[i]
	}
	if !ok {
		return fmt.Errorf("tensor %q in %s: expected shape %v, found %v", t.Name, t.Source, want, t.Shape)
	}
	return nil
}

// ToGoMLX converts t to a GoMLX tensor: floats become float32 (or keep float64
// with keepF64), integers int64, U8 stays uint8.
func (t *Tensor) ToGoMLX(keepF64 bool) (*tensors.Tensor, error) {
	dims := slices.Clone(t.Shape)
	switch {
	case t.DType == F64 && keepF64:
		v, err := t.Float64()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case t.DType == F32 && nativeLE:
		// One copy of the bytes (a checkpoint's matrices are gigabytes).
		if err := t.check(); err != nil {
			return nil, err
		}
		out := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
		if err := out.MutableBytes(func(b []byte) { par.Copy(b, t.Data) }); err != nil {
			return nil, err
		}
		return out, nil
	case t.DType.IsFloat():
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case t.DType == U8:
		v, err := t.Uint8()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	default:
		v, err := t.Int64()
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	}
}

// FromFloat32 builds an F32 tensor from values.
func FromFloat32(name string, shape []int, values []float32) *Tensor {
	b := make([]byte, 4*len(values))
	if nativeLE && len(values) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&values[0])), len(b)))
	} else {
		for i, v := range values {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	}
	return &Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// WrapFloat32 is FromFloat32 taking ownership of values: on little-endian
// machines the tensor's bytes are values' memory (no copy), so values must
// not be changed afterwards.
func WrapFloat32(name string, shape []int, values []float32) *Tensor {
	if !nativeLE || len(values) == 0 {
		return FromFloat32(name, shape, values)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&values[0])), 4*len(values))
	return &Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// nativeLE: this machine stores numbers little-endian, as safetensors
// does, so float32 data can be copied as bytes.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// FromFloat64 builds an F64 tensor from values.
func FromFloat64(name string, shape []int, values []float64) *Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return &Tensor{Name: name, DType: F64, Shape: slices.Clone(shape), Data: b}
}

// FromInt64 builds an I64 tensor from values.
func FromInt64(name string, shape []int, values []int64) *Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return &Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Data: b}
}

// FromUint8 builds a U8 tensor from values.
func FromUint8(name string, shape []int, values []uint8) *Tensor {
	return &Tensor{Name: name, DType: U8, Shape: slices.Clone(shape), Data: slices.Clone(values)}
}

// FromGoMLX converts a GoMLX tensor (float32, float64, int64, int32, uint8,
// bfloat16, float16) into a checkpoint tensor.
func FromGoMLX(name string, t *tensors.Tensor) (*Tensor, error) {
	dims := t.Shape().Dimensions
	switch t.DType() {
	case dtypes.Float32:
		return FromFloat32(name, dims, tensors.MustCopyFlatData[float32](t)), nil
	case dtypes.Float64:
		return FromFloat64(name, dims, tensors.MustCopyFlatData[float64](t)), nil
	case dtypes.Int64:
		return FromInt64(name, dims, tensors.MustCopyFlatData[int64](t)), nil
	case dtypes.Int32:
		v := tensors.MustCopyFlatData[int32](t)
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		return &Tensor{Name: name, DType: I32, Shape: slices.Clone(dims), Data: b}, nil
	case dtypes.Uint8:
		return FromUint8(name, dims, tensors.MustCopyFlatData[uint8](t)), nil
	case dtypes.BFloat16:
		v := tensors.MustCopyFlatData[bfloat16.BFloat16](t)
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
		}
		return &Tensor{Name: name, DType: BF16, Shape: slices.Clone(dims), Data: b}, nil
	case dtypes.Float16:
		v := tensors.MustCopyFlatData[float16.Float16](t)
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
		}
		return &Tensor{Name: name, DType: F16, Shape: slices.Clone(dims), Data: b}, nil
	}
	return nil, fmt.Errorf("tensor %q: dtype %s cannot be saved", name, t.DType())
}
