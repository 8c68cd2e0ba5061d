package imageio

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"testing"
)

// quantizeDiv is libjpeg's quantisation as written (jcdctmgr.c): divide by
// 8·q rounding half away from zero.
func quantizeDiv(t, q int32) int32 {
	d := q << 3
	if t < 0 {
		return -((-t + d>>1) / d)
	}
	return (t + d>>1) / d
}

// TestQuantizeMatchesDivision: the reciprocal, branch-free quantisation
// equals libjpeg's division for every table value 1..255 and every DCT
// output in ±2^17 (8-bit samples give at most ±2^13).
func TestQuantizeMatchesDivision(t *testing.T) {
	var q [64]int32
	var in, out [64]int32
	for qv := int32(1); qv <= 255; qv++ {
		for i := range q {
			q[i] = qv
		}
		r := newQuantRecip(&q)
		for v := int32(-1 << 17); v <= 1<<17; v += 64 {
			for i := range in {
				in[i] = v + int32(i)
			}
			quantize(&out, &in, r)
			for i, c := range in {
				if want := quantizeDiv(c, qv); out[i] != want {
					t.Fatalf("q %d, coefficient %d: %d, division %d", qv, c, out[i], want)
				}
			}
		}
	}
}

// TestHuffWriterStuffing: the 32-bit-at-a-time writer gives the bytes of a
// bit-by-bit writer (pad with ones, 0x00 after every 0xFF), for random codes
// and for runs of ones that put 0xFF at every byte position.
func TestHuffWriterStuffing(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for trial := range 200 {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		e := &huffWriter{w: bw}
		var bitsRef []byte // one entry per bit
		for range r.IntN(300) {
			n := uint(1 + r.IntN(27))
			v := r.Uint32()
			if trial%3 == 0 && r.IntN(2) == 0 {
				v = ^uint32(0) // long runs of ones
			}
			e.bits(v, n)
			for i := int(n) - 1; i >= 0; i-- {
				bitsRef = append(bitsRef, byte(v>>uint(i)&1))
			}
		}
		e.flush()
		bw.Flush()
		for len(bitsRef)%8 != 0 {
			bitsRef = append(bitsRef, 1)
		}
		var want []byte
		for i := 0; i < len(bitsRef); i += 8 {
			var b byte
			for _, bit := range bitsRef[i : i+8] {
				b = b<<1 | bit
			}
			want = append(want, b)
			if b == 0xFF {
				want = append(want, 0)
			}
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("trial %d: %d bytes %x, want %d bytes %x", trial, buf.Len(), buf.Bytes(), len(want), want)
		}
	}
}
