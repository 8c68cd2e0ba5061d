package train

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/tokenizer"
)

// Mode is one row of the paper's Table 3: where the reconstruction and
// semantic losses apply. Rows differ only by this configuration.
type Mode struct {
	ID    string `json:"id"`    // "q", "a", "b", "c", "d"
	Label string `json:"label"` // the paper's row name
	// ReconAtSem taps the pixel branch at layer_sem instead of layer_recon.
	ReconAtSem bool `json:"recon_at_sem"`
	// SharedCodebook decodes the semantic codes (one codebook, row a).
	SharedCodebook bool `json:"shared_codebook"`
	// Semantic runs the semantic branch with its losses (rows a, d, q).
	Semantic bool `json:"semantic"`
	// Decode runs the pixel decoder with the reconstruction losses.
	Decode bool `json:"decode"`
	// FreezeTower keeps the vision tower at its initial weights (row q:
	// only the semantic projections and codebook learn).
	FreezeTower bool `json:"freeze_tower"`
}

// Modes are the study's trainings: the quantised initial state and rows a–d.
var Modes = []Mode{
	{ID: "q", Label: "initial (quantised)", Semantic: true, FreezeTower: true},
	{ID: "a", Label: "(a) recon(26)+sem(26)", ReconAtSem: true, SharedCodebook: true, Semantic: true, Decode: true},
	{ID: "b", Label: "(b) recon(26)", ReconAtSem: true, Decode: true},
	{ID: "c", Label: "(c) recon(6)", Decode: true},
	{ID: "d", Label: "(d) recon(6)+sem(26)", Semantic: true, Decode: true},
}

// ModeByID returns the mode with that ID.
func ModeByID(id string) (Mode, error) {
	for _, m := range Modes {
		if m.ID == id {
			return m, nil
		}
	}
	return Mode{}, fmt.Errorf("unknown ablation mode %q (q, a, b, c, d)", id)
}

// Apply wires base (the DualToken configuration, row d) for the mode and
// switches the loss terms: semantic terms only with the semantic branch,
// reconstruction terms (pixel MSE, LPIPS, GAN) only with the decoder. Rows
// tapping layer_sem drop the shortcut (it would feed a layer-4 state into a
// "layer 26" reconstruction).
func (m Mode) Apply(base *dualtoken.FullConfig, w dualtoken.LossWeights) (*dualtoken.FullConfig, dualtoken.LossWeights) {
	parts := *base.Config
	fc := &dualtoken.FullConfig{Config: &parts, Tower: base.Tower, Mode: m.ID, SemanticBranch: m.Semantic, ReconFromSemantic: m.SharedCodebook}
	if m.ReconAtSem {
		parts.LayerRecon = parts.LayerSem
		parts.LayerShortcut, parts.WeightShortcut = 0, 0
	}
	if !m.Semantic {
		w.SemLayer, w.SemPooled = 0, 0
	}
	if !m.Decode {
		w.PixelMSE, w.LPIPS, w.GAN = 0, 0, 0
	}
	return fc, w
}

// parallelFor runs f(0..n-1) on GOMAXPROCS goroutines.
func parallelFor(n int, f func(i int)) {
	w := min(n, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += w {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// StudyConfig is the DualToken configuration (row d) of the tiny study on a
// tower: the paper's 6-of-27 and 26-of-27 taps become layer 1 and the
// second-to-last layer; attention projections to 8-d codes (hidden/8 heads),
// one shared codebook of k codes per branch, depth d, no shortcut (a tower
// of 4 layers has no earlier layer than the pixel tap); a VQGAN decoder
// (ch 32, one level per doubling from the token grid to the image, one res
// block per level on the way down, attention at the grid) with no latent
// resize, since the grid already divides the image. Channels stay 32 at
// every level (GroupNorm 32's minimum): the decoder's backward pass is most
// of a training step on CPU.
func StudyConfig(tower *siglip.Config, k, depth int) (*dualtoken.FullConfig, error) {
	v := tower.Vision
	g := v.ImageSize / v.PatchSize
	levels := 1
	for s := g; s < v.ImageSize; s *= 2 {
		levels++
	}
	if g<<(levels-1) != v.ImageSize {
		return nil, fmt.Errorf("study config: image %d is not the %dx%d token grid times a power of two", v.ImageSize, g, g)
	}
	mult := make([]int, levels) // 32 channels at every level: the 32x32 convolutions' backward dominates a CPU step
	for i := range mult {
		mult[i] = 1
	}
	vq := func(b string) dualtoken.VQConfig {
		return dualtoken.VQConfig{BottleneckType: b, LatentShape: [3]int{g, g, 8}, CodeShape: [3]int{g, g, depth}, EmbedDim: 8,
			NEmbed: k, Decay: 0.99, Eps: 1e-5, RestartUnusedCodes: true, SharedCodebook: true}
	}
	parts := &dualtoken.Config{
		HiddenSize: v.HiddenSize, LayerRecon: 1, LayerSem: v.NumLayers - 1,
		Projection: dualtoken.ProjectionAttn, CausalUp: true,
		Pix: vq(dualtoken.BottleneckRQ), Sem: vq(dualtoken.BottleneckRQEMA),
		Decoder: dualtoken.DecoderConfig{Ch: 32, ChMult: mult, NumResBlocks: 1, AttnResolutions: []int{g},
			Resolution: v.ImageSize, OutCh: 3, InChannels: 3, DecoderInChannels: 64, ResampWithConv: true},
		PretrainedModel: "tiny-siglip", Source: "tiny study config",
	}
	if err := parts.Validate(); err != nil {
		return nil, err
	}
	fc := &dualtoken.FullConfig{Config: parts, Tower: tower, SemanticBranch: true, Mode: "d"}
	return fc, fc.Validate()
}

// StudyOptions configures the tiny Table-3 study's trainings.
type StudyOptions struct {
	Out        string // study folder: Out/train/<mode> (resumable state), Out/models/<mode> (exports)
	TowerDir   string // the initial state: an HF SigLIP directory (with spiece.model, tokenizer.model or tokenizer.json)
	Codes      int    // codebook size per branch
	Depth      int    // residual depth
	Steps      int    // steps of rows a–d
	QSteps     int    // steps of row q (semantic projections and codebook only)
	MicroBatch int
	Accum      int // micro-batches per graph call (in-graph accumulation)
	// AccumSteps is the loop's gradient accumulation: graph calls per
	// optimizer step (0 or 1: one).
	AccumSteps int
	// Epochs divides the steps of rows a–d into that many "epochs" of the
	// procedural data, which pace the discriminator (DualTokenTask.EpochSteps
	// = Steps/Epochs); 0: no epochs.
	Epochs int
	// DiscRestartEpochs: see DualTokenTask (the authors' restart_gan).
	DiscRestartEpochs int
	// Augment crops the training images of rows a–d as the authors'
	// RandomResizedCrop does, from scenes rendered at AugmentSize (0: the
	// tower's size); row q (the initial state's quantisation) is not augmented.
	Augment     bool
	AugmentSize int
	LR, MinLR   float64
	Warmup      float64 // fraction of steps
	WeightDec   float64
	Beta1       float64
	Beta2       float64
	GANFrom     float64 // fraction of steps after which the discriminator trains
	Disc        dualtoken.DiscConfig
	Weights     dualtoken.LossWeights // before Mode.Apply
	Seed        uint64                // world seed of the training scenes and init seed
	CkptEvery   int
	// LPIPSVGG and LPIPSLin are LPIPS's weight files (torchvision's VGG16 and
	// the lpips package's vgg.pth); with both, rows a–d add Weights.LPIPS·LPIPS
	// (set it, DefaultStudyOptions has 0). Without them there is no
	// perceptual loss.
	LPIPSVGG, LPIPSLin string
	// DType is the compute dtype of rows a–d and q (float32 variables,
	// converted where used, as autocast; zero: float32). bf16 is for
	// accelerators: the Go backend runs it slower than float32.
	DType dtypes.DType
	// CheckpointLayers recomputes each tower layer in the backward pass
	// instead of keeping its activations (GoMLX's gradient checkpointing):
	// less memory, about a third more compute; for the 400M tower.
	CheckpointLayers bool
}

// DefaultStudyOptions is the recipe `evalrun ablation` runs, sized for two
// shared CPU cores: with the shipped 48 px tiny SigLIP the five trainings
// took 1242 s on 2026-11-27 (load 2–4; the discriminator's steps slower),
// the whole study with the tower's own training 24 min
// (reports/ablation/2026-11-27-tiny).
func DefaultStudyOptions() StudyOptions {
	w := dualtoken.DefaultLossWeights()
	w.LPIPS = 0 // no VGG16/LPIPS weights offline; see the study's notes
	return StudyOptions{
		Codes: 128, Depth: 8, Steps: 400, QSteps: 1000, MicroBatch: 8, Accum: 1,
		Epochs: 8, DiscRestartEpochs: 20, Augment: true, AugmentSize: 64,
		LR: 1e-3, MinLR: 1e-5, Warmup: 0.05, WeightDec: 1e-4, Beta1: 0.5, Beta2: 0.9,
		GANFrom: 0.75, Disc: dualtoken.DiscConfig{NDF: 32, NLayers: 3, InCh: 3}, Weights: w,
		Seed: 11, CkptEvery: 50,
	}
}

// RowRecord is Out/models/<mode>/training.json.
type RowRecord struct {
	Mode           Mode               `json:"mode"`
	Steps          int                `json:"steps"`
	MicroBatch     int                `json:"micro_batch"`
	Accum          int                `json:"accum"`
	AccumSteps     int                `json:"accum_steps"` // graph calls per optimizer step
	GANStart       int                `json:"gan_start_step"`
	EpochSteps     int                `json:"epoch_steps"` // 0: no epochs
	DiscRestart    int                `json:"disc_restart_epochs"`
	Augment        map[string]any     `json:"augment,omitempty"` // RandomResizedCrop settings when on
	Weights        any                `json:"loss_weights"`
	Optimizer      map[string]any     `json:"optimizer"`
	ResumedAt      int                `json:"resumed_at_step"`
	WallSeconds    float64            `json:"wall_seconds"` // this invocation's training time
	StepsPerSecond float64            `json:"steps_per_second"`
	Final          map[string]float64 `json:"final_metrics"` // means over the last 20 steps
	Backend        string             `json:"backend"`
	DType          string             `json:"dtype"`             // compute dtype
	CheckpointLyr  bool               `json:"checkpoint_layers"` // tower layers recomputed in backward
}

// RowDir is where row mode's tokenizer is exported.
func (o StudyOptions) RowDir(id string) string { return filepath.Join(o.Out, "models", id) }

// RowTask builds mode's task and training configuration.
func (o StudyOptions) RowTask(tower *siglip.Config, mode Mode) (*DualTokenTask, Config, error) {
	base, err := StudyConfig(tower, o.Codes, o.Depth)
	if err != nil {
		return nil, Config{}, err
	}
	fc, w := mode.Apply(base, o.Weights)
	if o.DType != dtypes.InvalidDType {
		fc.DType = o.DType
	}
	if o.CheckpointLayers {
		tc := *fc.Tower // the initial tower's config is shared with the other rows
		tc.Vision.Checkpoint = true
		fc.Tower = &tc
	}
	steps := o.Steps
	if mode.ID == "q" {
		steps = o.QSteps
	}
	task := &DualTokenTask{Config: fc, Mode: mode, Weights: w, Disc: o.Disc, GANStart: int(o.GANFrom * float64(steps)),
		MicroBatch: o.MicroBatch, Accum: o.Accum, Seed: o.Seed, DiscRestartEpochs: o.DiscRestartEpochs}
	if o.Epochs > 0 {
		task.EpochSteps = max(1, steps/o.Epochs)
	} else {
		task.DiscRestartEpochs = 0 // restarts are counted in epochs
	}
	if mode.Decode && o.Augment {
		task.Augment, task.AugmentSize = true, o.AugmentSize
	}
	if err := task.Validate(); err != nil {
		return nil, Config{}, err
	}
	cfg := Config{Steps: steps, LearningRate: o.LR, MinLearningRate: o.MinLR, WarmupSteps: int(o.Warmup * float64(steps)),
		WeightDecay: o.WeightDec, Beta1: o.Beta1, Beta2: o.Beta2, NoDecay: NoDecay,
		AccumSteps: o.AccumSteps, Dir: filepath.Join(o.Out, "train", mode.ID), CheckpointEvery: o.CkptEvery}
	if task.Disc.NDF > 0 && mode.Decode && w.GAN != 0 { // the authors' separate discriminator optimizer
		cfg.Groups = []Group{task.DiscGroup(steps, o.LR, o.Beta1, o.Beta2)}
	}
	return task, cfg, nil
}

// TrainRow trains (or resumes, or skips when already exported) row mode
// from the initial tower and exports the tokenizer to RowDir (config.json,
// model.safetensors, the tower's spiece.model, tokenizer.model or tokenizer.json,
// training.json). onStep may be nil.
func TrainRow(ctx context.Context, b compute.Backend, o StudyOptions, tower *siglip.Model, mode Mode, onStep func(Result)) (*RowRecord, error) {
	dir := o.RowDir(mode.ID)
	if rec, err := readRowRecord(dir); err == nil {
		return rec, nil // done earlier
	}
	task, cfg, err := o.RowTask(tower.Config, mode)
	if err != nil {
		return nil, err
	}
	store, err := NewDualTokenStore(task, tower, o.Seed)
	if err != nil {
		return nil, err
	}
	if o.LPIPSVGG != "" && task.Mode.Decode && task.Weights.LPIPS != 0 {
		if err := LoadLPIPS(store, o.LPIPSVGG, o.LPIPSLin); err != nil {
			return nil, err
		}
		task.LPIPS = true
	}
	tr, err := New(b, store, task, cfg)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if _, err := tr.Resume(); err != nil {
		return nil, err
	}
	rec := &RowRecord{Mode: mode, Steps: cfg.Steps, MicroBatch: task.MicroBatch, Accum: task.Accum, AccumSteps: max(cfg.AccumSteps, 1),
		GANStart: task.GANStart, EpochSteps: task.EpochSteps, DiscRestart: task.DiscRestartEpochs, Weights: task.Weights, ResumedAt: tr.Done(), Backend: b.Name(), Final: map[string]float64{},
		DType: precision.Compute(task.Config.DType).String(), CheckpointLyr: task.Config.Tower.Vision.Checkpoint,
		Optimizer: map[string]any{"name": "AdamW (decoupled decay; none on rank<=1 and the discriminator)", "lr": cfg.LearningRate,
			"min_lr": cfg.MinLearningRate, "warmup_steps": cfg.WarmupSteps, "schedule": "linear warmup + cosine",
			"weight_decay": cfg.WeightDecay, "beta1": cfg.Beta1, "beta2": cfg.Beta2}}
	for _, gr := range cfg.Groups {
		rec.Optimizer[gr.Name] = map[string]any{"name": "Adam (own state, restarted with the discriminator; no decay, no clipping)",
			"lr": gr.LR, "min_lr": gr.MinLR, "warmup_updates": gr.WarmupSteps, "cosine_updates": gr.PeriodSteps,
			"schedule": "linear warmup from 0 + cosine, over its own updates", "beta1": gr.Beta1, "beta2": gr.Beta2}
	}
	if task.Augment {
		sc := task.augmentScale()
		rec.Augment = map[string]any{"name": "RandomResizedCrop (torchvision get_params, PIL bicubic)", "scale": sc[:],
			"ratio": imageio.DefaultCropRatio[:], "render_size": task.augmentRender(), "size": task.Config.Tower.Vision.ImageSize}
	}
	var last []Result
	start := time.Now()
	err = tr.Run(ctx, func(r Result) {
		last = append(last, r)
		if len(last) > 20 {
			last = last[1:]
		}
		if onStep != nil {
			onStep(r)
		}
	})
	if err != nil {
		return nil, err
	}
	rec.WallSeconds = time.Since(start).Seconds()
	if n := cfg.Steps - rec.ResumedAt; n > 0 {
		rec.StepsPerSecond = float64(n) / rec.WallSeconds
	}
	counts := map[string]int{}
	for _, r := range last { // metrics a step's graph does not compute are 0: average where present
		rec.Final["loss"] += r.Loss
		counts["loss"]++
		for k, v := range r.Metrics {
			if v != 0 {
				rec.Final[k] += v
				counts[k]++
			}
		}
	}
	for k, n := range counts {
		rec.Final[k] /= float64(n)
	}
	m, err := ExportTokenizer(store, task.Config)
	if err != nil {
		return nil, err
	}
	if err := m.Save(dir); err != nil {
		return nil, err
	}
	if err := copyTowerTokenizer(o.TowerDir, dir); err != nil {
		return nil, err
	}
	js, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "training.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return rec, nil
}

func readRowRecord(dir string) (*RowRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "training.json"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		return nil, err
	}
	var r RowRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "training.json"), err)
	}
	return &r, nil
}

// copyTowerTokenizer copies the tower's text tokenizer (SigLIP's
// spiece.model, SigLIP2's tokenizer.model or tokenizer.json, as
// tokenizer.SiglipTokenizerIn finds it) into an exported tokenizer's folder dir, under its own name, so
// that the export embeds texts as the tower did; a tower without one leaves
// dir as it is.
func copyTowerTokenizer(towerDir, dir string) error {
	p := tokenizer.SiglipTokenizerIn(towerDir)
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	}
	return err
}
