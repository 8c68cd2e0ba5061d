package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/assets"
	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/imagenet"
	"github.com/dualtoken/evalharness/bench/recon"
	_ "github.com/dualtoken/evalharness/bench/suites" // registers the suites and model kinds
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/reports"
	"github.com/dualtoken/evalharness/tokenizer"
	"github.com/dualtoken/evalharness/train"
)

func init() {
	register("ablation", "The paper's Table 3 at toy scale: four DualToken trainings from the tiny SigLIP (resumable), zero-shot, PSNR, SSIM, codebook usage, table and plots.", &ablationCmd{})
}

type ablationCmd struct {
	Out        string   `default:"ablation-out" help:"Study folder: train/<row> (resumable state), models/<row> (exported tokenizers), data/, results/, table3.{txt,md,csv,json}, plots/ (default: ablation-out, under the current folder)." placeholder:"DIR"`
	Tower      string   `help:"Initial state: an HF SigLIP directory with its text tokenizer, spiece.model (or SigLIP2's tokenizer.model) (default: the shipped tiny-siglip)." placeholder:"DIR"`
	Steps      *int     `help:"Optimisation steps of rows a–d (default: the recipe's)." placeholder:"N"`
	QSteps     *int     `name:"q-steps" help:"Steps of the quantised-initial-state row (default: the recipe's)." placeholder:"N"`
	Batch      *int     `help:"Images per micro-batch (default: the recipe's)." placeholder:"N"`
	Accum      *int     `help:"Micro-batches per graph call, accumulated inside the compiled step (memory of the whole call; default 1)." placeholder:"N"`
	AccumSteps *int     `name:"accum-steps" help:"Graph calls per optimizer step, gradients summed in accumulators between calls (memory of one call; default 1)." placeholder:"N"`
	Epochs     *int     `help:"Epochs the steps of rows a–d are divided into; they pace the discriminator (default: the recipe's 8; 0 = no epochs)." placeholder:"N"`
	DiscEvery  *int     `name:"disc-restart-epochs" help:"Re-create the discriminator every N epochs after the GAN starts (default: the authors' 20; 0 = never)." placeholder:"N"`
	Augment    bool     `default:"true" negatable:"" help:"RandomResizedCrop(scale 0.9–1, bicubic) of rows a–d's training scenes, rendered at 64 px (--no-augment: plain renders at the tower's size)."`
	GANFrom    *float64 `name:"gan-from" help:"Fraction of the steps after which the discriminator trains, in [0, 1] (default: the recipe's 0.75; 1 = no GAN)." placeholder:"F"`
	Rows       string   `default:"q,a,b,c,d" help:"Rows to train and evaluate (q = quantised initial state)."`
	EvalImages int      `default:"240" help:"Held-out world scenes for zero-shot and for reconstruction."`
	Inception  string   `help:"pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth) for rFID; without them rFID is not computed." placeholder:"FILE"`
	LPIPSVGG   string   `name:"lpips-vgg" help:"torchvision's vgg16-397923af.pth: with --lpips-lin, rows a–d add 1·LPIPS to the objective (without them no perceptual loss)." placeholder:"FILE"`
	LPIPSLin   string   `name:"lpips-lin" help:"The lpips package's weights/v0.1/vgg.pth (with --lpips-vgg)." placeholder:"FILE"`
	DType      string   `name:"dtype" default:"float32" help:"Training compute dtype: float32, or bfloat16 (float32 master weights converted where used, as autocast; for accelerators — the Go backend runs bf16 slower)."`
	CkptLayers bool     `name:"checkpoint-layers" help:"Recompute the tower's layers in the backward pass instead of keeping their activations (less memory, ~1/3 more compute; for the 400M tower)."`
	Quiet      bool     `help:"No per-step progress lines."`
}

func (c *ablationCmd) Help() string {
	return `Reproduces the shape of the paper's Table 3 on the procedural world. Starting from
the tiny SigLIP (the "initial state"), it trains, each from that state and resumably:
  q  the quantised initial state: semantic projections + codebook only, tower frozen
  a  recon(26)+sem(26): one codebook at the semantic tap, both losses
  b  recon(26): pixel branch at the semantic tap, reconstruction losses only
  c  recon(6): pixel branch at the low tap, reconstruction losses only
  d  recon(6)+sem(26): DualToken
(layers 6 and 26 of 27 map to layer 1 and the second-to-last layer of the tiny
tower), then runs the
harness's ImageNet-style zero-shot suite on world classes (held-out seed 2026) for the
initial tower and every row, and the reconstruction suite (PSNR, SSIM, codebook usage)
for rows a–d, and prints and saves the table (ours beside the paper's) with plots.
Interrupt at any time: the same command resumes (finished rows are reused). Change a
recipe flag only with a fresh --out.

Example:
  evalrun ablation --out ablation-out`
}

// rowNames are the model names of the study rows in results and tables,
// with the tiny tower's tap layers.
func rowNames(recon, sem int) map[string]string {
	return map[string]string{
		"init": "tiny initial (continuous)", "q": "tiny initial (quantised)",
		"a": fmt.Sprintf("tiny (a) recon(L%d)+sem(L%d)", sem, sem), "b": fmt.Sprintf("tiny (b) recon(L%d)", sem),
		"c": fmt.Sprintf("tiny (c) recon(L%d)", recon), "d": fmt.Sprintf("tiny (d) recon(L%d)+sem(L%d)", recon, sem),
	}
}

// rowPaper is the paper row each study row reproduces.
var rowPaper = map[string]string{
	"init": "initial (continuous)", "q": "initial (quantised)", "a": "(a) recon(26)+sem(26)",
	"b": "(b) recon(26)", "c": "(c) recon(6)", "d": "(d) recon(6)+sem(26)",
}

func (c *ablationCmd) Run(g *Globals) error {
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c.Out = dryOut(g, c.Out)
	o := train.DefaultStudyOptions()
	o.Out = c.Out
	for _, f := range []struct {
		dst  *int
		v    *int
		name string
	}{{&o.Steps, c.Steps, "steps"}, {&o.QSteps, c.QSteps, "q-steps"}, {&o.MicroBatch, c.Batch, "batch"}, {&o.Accum, c.Accum, "accum"}, {&o.AccumSteps, c.AccumSteps, "accum-steps"}} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 {
			return usageErr("--%s %d: expected a positive number", f.name, *f.v)
		}
		*f.dst = *f.v
	}
	for _, f := range []struct {
		dst  *int
		v    *int
		name string
	}{{&o.Epochs, c.Epochs, "epochs"}, {&o.DiscRestartEpochs, c.DiscEvery, "disc-restart-epochs"}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 {
			return usageErr("--%s %d: expected 0 or a positive number", f.name, *f.v)
		}
		*f.dst = *f.v
	}
	o.Augment = c.Augment
	if c.GANFrom != nil {
		if !(*c.GANFrom >= 0 && *c.GANFrom <= 1) { // NaN too
			return usageErr("--gan-from %g: expected a fraction in [0, 1]", *c.GANFrom)
		}
		o.GANFrom = *c.GANFrom
	}
	if (c.LPIPSVGG == "") != (c.LPIPSLin == "") {
		return usageErr("--lpips-vgg and --lpips-lin go together (LPIPS needs both weight files)")
	}
	if c.LPIPSVGG != "" {
		o.LPIPSVGG, o.LPIPSLin, o.Weights.LPIPS = c.LPIPSVGG, c.LPIPSLin, 1
	}
	dt, err := precision.Parse(c.DType)
	if err != nil {
		return usageErr("%v", err) // names --dtype
	}
	o.DType, o.CheckpointLayers = dt, c.CkptLayers
	if c.EvalImages < 1 {
		return usageErr("--eval-images %d: expected a positive number", c.EvalImages)
	}
	var rows []train.Mode
	for _, id := range strings.Split(c.Rows, ",") {
		m, err := train.ModeByID(strings.TrimSpace(id))
		if err != nil {
			return usageErr("--rows: %v", err)
		}
		rows = append(rows, m)
	}

	// Every input file is checked before anything is trained or written
	// (recipe.json locks --out to one recipe): each is loaded as the rows
	// and the evaluation will load it.
	if err := c.checkInputs(b); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return usageErr("--out %s: %v", c.Out, err)
	}

	// The initial state.
	o.TowerDir = c.Tower
	if o.TowerDir == "" {
		if !assets.Has("tiny-siglip") {
			return usageErr("no shipped tiny-siglip: train it with `evalrun train-tiny siglip --out DIR` and pass --tower DIR")
		}
		if o.TowerDir, err = assets.Extract("tiny-siglip", c.Out); err != nil {
			return usageErr("--out %s: %v", c.Out, err)
		}
	}
	tower, err := siglip.Load(o.TowerDir)
	if err != nil {
		return usageErr("--tower: %v", err)
	}
	if err := c.checkRecipe(o); err != nil {
		return err
	}
	base, err := train.StudyConfig(tower.Config, o.Codes, o.Depth)
	if err != nil {
		return usageErr("--tower: %v", err)
	}
	rowName := rowNames(base.LayerRecon, base.LayerSem)

	// Trainings.
	trainWall := 0.0
	records := map[string]*train.RowRecord{}
	for _, m := range rows {
		t0 := time.Now()
		task, cfg, err := o.RowTask(tower.Config, m)
		if err != nil {
			return err
		}
		fmt.Printf("row %s %s: %d steps of %d×%d images (GAN from step %d)\n", m.ID, m.Label, cfg.Steps, task.MicroBatch, task.Accum, map[bool]int{true: task.GANStart, false: -1}[task.GANOn(cfg.Steps-1)])
		last := time.Now()
		rec, err := train.TrainRow(ctx, b, o, tower, m, func(r train.Result) {
			if c.Quiet || (r.Step%25 != 0 && r.Step != cfg.Steps) {
				return
			}
			rate := 25 / time.Since(last).Seconds()
			last = time.Now()
			fmt.Printf("  %s step %4d/%d  loss %.4f  mse %.4f  sem %.4f/%.4f  commit %.4f/%.4f  gen %.3f  disc %.3f  lr %.2g  %.2f steps/s\n",
				m.ID, r.Step, cfg.Steps, r.Loss, r.Metrics["mse"], r.Metrics["sem_layer"], r.Metrics["sem_pooled"],
				r.Metrics["commit_pix"], r.Metrics["commit_sem"], r.Metrics["gen"], r.Metrics["disc"], r.LR, rate)
		})
		if err != nil {
			if ctx.Err() != nil {
				return interruptedErr("interrupted during row %s; its state is saved: run the same command to resume", m.ID)
			}
			return fmt.Errorf("row %s: %w", m.ID, err)
		}
		records[m.ID] = rec
		trainWall += rec.WallSeconds
		fmt.Printf("row %s done: %s (%.0fs this run)\n", m.ID, o.RowDir(m.ID), time.Since(t0).Seconds())
	}

	// Evaluation through the harness's suites.
	evalStart := time.Now()
	zsOpts, err := c.demoData("imagenet-zeroshot", imagenet.WriteDemo, 64)
	if err != nil {
		return err
	}
	zsTask, err := bench.New(imagenet.Name, zsOpts)
	if err != nil {
		return err
	}
	rcOpts := bench.Options{Data: filepath.Join(c.Out, "data", "recon"), Extra: map[string]string{"jpeg": "none", "inception": c.Inception}}
	if err := writeOnce(rcOpts.Data, func() error { return recon.WriteDemo(rcOpts.Data, 2026, c.EvalImages, 64) }); err != nil {
		return err
	}
	rcTask, err := bench.New(recon.Name, rcOpts)
	if err != nil {
		return err
	}
	runCfg := bench.RunConfig{OutDir: filepath.Join(c.Out, "results"), BatchSize: 32, Seed: 2026, GitCommit: gitCommit(), Backend: backend.Resolve(g.Backend)}
	var results []*bench.Result
	run := func(task bench.Task, id string, spec bench.ModelSpec) error {
		spec.Name = rowName[id]
		m, err := bench.NewModel(spec, b)
		if err != nil {
			return fmt.Errorf("row %s: %w", id, err)
		}
		res, err := runPair(ctx, task, m, runCfg)
		if err != nil {
			return fmt.Errorf("%s on row %s: %w", task.Name(), id, err)
		}
		printResult(res)
		results = append(results, res)
		return nil
	}
	if err := run(zsTask, "init", bench.ModelSpec{Kind: "siglip", Path: o.TowerDir}); err != nil {
		return err
	}
	for _, m := range rows {
		spec := bench.ModelSpec{Kind: "dualtoken", Path: o.RowDir(m.ID)}
		if err := run(zsTask, m.ID, spec); err != nil {
			return err
		}
		if m.Decode {
			if err := run(rcTask, m.ID, spec); err != nil {
				return err
			}
		}
	}
	evalWall := time.Since(evalStart).Seconds()

	// The table.
	spec := table3Spec()
	matches := map[string]string{}
	for id, n := range rowName {
		matches[n] = rowPaper[id]
	}
	towerWall := towerTrainingSeconds(o.TowerDir)
	t := reports.Build(spec, results, matches)
	t.Notes = append(t.Notes, c.notes(o, tower.Config, records, trainWall, evalWall, towerWall)...)
	if err := t.Render(os.Stdout, "text"); err != nil {
		return err
	}
	for _, f := range []string{"txt", "md", "csv", "json"} {
		format := map[string]string{"txt": "text", "md": "markdown", "csv": "csv", "json": "json"}[f]
		fh, err := os.Create(filepath.Join(c.Out, "table3."+f))
		if err != nil {
			return err
		}
		err = t.Render(fh, format)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	var plots []string
	if err := os.MkdirAll(filepath.Join(c.Out, "plots"), 0o755); err != nil {
		return err
	}
	for _, col := range t.Columns {
		p, err := reports.Bars(filepath.Join(c.Out, "plots"), t, col)
		if err != nil {
			return err
		}
		if p != nil {
			plots = append(plots, p.Files...)
		}
	}
	fmt.Printf("Saved %s and plots %s\n", filepath.Join(c.Out, "table3.{txt,md,csv,json}"), strings.Join(plots, ", "))
	return nil
}

// table3Spec is the paper's Table 3 with our codebook-usage column added
// (the paper logs usage but does not print it in Table 3).
func table3Spec() reports.TableSpec {
	for _, s := range reports.Tables() {
		if s.ID == "table3" {
			s.Columns = append(append([]reports.Column(nil), s.Columns...),
				reports.Column{Label: "Usage %", Task: recon.Name, Metric: "codebook_usage", HigherIsBetter: true})
			s.Title = "Table 3 (tiny study on the procedural world vs the paper's So/14-384): where reconstruction and semantic losses apply"
			return s
		}
	}
	panic("reports has no table3")
}

func (c *ablationCmd) notes(o train.StudyOptions, tower *siglip.Config, recs map[string]*train.RowRecord, trainWall, evalWall, towerWall float64) []string {
	v := tower.Vision
	g := v.ImageSize / v.PatchSize
	fc, _ := train.StudyConfig(tower, o.Codes, o.Depth)
	lp := "LPIPS was NOT used in training: the official VGG16 and LPIPS head weights cannot be downloaded here (pass --lpips-vgg/--lpips-lin), and stand-in weights would not be LPIPS."
	if o.LPIPSVGG != "" {
		lp = "LPIPS (VGG16, " + filepath.Base(o.LPIPSVGG) + " + " + filepath.Base(o.LPIPSLin) + ") weighted 1 in rows a–d, as the paper."
	}
	if o.GANFrom >= 1 {
		lp += " GAN off (--gan-from 1): the objective is 5·MSE + 5·commit (+ LPIPS when given, + the semantic terms)."
	} else {
		lp += fmt.Sprintf(" PatchGAN from %.0f%% of the steps, generator term g_w·0.75·L_G with the adaptive weight clamped to [0.3, 10]", 100*o.GANFrom)
		if o.LPIPSVGG == "" {
			lp += " (without LPIPS in its numerator it sits at the 0.3 floor)"
		}
		if o.Epochs > 0 {
			lp += "; the discriminator has its own Adam and its loss is weighted 0.75 after the first GAN epoch."
		} else {
			lp += "; the discriminator has its own Adam; no epochs (--epochs 0), so its loss keeps weight 1 and it is never re-created."
		}
	}
	if o.Augment {
		lp += fmt.Sprintf(" Augmentation: RandomResizedCrop (scale 0.9–1.0, bicubic) from %d px renders.", o.AugmentSize)
	}
	n := []string{
		fmt.Sprintf("Scale: ours is a %d-layer, %d-wide SigLIP on %d px world scenes (%d×%d tokens); the paper's layers 6 and 26 of 27 are layers %d and %d here. ",
			v.NumLayers, v.HiddenSize, v.ImageSize, g, g, fc.LayerRecon, fc.LayerSem) +
			fmt.Sprintf("Codebooks %d codes × depth %d per branch, code dim 8; rows a–d trained %d steps of %d×%d×%d images from the same initial state (row q: %d steps).",
				o.Codes, o.Depth, o.Steps, o.MicroBatch, o.Accum, max(o.AccumSteps, 1), o.QSteps),
		lp,
		"ZS: the world's 24 shape×colour classes, 80 OpenAI templates, held-out seed 2026 (the harness's ImageNet-style suite); for the semantic rows on the quantised path, for (b) and (c), which have no semantic branch, on the continuous tower after their reconstruction-only training (the paper reports none).",
		fmt.Sprintf("PSNR/SSIM: the reconstruction suite on held-out 64 px scenes resized and cropped to %d px, uint8; Usage: share of the pixel codebook hit, pooled over depths.", v.ImageSize),
	}
	if c.Inception == "" {
		n = append(n, "rFID: not computed (pytorch-fid's Inception weights are not available offline; pass --inception FILE).")
	}
	wall := fmt.Sprintf("Wall time on this machine: row trainings %.0f s (as each row's training.json records it: the invocation that finished the row), evaluation %.0f s this run", trainWall, evalWall)
	if towerWall > 0 {
		wall += fmt.Sprintf(", the initial tiny SigLIP's training %.0f s (its training.json): the study from scratch ≈ %.1f min", towerWall, (towerWall+trainWall+evalWall)/60)
	}
	n = append(n, wall+".")
	for _, id := range []string{"q", "a", "b", "c", "d"} {
		if r, ok := recs[id]; ok {
			n = append(n, fmt.Sprintf("Row %s final training metrics (mean of the last 20 steps): %s", id, fmtMetrics(r.Final)))
		}
	}
	return n
}

func fmtMetrics(m map[string]float64) string {
	var parts []string
	for _, k := range []string{"loss", "mse", "sem_layer", "sem_pooled", "commit_pix", "commit_sem", "gen", "disc", "gen_weight"} {
		if v, ok := m[k]; ok && v != 0 && !math.IsNaN(v) {
			parts = append(parts, fmt.Sprintf("%s %.4g", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// checkInputs loads every input file the study will read — the tower given
// by --tower (as the harness's siglip kind, with its tokenizer: the initial
// state's zero-shot row), the Inception weights of --inception and the
// LPIPS weights — so that a missing or wrong file stops the study before it
// trains rows or writes recipe.json. The shipped tower needs no check.
func (c *ablationCmd) checkInputs(b compute.Backend) error {
	if c.Tower != "" {
		if st, err := os.Stat(c.Tower); err != nil {
			return usageErr("--tower: %v", err)
		} else if !st.IsDir() {
			return usageErr("--tower %s: a file, but the initial state is an HF SigLIP folder (config.json, model.safetensors, spiece.model, tokenizer.model or tokenizer.json)", c.Tower)
		}
		if tokenizer.SiglipTokenizerIn(c.Tower) == "" {
			return usageErr("--tower %s: no spiece.model (SigLIP), tokenizer.model or tokenizer.json (SigLIP2's Gemma tokenizer): the initial state's zero-shot row needs its text tokenizer", c.Tower)
		}
		if _, err := bench.NewModel(bench.ModelSpec{Name: "init", Kind: "siglip", Path: c.Tower}, b); err != nil {
			return usageErr("--tower: %v", err)
		}
	}
	if c.Inception != "" {
		if st, err := os.Stat(c.Inception); err != nil {
			return usageErr("--inception: %v (pytorch-fid's %s)", err, inception.WeightsFile)
		} else if st.IsDir() {
			return usageErr("--inception %s: a folder, want pytorch-fid's weights file %s", c.Inception, inception.WeightsFile)
		}
		if _, err := inception.Open(b, c.Inception); err != nil {
			return usageErr("--inception: %v", err)
		}
	}
	if c.LPIPSVGG != "" {
		if err := lpips.LoadFiles(model.NewStore().RootScope(), c.LPIPSVGG, c.LPIPSLin); err != nil {
			return usageErr("--lpips-vgg/--lpips-lin: %v", err)
		}
	}
	return nil
}

// checkRecipe refuses to mix a finished row's export with another recipe.
func (c *ablationCmd) checkRecipe(o train.StudyOptions) error {
	path := filepath.Join(c.Out, "recipe.json")
	recipe := map[string]any{"steps": o.Steps, "q_steps": o.QSteps, "batch": o.MicroBatch, "accum": o.Accum, "accum_steps": o.AccumSteps,
		"epochs": o.Epochs, "disc_restart_epochs": o.DiscRestartEpochs, "augment": o.Augment, "augment_size": o.AugmentSize,
		"codes": o.Codes, "depth": o.Depth, "lr": o.LR, "seed": o.Seed, "tower": towerIdentity(o.TowerDir), "lpips": o.LPIPSVGG != "", "gan_from": o.GANFrom, "dtype": precision.Compute(o.DType).String()}
	cur, _ := json.Marshal(recipe)
	if old, err := os.ReadFile(path); err == nil {
		if string(old) != string(cur) {
			return usageErr("--out %s was made with another recipe (%s): use a fresh --out, or the flags it was made with", c.Out, recipeDiff(path, old, cur))
		}
		return nil
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, cur, 0o644)
}

// recipeDiff names the recipe keys that differ, "key old → new" (a key
// missing on one side shows as "none"), or says the old file is unreadable.
func recipeDiff(path string, old, cur []byte) string {
	var was, now map[string]any
	if err := json.Unmarshal(old, &was); err != nil {
		return fmt.Sprintf("%s is not a recipe: %v", path, err)
	}
	_ = json.Unmarshal(cur, &now)
	var diffs []string
	show := func(m map[string]any, k string) string {
		v, ok := m[k]
		if !ok {
			return "none"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	keys := map[string]bool{}
	for k := range was {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if a, b := show(was, k), show(now, k); a != b {
			diffs = append(diffs, fmt.Sprintf("%s %s → %s", k, a, b))
		}
	}
	if len(diffs) == 0 {
		return "same values, written differently"
	}
	return filepath.Base(path) + " has " + strings.Join(diffs, ", ")
}

func towerIdentity(dir string) string {
	h, err := bench.FileSHA256(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return dir
	}
	return h[:16]
}

// towerTrainingSeconds reads the tiny SigLIP's training.json wall time (0 if absent).
func towerTrainingSeconds(dir string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, "training.json"))
	if err != nil {
		return 0
	}
	var r struct {
		Wall float64 `json:"wall_seconds"`
	}
	if json.Unmarshal(b, &r) != nil {
		return 0
	}
	return r.Wall
}

// demoData writes a suite's world data once (held-out seed 2026) and returns its options.
func (c *ablationCmd) demoData(name string, write func(dir string, seed uint64, n, size int) error, size int) (bench.Options, error) {
	dir := filepath.Join(c.Out, "data", name)
	return bench.Options{Data: dir}, writeOnce(dir, func() error { return write(dir, 2026, c.EvalImages, size) })
}

// writeOnce runs write unless dir holds a completion marker from an earlier run.
func writeOnce(dir string, write func() error) error {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := write(); err != nil {
		return err
	}
	return os.WriteFile(marker, nil, 0o644)
}
