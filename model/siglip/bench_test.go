package siglip

import (
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/model/precision"
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
// Dense/LayerNorm kernels, SIGLIP_FUSED_ATTN=1 with the fused attention one,
// SIGLIP_BENCH_DTYPE=bf16 with the model stored and run in bfloat16.
func BenchmarkVisionTower(b *testing.B) {
	FusedAttention = os.Getenv("SIGLIP_FUSED_ATTN") == "1"
	defer func() { FusedAttention = false }()
	cfg := ViTB16()
	m, err := NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	if s := os.Getenv("SIGLIP_BENCH_DTYPE"); s != "" {
		dt, err := precision.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SetDType(dt); err != nil {
			b.Fatal(err)
		}
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

// BenchmarkVisionTowerGradient times one gradient step (all variables, loss
// = mean squared pooled output) of a 6-layer ViT-B/16 tower on a batch of 8
// and reports the Go heap's peak during the step (sampled every 5 ms):
// SIGLIP_CHECKPOINT=1 turns on gradient checkpointing (VisionConfig.Checkpoint).
func BenchmarkVisionTowerGradient(b *testing.B) {
	cfg := BaseConfig(768, 6, 12, 3072, 16, 224)
	m, err := NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	vc := cfg.Vision
	vc.Checkpoint = os.Getenv("SIGLIP_CHECKPOINT") == "1"
	exec, err := model.NewExec(newBackend(b), m.Store, func(root *model.Scope, x *Node) []*Node {
		g := x.Graph()
		root.SetTraining(g, true)
		loss := ReduceAllMean(Square(Vision(VisionScope(root), &vc, x).Pooled))
		var wrt []*Node
		for v := range m.Store.IterVariables() {
			wrt = append(wrt, v.NodeValue(g))
		}
		return Gradient(loss, wrt...)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	px := randomTensor(2, 8, 3, 224, 224)
	step := func() {
		out, err := exec.Exec(px)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	step() // compile
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	close(stop)
	<-done
	b.ReportMetric(float64(peak.Load())/(1<<20), "heap-MiB")
}
