package models

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

// batchImages are n random 384×384 images (the recon task's crops).
func batchImages(n, size int) []*imageio.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	imgs := make([]*imageio.Image, n)
	for i := range imgs {
		imgs[i] = imageio.New(size, size)
		for j := range imgs[i].Pix {
			imgs[i].Pix[j] = uint8(rng.IntN(256))
		}
	}
	return imgs
}

// The pixel tensors DualToken.batches builds: the images preprocessed in
// place into the tensor, against the former way (a pixels slice for all
// images, a padded copy per chunk, the tensor's own copy), a batch of 32 at
// 384 px.
//
//	go test -run '^$' -bench BenchmarkPixelBatch ./bench/models
func BenchmarkPixelBatch(b *testing.B) {
	const n, size = 32, 384
	imgs := batchImages(n, size)
	d := &DualToken{size: size, crop: true, batch: n}
	per := 3 * size * size
	b.Run("in_place", func(b *testing.B) {
		b.SetBytes(int64(n * per * 4))
		for b.Loop() {
			if err := d.batches(imgs, func(x *tensors.Tensor, count, from int) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("copies_reference", func(b *testing.B) {
		b.SetBytes(int64(n * per * 4))
		for b.Loop() {
			px := make([]float32, n*per)
			bench.ParallelFor(n, func(i int) {
				copy(px[i*per:], imageio.SiglipPixels(imageio.ShortSideCenterCrop(imgs[i], size), size))
			})
			buf := make([]float32, n*per)
			copy(buf, px)
			x := tensors.FromFlatDataAndDimensions(buf, n, 3, size, size)
			x.FinalizeAll()
		}
	})
}

// batches fills each chunk's tensor with the images' SigLIP pixels in order
// and zero padding, chunked and padded as documented.
func TestBatchesFillInPlace(t *testing.T) {
	const size = 8
	imgs := batchImages(5, size)
	d := &DualToken{size: size, crop: true, batch: 4}
	per := 3 * size * size
	var chunks [][2]int
	err := d.batches(imgs, func(x *tensors.Tensor, count, from int) error {
		chunks = append(chunks, [2]int{from, count})
		padded := map[int]int{4: 4, 1: 1}[count]
		if got := x.Shape().Dimensions; got[0] != padded || got[1] != 3 || got[2] != size || got[3] != size {
			t.Errorf("chunk at %d: tensor %v, want [%d,3,%d,%d]", from, got, padded, size, size)
		}
		flat := tensors.MustCopyFlatData[float32](x)
		for i := range count {
			want := imageio.SiglipPixels(imageio.ShortSideCenterCrop(imgs[from+i], size), size)
			for j, v := range want {
				if flat[i*per+j] != v {
					t.Fatalf("chunk at %d, image %d, value %d: %v, want %v", from, i, j, flat[i*per+j], v)
				}
			}
		}
		for j := count * per; j < len(flat); j++ {
			if flat[j] != 0 {
				t.Fatalf("padding value %d is %v", j, flat[j])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 2 || chunks[0] != [2]int{0, 4} || chunks[1] != [2]int{4, 1} {
		t.Errorf("chunks %v, want [0 4] [4 1]", chunks)
	}
}
