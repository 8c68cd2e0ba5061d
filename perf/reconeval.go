package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/models"
	"github.com/dualtoken/evalharness/bench/recon"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/world"
)

// ReconEvalComponent is the end-to-end reconstruction evaluation: the recon
// task's own Predict (bench/recon: decode, crop, tokenizer Reconstruct,
// PSNR and both SSIMs, JPEG q95 round trips, Inception pool3 of ground truth
// and reconstruction) on images in files, batches scheduled by the runner's
// own bench.RunBatches, and the predictions written as `evalrun run` writes
// them.
const ReconEvalComponent = "recon-eval"

// The stages of a recon-eval batch: bench/recon's, then writing the
// predictions.
const (
	stLoad = iota
	stReconstruct
	stMetrics
	stJPEG
	stInception
	stRecords
	stWrite
	numStages
)

// StageNames are the recon-eval stages as the JSON names them.
var StageNames = [numStages]string{recon.StageLoad, recon.StageReconstruct, recon.StageMetrics, recon.StageJPEG,
	recon.StageInception, recon.StageRecords, "write_predictions"}

var deviceStage = [numStages]bool{stReconstruct: true, stInception: true}

// sourceQuality is the JPEG quality of the synthetic source images (ImageNet
// val files are mostly written at about this quality).
const sourceQuality = 90

// minSources is the fewest distinct source files; batches cycle through
// max(minSources, 2×batch) of them, so that the next batch's files differ
// from the current one's and the runner decodes them ahead.
const minSources = 64

// ReconEvalReport is what the recon-eval component measured beyond the
// common timing (Result.ReconEval). Batches 0..warmup are untimed; the rate
// is the timed images over the window between the completion of the last
// untimed batch and that of the last batch. A stage's time per image is its
// busy time on the timed batches (each batch's whole interval in that stage)
// over the timed images. The stages are those of bench/recon's
// PredictStaged plus the runner's writing of the predictions; the stage
// times sum to Busy + Overlap over the timed span (first start of a timed
// batch's stage to the last completion), and each alone fits in that span.
type ReconEvalReport struct {
	Overlapped  bool    `json:"overlapped"`   // batches ran as `evalrun run` runs them (false: --no-overlap, each batch's Predict in turn)
	Images      int     `json:"images"`       // images through every stage (first and warm-up batches included)
	TimedImages int     `json:"timed_images"` // images completed inside the timed window
	Window      float64 `json:"window_s"`     // the timed window's wall time
	ImgPerS     float64 `json:"img_per_s"`    // TimedImages / Window: the end-to-end rate
	SumPerImage float64 `json:"stage_sum_s_per_image"`
	// SequentialEstimate is 1/SumPerImage: the rate if the same stage times
	// ran one after another (an estimate; --no-overlap measures it).
	SequentialEstimate float64            `json:"sequential_estimate_img_per_s"`
	DevicePerImage     float64            `json:"device_s_per_image"` // reconstruct + inception (with its host preprocessing)
	HostPerImage       float64            `json:"host_s_per_image"`   // the other stages
	DeviceBound        float64            `json:"device_bound_img_per_s"`
	Bottleneck         string             `json:"bottleneck"`   // the stage with the most busy time
	Span               float64            `json:"timed_span_s"` // first start of a timed batch's stage to the last completion
	Busy               float64            `json:"busy_s"`       // timed-span time with at least one stage busy
	Overlap            float64            `json:"overlap_s"`    // ∫ (busy stages − 1)⁺ dt over the timed span
	Idle               float64            `json:"idle_s"`       // timed-span time with no stage busy
	StagePerImage      map[string]float64 `json:"stage_s_per_image"`
	// StageBatchMedian is each stage's median busy time per batch over the
	// timed batches.
	StageBatchMedian map[string]float64 `json:"stage_batch_median_s"`
	FirstTokenizer   float64            `json:"first_tokenizer_call_s"` // first Reconstruct (compile included)
	FirstInception   float64            `json:"first_inception_call_s"`
	CompileTokenizer float64            `json:"compile_tokenizer_s"` // first call minus the median batch
	CompileIncept    float64            `json:"compile_inception_s"`
	MetricImages     int                `json:"metric_images"` // records with PSNR and SSIM
	FeatureRows      int                `json:"feature_rows"`  // records with Inception features of the ground truth and the reconstruction
	// MeanPSNR and MeanSSIM are of random weights' reconstructions: they show
	// the metrics ran, not the tokenizer's quality.
	MeanPSNR float64 `json:"psnr_mean"`
	MeanSSIM float64 `json:"ssim_mean"`
}

// DualTokenReconstruct is the FLOPs of one image through Model.Reconstruct:
// patch embedding, the tower layers the pixel codes depend on (layer_recon
// and the shortcut layer; layer_sem when the pixels decode from the semantic
// codes), the prequant projection(s) and quantiser of that branch, then
// DualTokenDecode. Nothing else is in that graph (dualtoken.Options
// SkipSemantic leaves out the semantic branch and the deeper layers), so
// nothing else is counted.
func DualTokenReconstruct(fc *dualtoken.FullConfig) float64 {
	c, v := fc.Config, &fc.Tower.Vision
	n, d := v.NumPatches(), v.HiddenSize
	layers := max(c.LayerRecon, c.LayerShortcut)
	if fc.ReconFromSemantic {
		layers = c.LayerSem
	}
	f := Matmul(n, d, v.NumChannels*v.PatchSize*v.PatchSize) + float64(layers)*encoderLayer(n, d, v.IntermediateSize)
	if fc.ReconFromSemantic {
		f += projection(c, c.Sem, c.HiddenSize, c.Sem.EmbedDim, false) + quantizer(c.Sem)
	} else {
		f += projection(c, c.Pix, c.HiddenSize, c.Pix.EmbedDim, false) + quantizer(c.Pix)
		if c.HasShortcut() {
			f += projection(c, c.Pix, c.HiddenSize, c.Pix.EmbedDim, false)
		}
	}
	return f + DualTokenDecode(fc)
}

// span is one batch's busy interval in one stage.
type span struct {
	batch      int
	start, end time.Time
}

// reconEval is the prepared workload.
type reconEval struct {
	task    *recon.Task
	model   *models.DualToken
	dtm     *dualtoken.Model
	net     *inception.Net
	dir     string   // the source images and the predictions file
	preds   *os.File // predictions, written as the runner writes them
	batches [][]bench.Item
	batch   int
	total   int // batches: first + warm-up + timed
	warmup  int
	overlap bool

	mu      sync.Mutex
	spans   [numStages][]span
	done    []time.Time // completion of each batch (its records written)
	psnr    float64
	ssim    float64
	metricN int
	featN   int

	next      int // sequential mode: the next batch
	stepped   int // pipelined mode: completions waited for
	started   bool
	cancel    context.CancelFunc
	completed chan int
	finished  chan error // the pipeline's end
	closeOnce sync.Once
}

func buildReconEval(b compute.Backend, o Options) (*Workload, error) {
	w, _, err := newReconEval(b, o)
	return w, err
}

func newReconEval(b compute.Backend, o Options) (*Workload, *reconEval, error) {
	if o.Layers > 0 {
		return nil, nil, badOptions("--layers does not apply to %s: the taps fix the tower depth", o.Component)
	}
	fc, err := DualTokenConfig(o.Preset)
	if err != nil {
		return nil, nil, err
	}
	if out := fc.Decoder.Resolution; out != fc.Tower.Vision.ImageSize {
		return nil, nil, fmt.Errorf("recon-eval %s: the decoder writes %d px images but the tower reads %d px: PSNR needs equal sizes", o.Preset, out, fc.Tower.Vision.ImageSize)
	}
	start := time.Now()
	tower, err := siglip.NewBenchRandom(fc.Tower, o.Seed)
	if err != nil {
		return nil, nil, err
	}
	m := dualtoken.NewModel(b, fc)
	owned := false // once e holds m, e's release frees it
	defer func() {
		if !owned {
			m.Reset()
		}
	}()
	if err := m.Init(tower, o.Seed+1); err != nil {
		return nil, nil, err
	}
	if err := m.SetDType(o.DType); err != nil {
		return nil, nil, err
	}
	view := m.Siglip()
	if err := view.SetScanLayers(o.ScanLayers); err != nil {
		return nil, nil, err
	}
	net, err := inception.New(b, inception.FormulaWeights(inception.StateDictSpecs()))
	if err != nil {
		return nil, nil, err
	}
	S := fc.Tower.Vision.ImageSize
	total := 1 + o.Warmup + o.Iters
	e := &reconEval{dtm: m, net: net, batch: o.Batch, total: total, warmup: o.Warmup, overlap: !o.NoOverlap,
		completed: make(chan int, total), finished: make(chan error, 1)}
	owned = true
	fail := func(err error) (*Workload, *reconEval, error) {
		e.release()
		return nil, nil, err
	}
	if e.dir, err = os.MkdirTemp("", "recon-eval-"); err != nil {
		return fail(err)
	}
	imgDir := filepath.Join(e.dir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return fail(err)
	}
	var srcBytes, sources int
	for i := range max(minSources, 2*o.Batch) {
		var buf bytes.Buffer
		if err := imageio.EncodeJPEG(&buf, world.Generate(o.Seed+3, i).Image(S), sourceQuality); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(imgDir, fmt.Sprintf("%05d.jpg", i)), buf.Bytes(), 0o644); err != nil {
			return fail(err)
		}
		srcBytes += buf.Len()
		sources++
	}
	t, err := bench.New(recon.Name, bench.Options{Data: imgDir,
		Extra: map[string]string{"jpeg": "q95", "fid_mode": inception.Clean.String()}})
	if err != nil {
		return fail(err)
	}
	e.task = t.(*recon.Task)
	e.task.UseInception(net)
	e.task.SetTrace(e.trace)
	items, err := e.task.Items()
	if err != nil {
		return fail(err)
	}
	// In the pipeline one more batch follows the timed ones, untimed: a
	// batch's records are written once the next batch's reconstruction has
	// run, so without it the last timed batch would come early.
	nb := total
	if e.overlap {
		nb++
	}
	for k := range nb {
		batch := make([]bench.Item, o.Batch)
		for i := range batch {
			batch[i] = items[(k*o.Batch+i)%len(items)]
		}
		e.batches = append(e.batches, batch)
	}
	e.model = models.NewDualTokenFrom(m, o.Batch, bench.ModelInfo{Name: "random " + o.Preset})
	if e.preds, err = os.Create(filepath.Join(e.dir, "predictions.jsonl")); err != nil {
		return fail(err)
	}
	v := &fc.Tower.Vision
	_, q := fc.PixelQuantizer()
	incStore := net.Store()
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "img/s", ItemsPerCall: float64(o.Batch),
		// Inception runs on the ground truth and the reconstruction.
		FLOPsPerCall: float64(o.Batch) * (DualTokenReconstruct(fc) + 2*Inception(inception.InputSize)),
		Params:       storeParams(m.Store) + storeParams(incStore),
		Config: map[string]any{"tower_width": v.HiddenSize, "tower_layers": v.NumLayers, "image": S, "patch": v.PatchSize,
			"grid": fc.Grid(), "depth": q.Depth(), "codes": q.NEmbed, "output": fc.Decoder.Resolution,
			"layer_recon": fc.LayerRecon, "layer_sem": fc.LayerSem, "overlapped": e.overlap,
			"source_images": sources, "source_jpeg_quality": sourceQuality, "source_jpeg_bytes_mean": srcBytes / max(1, sources),
			"fid_mode": inception.Clean.String(), "fid_jpeg": "q95", "inception_weight_bytes": precision.Bytes(incStore.IterVariables()),
			"batches": total},
		Notes: append([]string{
			fmt.Sprintf("end-to-end reconstruction evaluation through the recon task's own code (bench/recon PredictStaged, batches scheduled by bench.RunBatches as `evalrun run` does: the next batch's files decoded ahead, a batch's metrics and Inception running beside the next batch's reconstruction): %d procedural scenes (package world) rendered at %d px and written as JPEG q%d files, read and decoded every batch, shorter-side crop; the dualtoken model's Reconstruct (SigLIP pixels, tower to the taps, pixel quantiser, decoder, uint8 images); PSNR, SSIM (Wang) and SSIM (torchmetrics); JPEG q95 round trips of ground truth and reconstruction and one Inception pool3 call on both (clean-fid resize to 299); records packed and written to a predictions file. rFID itself is computed when scoring, from the saved features", sources, S, sourceQuality),
			"real ImageNet files are larger than the tokenizer's input (about 500×375): their decode and resize cost more host time than these",
			"inception runs float32 whatever --dtype, with formula weights at pytorch-fid's shapes, on the tokenizer's backend (as in a real run)",
		}, precisionNotes(o.DType)...),
		DType: o.DType,
	}
	if e.overlap {
		w.Notes = append(w.Notes, "a batch's records are written once the next batch's reconstruction has run, so one untimed batch follows the timed ones")
	} else {
		w.Notes = append(w.Notes, "--no-overlap: each batch's Predict runs whole, then its predictions are written, one batch at a time, no images decoded ahead")
	}
	weightBytes(w, m.Store, view.StackedBytes())
	w.SetupSeconds = time.Since(start).Seconds()
	w.Step = e.step
	w.Close = e.close
	w.Report = e.report
	return w, e, nil
}

// trace is the recon task's stage callback. Each stage sees the batches in
// order (the runner keeps them in order), so a stage's n-th call is batch n
// (a batch none of whose images loaded would skip the later stages and shift
// them; recon-eval's sources are files it wrote).
func (e *reconEval) trace(stage string, start time.Time, _ int) {
	end := time.Now()
	st := slices.Index(StageNames[:], stage)
	if st < 0 {
		return
	}
	e.mu.Lock()
	e.spans[st] = append(e.spans[st], span{len(e.spans[st]), start, end})
	e.mu.Unlock()
}

// write is the runner's emit: the batch's records as JSON lines to the
// predictions file, and the counts the report gives.
func (e *reconEval) write(k int, recs []bench.Record) error {
	start := time.Now()
	var buf []byte
	for i, r := range recs {
		r.ID = e.batches[k][i].ID
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	if _, err := e.preds.Write(buf); err != nil {
		return err
	}
	e.trace(StageNames[stWrite], start, len(recs))
	e.mu.Lock()
	defer e.mu.Unlock()
	if k >= e.total { // the trailing batch
		return nil
	}
	for _, r := range recs {
		var p struct {
			PSNR    *float64 `json:"psnr"`
			SSIM    *float64 `json:"ssim_wang"`
			FeatRef string   `json:"feat_ref"`
			FeatRec string   `json:"feat_rec"`
		}
		if r.Error != "" || json.Unmarshal(r.Pred, &p) != nil {
			continue
		}
		if p.PSNR != nil && p.SSIM != nil {
			e.psnr, e.ssim, e.metricN = e.psnr+*p.PSNR, e.ssim+*p.SSIM, e.metricN+1
		}
		if p.FeatRef != "" && p.FeatRec != "" {
			e.featN++
		}
	}
	e.done = append(e.done, time.Now())
	return nil
}

// step completes one batch: in the pipeline, waits for the next completion
// (starting the pipeline at the first call); without overlap, runs it.
func (e *reconEval) step() error {
	if !e.overlap {
		if e.next >= e.total {
			return fmt.Errorf("recon-eval: all %d batches done", e.total)
		}
		k := e.next
		e.next++
		recs, err := e.task.Predict(context.Background(), e.model, e.batches[k])
		if err != nil {
			return fmt.Errorf("recon-eval, batch %d: %w", k, err)
		}
		return e.write(k, recs)
	}
	if e.stepped >= e.total {
		return fmt.Errorf("recon-eval: all %d batches done", e.total)
	}
	e.stepped++
	if !e.started {
		e.started = true
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		go func() {
			e.finished <- bench.RunBatches(ctx, e.task, e.model, e.batches, func(k int, recs []bench.Record) error {
				if err := e.write(k, recs); err != nil {
					return err
				}
				if k < e.total {
					e.completed <- k
				}
				return nil
			})
		}()
	}
	select {
	case <-e.completed:
		return nil
	case err := <-e.finished:
		e.finished <- err // for close
		// A completion may have raced the end of the pipeline.
		select {
		case <-e.completed:
			return nil
		default:
		}
		if err == nil {
			err = errors.New("recon-eval: the pipeline ended early")
		}
		return err
	}
}

// close stops the pipeline (if a step failed midway) and frees the models
// and the files.
func (e *reconEval) close() {
	e.closeOnce.Do(func() {
		if e.cancel != nil {
			e.cancel()
			<-e.finished
		}
		e.release()
	})
}

func (e *reconEval) release() {
	if e.preds != nil {
		e.preds.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
	if e.dtm != nil {
		e.dtm.Reset()
	}
	if e.net != nil {
		e.net.Finalize()
	}
}

// report fills Result.ReconEval and replaces the compile estimate (first
// batch minus a step, which in a pipeline also counts the first batch's
// trip through every stage) with the two graphs' own first-call costs.
func (e *reconEval) report(r *Result) {
	if e.started {
		// The trailing batch ends first (so the peak matmul measured next
		// has the device to itself); close reads the result again.
		err := <-e.finished
		e.finished <- err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var spans [numStages][]span // the trailing batch's are not reported
	for st := range spans {
		for _, sp := range e.spans[st] {
			if sp.batch < e.total {
				spans[st] = append(spans[st], sp)
			}
		}
	}
	rep := buildReconReport(spans, e.done, e.warmup, e.batch)
	rep.Overlapped = e.overlap
	rep.Images = len(e.done) * e.batch
	rep.MetricImages, rep.FeatureRows = e.metricN, e.featN
	if e.metricN > 0 {
		rep.MeanPSNR, rep.MeanSSIM = e.psnr/float64(e.metricN), e.ssim/float64(e.metricN)
	}
	r.ReconEval = rep
	r.CompileSeconds = rep.CompileTokenizer + rep.CompileIncept
	r.CompileMethod = "first Reconstruct and first Inception call, each minus its median batch time"
}

// buildReconReport derives the report's timing from the stage spans and the
// batch completions. Batches 0..warmup are untimed; the rate's window runs
// from the completion of batch warmup to that of the last batch. Stage costs
// are the timed batches' whole busy intervals; busy, overlap and idle are
// taken over the timed span, from the first start of a timed batch's stage
// to the last completion.
func buildReconReport(spans [numStages][]span, done []time.Time, warmup, batch int) *ReconEvalReport {
	rep := &ReconEvalReport{StagePerImage: map[string]float64{}, StageBatchMedian: map[string]float64{}}
	if len(done) <= warmup+1 {
		return rep
	}
	t0, t1 := done[warmup], done[len(done)-1]
	rep.Window = t1.Sub(t0).Seconds()
	rep.TimedImages = (len(done) - warmup - 1) * batch
	if rep.Window > 0 {
		rep.ImgPerS = float64(rep.TimedImages) / rep.Window
	}
	type event struct {
		at    time.Time
		delta int
	}
	var events []event
	var most float64
	start := t1
	for st := range numStages {
		var busy float64
		var timed []float64
		for _, s := range spans[st] {
			if s.batch <= warmup {
				continue
			}
			d := s.end.Sub(s.start).Seconds()
			busy += d
			timed = append(timed, d)
			events = append(events, event{s.start, 1}, event{s.end, -1})
			if s.start.Before(start) {
				start = s.start
			}
		}
		per := busy / float64(rep.TimedImages)
		name := StageNames[st]
		rep.StagePerImage[name] = per
		rep.SumPerImage += per
		if deviceStage[st] {
			rep.DevicePerImage += per
		} else {
			rep.HostPerImage += per
		}
		if busy > most {
			most, rep.Bottleneck = busy, name
		}
		if len(timed) > 0 {
			slices.Sort(timed)
			rep.StageBatchMedian[name] = median(timed)
		}
	}
	rep.Span = t1.Sub(start).Seconds()
	first := func(st int) float64 {
		for _, s := range spans[st] {
			if s.batch == 0 {
				return s.end.Sub(s.start).Seconds()
			}
		}
		return 0
	}
	rep.FirstTokenizer, rep.FirstInception = first(stReconstruct), first(stInception)
	rep.CompileTokenizer = max(0, rep.FirstTokenizer-rep.StageBatchMedian[StageNames[stReconstruct]])
	rep.CompileIncept = max(0, rep.FirstInception-rep.StageBatchMedian[StageNames[stInception]])
	if rep.SumPerImage > 0 {
		rep.SequentialEstimate = 1 / rep.SumPerImage
	}
	if rep.DevicePerImage > 0 {
		rep.DeviceBound = 1 / rep.DevicePerImage
	}
	// Sweep the intervals: time with at least one stage busy, and the excess
	// of concurrent stages; ends sort before starts at equal instants.
	slices.SortFunc(events, func(a, b event) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	active := 0
	for i, ev := range events {
		if i > 0 && active > 0 {
			dt := ev.at.Sub(events[i-1].at).Seconds()
			rep.Busy += dt
			rep.Overlap += float64(active-1) * dt
		}
		active += ev.delta
	}
	rep.Idle = math.Max(0, rep.Span-rep.Busy)
	return rep
}

// writeReconEval prints the end-to-end rate and the stage breakdown.
func writeReconEval(w io.Writer, re *ReconEvalReport) {
	mode := "as evalrun run"
	if !re.Overlapped {
		mode = "no overlap"
	}
	fmt.Fprintf(w, "  end to end (%s): %.2f img/s over %d timed images in %.2f s (%d images in all); stage sum %.2f ms/img (sequential estimate %.2f img/s), device %.2f ms/img (bound %.2f img/s), bottleneck %s\n",
		mode, re.ImgPerS, re.TimedImages, re.Window, re.Images, 1e3*re.SumPerImage, re.SequentialEstimate, 1e3*re.DevicePerImage, re.DeviceBound, re.Bottleneck)
	fmt.Fprintf(w, "  stages, ms/img (median ms/batch):")
	for _, n := range StageNames {
		fmt.Fprintf(w, " %s %.2f (%.1f);", n, 1e3*re.StagePerImage[n], 1e3*re.StageBatchMedian[n])
	}
	fmt.Fprintf(w, " timed span %.2f s: busy %.2f s, overlap %.2f s, idle %.2f s\n", re.Span, re.Busy, re.Overlap, re.Idle)
	fmt.Fprintf(w, "  first calls: tokenizer %.2f s, inception %.2f s (compile ≈ %.2f + %.2f s); PSNR/SSIM of %d images, %d FID feature rows\n",
		re.FirstTokenizer, re.FirstInception, re.CompileTokenizer, re.CompileIncept, re.MetricImages, re.FeatureRows)
}
