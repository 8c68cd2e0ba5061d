package dualtoken

// The whole tokenizer: a SigLIP tower with the parts around it.
//
//	pixels [B,3,S,S] in [-1,1]
//	  -> tower embeddings, layers 1..layer_sem        hidden[0..layer_sem] [B,L,C]
//	  pixel branch:  prequant_pix(hidden[layer_recon]) (+ w * prequant_shortcut(hidden[layer_shortcut]))
//	                 -> quantizer_pix -> zq_pix [B,G,G,E], codes [B,G,G,D]
//	                 -> postquant_pix -> resize -> post_quant_conv -> decoder -> images [B,3,S',S']
//	  semantic:      prequant_sem(hidden[layer_sem]) -> quantizer_sem -> postquant_sem [B,L,C]
//	                 REPLACES hidden[layer_sem]; layers layer_sem+1..N, post-LN, MAP head -> pooled [B,C]
//
// The ablation wirings of the paper's Table 3 are configuration (FullConfig):
// ReconFromSemantic (row a) decodes the semantic codes (one codebook, taps at
// layer_sem); SemanticBranch false (rows b, c) has no semantic quantiser and
// the tower's own (continuous) output is pooled.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/dualtoken/evalharness/internal/hfcache"
	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/model/weights"
)

// ModelType is the config.json model_type of the checkpoints this package writes.
const ModelType = "dualtoken"

// AuthorsModelTypes are the model_type values of the authors' config files
// (outer RQVAESIGLIPTransformer and inner RQVAESiglip).
var AuthorsModelTypes = []string{"rqvaesigliptransformer_model", "rqvaesiglip_model"}

// TowerPrefix is the checkpoint prefix of the SigLIP tower in the authors'
// state dict; in our store the tower lives at the root with HF names, beside
// the parts (whose names never start with vision_model/text_model/logit_).
const TowerPrefix = "siglip_model."

// FullConfig is a whole tokenizer's configuration: the parts (Config, the
// authors' rqvaesiglip keys), the SigLIP tower and the branch wiring.
type FullConfig struct {
	*Config
	Tower *siglip.Config
	// TowerDir is the folder whose config.json gave Tower when config.json
	// has no "siglip_config" (the authors' rqvaesiglip.pretrained_model);
	// "" when config.json holds it. Model identities hash that file too.
	TowerDir string

	// ReconFromSemantic: the pixel decoder reads the semantic quantiser's
	// codes (one codebook for both losses: Table 3 row a). Our key
	// "recon_from_semantic", default false.
	ReconFromSemantic bool
	// SemanticBranch: the semantic quantiser runs and its output replaces the
	// layer_sem state (default true). Without it (rows b, c) the tower runs
	// continuous. Our key "semantic_branch".
	SemanticBranch bool
	// Mode names the ablation row this model was trained as ("a".."d"), or "".
	Mode string

	// DType is the tokenizer's compute dtype, a run-time setting (not in
	// config.json): float32 when unset, or bfloat16. It governs the whole
	// forward — Forward runs the tower with it too, overriding
	// Tower.Vision.DType — except the quantisers, which are float32 islands.
	// Forward's Outputs are float32 either way, so losses run in float32.
	// For training leave the variables float32 (gradients land on them; the
	// weights are converted at use); for inference Model.SetDType also stores
	// the matrices in it. Gradient checkpointing of the tower is
	// Tower.Vision.Checkpoint.
	DType dtypes.DType
}

// TowerVision is the vision config Forward runs the tower with:
// Tower.Vision with the tokenizer's DType.
func (fc *FullConfig) TowerVision() *siglip.VisionConfig {
	vc := fc.Tower.Vision
	vc.DType = fc.DType
	return &vc
}

// PixelQuantizer is the module whose codes the decoder reads.
func (fc *FullConfig) PixelQuantizer() (string, VQConfig) {
	if fc.ReconFromSemantic {
		return "quantizer_sem", fc.Sem
	}
	return "quantizer_pix", fc.Pix
}

// Validate checks that the tower and the parts fit together.
func (fc *FullConfig) Validate() error {
	v := &fc.Tower.Vision
	src := fc.Source
	if v.HiddenSize != fc.HiddenSize {
		return fmt.Errorf("%s: hidden_size = %d but the SigLIP tower (%s) is %d wide", src, fc.HiddenSize, fc.Tower.Path, v.HiddenSize)
	}
	if v.NumPatches() != fc.Grid()*fc.Grid() {
		return fmt.Errorf("%s: latent_shape grid %dx%d but the tower (%s) gives %d patches (image_size %d, patch_size %d)",
			src, fc.Grid(), fc.Grid(), fc.Tower.Path, v.NumPatches(), v.ImageSize, v.PatchSize)
	}
	if fc.LayerSem > v.NumLayers {
		return fmt.Errorf("%s: layer_sem = %d but the tower (%s) has %d layers", src, fc.LayerSem, fc.Tower.Path, v.NumLayers)
	}
	if fc.ReconFromSemantic && (fc.LayerRecon != fc.LayerSem || !fc.SemanticBranch) {
		return fmt.Errorf("%s: recon_from_semantic needs layer_recon = layer_sem (got %d, %d) and the semantic branch", src, fc.LayerRecon, fc.LayerSem)
	}
	if fc.ReconFromSemantic && fc.HasShortcut() {
		return fmt.Errorf("%s: recon_from_semantic decodes the semantic codes: layer_shortcut must be absent", src)
	}
	if fc.Pix.Depth() != fc.Sem.Depth() && fc.ReconFromSemantic {
		return fmt.Errorf("%s: recon_from_semantic with different depths", src)
	}
	return nil
}

// ParseFullConfig reads a tokenizer config.json: ours (model_type
// "dualtoken", the tower under "siglip_config") or the authors'
// (RQVAESIGLIPTransformer, tower from rqvaesiglip.pretrained_model: a
// directory with the tower's config.json, absolute, relative to dir or
// beside it, or a Hub repo id such as "google/siglip2-so400m-patch16-256"
// whose snapshot is in the local Hugging Face cache, package hfcache).
func ParseFullConfig(raw *config.Raw, dir string) (*FullConfig, error) {
	mt, _ := raw.StringOr("", "model_type")
	known := mt == "" || mt == ModelType
	for _, k := range AuthorsModelTypes {
		known = known || mt == k
	}
	if !known {
		return nil, raw.UnknownModelType(append([]string{ModelType}, AuthorsModelTypes...)...)
	}
	parts, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	fc := &FullConfig{Config: parts, SemanticBranch: true}
	if fc.ReconFromSemantic, err = raw.BoolOr(false, "recon_from_semantic"); err != nil {
		return nil, err
	}
	if fc.SemanticBranch, err = raw.BoolOr(true, "semantic_branch"); err != nil {
		return nil, err
	}
	if fc.Mode, err = raw.StringOr("", "ablation_mode"); err != nil {
		return nil, err
	}
	switch {
	case raw.Has("siglip_config"):
		sub, err := raw.Sub("siglip_config")
		if err != nil {
			return nil, err
		}
		if fc.Tower, err = siglip.ParseConfig(sub); err != nil {
			return nil, err
		}
	default:
		p := parts.PretrainedModel
		if p == "" {
			return nil, fmt.Errorf("%s: no \"siglip_config\" and no rqvaesiglip.pretrained_model: the SigLIP tower's config is unknown", raw.Path)
		}
		cands := []string{p, filepath.Join(dir, p), filepath.Join(dir, filepath.Base(p)), filepath.Join(filepath.Dir(dir), filepath.Base(p))}
		if snap, ok := hfcache.Snapshot(p); ok { // a repo id transformers has downloaded
			cands = append(cands, snap)
		}
		for _, c := range cands {
			if st, err := os.Stat(filepath.Join(c, "config.json")); err == nil && !st.IsDir() {
				if fc.Tower, err = siglip.LoadConfig(c); err != nil {
					return nil, err
				}
				fc.TowerDir = c
				break
			}
		}
		if fc.Tower == nil {
			return nil, fmt.Errorf("%s: rqvaesiglip.pretrained_model = %q: no SigLIP config.json found there (tried it, relative to %s, beside it, and as a repo id in the Hugging Face cache %s); add the tower's config as \"siglip_config\"", raw.Path, p, dir, hfcache.Dir())
		}
	}
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	return fc, nil
}

// LoadFullConfig reads dir/config.json (see ParseFullConfig).
func LoadFullConfig(dir string) (*FullConfig, error) {
	raw, err := config.Load(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	return ParseFullConfig(raw, dir)
}

// ---------------------------------------------------------------------------
// Graph functions
// ---------------------------------------------------------------------------

// Options select what a forward computes.
type Options struct {
	// Train runs the quantisers in train mode (EMA codebook updates in the
	// graph); the store must be in training mode for g.
	Train bool
	// Decode runs the pixel decoder.
	Decode bool
	// Pooled runs the tower past layer_sem to the MAP head.
	Pooled bool
	// SkipPixel leaves out the pixel branch (semantic-only training).
	SkipPixel bool
	// SkipSemantic leaves out the semantic quantiser and the tower layers
	// above the pixel branch's taps, for reconstruction, which reads
	// neither (recon_from_semantic keeps them: its pixels are the semantic
	// codes). The Go backend skips unread nodes, but GoMLX hands XLA the
	// whole graph: the So400m-384 reconstruction program was twice the
	// StableHLO (26 attention calls, not 6) for XLA to parse and prune.
	// Not with Pooled.
	SkipSemantic bool
}

// Outputs is what one tokenizer forward computes (nil where not asked), all
// float32 whatever the compute dtype.
type Outputs struct {
	Hidden   []*Node     // tower states 0..top (own, before any replacement) [B,L,C]; with Tower.Vision.ScanLayers only 0, top and the tapped layers (others nil)
	Pix      QuantOutput // the decoder's quantiser (the semantic one when ReconFromSemantic)
	PixInput *Node       // its input latent [B,G,G,E]
	Sem      QuantOutput // semantic quantiser; zero without the semantic branch
	SemInput *Node
	SemState *Node    // postquant_sem(zq_sem) [B,L,C], which replaces hidden[layer_sem]
	Last     *Node    // post-LN last hidden state [B,L,C]
	Pooled   *Node    // MAP head output [B,C]
	Decoded  *Decoded // pixel decoder stages; Images [B,3,S',S']
}

// Forward runs the tokenizer on pixels [B,3,S,S] (in [-1,1]); root holds
// the tower (HF names) and the parts (authors' names). It computes in
// fc.DType (the tower with fc.TowerVision(), so Tower.Vision.Checkpoint
// applies) and returns float32 Outputs.
func Forward(root *model.Scope, fc *FullConfig, pixels *Node, opt Options) Outputs {
	g := pixels.Graph()
	p := NewParts(root, g)
	p.DType = fc.DType
	vs := siglip.VisionScope(root)
	vc := fc.TowerVision()
	var out Outputs
	if opt.SkipSemantic && opt.Pooled {
		exceptions.Panicf("dualtoken: Options.SkipSemantic with Pooled: the pooled output reads the semantic branch")
	}
	semantic := fc.SemanticBranch && (!opt.SkipSemantic || fc.ReconFromSemantic)
	top := fc.LayerRecon
	if fc.HasShortcut() && !fc.ReconFromSemantic {
		top = max(top, fc.LayerShortcut) // a shortcut may sit above layer_recon
	}
	if opt.SkipPixel {
		top = 0
	}
	if semantic {
		top = max(top, fc.LayerSem)
	}
	x := siglip.VisionEmbeddings(vs, vc, pixels)
	out.Hidden = append(out.Hidden, x)
	if vc.ScanLayers {
		// One loop per run of layers between the taps (inference).
		out.Hidden = make([]*Node, top+1)
		out.Hidden[0] = x
		at := 0
		for _, tap := range towerTaps(fc, opt, semantic, top) {
			x = siglip.VisionLayers(vs, vc, at, tap, x)
			out.Hidden[tap], at = x, tap
		}
	} else {
		for i := range top {
			x = siglip.VisionLayer(vs, vc, i, x)
			out.Hidden = append(out.Hidden, x)
		}
	}
	if semantic {
		out.SemInput = SemanticLatent(p, fc.Config, out.Hidden[fc.LayerSem])
		out.Sem = QuantizeSemantic(p, fc.Config, out.SemInput, opt.Train)
		out.SemState = SemanticPostquant(p, fc.Config, out.Sem.ZQ)
	}
	switch {
	case opt.SkipPixel:
	case fc.ReconFromSemantic:
		out.Pix, out.PixInput = out.Sem, out.SemInput
	default:
		var hs *Node
		if fc.HasShortcut() {
			hs = out.Hidden[fc.LayerShortcut]
		}
		out.PixInput = PixelLatent(p, fc.Config, out.Hidden[fc.LayerRecon], hs)
		out.Pix = QuantizePixels(p, fc.Config, out.PixInput, opt.Train)
	}
	if opt.Decode && !opt.SkipPixel {
		d := DecodePixels(p, fc.Config, out.Pix.ZQ)
		out.Decoded = &d
	}
	if opt.Pooled {
		from, h := top, x
		if semantic {
			from, h = fc.LayerSem, out.SemState
		}
		out.Last, out.Pooled = siglip.VisionFrom(vs, vc, h, from)
	}
	out.toF32() // the values above stay in the compute dtype inside the graph
	return out
}

// towerTaps lists, ascending and without repeats, the tower layers in
// 1..top whose outputs Forward reads (layer_sem when semantic, layer_recon,
// the shortcut layer, top itself).
func towerTaps(fc *FullConfig, opt Options, semantic bool, top int) []int {
	taps := []int{top}
	if semantic {
		taps = append(taps, fc.LayerSem)
	}
	if !opt.SkipPixel && !fc.ReconFromSemantic {
		taps = append(taps, fc.LayerRecon)
		if fc.HasShortcut() {
			taps = append(taps, fc.LayerShortcut)
		}
	}
	slices.Sort(taps)
	taps = slices.Compact(taps)
	return slices.DeleteFunc(taps, func(t int) bool { return t < 1 || t > top })
}

// toF32 converts every output to float32 (no node for float32 ones).
func (o *Outputs) toF32() {
	for i, h := range o.Hidden {
		if h != nil {
			o.Hidden[i] = precision.ToF32(h)
		}
	}
	for _, n := range []**Node{&o.PixInput, &o.SemInput, &o.SemState, &o.Last, &o.Pooled} {
		if *n != nil {
			*n = precision.ToF32(*n)
		}
	}
	if d := o.Decoded; d != nil {
		for _, n := range []**Node{&d.Postquant, &d.LatentResized, &d.PostQuantConv, &d.Images} {
			*n = precision.ToF32(*n)
		}
	}
}

// DecodeCodes decodes pixel codes [B,G,G,D] to float32 images [B,3,S',S']:
// the sum over depths of the code vectors, then the pixel decoder.
func DecodeCodes(root *model.Scope, fc *FullConfig, codes *Node) *Node {
	p := NewParts(root, codes.Graph())
	p.DType = fc.DType
	name, v := fc.PixelQuantizer()
	return precision.ToF32(DecodePixels(p, fc.Config, EmbedCodes(p.At(name), v, codes)).Images)
}

// TokenEmbeddings returns the unified model's per-position inputs for codes
// [B,G,G,D] of a branch ("pix" or "sem"): the sum over depths of the code
// vectors, [B,G*G,E].
func TokenEmbeddings(root *model.Scope, fc *FullConfig, branch string, codes *Node) *Node {
	p := NewParts(root, codes.Graph())
	name, v := fc.PixelQuantizer()
	if branch == "sem" {
		name, v = "quantizer_sem", fc.Sem
	}
	return gridToTokens(EmbedCodes(p.At(name), v, codes))
}

// ---------------------------------------------------------------------------
// Loaded model
// ---------------------------------------------------------------------------

// Model is a loaded tokenizer: its config and a store holding the tower at
// the root under HF names (so siglip's graph functions and Encoder read it
// directly) and the parts under the authors' names.
type Model struct {
	Config  *FullConfig
	Store   *model.Store
	Backend compute.Backend
	Dir     string

	mu    sync.Mutex
	execs map[string]*model.Exec
}

// Load reads a tokenizer directory: config.json (ours or the authors') and
// its checkpoint in any of the authors' layouts: tower under "siglip_model.",
// parts by their names, optionally under "rqvaesiglip." and/or "state_dict."
// (torch-saved .pth). Every checkpoint tensor must be used or deliberately
// ignored.
func Load(b compute.Backend, dir string) (*Model, error) {
	if _, err := UpsampleConvForm(); err != nil {
		return nil, err // before the checkpoint is read, not at the first batch
	}
	fc, err := LoadFullConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := weights.Open(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	m := NewModel(b, fc)
	if err := m.LoadFrom(set); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.Dir = dir
	return m, nil
}

// NewModel makes an empty model for fc (variables come from LoadFrom or Init).
func NewModel(b compute.Backend, fc *FullConfig) *Model {
	return &Model{Config: fc, Store: model.NewStore(), Backend: b, execs: map[string]*model.Exec{}}
}

// Root is the scope the graph functions start from.
func (m *Model) Root() *model.Scope { return m.Store.RootScope() }

// LoadFrom fills the store from set (prefixes detected), checking coverage.
func (m *Model) LoadFrom(set weights.Set) error {
	l := weights.NewLoader(set)
	prefix, err := DetectPrefix(set)
	if err != nil {
		return err
	}
	if strings.HasPrefix(prefix, "state_dict.") {
		// A torch-saved training checkpoint ({"state_dict", "optimizer",
		// "epoch", ...}): only the state dict is the model.
		for _, n := range set.Names() {
			if !strings.HasPrefix(n, "state_dict.") {
				l.Ignore(n)
			}
		}
	}
	if err := siglip.LoadVariables(m.Root(), m.Config.Tower, l, prefix+TowerPrefix); err != nil {
		return err
	}
	if _, err := LoadWeights(l, m.Root(), m.Config.Config); err != nil {
		return err
	}
	if err := l.CheckConsumed(); err != nil {
		return err
	}
	m.Reset()
	return nil
}

// Init gives the parts torch's default initialisation (seeded) and takes the
// tower from tower (the "initial state" DualToken starts from).
func (m *Model) Init(tower *siglip.Model, seed uint64) error {
	for v := range tower.Store.RootScope().IterVariables() {
		val, err := v.Value()
		if err != nil {
			return err
		}
		c, err := val.LocalClone()
		if err != nil {
			return err
		}
		if _, err := m.Store.CreateVariable(v.Path(), c); err != nil {
			return err
		}
	}
	if err := InitParams(m.Root(), m.Config.Config, seed); err != nil {
		return err
	}
	m.Reset()
	return nil
}

// SetDType prepares m for inference in dt: the tokenizer computes in dt
// (FullConfig.DType) and every weight matrix of the tower, projections and
// decoder (rank >= 2) is stored in dt — half their memory in bfloat16. The
// quantisers' codebooks and EMA state stay float32 (the quantisers are
// float32 islands; see Quantize), as do biases and norm gains. Compiled
// graphs are dropped. For training keep float32 variables and set
// Config.DType instead.
func (m *Model) SetDType(dt dtypes.DType) error {
	// A layer-loop copy of the tower's weights (SetScanLayers) is remade from
	// the converted variables, as siglip.Model.SetDType does.
	tower := m.Siglip()
	stacked := tower.StackedBytes() > 0
	if stacked {
		if err := tower.SetScanLayers(false); err != nil {
			return fmt.Errorf("dualtoken: %w", err)
		}
	}
	if _, _, err := precision.StoreAs(m.Store.IterVariables(), dt, isQuantizerVar); err != nil {
		return fmt.Errorf("dualtoken: %w", err)
	}
	m.Config.DType = dt
	if stacked {
		if err := tower.SetScanLayers(true); err != nil {
			return fmt.Errorf("dualtoken: %w", err)
		}
	}
	m.Reset()
	return nil
}

// isQuantizerVar reports whether v belongs to a quantiser (codebooks and
// their EMA state), which SetDType keeps in float32.
func isQuantizerVar(v *model.Variable) bool {
	sep := model.ScopeSeparator
	return strings.Contains(v.Path(), sep+"quantizer_pix"+sep) || strings.Contains(v.Path(), sep+"quantizer_sem"+sep)
}

// Siglip views the model's tower as a siglip.Model sharing this store.
func (m *Model) Siglip() *siglip.Model { return &siglip.Model{Config: m.Config.Tower, Store: m.Store} }

// Reset drops compiled graphs: eval graphs bake variables as constants on
// the Go backend, so call it after changing weights.
func (m *Model) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = map[string]*model.Exec{}
}

// Tensors returns every variable as checkpoint tensors in the authors'
// layout (tower under "siglip_model.", parts by name).
func (m *Model) Tensors() ([]*weights.Tensor, error) {
	out, err := Export(m.Root(), m.Config.Config)
	if err != nil {
		return nil, err
	}
	for _, t := range siglip.Table(m.Config.Tower) {
		v := m.Store.GetVariable(model.JoinPath(m.Root().Scope(), dotsToPath(t.Name)))
		if v == nil {
			return nil, fmt.Errorf("dualtoken: tower variable %q missing", t.Name)
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		x, err := weights.FromGoMLX(TowerPrefix+t.Name, val)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func dotsToPath(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '.' {
			b[i] = model.ScopeSeparator[0]
		}
	}
	return string(b)
}

// Save writes dir/config.json (model_type "dualtoken", the tower config
// inline) and dir/model.safetensors.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(ConfigJSON(m.Config), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(cfg, '\n'), 0o644); err != nil {
		return err
	}
	return weights.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt", "model_type": ModelType})
}

// ConfigJSON is fc as our config.json: the authors' rqvaesiglip keys plus
// model_type, the wiring keys and the tower config.
func ConfigJSON(fc *FullConfig) map[string]any {
	c := fc.Config
	vq := func(v VQConfig) map[string]any {
		return map[string]any{
			"bottleneck_type": v.BottleneckType, "latent_shape": v.LatentShape[:], "code_shape": v.CodeShape[:],
			"embed_dim": v.EmbedDim, "n_embed": v.NEmbed, "decay": v.Decay, "eps": v.Eps,
			"restart_unused_codes": v.RestartUnusedCodes, "shared_codebook": v.SharedCodebook,
			"ema_depth_residuals": v.EMADepthResiduals,
		}
	}
	d := c.Decoder
	attn := d.AttnResolutions
	if attn == nil {
		attn = []int{}
	}
	rq := map[string]any{
		"model_type": "rqvaesiglip_model", "hidden_size": c.HiddenSize,
		"layer_recon": c.LayerRecon, "layer_sem": c.LayerSem,
		"projection_type": c.Projection, "causal_postquant": c.CausalUp,
		"vq_pix": vq(c.Pix), "vq_sem": vq(c.Sem),
		"ddconfig": map[string]any{
			"ch": d.Ch, "ch_mult": d.ChMult, "num_res_blocks": d.NumResBlocks, "attn_resolutions": attn,
			"resolution": d.Resolution, "out_ch": d.OutCh, "in_channels": d.InChannels,
			"decoder_in_channels": d.DecoderInChannels, "resamp_with_conv": d.ResampWithConv,
			"give_pre_end": d.GivePreEnd, "double_z": false, "dropout": 0.0,
		},
		"pretrained_model": c.PretrainedModel,
	}
	if c.HasShortcut() {
		rq["layer_shortcut"], rq["weight_shortcut"] = c.LayerShortcut, c.WeightShortcut
	}
	if c.DecoderLatentShape != nil {
		rq["decoder_latent_shape"] = c.DecoderLatentShape
	}
	out := map[string]any{
		"model_type": ModelType, "architectures": []string{"RQVAESIGLIPTransformer"},
		"hidden_size": c.HiddenSize, "rqvaesiglip": rq,
		"recon_from_semantic": fc.ReconFromSemantic, "semantic_branch": fc.SemanticBranch,
		"siglip_config": TowerConfigJSON(fc.Tower),
	}
	if fc.Mode != "" {
		out["ablation_mode"] = fc.Mode
	}
	return out
}

// TowerConfigJSON is a SigLIP config as HF's config.json writes it.
func TowerConfigJSON(t *siglip.Config) map[string]any {
	v := t.Vision
	vis := map[string]any{
		"model_type": "siglip_vision_model", "hidden_size": v.HiddenSize, "intermediate_size": v.IntermediateSize,
		"num_hidden_layers": v.NumLayers, "num_attention_heads": v.NumHeads, "num_channels": v.NumChannels,
		"image_size": v.ImageSize, "patch_size": v.PatchSize, "layer_norm_eps": v.LayerNormEps,
		"hidden_act": v.HiddenAct, "vision_use_head": v.UseHead,
	}
	if t.Text == nil {
		vis["model_type"] = siglip.ModelTypeVisionOnly
		return vis
	}
	x := t.Text
	return map[string]any{
		"model_type": siglip.ModelTypeSiglip, "vision_config": vis,
		"text_config": map[string]any{
			"model_type": "siglip_text_model", "vocab_size": x.VocabSize, "hidden_size": x.HiddenSize,
			"intermediate_size": x.IntermediateSize, "num_hidden_layers": x.NumLayers,
			"num_attention_heads": x.NumHeads, "max_position_embeddings": x.MaxPositions,
			"projection_size": x.ProjectionSize, "layer_norm_eps": x.LayerNormEps, "hidden_act": x.HiddenAct,
			"pad_token_id": x.PadTokenID, "eos_token_id": x.EOSTokenID,
		},
	}
}

// ---------------------------------------------------------------------------
// Executing
// ---------------------------------------------------------------------------

// Encoded is the tokenizer's output for a batch.
type Encoded struct {
	PixelCodes    *tensors.Tensor // [B,G,G,D] int64 (the semantic codes when ReconFromSemantic)
	SemanticCodes *tensors.Tensor // [B,G,G,D] int64; nil without the semantic branch
	Pooled        *tensors.Tensor // [B,C] MAP head output on the quantised path (not normalised)
}

// exec returns the executable cached under key, making it from fn on first
// use. The lock covers only the cache: NewExec builds and compiles nothing
// (graphs are built and compiled per input shape by Exec.Compile or the first
// Exec, outside it), so Compile's goroutines compile in parallel.
func (m *Model) exec(key string, fn any) (*model.Exec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.execs[key]; ok {
		return e, nil
	}
	var e *model.Exec
	var err error
	switch f := fn.(type) {
	case func(*model.Scope, *Node) []*Node:
		e, err = model.NewExec(m.Backend, m.Store, f)
	case func(*model.Scope, *Node) *Node:
		e, err = model.NewExec(m.Backend, m.Store, f)
	default:
		panic("dualtoken: bad exec function")
	}
	if err != nil {
		return nil, err
	}
	m.execs[key] = e
	return e, nil
}

// call runs the executable cached under key (made from fn on first use) on x.
func (m *Model) call(key string, fn any, x *tensors.Tensor) ([]*tensors.Tensor, error) {
	e, err := m.exec(key, fn)
	if err != nil {
		return nil, err
	}
	return e.Exec(x)
}

// The executables of Encode, DecodePixels and Reconstruct: their keys in
// Model.execs and their graph functions, shared with Model.Compile
// (compile.go) so that a compiled executable is the one these methods run.
const (
	execEncode      = "encode"
	execDecode      = "decode"
	execReconstruct = "reconstruct"
)

// encodeGraph is Encode's graph: pixels [B,3,S,S] -> pixel codes [B,G,G,D],
// pooled [B,C] and, with the semantic branch, semantic codes [B,G,G,D].
func (m *Model) encodeGraph() func(*model.Scope, *Node) []*Node {
	fc := m.Config
	return func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, fc, x, Options{Pooled: true})
		outs := []*Node{o.Pix.Codes, o.Pooled}
		if fc.SemanticBranch {
			outs = append(outs, o.Sem.Codes)
		}
		return outs
	}
}

// decodeGraph is DecodePixels' graph: codes [B,G,G,D] -> images [B,3,S',S'].
func (m *Model) decodeGraph() func(*model.Scope, *Node) *Node {
	return func(root *model.Scope, c *Node) *Node { return DecodeCodes(root, m.Config, c) }
}

// reconstructGraph is Reconstruct's graph: pixels [B,3,S,S] -> images
// [B,3,S',S'] and pixel codes [B,G,G,D].
func (m *Model) reconstructGraph() func(*model.Scope, *Node) []*Node {
	return func(root *model.Scope, x *Node) []*Node {
		o := Forward(root, m.Config, x, Options{Decode: true, SkipSemantic: true})
		return []*Node{o.Decoded.Images, o.Pix.Codes}
	}
}

// CheckPixels validates a pixel batch [B,3,S,S].
func (m *Model) CheckPixels(pixels *tensors.Tensor) error {
	v := &m.Config.Tower.Vision
	d := pixels.Shape().Dimensions
	if pixels.DType() != dtypes.Float32 || len(d) != 4 || d[0] < 1 || d[1] != v.NumChannels || d[2] != v.ImageSize || d[3] != v.ImageSize {
		return fmt.Errorf("dualtoken: pixels %s, expected float32 [batch, %d, %d, %d] (image_size of %s)", pixels.Shape(), v.NumChannels, v.ImageSize, v.ImageSize, m.Config.Tower.Path)
	}
	return nil
}

// Encode tokenizes pixels [B,3,S,S] (in [-1,1]).
func (m *Model) Encode(pixels *tensors.Tensor) (*Encoded, error) {
	if err := m.CheckPixels(pixels); err != nil {
		return nil, err
	}
	fc := m.Config
	res, err := m.call(execEncode, m.encodeGraph(), pixels)
	if err != nil {
		return nil, err
	}
	enc := &Encoded{PixelCodes: res[0], Pooled: res[1]}
	if fc.SemanticBranch {
		enc.SemanticCodes = res[2]
	}
	return enc, nil
}

// DecodePixels decodes pixel codes [B,G,G,D] (int64) to images [B,3,S',S'].
func (m *Model) DecodePixels(codes *tensors.Tensor) (*tensors.Tensor, error) {
	_, v := m.Config.PixelQuantizer()
	d := codes.Shape().Dimensions
	if len(d) != 4 || d[1] != v.CodeShape[0] || d[2] != v.CodeShape[1] || d[3] != v.Depth() || !codes.DType().IsInt() {
		return nil, fmt.Errorf("dualtoken: codes %s, expected integer [batch, %d, %d, %d]", codes.Shape(), v.CodeShape[0], v.CodeShape[1], v.Depth())
	}
	res, err := m.call(execDecode, m.decodeGraph(), codes)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// Reconstruct encodes and decodes pixels [B,3,S,S] in one graph: images
// [B,3,S',S'] (compare with the input in [-1,1]) and the pixel codes.
func (m *Model) Reconstruct(pixels *tensors.Tensor) (images, codes *tensors.Tensor, err error) {
	if err := m.CheckPixels(pixels); err != nil {
		return nil, nil, err
	}
	res, err := m.call(execReconstruct, m.reconstructGraph(), pixels)
	if err != nil {
		return nil, nil, err
	}
	return res[0], res[1], nil
}

// TokenEmbeddings returns the unified model's input embeddings of codes
// [B,G,G,D] of branch "pix" or "sem": [B,G*G,E], the sum over depths.
func (m *Model) TokenEmbeddings(branch string, codes *tensors.Tensor) (*tensors.Tensor, error) {
	if branch != "pix" && branch != "sem" {
		return nil, fmt.Errorf("dualtoken: branch %q, expected \"pix\" or \"sem\"", branch)
	}
	res, err := m.call("embed-"+branch, func(root *model.Scope, c *Node) *Node { return TokenEmbeddings(root, m.Config, branch, c) }, codes)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
