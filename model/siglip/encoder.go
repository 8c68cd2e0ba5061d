package siglip

import (
	"fmt"
	"math"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Encoder computes normalised SigLIP embeddings for many inputs: the model is
// loaded once and each graph compiled once per batch bucket. Inputs are cut
// into batches of at most MaxBatch and the last one is padded up to the next
// bucket (powers of two up to MaxBatch, and MaxBatch itself), so only a few
// shapes are ever compiled. Rows are independent in SigLIP, so padding never
// changes a result. Safe for concurrent use (calls are serialised).
type Encoder struct {
	Model    *Model
	MaxBatch int

	mu       sync.Mutex
	backend  compute.Backend
	img, txt *model.Exec
}

// NewEncoder prepares m for embedding on backend b; maxBatch <= 0 means 32.
// m's weights go to b's device on the first call, so one Model serves one
// backend (an XLA client cannot use another client's device tensors).
func NewEncoder(b compute.Backend, m *Model, maxBatch int) (*Encoder, error) {
	if maxBatch <= 0 {
		maxBatch = 32
	}
	e := &Encoder{Model: m, MaxBatch: maxBatch, backend: b}
	c := m.Config
	var err error
	if c.Vision.UseHead {
		e.img, err = model.NewExec(b, m.Store, func(root *model.Scope, pixels *Node) *Node {
			return Normalize(Vision(VisionScope(root), &c.Vision, pixels).Pooled)
		})
		if err != nil {
			return nil, err
		}
	}
	if c.Text != nil {
		e.txt, err = model.NewExec(b, m.Store, func(root *model.Scope, ids *Node) *Node {
			return Normalize(Text(TextScope(root), c.Text, ids).Pooled)
		})
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Dim is the embedding size of the vision pooled output.
func (e *Encoder) Dim() int { return e.Model.Config.Vision.HiddenSize }

// bucket returns the padded batch size for n rows (n <= MaxBatch).
func (e *Encoder) bucket(n int) int {
	for b := 1; b < e.MaxBatch; b *= 2 {
		if n <= b {
			return b
		}
	}
	return e.MaxBatch
}

// EmbedImages embeds pixels laid out [B,C,S,S] (S = image_size, already
// normalised as the SigLIP processor does) and returns B L2-normalised rows of
// the pooled output.
func (e *Encoder) EmbedImages(pixels []float32) ([][]float32, error) {
	if e.img == nil {
		return nil, fmt.Errorf("siglip: %s has no attention-pooling head (vision_use_head false): no image embedding", e.Model.Config.Path)
	}
	v := &e.Model.Config.Vision
	per := v.NumChannels * v.ImageSize * v.ImageSize
	if len(pixels) == 0 || len(pixels)%per != 0 {
		return nil, fmt.Errorf("siglip: %d pixel values is not a whole number of [%d,%d,%d] images", len(pixels), v.NumChannels, v.ImageSize, v.ImageSize)
	}
	n := len(pixels) / per
	return e.run(e.img, n, func(from, count, padded int) *tensors.Tensor {
		// Copied once, into the tensor's own buffer; padding rows stay zero.
		x := tensors.FromShape(shapes.Make(dtypes.Float32, padded, v.NumChannels, v.ImageSize, v.ImageSize))
		x.MustMutableFlatData(func(flat any) { copy(flat.([]float32), pixels[from*per:(from+count)*per]) })
		return x
	})
}

// EmbedTexts embeds token id rows (all of one length L <= max_position_
// embeddings, as SiglipTokenizer pads them) and returns L2-normalised rows.
func (e *Encoder) EmbedTexts(ids [][]int) ([][]float32, error) {
	t := e.Model.Config.Text
	if e.txt == nil || t == nil {
		return nil, fmt.Errorf("siglip: %s is a vision-only model: no text embedding", e.Model.Config.Path)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	l := len(ids[0])
	for i, row := range ids {
		if len(row) != l || l == 0 || l > t.MaxPositions {
			return nil, fmt.Errorf("siglip: text %d has %d ids; all rows need one length between 1 and %d (max_position_embeddings)", i, len(row), t.MaxPositions)
		}
		for j, id := range row {
			if id < 0 || id >= t.VocabSize {
				return nil, fmt.Errorf("siglip: text %d id %d = %d is outside the vocabulary [0, %d)", i, j, id, t.VocabSize)
			}
		}
	}
	return e.run(e.txt, len(ids), func(from, count, padded int) *tensors.Tensor {
		buf := make([]int32, padded*l)
		for i := range padded {
			row := ids[from+min(i, count-1)] // pad by repeating the last row
			for j, id := range row {
				buf[i*l+j] = int32(id)
			}
		}
		return tensors.FromFlatDataAndDimensions(buf, padded, l)
	})
}

// run executes exec over n rows in padded batches built by batch.
func (e *Encoder) run(exec *model.Exec, n int, batch func(from, count, padded int) *tensors.Tensor) ([][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([][]float32, 0, n)
	for from := 0; from < n; from += e.MaxBatch {
		count := min(e.MaxBatch, n-from)
		padded := e.bucket(count)
		x := batch(from, count, padded)
		res, err := exec.Call(x)
		x.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("siglip: %w", err)
		}
		flat, err := tensors.CopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		d := len(flat) / padded
		for i := range count {
			out = append(out, flat[i*d:(i+1)*d:(i+1)*d])
		}
	}
	return out, nil
}

// Logits returns logits_per_image [len(img)][len(txt)] =
// exp(logit_scale)·cos + logit_bias for normalised embeddings.
func (e *Encoder) Logits(img, txt [][]float32) ([][]float64, error) {
	scale, bias, ok := e.Model.LogitScaleBias()
	if !ok {
		return nil, fmt.Errorf("siglip: %s is a vision-only model: no logit scale", e.Model.Config.Path)
	}
	out := make([][]float64, len(img))
	for i, a := range img {
		out[i] = make([]float64, len(txt))
		for j, b := range txt {
			if len(a) != len(b) {
				return nil, fmt.Errorf("siglip: image embedding size %d != text embedding size %d", len(a), len(b))
			}
			var dot float64
			for k := range a {
				dot += float64(a[k]) * float64(b[k])
			}
			out[i][j] = scale*dot + bias
		}
	}
	return out, nil
}

// Probability is SigLIP's pairwise match probability sigmoid(logit).
func Probability(logit float64) float64 { return 1 / (1 + math.Exp(-logit)) }

// Close releases the compiled graphs.
func (e *Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range []*model.Exec{e.img, e.txt} {
		if x != nil {
			x.Finalize()
		}
	}
	e.img, e.txt = nil, nil
}
