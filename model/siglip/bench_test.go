package siglip

import (
	"math/rand/v2"
	"os"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// benchBatch is the batch of the ViT-B/16 benchmarks.
const benchBatch = 4

func randomTensor(seed uint64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// benchExec times exec on input (compiled and run once before timing) and
// reports images/s.
func benchExec(b *testing.B, exec *model.Exec, input *tensors.Tensor) {
	if _, err := exec.Call(input); err != nil {
		b.Fatal(err)
	}
	n := 0
	b.ResetTimer()
	for b.Loop() {
		out, err := exec.Call(input)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
		n++
	}
	b.ReportMetric(float64(benchBatch*n)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkVisionTower runs the whole SigLIP vision tower (patch embedding,
// 12 blocks, post-LN, MAP head) of a ViT-B/16-224-sized random model on a
// batch of 4 images. GOMLX_FUSION=false measures it without the fused
// Dense/LayerNorm kernels, SIGLIP_FUSED_ATTN=1 with the fused attention one.
func BenchmarkVisionTower(b *testing.B) {
	FusedAttention = os.Getenv("SIGLIP_FUSED_ATTN") == "1"
	defer func() { FusedAttention = false }()
	cfg := ViTB16()
	m, err := NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	exec, err := model.NewExec(newBackend(b), m.Store, func(root *model.Scope, px *Node) *Node {
		return Vision(VisionScope(root), &cfg.Vision, px).Pooled
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	v := cfg.Vision
	benchExec(b, exec, randomTensor(2, benchBatch, v.NumChannels, v.ImageSize, v.ImageSize))
}

// BenchmarkVisionEncoderLayers runs only the 12 encoder blocks on [4,196,768]:
// the same work as shared/tools/cpu/torch_cpu_vit.py 4 196 768 12 3072 12.
func BenchmarkVisionEncoderLayers(b *testing.B) {
	cfg := ViTB16()
	m, err := NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	exec, err := model.NewExec(newBackend(b), m.Store, func(root *model.Scope, x *Node) *Node {
		s := VisionScope(root)
		for i := range cfg.Vision.NumLayers {
			x = VisionLayer(s, &cfg.Vision, i, x)
		}
		return x
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	v := cfg.Vision
	benchExec(b, exec, randomTensor(3, benchBatch, v.NumPatches(), v.HiddenSize))
}
