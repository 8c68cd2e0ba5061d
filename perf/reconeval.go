package perf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/model/dualtoken"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip"
	"github.com/dualtoken/evalharness/world"
)

// ReconEvalComponent is the end-to-end reconstruction evaluation: the work
// bench/recon does per batch (decode, crop, tokenizer Reconstruct, uint8
// images, PSNR and both SSIMs, JPEG q95 round trip, clean-fid resize,
// Inception pool3, FID statistics) as one pipelined loop.
const ReconEvalComponent = "recon-eval"

// The stages of a recon-eval batch, in pipeline order.
const (
	stDecode     = iota // host: JPEG decode, shorter-side crop, SigLIP pixels
	stTokenizer         // device: Model.Reconstruct, images and codes to the host
	stToUint8           // host: float images to uint8 (eval.py's rounding), codes to int32
	stPSNRSSIM          // host: PSNR, SSIM (Wang) and SSIM (torchmetrics) per image
	stIncPrep           // host: JPEG q95 round trip, clean-fid resize to 299, normalise
	stInception         // device: Inception pool3, features to the host
	stAccumulate        // host: fold the features into the FID mean and covariance
	numStages
)

// StageNames are the recon-eval stages as the JSON names them.
var StageNames = [numStages]string{"decode_preprocess", "tokenizer", "to_uint8", "psnr_ssim", "inception_prep", "inception", "fid_accumulate"}

var deviceStage = [numStages]bool{stTokenizer: true, stInception: true}

// sourceQuality is the JPEG quality of the synthetic source images (ImageNet
// val files are mostly written at about this quality).
const sourceQuality = 90

// maxSources caps the distinct source images held in memory; batches cycle
// through them.
const maxSources = 64

// ReconEvalReport is what the recon-eval component measured beyond the
// common timing (Result.ReconEval). Batches 0..warmup are untimed; the rate
// is the timed images over the window between the completion of the last
// untimed batch and that of the last batch. A stage's time per image is its
// busy time on the timed batches (each batch's whole interval in that stage)
// over the timed images. Each stage is one goroutine (parallel inside over
// the batch's images), so the stage times sum to Busy + Overlap over the
// timed span (first start of a timed batch's stage to the last completion),
// and each alone fits in that span.
type ReconEvalReport struct {
	Overlapped  bool    `json:"overlapped"`   // stages ran as a pipeline (false: --no-overlap, one after another)
	Images      int     `json:"images"`       // images through every stage (first and warm-up batches included)
	TimedImages int     `json:"timed_images"` // images completed inside the timed window
	Window      float64 `json:"window_s"`     // the timed window's wall time
	ImgPerS     float64 `json:"img_per_s"`    // TimedImages / Window: the end-to-end rate
	SumPerImage float64 `json:"stage_sum_s_per_image"`
	// SequentialEstimate is 1/SumPerImage: the rate if the same stage times
	// ran one after another (an estimate; --no-overlap measures it).
	SequentialEstimate float64            `json:"sequential_estimate_img_per_s"`
	DevicePerImage     float64            `json:"device_s_per_image"` // tokenizer + inception
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
	MetricImages     int                `json:"metric_images"` // images with PSNR and SSIM computed
	FeatureRows      int                `json:"feature_rows"`  // rows in the FID statistics
	// MeanPSNR and MeanSSIM are of random weights' reconstructions: they show
	// the metrics ran, not the tokenizer's quality.
	MeanPSNR float64 `json:"psnr_mean"`
	MeanSSIM float64 `json:"ssim_mean"`
}

// DualTokenReconstruct is the FLOPs of one image through Model.Reconstruct:
// patch embedding, the tower layers the pixel codes depend on (layer_recon
// and the shortcut layer; layer_sem when the pixels decode from the semantic
// codes), the prequant projection(s) and quantiser of that branch, then
// DualTokenDecode. Nothing else reaches that graph's outputs (the semantic
// branch and the deeper layers are dead code there, which both backends
// prune), so nothing else is counted.
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

// reconBatch carries one batch through the stages.
type reconBatch struct {
	k    int
	gts  []*imageio.Image // ground truth at the tokenizer's input size
	px   []float32        // [B,3,S,S] SigLIP pixels
	rec  []float32        // [B,3,S',S'] reconstructions in [-1,1]
	recH int
	recW int
	code []int64          // [B,G,G,D] pixel codes
	imgs []*imageio.Image // uint8 reconstructions
	ids  [][]int32        // per-image codes, as the real run keeps them for the codebook statistics
	incX []float32        // [B,3,299,299]
	feat []float64        // [B,2048]
}

// reconEval is the prepared workload.
type reconEval struct {
	m         *dualtoken.Model
	inc       *model.Exec
	size      int
	batch     int
	total     int // batches: first + warm-up + timed
	warmup    int
	overlap   bool
	sources   [][]byte
	devMu     sync.Mutex
	spans     [numStages][]span
	done      []time.Time // completion of each batch (all its stages)
	acc       *metrics.StatsAccumulator
	psnr      float64
	ssim      float64
	metricN   int
	next      int // sequential mode: the next batch
	stepped   int // pipeline mode: completions waited for
	started   bool
	quit      chan struct{}
	quitOnce  sync.Once
	errMu     sync.Mutex
	err       error
	completed chan int
	wg        sync.WaitGroup
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
	incStore := model.NewStore()
	if err := inception.LoadVariables(incStore.RootScope(), inception.FormulaWeights(inception.StateDictSpecs())); err != nil {
		return nil, nil, err
	}
	inc, err := model.NewExec(b, incStore, func(scope *model.Scope, x *Node) *Node {
		pool3, _ := inception.Forward(scope, x)
		return pool3
	})
	if err != nil {
		return nil, nil, err
	}
	S := fc.Tower.Vision.ImageSize
	total := 1 + o.Warmup + o.Iters
	e := &reconEval{m: m, inc: inc, size: S, batch: o.Batch, total: total, warmup: o.Warmup, overlap: !o.NoOverlap,
		acc: metrics.NewStatsAccumulator(2048), quit: make(chan struct{}), completed: make(chan int, total)}
	var srcBytes int
	for i := range min(maxSources, total*o.Batch) {
		var buf bytes.Buffer
		if err := imageio.EncodeJPEG(&buf, world.Generate(o.Seed+3, i).Image(S), sourceQuality); err != nil {
			return nil, nil, err
		}
		e.sources = append(e.sources, buf.Bytes())
		srcBytes += buf.Len()
	}
	v := &fc.Tower.Vision
	_, q := fc.PixelQuantizer()
	w := &Workload{
		Component: o.Component, Preset: o.Preset, Batch: o.Batch, Unit: "img/s", ItemsPerCall: float64(o.Batch),
		FLOPsPerCall: float64(o.Batch) * (DualTokenReconstruct(fc) + Inception(inception.InputSize)),
		Params:       storeParams(m.Store) + storeParams(incStore),
		Config: map[string]any{"tower_width": v.HiddenSize, "tower_layers": v.NumLayers, "image": S, "patch": v.PatchSize,
			"grid": fc.Grid(), "depth": q.Depth(), "codes": q.NEmbed, "output": fc.Decoder.Resolution,
			"layer_recon": fc.LayerRecon, "layer_sem": fc.LayerSem, "overlapped": e.overlap,
			"source_images": len(e.sources), "source_jpeg_quality": sourceQuality, "source_jpeg_bytes_mean": srcBytes / len(e.sources),
			"fid_mode": inception.Clean.String(), "fid_jpeg": "q95", "inception_weight_bytes": precision.Bytes(incStore.IterVariables()),
			"batches": total},
		Notes: append([]string{
			fmt.Sprintf("end-to-end reconstruction evaluation as bench/recon runs it per batch: %d procedural scenes (package world) rendered at %d px, held as JPEG q%d in memory and decoded every batch (imageio), shorter-side crop and SigLIP pixels; Model.Reconstruct (tower to the taps, pixel quantiser, decoder) on the device; uint8 images; PSNR, SSIM (Wang) and SSIM (torchmetrics); JPEG q95 round trip and clean-fid resize to 299; Inception pool3 on the device; FID mean and covariance accumulated (metrics.StatsAccumulator). The reference set's features are precomputed once in a real run and are not part of this loop", len(e.sources), S, sourceQuality),
			"real ImageNet files are larger than the tokenizer's input (about 500×375): their decode and resize cost more host time than these",
			"inception runs float32 whatever --dtype, with the fixtures' formula weights at pytorch-fid's shapes",
		}, precisionNotes(o.DType)...),
		DType: o.DType,
	}
	if e.overlap {
		w.Notes = append(w.Notes, "pipelined: each stage is a goroutine fed by a one-batch channel (decode of the next batch, metrics of the previous batch and the device run at once); the two device graphs take turns on the device (one mutex); a step is the interval between two batch completions")
	} else {
		w.Notes = append(w.Notes, "--no-overlap: the stages of a batch run one after another, one batch at a time")
	}
	weightBytes(w, m.Store, view.StackedBytes())
	w.SetupSeconds = time.Since(start).Seconds()
	w.Step = e.step
	w.Close = e.close
	w.Report = e.report
	return w, e, nil
}

// fail records the first error and stops the pipeline.
func (e *reconEval) fail(err error) {
	e.errMu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.errMu.Unlock()
	e.quitOnce.Do(func() { close(e.quit) })
}

func (e *reconEval) firstErr() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.err
}

// run times stage st of batch k; device stages hold the device first, so
// their busy time is the device call and not the wait for the other graph.
func (e *reconEval) run(st int, rb *reconBatch, f func(*reconBatch) error) error {
	if deviceStage[st] {
		e.devMu.Lock()
		defer e.devMu.Unlock()
	}
	t0 := time.Now()
	err := f(rb)
	e.spans[st] = append(e.spans[st], span{rb.k, t0, time.Now()})
	if err != nil {
		return fmt.Errorf("recon-eval %s, batch %d: %w", StageNames[st], rb.k, err)
	}
	return nil
}

// step completes one batch: in the pipeline, waits for the next completion
// (starting the pipeline at the first call); without overlap, runs it.
func (e *reconEval) step() error {
	if !e.overlap {
		if e.next >= e.total {
			return fmt.Errorf("recon-eval: all %d batches done", e.total)
		}
		rb := &reconBatch{k: e.next}
		e.next++
		for st := range numStages {
			if err := e.run(st, rb, e.stage(st)); err != nil {
				return err
			}
		}
		e.done = append(e.done, time.Now())
		return nil
	}
	if e.stepped >= e.total {
		return fmt.Errorf("recon-eval: all %d batches done", e.total)
	}
	e.stepped++
	if !e.started {
		e.started = true
		e.start()
	}
	select {
	case <-e.completed:
		return nil
	case <-e.quit:
		// A completion may have raced the failure of a later batch.
		select {
		case <-e.completed:
			return nil
		default:
		}
		if err := e.firstErr(); err != nil {
			return err
		}
		return errors.New("recon-eval: the pipeline stopped")
	}
}

func (e *reconEval) stage(st int) func(*reconBatch) error {
	return [numStages]func(*reconBatch) error{e.decode, e.tokenize, e.toUint8, e.metrics, e.incPrep, e.inception, e.accumulate}[st]
}

// start launches one goroutine per stage. Channels hold one batch, so a
// stage works at most one batch ahead of the next; to_uint8 feeds both
// the metrics and the Inception branch.
func (e *reconEval) start() {
	ch := func() chan *reconBatch { return make(chan *reconBatch, 1) }
	decoded, tokenized, toMetrics, toPrep, prepped, featured := ch(), ch(), ch(), ch(), ch(), ch()
	finished := make(chan int, 2*e.total) // batch indices from the two last stages
	send := func(out chan *reconBatch, rb *reconBatch) bool {
		select {
		case out <- rb:
			return true
		case <-e.quit:
			return false
		}
	}
	// stage runs st on every batch from in, passing each to outs.
	stage := func(st int, in <-chan *reconBatch, outs ...chan *reconBatch) {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() {
				for _, o := range outs {
					close(o)
				}
			}()
			for rb := range in {
				if err := e.run(st, rb, e.stage(st)); err != nil {
					e.fail(err)
					return
				}
				for _, o := range outs {
					if !send(o, rb) {
						return
					}
				}
				if len(outs) == 0 {
					finished <- rb.k
				}
			}
		}()
	}
	source := make(chan *reconBatch)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(source)
		for k := range e.total {
			select {
			case source <- &reconBatch{k: k}:
			case <-e.quit:
				return
			}
		}
	}()
	stage(stDecode, source, decoded)
	stage(stTokenizer, decoded, tokenized)
	stage(stToUint8, tokenized, toMetrics, toPrep)
	stage(stPSNRSSIM, toMetrics)
	stage(stIncPrep, toPrep, prepped)
	stage(stInception, prepped, featured)
	stage(stAccumulate, featured)
	// A batch is complete when both ends (metrics, FID statistics) are done;
	// both process batches in order, so completions come in order.
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		seen := map[int]int{}
		for len(e.done) < e.total {
			select {
			case k := <-finished:
				if seen[k]++; seen[k] == 2 {
					delete(seen, k)
					e.done = append(e.done, time.Now())
					e.completed <- k
				}
			case <-e.quit:
				return
			}
		}
	}()
}

// close stops the pipeline (if a step failed midway) and frees the models.
func (e *reconEval) close() {
	e.quitOnce.Do(func() { close(e.quit) })
	e.wg.Wait()
	e.m.Reset()
	e.inc.Finalize()
}

func (e *reconEval) decode(rb *reconBatch) error {
	S, B := e.size, e.batch
	per := 3 * S * S
	rb.gts, rb.px = make([]*imageio.Image, B), make([]float32, B*per)
	errs := make([]error, B)
	bench.ParallelFor(B, func(i int) {
		img, err := imageio.DecodeBytes(e.sources[(rb.k*B+i)%len(e.sources)], "source.jpg")
		if err != nil {
			errs[i] = err
			return
		}
		rb.gts[i] = imageio.ShortSideCenterCrop(img, S)
		copy(rb.px[i*per:(i+1)*per], imageio.SiglipPixels(rb.gts[i], S))
	})
	return errors.Join(errs...)
}

func (e *reconEval) tokenize(rb *reconBatch) error {
	x := tensors.FromFlatDataAndDimensions(rb.px, e.batch, 3, e.size, e.size)
	defer x.FinalizeAll()
	rec, codes, err := e.m.Reconstruct(x)
	if err != nil {
		return err
	}
	defer rec.FinalizeAll()
	defer codes.FinalizeAll()
	d := rec.Shape().Dimensions
	rb.recH, rb.recW = d[2], d[3]
	if rb.rec, err = tensors.CopyFlatData[float32](rec); err != nil {
		return err
	}
	rb.code, err = tensors.CopyFlatData[int64](codes)
	return err
}

func (e *reconEval) toUint8(rb *reconBatch) error {
	B, h, w := e.batch, rb.recH, rb.recW
	if h != e.size || w != e.size {
		return fmt.Errorf("reconstructions are %dx%d, the ground truth %dx%d", h, w, e.size, e.size)
	}
	perImg, perCodes := 3*h*w, len(rb.code)/B
	rb.imgs, rb.ids = make([]*imageio.Image, B), make([][]int32, B)
	bench.ParallelFor(B, func(i int) {
		rb.imgs[i] = imageio.FromFloatCHW(rb.rec[i*perImg:(i+1)*perImg], h, w)
		c := make([]int32, perCodes)
		for j := range c {
			c[j] = int32(rb.code[i*perCodes+j])
		}
		rb.ids[i] = c
	})
	rb.rec, rb.code = nil, nil
	return nil
}

func (e *reconEval) metrics(rb *reconBatch) error {
	S, B := e.size, e.batch
	psnr, ssim := make([]float64, B), make([]float64, B)
	errs := make([]error, B)
	bench.ParallelFor(B, func(i int) {
		gt, rec := rb.gts[i].Pix, rb.imgs[i].Pix
		var e1, e2, e3 error
		psnr[i], e1 = metrics.PSNRPyiqaUint8(gt, rec, S, S, 3)
		ssim[i], e2 = metrics.SSIMUint8(gt, rec, S, S, 3, metrics.SSIMWang)
		_, e3 = metrics.SSIMUint8(gt, rec, S, S, 3, metrics.SSIMTorchmetrics)
		errs[i] = errors.Join(e1, e2, e3)
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := range B {
		e.psnr += psnr[i]
		e.ssim += ssim[i]
	}
	e.metricN += B
	return nil
}

// incPrep is recon's jpegRoundTrip (libjpeg-exact encoder at quality 95,
// as cv2.imwrite; imageio decoder) and clean-fid's resize of each
// reconstruction.
func (e *reconEval) incPrep(rb *reconBatch) error {
	B := e.batch
	per := 3 * inception.InputSize * inception.InputSize
	rb.incX = make([]float32, B*per)
	errs := make([]error, B)
	bench.ParallelFor(B, func(i int) {
		var buf bytes.Buffer
		if err := imageio.EncodeJPEG(&buf, rb.imgs[i], 95); err != nil {
			errs[i] = err
			return
		}
		img, err := imageio.DecodeBytes(buf.Bytes(), "roundtrip.jpg")
		if err != nil {
			errs[i] = err
			return
		}
		copy(rb.incX[i*per:(i+1)*per], inception.Preprocess(img, inception.Clean))
	})
	return errors.Join(errs...)
}

func (e *reconEval) inception(rb *reconBatch) error {
	x := tensors.FromFlatDataAndDimensions(rb.incX, e.batch, 3, inception.InputSize, inception.InputSize)
	defer x.FinalizeAll()
	out, err := e.inc.Exec(x)
	if err != nil {
		return err
	}
	defer out[0].FinalizeAll()
	f, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return err
	}
	rb.feat = make([]float64, len(f))
	for i, v := range f {
		rb.feat[i] = float64(v)
	}
	rb.incX = nil
	return nil
}

func (e *reconEval) accumulate(rb *reconBatch) error {
	err := e.acc.Add(rb.feat, e.batch)
	rb.feat = nil
	return err
}

// report fills Result.ReconEval and replaces the compile estimate (first
// batch minus a step, which in a pipeline also counts the first batch's
// trip through every stage) with the two graphs' own first-call costs.
func (e *reconEval) report(r *Result) {
	e.wg.Wait() // every stage has returned: spans and counters are final
	rep := buildReconReport(e.spans, e.done, e.warmup, e.batch)
	rep.Overlapped = e.overlap
	rep.Images = e.total * e.batch
	rep.MetricImages, rep.FeatureRows = e.metricN, e.acc.N()
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
	rep.FirstTokenizer, rep.FirstInception = first(stTokenizer), first(stInception)
	rep.CompileTokenizer = max(0, rep.FirstTokenizer-rep.StageBatchMedian[StageNames[stTokenizer]])
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
	mode := "pipelined"
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
