package weights

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.safetensors")
	in := []*Tensor{
		FromFloat32("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, -6}),
		FromInt64("ids", []int{3}, []int64{-1, 0, 7}),
		FromUint8("img", []int{2}, []uint8{0, 255}),
		FromFloat32("scalar", []int{}, []float32{2.5}),
	}
	if err := WriteSafetensors(p, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.Names(), ","); got != "ids,img,scalar,w" {
		t.Fatalf("names %s", got)
	}
	w, _ := f.Get("w")
	v, _ := w.Float32()
	if v[5] != -6 || len(w.Shape) != 2 || w.Shape[1] != 3 {
		t.Errorf("w = %v %v", w.Shape, v)
	}
	ids, _ := f.Get("ids")
	iv, _ := ids.Int64()
	if iv[0] != -1 || iv[2] != 7 {
		t.Errorf("ids = %v", iv)
	}
	s, _ := f.Get("scalar")
	sv, _ := s.Float32()
	if len(s.Shape) != 0 || sv[0] != 2.5 {
		t.Errorf("scalar = %v %v", s.Shape, sv)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
}

func TestSafetensorsHalfPrecision(t *testing.T) {
	// 1.0 in f16 is 0x3C00, in bf16 0x3F80; -2.0 is 0xC000 / 0xC000.
	f16 := &Tensor{Name: "h", DType: F16, Shape: []int{2}, Data: []byte{0x00, 0x3C, 0x00, 0xC0}}
	bf := &Tensor{Name: "b", DType: BF16, Shape: []int{2}, Data: []byte{0x80, 0x3F, 0x00, 0xC0}}
	for _, x := range []*Tensor{f16, bf} {
		v, err := x.Float32()
		if err != nil || v[0] != 1 || v[1] != -2 {
			t.Errorf("%s: %v %v", x.DType, v, err)
		}
	}
}

func TestSafetensorsBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "g.safetensors")
	if err := WriteSafetensors(good, []*Tensor{FromFloat32("w", []int{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)

	trunc := filepath.Join(dir, "t.safetensors")
	os.WriteFile(trunc, raw[:len(raw)-4], 0o644)
	if _, err := OpenSafetensors(trunc); err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), trunc) {
		t.Errorf("truncated file: %v", err)
	}
	os.WriteFile(trunc, raw[:5], 0o644)
	if _, err := OpenSafetensors(trunc); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("5-byte file: %v", err)
	}

	bad := filepath.Join(dir, "d.safetensors")
	os.WriteFile(bad, []byte(strings.Replace(string(raw), `"F32"`, `"Q99"`, 1)), 0o644)
	if _, err := OpenSafetensors(bad); err == nil || !strings.Contains(err.Error(), `"Q99"`) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("wrong dtype: %v", err)
	}

	f, _ := OpenSafetensors(good)
	defer f.Close()
	l := NewLoader(f)
	if _, err := l.Take("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := l.Take("w", 2, 2); err == nil || !strings.Contains(err.Error(), "expected shape [2 2], found [4]") || !strings.Contains(err.Error(), good) {
		t.Errorf("wrong shape: %v", err)
	}
}

func TestShardedAndCoverage(t *testing.T) {
	dir := t.TempDir()
	WriteSafetensors(filepath.Join(dir, "s1.safetensors"), []*Tensor{FromFloat32("a.weight", []int{1}, []float32{1})}, nil)
	WriteSafetensors(filepath.Join(dir, "s2.safetensors"), []*Tensor{FromFloat32("b.weight", []int{1}, []float32{2}), FromFloat32("c.bias", []int{1}, []float32{3})}, nil)
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"metadata":{},"weight_map":{"a.weight":"s1.safetensors","b.weight":"s2.safetensors","c.bias":"s2.safetensors"}}`), 0o644)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := NewLoader(s)
	b, err := l.Take("b.weight", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Float32(); v[0] != 2 {
		t.Errorf("b = %v", v)
	}
	if err := l.CheckConsumed(); err == nil || !strings.Contains(err.Error(), "a.weight") || !strings.Contains(err.Error(), "c.bias") {
		t.Errorf("coverage: %v", err)
	}
	l.Ignore("c.*")
	l.Take("a.weight")
	if err := l.CheckConsumed(); err != nil {
		t.Errorf("after ignore: %v", err)
	}
}

// Float32 data takes the byte-copy paths on little-endian machines: the
// bytes must be safetensors' (little-endian IEEE 754) and come back exact,
// through Float32 and through ToGoMLX, for every bit pattern kind.
func TestFloat32Bytes(t *testing.T) {
	vals := []float32{1, -2.5, float32(math.Inf(-1)), math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)), 3.4e38, float32(math.NaN())}
	tt := FromFloat32("v", []int{len(vals)}, vals)
	for i, v := range vals {
		if got := binary.LittleEndian.Uint32(tt.Data[4*i:]); got != math.Float32bits(v) {
			t.Errorf("byte image of value %d: %#x, want %#x", i, got, math.Float32bits(v))
		}
	}
	back, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	g, err := tt.ToGoMLX(false)
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[float32](g)
	for i, v := range vals {
		if math.Float32bits(back[i]) != math.Float32bits(v) || math.Float32bits(flat[i]) != math.Float32bits(v) {
			t.Errorf("value %d: Float32 %v, ToGoMLX %v, want %v", i, back[i], flat[i], v)
		}
	}
	w := WrapFloat32("w", []int{len(vals)}, slices.Clone(vals))
	if !slices.Equal(w.Data, tt.Data) {
		t.Errorf("WrapFloat32's bytes differ from FromFloat32's")
	}
	if g.Shape().Dimensions[0] != len(vals) {
		t.Errorf("ToGoMLX shape %s", g.Shape())
	}
	bad := &Tensor{Name: "short", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}
	if _, err := bad.ToGoMLX(false); err == nil || !strings.Contains(err.Error(), "needs 12 bytes") {
		t.Errorf("a short tensor gave %v", err)
	}
}
