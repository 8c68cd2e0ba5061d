// Package recon is the reconstruction suite (benchmarks.md §9–§10, Table 1):
// every image is resized on its shorter side and centre-cropped to the
// tokenizer's input size (bicubic, as the authors' eval), encoded and decoded;
// per image PSNR (pyiqa's, as the authors: RGB in [0,1], MSE + 1e-8, on the
// uint8 reconstruction) and SSIM in both conventions; over the set rFID from
// Inception pool3 features of the ground truth and the reconstructions
// (clean-fid "clean" or pytorch-fid mode, the images optionally round-tripped
// through JPEG q95 first as the authors did, with libjpeg-turbo's encoder as
// cv2 uses) and pixel-codebook usage statistics.
//
// Data: any folder of images, searched recursively (the ImageNet val folder in
// either layout works as is). Options: inception=PATH (pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth; without it rFID is not computed and
// the protocol says so), fid_mode=clean|pytorch-fid, jpeg=q95|none,
// save=DIR (write reconstructions as PNG, same relative paths).
package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/model/inception"
)

// Name is the registry name.
const Name = "recon"

// Version is Task.Version: it changes whenever predictions or scores would.
// 2: pyiqa PSNR (MSE + 1e-8, finite for exact images) and the libjpeg-turbo
// q95 encoder for the rFID round trip (was Go's image/jpeg).
const Version = 2

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "Reconstruction: PSNR, SSIM (Wang and torchmetrics), rFID, codebook usage",
		Data: "any folder of images (.jpeg/.jpg/.png/.webp), searched recursively, e.g. ImageNet val",
		Options: []bench.OptionDoc{
			{Key: "inception", Help: "PATH of pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or a .safetensors of it); without it rFID is not computed"},
			{Key: "fid_mode", Help: "rFID preprocessing: clean = clean-fid's, pytorch-fid = pytorch-fid's (metric rfid_clean or rfid_pytorch)", Default: "clean", Values: []string{"clean", "pytorch-fid"}},
			{Key: "jpeg", Help: "round-trip ground truth and reconstructions through JPEG quality 95 before rFID, as the authors' eval (q95), or not (none)", Default: "q95", Values: []string{"q95", "none"}},
			{Key: "save", Help: "DIR to write the reconstructions to as PNG, same relative paths"},
		},
		New: New})
}

// Task is one configured reconstruction run.
type Task struct {
	data, inceptionPath, jpeg, save string
	mode                            inception.Mode
	items                           []bench.Item

	once   sync.Once
	net    *inception.Net
	netErr error

	traceFn func(stage string, start time.Time, images int)
}

// New configures the task.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, inceptionPath: opts.Get("inception", ""), jpeg: opts.Get("jpeg", "q95"), save: opts.Get("save", "")}
	if t.save != "" {
		abs, err := filepath.Abs(t.save)
		if err != nil {
			return nil, err
		}
		t.save = abs
	}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (a folder of images, e.g. ImageNet val) is required", Name)
	}
	var err error
	if t.mode, err = inception.ParseMode(opts.Get("fid_mode", "clean")); err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	if t.jpeg != "q95" && t.jpeg != "none" {
		return nil, fmt.Errorf("%s: jpeg=%q: use q95 or none", Name, t.jpeg)
	}
	if t.inceptionPath != "" && !opts.Rescore { // scoring reads saved features, not the network
		if _, err := os.Stat(t.inceptionPath); err != nil {
			return nil, fmt.Errorf("%s: inception weights: %v (pytorch-fid's pt_inception-2015-12-05-6726825d.pth, from the pytorch-fid GitHub releases)", Name, err)
		}
	}
	var paths []string
	err = filepath.WalkDir(t.data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isImage(d.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no images (.jpeg/.jpg/.png/.webp) under %s", Name, t.data)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(t.data, p)
		t.items = append(t.items, bench.Item{ID: filepath.ToSlash(rel), Payload: p})
	}
	return t, nil
}

func isImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpeg", ".jpg", ".png", ".webp":
		return true
	}
	return false
}

func (t *Task) Name() string  { return Name }
func (t *Task) Version() int  { return Version }
func (t *Task) Needs() string { return bench.NeedsReconstructor }
func (t *Task) Protocol() map[string]any {
	p := map[string]any{
		"data": t.data, "preprocess": "shorter side + centre crop, bicubic",
		"psnr": psnrProtocol,
		"ssim": "ssim = Wang/skimage/pytorch_msssim; ssim_torchmetrics also reported",
		"jpeg": t.jpeg,
	}
	if t.jpeg == "q95" {
		p["jpeg"] = jpegProtocol
	}
	if t.save != "" {
		// Images are written while predicting: a run asking for them must
		// not be served from a cache that never wrote them.
		p["save"] = t.save
	}
	if t.inceptionPath != "" {
		p["fid_mode"] = t.mode.String()
		p["inception"] = filepath.Base(t.inceptionPath)
	} else {
		p["fid_mode"] = "not computed (no inception weights given)"
	}
	return p
}

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(string) }

func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

type pred struct {
	PSNR             bench.JSONFloat `json:"psnr"` // pyiqa: 80 dB for a perfect reconstruction
	SSIMWang         bench.JSONFloat `json:"ssim_wang"`
	SSIMTorchmetrics bench.JSONFloat `json:"ssim_torchmetrics"`
	Codes            string          `json:"codes,omitempty"` // packed int32 [positions*depth]
	Depth            int             `json:"depth,omitempty"`
	K                int             `json:"k,omitempty"`        // codebook size
	FeatRef          string          `json:"feat_ref,omitempty"` // packed float32 pool3
	FeatRec          string          `json:"feat_rec,omitempty"`
}

func (t *Task) inception(m bench.Model) (*inception.Net, error) {
	t.once.Do(func() {
		if t.inceptionPath == "" {
			return
		}
		var b compute.Backend
		if bu, ok := m.(bench.BackendUser); ok && bu.Backend() != nil {
			b = bu.Backend()
		} else if b, t.netErr = backend.New(m.Info().Backend); t.netErr != nil {
			return
		}
		t.net, t.netErr = inception.Open(b, t.inceptionPath)
	})
	return t.net, t.netErr
}

// How the JPEG round trip and PSNR are done, as the protocol records them.
const (
	jpegProtocol = "q95: libjpeg-turbo encoder as cv2.imwrite (baseline, 4:2:0, islow DCT, standard tables), libjpeg-turbo decoder as PIL"
	psnrProtocol = "pyiqa: RGB [0,1], MSE+1e-8, mean over images (uint8 reconstructions)"
)

// jpegQuality is the authors' cv2.imwrite quality before clean-fid.
const jpegQuality = 95

// jpegRoundTrip encodes img as JPEG q95 and decodes it again (the authors
// write ground truth and reconstructions with cv2 at quality 95 before FID).
// cv2.imwrite and PIL both call libjpeg-turbo with its defaults — 4:2:0
// chroma at every quality — which imageio.EncodeJPEG reproduces byte for
// byte; Go's image/jpeg does not (other colour conversion, subsampling and
// DCT: a third of the values moved by up to 6 levels on a 384² image).
func jpegRoundTrip(img *imageio.Image) (*imageio.Image, error) {
	var buf bytes.Buffer
	if err := imageio.EncodeJPEG(&buf, img, jpegQuality); err != nil {
		return nil, err
	}
	return imageio.DecodeBytes(buf.Bytes(), "roundtrip.jpg")
}

// psnrPyiqa is DualToken's reconstruction PSNR (pyiqa's: [0,1], MSE+1e-8).
var psnrPyiqa = metrics.PSNRPyiqaUint8

// Predict is PredictStaged's two parts in turn.
func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	rest, err := t.PredictStaged(ctx, m, items)
	if err != nil {
		return nil, err
	}
	return rest()
}

// PredictStaged (bench.Staged) loads and crops the batch and reconstructs it
// with the tokenizer; the rest — PSNR and SSIM, the JPEG round trips and one
// Inception call on ground truth and reconstructions together — runs while
// the runner starts the next batch's reconstruction.
func (t *Task) PredictStaged(ctx context.Context, m bench.Model, items []bench.Item) (func() ([]bench.Record, error), error) {
	r := m.(bench.Reconstructor)
	size := r.InputSize()
	recs := make([]bench.Record, len(items))
	t0 := time.Now()
	imgs, errs := bench.LoadImages(items, func(it bench.Item) string { return it.Payload.(string) })
	var idx []int
	for i := range items {
		if errs[i] != nil {
			recs[i].Error = errs[i].Error()
			continue
		}
		idx = append(idx, i)
	}
	gts := make([]*imageio.Image, len(idx))
	bench.ParallelFor(len(idx), func(j int) { gts[j] = imageio.ShortSideCenterCrop(imgs[idx[j]], size) })
	t.trace(StageLoad, t0, len(items))
	if len(gts) == 0 {
		return func() ([]bench.Record, error) { return recs, nil }, nil
	}
	t0 = time.Now()
	out, err := r.Reconstruct(ctx, gts)
	if err != nil {
		return nil, err
	}
	t.trace(StageReconstruct, t0, len(gts))
	return func() ([]bench.Record, error) { return t.finish(m, r, items, recs, gts, idx, out) }, nil
}

// finish is PredictStaged's rest.
func (t *Task) finish(m bench.Model, r bench.Reconstructor, items []bench.Item, recs []bench.Record, gts []*imageio.Image, idx []int, out []bench.Reconstruction) ([]bench.Record, error) {
	size := r.InputSize()
	preds := make([]pred, len(gts))
	var perr error
	var mu sync.Mutex
	t0 := time.Now()
	bench.ParallelFor(len(gts), func(j int) {
		gt, rec := gts[j], out[j].Image
		p := &preds[j]
		var e1, e2 error
		var psnr, ssimW, ssimT float64
		psnr, e1 = psnrPyiqa(gt.Pix, rec.Pix, size, size, 3)
		ssimW, ssimT, e2 = metrics.SSIMBothUint8(gt.Pix, rec.Pix, size, size, 3)
		p.PSNR, p.SSIMWang, p.SSIMTorchmetrics = bench.JSONFloat(psnr), bench.JSONFloat(ssimW), bench.JSONFloat(ssimT)
		if out[j].Codes != nil {
			p.Codes, p.Depth, p.K = bench.PackInt32(out[j].Codes), out[j].Depth, r.CodebookSize()
		}
		if t.save != "" {
			dst := filepath.Join(t.save, strings.TrimSuffix(items[idx[j]].ID, filepath.Ext(items[idx[j]].ID))+".png")
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
				e1 = firstErr(e1, imageio.SavePNG(dst, rec))
			}
		}
		if err := firstErr(e1, e2); err != nil {
			mu.Lock()
			perr = err
			mu.Unlock()
		}
	})
	if perr != nil {
		return nil, perr
	}
	t.trace(StageMetrics, t0, len(gts))
	net, err := t.inception(m)
	if err != nil {
		return nil, fmt.Errorf("inception: %w", err)
	}
	if net != nil {
		// Ground truth then reconstructions, through one network call.
		n := len(gts)
		both := make([]*imageio.Image, 2*n)
		copy(both, gts)
		for j := range out {
			both[n+j] = out[j].Image
		}
		if t.jpeg == "q95" {
			t0 = time.Now()
			errs := make([]error, len(both))
			bench.ParallelFor(len(both), func(j int) { both[j], errs[j] = jpegRoundTrip(both[j]) })
			if err := firstErr(errs...); err != nil {
				return nil, err
			}
			t.trace(StageJPEG, t0, n)
		}
		t0 = time.Now()
		f, err := net.BatchPool3(both, t.mode)
		if err != nil {
			return nil, err
		}
		t.trace(StageInception, t0, n)
		d := len(f) / len(both)
		for j := range n {
			preds[j].FeatRef = bench.PackFloat32(toF32(f[j*d : (j+1)*d]))
			preds[j].FeatRec = bench.PackFloat32(toF32(f[(n+j)*d : (n+j+1)*d]))
		}
	}
	t0 = time.Now()
	for j, i := range idx {
		b, err := json.Marshal(preds[j])
		if err != nil { // a non-finite feature: the record says so rather than hold nothing
			recs[i].Error = fmt.Sprintf("prediction not storable: %v", err)
			continue
		}
		recs[i].Pred = b
	}
	t.trace(StageRecords, t0, len(gts))
	return recs, nil
}

// The stages PredictStaged reports to a Trace function: decoding and
// cropping, the tokenizer's reconstruction, PSNR/SSIM, the JPEG round trips
// (jpeg=q95), Inception (preprocessing, the network, features back) and
// packing the records.
const (
	StageLoad        = "load_crop"
	StageReconstruct = "reconstruct"
	StageMetrics     = "psnr_ssim"
	StageJPEG        = "jpeg_roundtrip"
	StageInception   = "inception"
	StageRecords     = "records"
)

// SetTrace makes the task call f after each stage of each batch with the
// stage's start and the images it handled (benchmarks; f must be safe to
// call from two goroutines). nil stops it.
func (t *Task) SetTrace(f func(stage string, start time.Time, images int)) { t.traceFn = f }

func (t *Task) trace(stage string, start time.Time, images int) {
	if t.traceFn != nil {
		t.traceFn(stage, start, images)
	}
}

// UseInception gives the task an Inception network instead of the one the
// inception= option names (benchmarks with generated weights).
func (t *Task) UseInception(net *inception.Net) {
	t.once.Do(func() { t.net = net })
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Bounds on what a prediction record's size fields may ask Score to
// allocate: codebook counters (depth×K; DualToken's pixel codebook is
// 16384×8) and rFID features (Inception pool3: 2048; the covariance is d×d).
// A corrupt record beyond them is an error, not gigabytes of zeros.
const (
	maxCodebookCounters = 1 << 26
	maxFeatureDim       = 1 << 14
)

// scoreInputs is what Score pools from the records, checked to have one
// shape: features of one size and codes of one depth and codebook size,
// for every image or for none.
type scoreInputs struct {
	ref, rec     [][]float64
	codes        []int64
	depth, k     int
	noFeat, noCd string // an item without features / codes (for errors)
}

func (s *scoreInputs) add(id string, p pred) error {
	if p.FeatRef != "" || p.FeatRec != "" {
		a, err1 := bench.UnpackFloat32(p.FeatRef)
		b, err2 := bench.UnpackFloat32(p.FeatRec)
		if err := firstErr(err1, err2); err != nil {
			return fmt.Errorf("item %s: %v", id, err)
		}
		switch {
		case len(a) == 0 || len(a) != len(b):
			return fmt.Errorf("item %s: feat_ref has %d values and feat_rec %d, want the same non-zero size", id, len(a), len(b))
		case len(a) > maxFeatureDim:
			return fmt.Errorf("item %s: %d features per image, more than %d (Inception pool3 has 2048)", id, len(a), maxFeatureDim)
		case len(s.ref) > 0 && len(a) != len(s.ref[0]):
			return fmt.Errorf("item %s: %d features, want %d as the images before it", id, len(a), len(s.ref[0]))
		}
		s.ref, s.rec = append(s.ref, toF64(a)), append(s.rec, toF64(b))
	} else if s.noFeat == "" {
		s.noFeat = id
	}
	if p.Codes == "" {
		if s.noCd == "" {
			s.noCd = id
		}
		return nil
	}
	c, err := bench.UnpackInt32(p.Codes)
	if err != nil {
		return fmt.Errorf("item %s: %v", id, err)
	}
	switch {
	case p.Depth <= 0 || p.K <= 0 || p.K > maxCodebookCounters/p.Depth:
		return fmt.Errorf("item %s: codes of depth %d from a codebook of %d: want both positive, depth×size at most %d", id, p.Depth, p.K, maxCodebookCounters)
	case len(c)%p.Depth != 0:
		return fmt.Errorf("item %s: %d codes are not whole positions of depth %d", id, len(c), p.Depth)
	case s.depth > 0 && (p.Depth != s.depth || p.K != s.k):
		return fmt.Errorf("item %s: codes of depth %d from a codebook of %d, want %d and %d as the images before it", id, p.Depth, p.K, s.depth, s.k)
	}
	s.depth, s.k = p.Depth, p.K
	for j, x := range c {
		if x < 0 || int(x) >= p.K {
			return fmt.Errorf("item %s: code %d is %d, outside the codebook [0, %d)", id, j, x, p.K)
		}
		s.codes = append(s.codes, int64(x))
	}
	return nil
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	m := &bench.Metrics{}
	var psnr, ssimW, ssimT float64
	var in scoreInputs
	n, failed := 0, 0
	for i, it := range items {
		if recs[i].Error != "" {
			failed++
			m.PerSample = append(m.PerSample, map[string]any{"id": it.ID, "error": recs[i].Error})
			continue
		}
		var p pred
		if err := json.Unmarshal(recs[i].Pred, &p); err != nil {
			return nil, fmt.Errorf("item %s: bad prediction: %v", it.ID, err)
		}
		n++
		psnr += float64(p.PSNR)
		ssimW += float64(p.SSIMWang)
		ssimT += float64(p.SSIMTorchmetrics)
		m.PerSample = append(m.PerSample, map[string]any{"id": it.ID, "psnr": p.PSNR, "ssim_wang": p.SSIMWang, "ssim_torchmetrics": p.SSIMTorchmetrics})
		if err := in.add(it.ID, p); err != nil {
			return nil, err
		}
	}
	if failed > 0 {
		// Averages over fewer images would silently be another benchmark.
		return nil, fmt.Errorf("%d of %d images could not be read (see samples.jsonl); fix or remove them and run again", failed, len(items))
	}
	if len(in.ref) > 0 && in.noFeat != "" {
		return nil, fmt.Errorf("item %s has no rFID features but %d other images have them (a mixed predictions file: rerun)", in.noFeat, len(in.ref))
	}
	if len(in.codes) > 0 && in.noCd != "" {
		return nil, fmt.Errorf("item %s has no codes but other images have them (a mixed predictions file: rerun)", in.noCd)
	}
	ref, rec, codes, depth, k := in.ref, in.rec, in.codes, in.depth, in.k
	m.Set("psnr", psnr/float64(n), true)
	m.Set("ssim", ssimW/float64(n), true)
	m.Set("ssim_torchmetrics", ssimT/float64(n), true)
	if len(ref) > 0 {
		if len(ref) < 2 {
			return nil, fmt.Errorf("rFID needs at least 2 images, have %d", len(ref))
		}
		mu1, s1, err := metrics.MeanCovRows(ref)
		if err != nil {
			return nil, err
		}
		mu2, s2, err := metrics.MeanCovRows(rec)
		if err != nil {
			return nil, err
		}
		fid, err := metrics.FrechetDistance(mu1, s1, mu2, s2)
		if err != nil {
			return nil, err
		}
		name := "rfid_clean"
		if t.mode == inception.PytorchFID {
			name = "rfid_pytorch"
		}
		m.Set(name, fid, false)
	}
	if depth > 0 && k > 0 && len(codes) > 0 {
		rep, err := metrics.CodebookStatistics(codes, len(codes)/depth, depth, k)
		if err != nil {
			return nil, err
		}
		m.Set("codebook_usage", 100*rep.Pooled.Usage, true)
		m.Set("codebook_perplexity", rep.Pooled.Perplexity, true)
		m.Set("codebook_entropy_bits", rep.Pooled.EntropyBits, true)
		m.Set("codebook_kl_uniform", rep.Pooled.KLUniform, false)
	}
	return m, nil
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
