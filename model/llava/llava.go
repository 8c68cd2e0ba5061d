// Package llava is a LLaVA-1.5-style multimodal model composed from three
// checkpoints: a SigLIP vision tower, a GELU MLP projector and a Qwen2 /
// LLaMA decoder (model/llm). The image features take the place of the
// prompt's <image> placeholder, one decoder position per patch.
//
//	image → pad to a square with the mean colour ("pad") → bicubic resize
//	  → pixels [N,3,S,S] in [-1,1]
//	  → SigLIP patch embeddings + layers 1..k → hidden_states[k] [N,P,Dv]
//	    (k from mm_vision_select_layer, −2 = the penultimate layer as LLaVA;
//	     P = (S/patch)², every patch: SigLIP has no CLS token)
//	  → projector: Linear(Dv→H), GELU, Linear(H→H) → features [N,P,H]
//	prompt → chat template → ids, each <image> expanded to P positions
//	  → decoder input: embed_tokens(ids), features at the visual positions
//	  → greedy decoding (Answer) or teacher-forced scoring (MeanNLL)
//
// The tower and projector variables live in Model.Store (scopes
// "vision_model/..." as model/siglip names them, "mm_projector/<i>" with
// LLaVA's nn.Sequential indices); the decoder keeps its own store in
// Model.LLM. Graph builders (Features, Projector) are exported for models
// that train or embed the composition.
package llava

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/llm"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/dualtoken/evalharness/tokenizer"
)

// Model is a loaded LLaVA: config, tower + projector variables, the decoder
// and the tokenizer.
type Model struct {
	Config *Config
	Tower  *siglip.Config // the tower's config, vision part only
	Store  *model.Store   // vision_model/... and mm_projector/<i>/{weight,bias}
	LLM    *llm.Model
	Tok    tokenizer.Tokenizer
	// MaxBatch bounds the questions decoded together and the images encoded
	// together (default 8).
	MaxBatch int

	backend compute.Backend
	layer   int   // hidden-state index the projector reads
	bos     int   // prepended when Config.AddBOS
	stop    []int // ids that end an answer besides the decoder's eos

	mu    sync.Mutex
	feats *model.Exec
}

// Load reads a LLaVA folder (or its config.json) and the three checkpoints
// it names. Every tensor of each checkpoint must be used or deliberately
// ignored (a full SigLIP checkpoint's text tower is ignored).
func Load(b compute.Backend, dirOrFile string) (*Model, error) {
	cfg, err := LoadConfig(dirOrFile)
	if err != nil {
		return nil, err
	}
	return LoadFrom(b, cfg)
}

// LoadFrom loads the checkpoints cfg names (a config the caller may have
// adjusted, e.g. another tokenizer path).
func LoadFrom(b compute.Backend, cfg *Config) (*Model, error) {
	towerCfg, err := siglip.LoadConfig(cfg.VisionTower)
	if err != nil {
		return nil, fmt.Errorf("llava: vision tower: %w", err)
	}
	tower, err := weights.Open(cfg.VisionTower)
	if err != nil {
		return nil, fmt.Errorf("llava: vision tower: %w", err)
	}
	defer tower.Close()
	proj, err := weights.Open(cfg.Projector)
	if err != nil {
		return nil, fmt.Errorf("llava: projector (field \"mm_projector\" of %s): %w", cfg.Path, err)
	}
	defer proj.Close()
	lm, err := llm.Load(b, cfg.LanguageModel)
	if err != nil {
		return nil, fmt.Errorf("llava: language model: %w", err)
	}
	tok, err := tokenizer.Load(cfg.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("llava: %w", err)
	}
	return New(b, cfg, towerCfg, tower, proj, lm, tok)
}

// New composes a model from its parts: the tower's config and checkpoint
// (HF SigLIP names, any prefix), the projector checkpoint (LLaVA names), a
// loaded decoder and its tokenizer.
func New(b compute.Backend, cfg *Config, towerCfg *siglip.Config, tower, proj weights.Set, lm *llm.Model, tok tokenizer.Tokenizer) (*Model, error) {
	vc := *towerCfg
	vc.Text = nil // LLaVA reads the vision tower only
	vc.ModelType = siglip.ModelTypeVisionOnly
	m := &Model{Config: cfg, Tower: &vc, Store: model.NewStore(), LLM: lm, Tok: tok, MaxBatch: 8, backend: b}

	L := vc.Vision.NumLayers
	m.layer = cfg.SelectLayer
	if m.layer < 0 {
		m.layer += L + 1 // hidden_states has L+1 entries
	}
	if m.layer < 0 || m.layer > L {
		return nil, fmt.Errorf("%s: field \"mm_vision_select_layer\" = %d, but the vision tower (%s) has %d layers: expected %d..%d",
			cfg.Path, cfg.SelectLayer, towerCfg.Path, L, -(L + 1), L)
	}

	l := weights.NewLoader(tower)
	if err := siglip.LoadVariables(m.Store.RootScope(), &vc, l, siglip.DetectPrefix(tower)); err != nil {
		return nil, fmt.Errorf("llava: vision tower %s: %w", cfg.VisionTower, err)
	}
	if err := l.CheckConsumed(); err != nil {
		return nil, fmt.Errorf("llava: vision tower %s: %w", cfg.VisionTower, err)
	}
	if err := LoadProjector(ProjectorScope(m.Store.RootScope()), cfg, proj, vc.Vision.HiddenSize, lm.Config.HiddenSize); err != nil {
		return nil, err
	}

	if tok.VocabSize() > lm.Config.VocabSize {
		return nil, fmt.Errorf("llava: tokenizer %s has %d ids but the language model has vocab_size %d (%s): they do not belong together",
			cfg.Tokenizer, tok.VocabSize(), lm.Config.VocabSize, lm.Config.Path)
	}
	if cfg.AddBOS {
		m.bos = lm.Config.BOS
		if m.bos < 0 {
			id, ok := tok.TokenID("<s>")
			if !ok {
				return nil, fmt.Errorf("%s: add_bos_token is true but neither %s (bos_token_id) nor the tokenizer names a bos token", cfg.Path, lm.Config.Path)
			}
			m.bos = id
		}
	}
	m.stop = tok.EOS()
	if cfg.ChatTemplate == TemplateQwen {
		if id, ok := tok.TokenID("<|im_end|>"); ok {
			m.stop = append(m.stop, id) // the end of the assistant turn
		}
	}

	var err error
	m.feats, err = model.NewExec(b, m.Store, func(root *model.Scope, pixels *Node) *Node {
		return m.Features(root, pixels)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SetDType sets the compute dtype (float32 or bfloat16, see model/precision)
// of the vision tower and the language model; the projector runs in float32
// (a few small matrices). Call it before the first question: the feature
// graph is built on first use.
func (m *Model) SetDType(dt dtypes.DType) error {
	if err := precision.Check(dt); err != nil {
		return err
	}
	if err := m.LLM.SetDType(dt); err != nil {
		return err
	}
	m.Tower.Vision.DType = dt
	return nil
}

// Close releases the compiled feature graph.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.feats != nil {
		m.feats.Finalize()
		m.feats = nil
	}
}

// NumImageTokens is the number of decoder positions one image takes (P).
func (m *Model) NumImageTokens() int { return m.Tower.Vision.NumPatches() }

// SelectedLayer is the index into the tower's hidden states (0 = patch
// embeddings, i = output of layer i) that the projector reads.
func (m *Model) SelectedLayer() int { return m.layer }

// ---------------------------------------------------------------------------
// Graphs
// ---------------------------------------------------------------------------

// Features maps pixels [N,3,S,S] to projected image features [N,P,H]: the
// tower's embeddings and its first SelectedLayer() layers (the later layers,
// post-LayerNorm and head are not run), then the projector. root holds
// vision_model/... and mm_projector/....
func (m *Model) Features(root *model.Scope, pixels *Node) *Node {
	return Features(root, &m.Tower.Vision, m.layer, m.Config.ProjectorDepth, pixels)
}

// Features is Model.Features for given sizes: tower config vc, hidden-state
// index layer (0..NumLayers, already resolved from mm_vision_select_layer)
// and projector depth; pixels [N,3,S,S] → [N,P,H].
func Features(root *model.Scope, vc *siglip.VisionConfig, layer, depth int, pixels *Node) *Node {
	vs := siglip.VisionScope(root)
	x := siglip.VisionEmbeddings(vs, vc, pixels) // [N,P,Dv] = hidden_states[0]
	for i := range layer {
		x = siglip.VisionLayer(vs, vc, i, x) // hidden_states[i+1]
	}
	return Projector(ProjectorScope(root), depth, x)
}

// ProjectorScope is where the projector's variables live under a root scope.
func ProjectorScope(root *model.Scope) *model.Scope { return root.At("mm_projector") }

// Projector applies LLaVA's projector to x [...,Dv] → [...,H]: depth Linear
// layers with an exact (erf) GELU between them, as nn.Sequential(Linear,
// GELU, Linear, ...) with nn.GELU()'s default. Layer i's variables are
// "weight" [out,in] and "bias" in sub-scope "<2i>" (the Sequential index).
func Projector(s *model.Scope, depth int, x *Node) *Node {
	g := x.Graph()
	for i := range depth {
		if i > 0 {
			x = activation.Gelu(x)
		}
		ls := s.At("%d", 2*i)
		w, b := ls.GetVariable("weight"), ls.GetVariable("bias")
		if w == nil || b == nil {
			panic(fmt.Errorf("llava: projector layer %s was not loaded", ls.Scope()))
		}
		x = nn.Dense(precision.ToF32(x), w.NodeValue(g), b.NodeValue(g), compute.DenseLayoutOutputsInput)
	}
	return x
}

// ---------------------------------------------------------------------------
// Projector checkpoint
// ---------------------------------------------------------------------------

// ProjectorTensor is one entry of the projector's name table.
type ProjectorTensor struct {
	Name  string // LLaVA's name without the "model." prefix, e.g. "mm_projector.0.weight"
	Layer int    // Linear layer index (0-based; its Sequential index is 2·Layer)
	Bias  bool
	Shape []int
}

// ProjectorTable lists the projector's tensors for cfg with input width in
// (the tower's hidden size) and output width out (the decoder's): "linear"
// is mm_projector.{weight,bias}; "mlpNx_gelu" is mm_projector.<2i>.{weight,bias}.
func ProjectorTable(cfg *Config, in, out int) []ProjectorTensor {
	var t []ProjectorTensor
	for i := range cfg.ProjectorDepth {
		name := fmt.Sprintf("mm_projector.%d.", 2*i)
		if cfg.ProjectorType == "linear" {
			name = "mm_projector."
		}
		width := out
		if i == 0 {
			width = in
		}
		t = append(t,
			ProjectorTensor{Name: name + "weight", Layer: i, Shape: []int{out, width}},
			ProjectorTensor{Name: name + "bias", Layer: i, Bias: true, Shape: []int{out}})
	}
	return t
}

// LoadProjector reads the projector of cfg from set into scope s, checking
// every shape and that set holds nothing else. LLaVA writes the names with a
// "model." prefix (mm_projector.bin of its pretraining stage); any prefix is
// accepted.
func LoadProjector(s *model.Scope, cfg *Config, set weights.Set, in, out int) error {
	table := ProjectorTable(cfg, in, out)
	prefix, ok := weights.FindPrefix(set, table[0].Name)
	if !ok {
		return fmt.Errorf("llava: projector %s has no tensor %q (LLaVA name model.%s; mm_projector_type %q in %s)",
			cfg.Projector, table[0].Name, table[0].Name, cfg.ProjectorType, cfg.Path)
	}
	l := weights.NewLoader(set)
	for _, e := range table {
		v := "weight"
		if e.Bias {
			v = "bias"
		}
		if err := l.Variable(s.At("%d", 2*e.Layer), v, prefix+e.Name, e.Shape...); err != nil {
			return fmt.Errorf("llava: projector %s: %w (input width = the vision tower's hidden_size %d, output = the language model's hidden_size %d)",
				cfg.Projector, err, in, out)
		}
	}
	if err := l.CheckConsumed(); err != nil {
		return fmt.Errorf("llava: projector %s: %w", cfg.Projector, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

// Pixels preprocesses one image as LLaVA-1.5 does with a SigLIP processor:
// with "pad", expand2square (paste centred on a square of the processor's
// mean colour, int(0.5·255) = 127); then SigLIP's bicubic resize to the
// tower's image_size and (x/255−0.5)/0.5. Returns CHW [3,S,S].
func (m *Model) Pixels(img *imageio.Image) []float32 {
	if m.Config.ImageAspect == AspectPad {
		img = ExpandToSquare(img, [3]uint8{127, 127, 127})
	}
	return imageio.SiglipPixels(img, m.Tower.Vision.ImageSize)
}

// ExpandToSquare is LLaVA's expand2square: a square of side max(H,W) filled
// with bg, the image pasted at offset (max−min)//2 along the short side.
func ExpandToSquare(img *imageio.Image, bg [3]uint8) *imageio.Image {
	if img.H == img.W {
		return img
	}
	side := max(img.H, img.W)
	out := imageio.New(side, side)
	for i := 0; i < side*side; i++ {
		copy(out.Pix[3*i:3*i+3], bg[:])
	}
	top, left := (side-img.H)/2, (side-img.W)/2
	for y := range img.H {
		copy(out.Pix[3*((top+y)*side+left):], img.Pix[3*y*img.W:3*(y+1)*img.W])
	}
	return out
}

// ImageFeatures encodes images into projected features, one [P·H] row per
// image (P = NumImageTokens, H = the decoder's width). Images are encoded in
// batches of at most MaxBatch, padded to a power of two so few graphs compile.
func (m *Model) ImageFeatures(imgs []*imageio.Image) ([][]float32, error) {
	S := m.Tower.Vision.ImageSize
	per := 3 * S * S
	px := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		if img == nil || img.H == 0 || img.W == 0 {
			return nil, fmt.Errorf("llava: image %d is empty", i)
		}
	}
	parallelFor(len(imgs), func(i int) { copy(px[i*per:], m.Pixels(imgs[i])) })
	return m.PixelFeatures(px)
}

// PixelFeatures is ImageFeatures for preprocessed pixels [N,3,S,S] (flat).
func (m *Model) PixelFeatures(px []float32) ([][]float32, error) {
	S := m.Tower.Vision.ImageSize
	per := 3 * S * S
	if len(px)%per != 0 {
		return nil, fmt.Errorf("llava: %d pixel values is not a whole number of [3,%d,%d] images", len(px), S, S)
	}
	n := len(px) / per
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.feats == nil {
		return nil, fmt.Errorf("llava: model is closed")
	}
	maxB := max(1, m.MaxBatch)
	out := make([][]float32, 0, n)
	for from := 0; from < n; from += maxB {
		count := min(maxB, n-from)
		padded := 1
		for padded < count {
			padded *= 2
		}
		buf := make([]float32, padded*per) // padding images stay zero; rows are independent
		copy(buf, px[from*per:(from+count)*per])
		res, err := m.feats.Call(tensors.FromFlatDataAndDimensions(buf, padded, 3, S, S))
		if err != nil {
			return nil, fmt.Errorf("llava: image features: %w", err)
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

// parallelFor runs f(0..n-1) on a few goroutines (image preprocessing).
func parallelFor(n int, f func(i int)) {
	const workers = 4
	var wg sync.WaitGroup
	for w := range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}
