package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/imageio"
)

// ModelInfo identifies a model in cache keys and results: everything that
// decides its predictions (checkpoint and config content, tokenizer, options).
type ModelInfo struct {
	Name          string `json:"name"`
	ConfigSHA256  string `json:"config_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
	// TokenizerSHA256 is the sha256 of the tokenizer file the model reads
	// (empty when it reads none, or where ConfigSHA256 already covers it).
	TokenizerSHA256 string `json:"tokenizer_sha256,omitempty"`
	// TowerConfigSHA256 is the sha256 of a config the model reads from
	// outside its folder (a DualToken tower's, by pretrained_model).
	TowerConfigSHA256 string `json:"tower_config_sha256,omitempty"`
	// Options are the model options that decide its predictions, defaults
	// filled in (e.g. preprocess=crop, max_length=64); execution knobs
	// such as batch sizes are left out.
	Options map[string]string `json:"options,omitempty"`
	Backend string            `json:"-"`
	DType   string            `json:"-"`
}

// Model is anything a task can run; tasks type-assert the capability they
// need (Embedder, Answerer, Reconstructor).
type Model interface {
	Info() ModelInfo
}

// Embedder maps images and texts into one normalised embedding space
// (zero-shot classification, retrieval).
type Embedder interface {
	Model
	EmbedImages(ctx context.Context, imgs []*imageio.Image) ([][]float32, error)
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

// Question is one understanding query: images plus a user prompt (the task
// applies the protocol's suffixes; the model applies its chat template).
type Question struct {
	Images       []*imageio.Image
	Prompt       string
	MaxNewTokens int
}

// Answerer answers questions about images (VQA, POPE, MME, MMBench, SEED,
// MM-Vet) and scores candidate continuations (SEED likelihood mode).
type Answerer interface {
	Model
	Answer(ctx context.Context, qs []Question) ([]string, error)
	// MeanNLL returns, per candidate, the mean token cross-entropy of
	// candidate given the question (lower is more likely).
	MeanNLL(ctx context.Context, q Question, candidates []string) ([]float64, error)
}

// BackendUser is implemented by models that run on a compute backend. A task
// that runs a network of its own beside the model (recon's Inception) uses
// the same backend instead of opening another client (on a GPU: another CUDA
// context and memory pool).
type BackendUser interface {
	Backend() compute.Backend
}

// Reconstruction is a tokenizer's output for one image.
type Reconstruction struct {
	Image *imageio.Image
	// Codes are the pixel-branch code indices, flattened [positions*depth].
	Codes []int32
	Depth int
}

// Reconstructor encodes and decodes images (rFID, PSNR, SSIM, codebook usage).
type Reconstructor interface {
	Model
	// InputSize is the square resolution the tokenizer takes.
	InputSize() int
	// CodebookSize is the number of codes per depth (for usage statistics).
	CodebookSize() int
	Reconstruct(ctx context.Context, imgs []*imageio.Image) ([]Reconstruction, error)
}

// FileSHA256 hashes a file (checkpoint identity in results).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Capabilities a task can need (Task.Needs).
const (
	NeedsEmbedder      = "embedder"
	NeedsAnswerer      = "answerer"
	NeedsReconstructor = "reconstructor"
)

// CanRun reports whether m has the capability task needs.
func CanRun(task Task, m Model) bool {
	switch task.Needs() {
	case NeedsEmbedder:
		_, ok := m.(Embedder)
		return ok
	case NeedsAnswerer:
		_, ok := m.(Answerer)
		return ok
	case NeedsReconstructor:
		_, ok := m.(Reconstructor)
		return ok
	}
	return true
}
