package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/weights"
	"github.com/schollz/progressbar/v3"
)

func init() {
	register("fid", "Fréchet Inception Distance between two image folders (clean-fid or pytorch-fid pipeline, pytorch-fid's Inception weights).", &fidCmd{})
}

type fidCmd struct {
	DirA    string `arg:"" help:"First image folder, or its saved statistics: a .safetensors file written by --save-stats (or a pytorch-fid/clean-fid .npz with mu and sigma)." placeholder:"DIR_A"`
	DirB    string `arg:"" help:"Second image folder, or its saved statistics." placeholder:"DIR_B"`
	Mode    string `help:"Input pipeline: clean (clean-fid: PIL bicubic on float channels, (x-128)/128; recursive file search) or pytorch-fid (torch bilinear, 2x-1; top-level files with lower-case extensions). Default: the mode a statistics file given as DIR_A or DIR_B records, else clean." placeholder:"clean|pytorch-fid"`
	Weights string `help:"Inception weights: pt_inception-2015-12-05-6726825d.pth or a safetensors conversion. Default: $DUALTOKEN_FID_WEIGHTS (when set, it must name an existing file), ./pt_inception-2015-12-05-6726825d.pth, then torch's cache ~/.cache/torch/hub/checkpoints/." placeholder:"PATH"`
	Batch   int    `default:"16" help:"Images per forward pass."`
	SaveA   string `name:"save-stats-a" help:"Save DIR_A's feature statistics (float64 mu, sigma; the mode, Inception weights' sha256, dimension and image count in the metadata) to this .safetensors file, to pass later in place of DIR_A." placeholder:"FILE.safetensors"`
	SaveB   string `name:"save-stats-b" help:"Save DIR_B's feature statistics to this .safetensors file." placeholder:"FILE.safetensors"`
	JSON    bool   `name:"json" help:"Print the result as JSON (schema 1)."`
	Cache   string `help:"Folder for the per-folder feature cache that lets an interrupted run resume (default: <user cache dir>/dualtoken-evalharness/fid; without a usable one, a warning and no cache). A --cache that cannot be created or written is an error." placeholder:"DIR"`
	NoCache bool   `name:"no-cache" help:"Neither read nor write the feature cache."`
}

func (c *fidCmd) Help() string {
	return `Computes FID = |mu_A - mu_B|^2 + Tr(S_A + S_B - 2 sqrtm(S_A S_B)) over the 2048-d pool3
features of pytorch-fid's Inception (float64 statistics, covariance with N-1).

Modes (the number differs between them; always report which):
  clean        clean-fid "clean" (what DualToken reports): files found recursively
               (bmp jpg jpeg pgm png ppm tif tiff webp, also JPEG JPG PNG), sorted; each
               channel resized as a float image with PIL bicubic to 299, clipped to
               [0,255], input (x-128)/128; the imaginary part of sqrtm is dropped.
               clean-fid itself runs NVIDIA's TorchScript port of the TensorFlow graph;
               this runs pytorch-fid's port of the same weights, so values can differ
               slightly from clean-fid's own numbers.
  pytorch-fid  pytorch-fid 0.3.0: top-level files with lower-case extensions, sorted;
               x/255, torch bilinear to 299 (no antialias), 2x-1; fails if sqrtm has an
               imaginary component above 1e-3.

The weights file is the one pytorch-fid downloads:
  ` + inception.WeightsFile + `
  ` + inception.WeightsURL + `

Saved statistics: --save-stats-a/-b FILE.safetensors write a folder's mu and
sigma with the mode, the Inception weights' sha256, the dimension and the
image count; the file then stands in for the folder. Two sides made another
way (mode, weights or dimension) are refused (exit 2), and so is a
.safetensors file without that record (written by an older evalrun:
recompute it). Without --mode, the mode is the one such a file records. A
pytorch-fid or clean-fid .npz records nothing: it is taken as statistics of
the same mode and weights, with a warning.

Resuming: each folder's features are appended, batch by batch, to a cache file
(--cache DIR, default <user cache dir>/dualtoken-evalharness/fid; about 8 KiB
per image) named for the folder, mode, weights, backend, --batch and file list.
Ctrl-C stops after the batch in progress (exit 130); the same command then
computes only the images without a valid record (path, size and mtime
unchanged), and the FID is bit-identical to an uncached run. --no-cache turns
this off. Delete the folder's files to reclaim the space.

Example:
  evalrun fid out/gt out/recon --weights ~/weights/` + inception.WeightsFile + ` --json`
}

// fidImageExts lists the extensions each mode picks up (pytorch-fid globs the
// lower-case ones only; clean-fid adds three upper-case spellings).
var fidImageExts = map[inception.Mode][]string{
	inception.PytorchFID: {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"},
	inception.Clean:      {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp", "JPEG", "JPG", "PNG"},
}

// fidListImages returns the sorted image files of dir as the mode's reference
// tool finds them: pytorch-fid non-recursively, clean-fid recursively.
func fidListImages(dir string, mode inception.Mode) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("not a folder")
	}
	exts := map[string]bool{}
	for _, e := range fidImageExts[mode] {
		exts["."+e] = true
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && mode == inception.PytorchFID {
				return filepath.SkipDir
			}
			return nil
		}
		if exts[filepath.Ext(p)] {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// fidWeightsPath resolves the weights file: the flag, $DUALTOKEN_FID_WEIGHTS,
// the working directory, then torch's hub cache (where pytorch-fid puts it).
func fidWeightsPath(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--weights %s: %v: supply %s (published at %s)", flag, fidOSErr(err), inception.WeightsFile, inception.WeightsURL)
		}
		return flag, nil
	}
	if env := os.Getenv("DUALTOKEN_FID_WEIGHTS"); env != "" {
		// Set on purpose: a wrong path is an error, not a reason to look elsewhere.
		if _, err := os.Stat(env); err != nil {
			return "", fmt.Errorf("DUALTOKEN_FID_WEIGHTS=%s: %v: point it at %s (published at %s) or unset it", env, fidOSErr(err), inception.WeightsFile, inception.WeightsURL)
		}
		return env, nil
	}
	candidates := []string{inception.WeightsFile}
	if home, err := os.UserHomeDir(); err == nil {
		cache := os.Getenv("TORCH_HOME")
		if cache == "" {
			cache = filepath.Join(home, ".cache", "torch")
		}
		candidates = append(candidates, filepath.Join(cache, "hub", "checkpoints", inception.WeightsFile))
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Inception weights: download %s from %s and pass --weights PATH (or set DUALTOKEN_FID_WEIGHTS)", inception.WeightsFile, inception.WeightsURL)
}

func fileSHA256(path string) (string, error) {
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

// fidStats are the Gaussian statistics of one side.
type fidStats struct {
	mu, sigma []float64
	n         int // images, or 0 when loaded from a statistics file
}

// fidAfterBatch, when set (tests), is called after each batch with the
// number of images of the side done so far.
var fidAfterBatch func(ctx context.Context, done int)

// fidImageStats computes the pool3 statistics of files (found in dir),
// batch by batch, advancing bar (may be nil) by one per image. With a cache,
// a batch whose images all have valid records is read from it and any other
// batch is computed whole (the same rows, bit for bit, as an uncached run)
// and appended to it. ctx is checked between batches: when it ends the
// error wraps ctx.Err() and says how many images are done. cached counts
// the images read from the cache. Unreadable files are errors naming the
// file.
func fidImageStats(ctx context.Context, net *inception.Net, dir string, files []string, mode inception.Mode, batch int, cache *fidCache, bar *progressbar.ProgressBar) (st *fidStats, cached int, err error) {
	if len(files) < 2 {
		return nil, 0, fmt.Errorf("%d image(s): FID needs at least 2 per side for a covariance", len(files))
	}
	rels, _, err := fidRelPaths(dir, files)
	if err != nil {
		return nil, 0, err
	}
	d := inception.Pool3Dim
	acc := metrics.NewStatsAccumulator(d)
	for lo := 0; lo < len(files); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, cached, &fidInterrupted{lo, len(files), err}
		}
		chunk := files[lo:min(lo+batch, len(files))]
		stamps := make([]fidStamp, len(chunk))
		for i, f := range chunk {
			if stamps[i], err = fidStatStamp(f, rels[lo+i]); err != nil {
				return nil, cached, err
			}
		}
		feats := make([]float64, len(chunk)*d)
		hit := cache != nil
		for i := 0; hit && i < len(chunk); i++ {
			hit = cache.lookup(stamps[i], feats[i*d:(i+1)*d])
		}
		if hit {
			cached += len(chunk)
		} else {
			if feats, err = fidComputeBatch(net, chunk, mode); err != nil {
				return nil, cached, err
			}
			if cache != nil {
				if err := fidRecord(cache, chunk, stamps, feats); err != nil {
					fmt.Fprintf(os.Stderr, "fid: feature cache %s: %v; going on without it\n", cache.path, err)
					cache = nil
				}
			}
		}
		if err := acc.Add(feats, len(chunk)); err != nil {
			return nil, cached, err
		}
		if bar != nil {
			bar.Add(len(chunk))
		}
		if fidAfterBatch != nil {
			fidAfterBatch(ctx, lo+len(chunk))
		}
	}
	mu, sigma, err := acc.Stats()
	return &fidStats{mu: mu, sigma: sigma, n: len(files)}, cached, err
}

// fidInterrupted is fidImageStats' error when its context ends.
type fidInterrupted struct {
	done, total int
	err         error
}

func (e *fidInterrupted) Error() string {
	return fmt.Sprintf("interrupted after %d of %d images", e.done, e.total)
}

func (e *fidInterrupted) Unwrap() error { return e.err }

// fidComputeBatch loads chunk's images and returns their pool3 rows.
func fidComputeBatch(net *inception.Net, chunk []string, mode inception.Mode) ([]float64, error) {
	imgs := make([]*imageio.Image, len(chunk))
	errs := make([]error, len(chunk))
	var wg sync.WaitGroup
	for i, f := range chunk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = imageio.Load(f)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return net.BatchPool3(imgs, mode)
}

// fidRecord appends the records of a computed batch, leaving out a file
// that changed since it was stamped or within fidRacyWindow of now (its
// stamp might not tell a later rewrite apart; it is recomputed next time).
func fidRecord(cache *fidCache, chunk []string, stamps []fidStamp, feats []float64) error {
	d := inception.Pool3Dim
	var keep []fidStamp
	var rows [][]float64
	recent := time.Now().Add(-fidRacyWindow).UnixNano()
	for i, f := range chunk {
		now, err := fidStatStamp(f, stamps[i].rel)
		if err != nil || now != stamps[i] || now.mtime > recent {
			continue
		}
		keep = append(keep, now)
		rows = append(rows, feats[i*d:(i+1)*d])
	}
	return cache.add(keep, rows)
}

// fidResult is the JSON output (schema 1).
type fidResult struct {
	Schema        int     `json:"schema"`
	Metric        string  `json:"metric"`
	FID           float64 `json:"fid"`
	Mode          string  `json:"mode"`
	DirA          string  `json:"dir_a"`
	DirB          string  `json:"dir_b"`
	CountA        int     `json:"count_a"` // 0 when the side was a statistics file
	CountB        int     `json:"count_b"`
	Weights       string  `json:"weights"`
	WeightsSHA256 string  `json:"weights_sha256"`
	Backend       string  `json:"backend"`
	MeanTerm      float64 `json:"mean_term"`
	TraceTerm     float64 `json:"trace_term"` // Tr S_A + Tr S_B - 2 Tr sqrtm(S_A S_B)
	Offset        bool    `json:"sqrtm_offset"`
	MaxImag       float64 `json:"sqrtm_max_imag"`
	Seconds       float64 `json:"seconds"`
	CachedA       int     `json:"cached_a"` // images of DIR_A whose features came from the cache
	CachedB       int     `json:"cached_b"`
	CacheA        string  `json:"cache_a,omitempty"` // DIR_A's cache file
	CacheB        string  `json:"cache_b,omitempty"`
}

func frechetModeOf(m inception.Mode) metrics.FrechetMode {
	if m == inception.PytorchFID {
		return metrics.FrechetPytorchFID
	}
	return metrics.FrechetCleanFID
}

// fidFromStats finishes the result from both sides' statistics.
func fidFromStats(a, b *fidStats, mode inception.Mode) (*fidResult, error) {
	fr, err := metrics.Frechet(a.mu, a.sigma, b.mu, b.sigma, frechetModeOf(mode))
	if err != nil {
		return nil, err
	}
	return &fidResult{Schema: 1, Metric: "fid", FID: fr.Distance, Mode: mode.String(), CountA: a.n, CountB: b.n,
		MeanTerm: fr.MeanTerm, TraceTerm: fr.Distance - fr.MeanTerm, Offset: fr.Offset, MaxImag: fr.MaxImag}, nil
}

// Metadata keys of a statistics file written by --save-stats (besides
// "format": "fid-stats", which metrics.SaveStatsMeta adds): what made the
// features, so that statistics computed another way are refused.
const (
	fidMetaMode        = "mode"           // clean or pytorch-fid
	fidMetaWeightsSHA  = "weights_sha256" // of the Inception weights file
	fidMetaWeightsFile = "weights_file"   // its base name, for messages
	fidMetaDim         = "dim"            // feature dimension (len mu)
	fidMetaCount       = "count"          // images
	fidMetaBackend     = "backend"        // informative only
)

// fidProv is what made one side's features: read from a statistics file's
// metadata, or the run's own settings for a folder. Empty fields are not
// known (a .npz records nothing but mu and sigma).
type fidProv struct {
	mode        string
	weightsSHA  string
	weightsFile string // or the path, for a folder
	dim, count  int
}

// fidSide is one positional argument: a folder or saved statistics.
type fidSide struct {
	pos       string // DIR_A or DIR_B
	arg       string
	saveFlag  string // --save-stats-a or --save-stats-b
	save      string
	statsFile bool
	npz       bool
	files     []string
	stats     *fidStats
	prov      fidProv
	cache     string // file, when cached
	cached    int
}

// desc names the side in messages.
func (s *fidSide) desc() string {
	if s.statsFile {
		return s.pos + " " + s.arg
	}
	return s.pos + " " + s.arg + " (a folder)"
}

// fidOSErr is err without the operation and path an *fs.PathError repeats.
func fidOSErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fidClassify sets whether the side is a folder or a statistics file.
func fidClassify(s *fidSide) error {
	st, err := os.Stat(s.arg)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageErr("fid: %s %s: no such folder or file", s.pos, s.arg)
		}
		return usageErr("fid: %s %s: %v", s.pos, s.arg, fidOSErr(err))
	}
	if st.IsDir() {
		return nil
	}
	switch strings.ToLower(filepath.Ext(s.arg)) {
	case ".safetensors":
		s.statsFile = true
	case ".npz":
		s.statsFile, s.npz = true, true
	default:
		return usageErr("fid: %s %s is a file: want a folder of images or a .safetensors statistics file written by --save-stats (or a pytorch-fid/clean-fid .npz)", s.pos, s.arg)
	}
	return nil
}

// fidLoadStats reads a statistics file and what made it. A .safetensors
// file must be one written by --save-stats with the metadata above: one
// without (written before they were recorded) is refused, since statistics
// of another mode or other weights would be compared unnoticed. A .npz
// (pytorch-fid's and clean-fid's own files) records nothing: the caller
// warns that it is taken on trust.
func fidLoadStats(p string) (*fidStats, fidProv, error) {
	var prov fidProv
	if strings.EqualFold(filepath.Ext(p), ".npz") {
		mu, sigma, err := metrics.LoadStats(p)
		if err != nil {
			return nil, prov, err
		}
		if err := fidCheckStats(p, mu, sigma); err != nil {
			return nil, prov, err
		}
		prov.dim = len(mu)
		return &fidStats{mu: mu, sigma: sigma}, prov, nil
	}
	f, err := weights.OpenSafetensors(p)
	if err != nil {
		return nil, prov, err
	}
	md := f.Metadata
	f.Close()
	if md["format"] != "fid-stats" {
		return nil, prov, fmt.Errorf("%s is not an FID statistics file (its metadata has no \"format\": \"fid-stats\"): want a folder of images or a .safetensors file written by --save-stats", p)
	}
	if md[fidMetaMode] == "" && md[fidMetaWeightsSHA] == "" {
		return nil, prov, fmt.Errorf("%s was written by an older evalrun and does not record the mode, Inception weights and feature dimension it was computed with: recompute it with this version's --save-stats", p)
	}
	field := func(key string) (string, error) {
		if md[key] == "" {
			return "", fmt.Errorf("%s: metadata field %q is missing (a file written by --save-stats has it): recompute it with --save-stats", p, key)
		}
		return md[key], nil
	}
	count := func(key string) (int, error) {
		v, err := field(key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s: metadata field %q = %q, want a positive integer", p, key, v)
		}
		return n, nil
	}
	if prov.mode, err = field(fidMetaMode); err != nil {
		return nil, prov, err
	}
	if m, err := inception.ParseMode(prov.mode); err != nil || m.String() != prov.mode {
		return nil, prov, fmt.Errorf("%s: metadata field %q = %q, want clean or pytorch-fid", p, fidMetaMode, prov.mode)
	}
	if prov.weightsSHA, err = field(fidMetaWeightsSHA); err != nil {
		return nil, prov, err
	}
	prov.weightsFile = md[fidMetaWeightsFile]
	if prov.dim, err = count(fidMetaDim); err != nil {
		return nil, prov, err
	}
	if prov.count, err = count(fidMetaCount); err != nil {
		return nil, prov, err
	}
	mu, sigma, err := metrics.LoadStats(p)
	if err != nil {
		return nil, prov, err
	}
	if len(mu) != prov.dim {
		return nil, prov, fmt.Errorf("%s: metadata field %q = %d but mu has %d elements", p, fidMetaDim, prov.dim, len(mu))
	}
	if err := fidCheckStats(p, mu, sigma); err != nil {
		return nil, prov, err
	}
	return &fidStats{mu: mu, sigma: sigma}, prov, nil
}

// fidCheckStats refuses statistics no set of features gives: a value that
// is not finite, a negative variance, or a sigma that is not symmetric.
func fidCheckStats(p string, mu, sigma []float64) error {
	d := len(mu)
	for i, v := range mu {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: mu[%d] = %v: want finite statistics (recompute the file)", p, i, v)
		}
	}
	for i := range d {
		for j := range d {
			v, w := sigma[i*d+j], sigma[j*d+i]
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("%s: sigma[%d][%d] = %v: want finite statistics (recompute the file)", p, i, j, v)
			case i == j && v < 0:
				return fmt.Errorf("%s: sigma[%d][%d] = %v: a variance cannot be negative; sigma is not a covariance matrix", p, i, i, v)
			case math.Abs(v-w) > 1e-6*(math.Abs(v)+math.Abs(w)):
				return fmt.Errorf("%s: sigma[%d][%d] = %v but sigma[%d][%d] = %v: a covariance matrix is symmetric", p, i, j, v, j, i, w)
			}
		}
	}
	return nil
}

// fidCheckMatch refuses two sides whose features were made differently:
// another dimension, mode or Inception weights. A field not known on a side
// (a .npz, a folder before the weights are resolved) is not compared.
func fidCheckMatch(a, b *fidSide) error {
	if a.prov.dim != b.prov.dim {
		return usageErr("fid: %s holds %d-dim statistics, %s %d-dim (field %s): they come from different features and cannot be compared",
			a.desc(), a.prov.dim, b.desc(), b.prov.dim, fidMetaDim)
	}
	if a.prov.mode != "" && b.prov.mode != "" && a.prov.mode != b.prov.mode {
		return usageErr("fid: %s is in mode %s, %s in mode %s (field %s): compute both sides with the same --mode",
			a.desc(), a.prov.mode, b.desc(), b.prov.mode, fidMetaMode)
	}
	if a.prov.weightsSHA != "" && b.prov.weightsSHA != "" && a.prov.weightsSHA != b.prov.weightsSHA {
		return usageErr("fid: %s %s Inception weights %s, %s with %s (field %s): compute both sides with the same weights",
			a.desc(), a.computedWith(), a.fidWeightsDesc(), b.desc(), b.fidWeightsDesc(), fidMetaWeightsSHA)
	}
	return nil
}

func (s *fidSide) computedWith() string {
	if s.statsFile {
		return "was computed with"
	}
	return "would be computed with"
}

func (s *fidSide) fidWeightsDesc() string {
	sha := s.prov.weightsSHA
	if len(sha) > 16 {
		sha = sha[:16] + "…"
	}
	if s.prov.weightsFile == "" {
		return "sha256 " + sha
	}
	return fmt.Sprintf("%s (sha256 %s)", s.prov.weightsFile, sha)
}

// fidCheckSavePath refuses a --save-stats path that is not a .safetensors
// file name or whose folder cannot be created or written, before any
// feature is computed.
func fidCheckSavePath(flag, p string) error {
	if !strings.EqualFold(filepath.Ext(p), ".safetensors") {
		return usageErr("fid: %s %s: want a file name ending in .safetensors (statistics are written as safetensors)", flag, p)
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return usageErr("fid: %s %s is a folder: want a file name ending in .safetensors", flag, p)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErr("fid: %s %s: cannot create folder %s: %v", flag, p, dir, fidOSErr(err))
	}
	if err := fidProbeWritable(dir); err != nil {
		return usageErr("fid: %s %s: folder %s is not writable: %v", flag, p, dir, fidOSErr(err))
	}
	return nil
}

// fidProbeWritable creates and removes a file in dir.
func fidProbeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".evalrun-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (c *fidCmd) Run(g *Globals) error {
	start := time.Now()
	mode, modeSet := inception.Clean, c.Mode != ""
	if modeSet {
		m, err := inception.ParseMode(c.Mode)
		if err != nil {
			return usageErr("fid: --mode %q: want clean or pytorch-fid", c.Mode)
		}
		mode = m
	}
	if c.Batch < 1 {
		return usageErr("fid: --batch %d: must be at least 1", c.Batch)
	}
	sides := []*fidSide{
		{pos: "DIR_A", arg: c.DirA, saveFlag: "--save-stats-a", save: c.SaveA},
		{pos: "DIR_B", arg: c.DirB, saveFlag: "--save-stats-b", save: c.SaveB},
	}
	for _, s := range sides {
		if err := fidClassify(s); err != nil {
			return err
		}
	}
	// Output paths, before anything is computed.
	for i, s := range sides {
		if s.save == "" {
			continue
		}
		if s.statsFile {
			return usageErr("fid: %s %s: %s is already a statistics file (--save-stats saves a folder's)", s.saveFlag, s.save, s.desc())
		}
		if err := fidCheckSavePath(s.saveFlag, s.save); err != nil {
			return err
		}
		o := sides[1-i]
		if o.save != "" && i == 0 && samePath(o.save, s.save) {
			return usageErr("fid: --save-stats-a and --save-stats-b are both %s: give each side its own file", s.save)
		}
		if samePath(s.save, o.arg) {
			return usageErr("fid: %s %s is %s: it would be overwritten", s.saveFlag, s.save, o.desc())
		}
	}
	for _, s := range sides {
		if !s.statsFile {
			continue
		}
		st, prov, err := fidLoadStats(s.arg)
		if err != nil {
			return usageErr("fid: %s: %v", s.pos, err)
		}
		s.stats, s.prov = st, prov
	}
	// The mode: --mode, else the one the statistics files record, else clean.
	if !modeSet {
		for _, s := range sides {
			if s.prov.mode != "" {
				mode, _ = inception.ParseMode(s.prov.mode)
				break
			}
		}
	}
	if modeSet {
		for i, s := range sides {
			if s.prov.mode == "" || s.prov.mode == mode.String() {
				continue
			}
			o := sides[1-i]
			if !o.statsFile {
				return usageErr("fid: %s is in mode %s, %s would be computed in mode %s (--mode; field %s): drop --mode or recompute %s with --mode %s",
					s.desc(), s.prov.mode, o.desc(), mode, fidMetaMode, s.arg, mode)
			}
			other := o.prov.mode
			if other == "" {
				other = "not recorded"
			}
			return usageErr("fid: %s is in mode %s but --mode is %s (field %s; %s: %s): drop --mode or recompute it with --mode %s",
				s.desc(), s.prov.mode, mode, fidMetaMode, o.desc(), other, mode)
		}
	}
	total := 0
	for _, s := range sides {
		if s.statsFile {
			continue
		}
		var err error
		if s.files, err = fidListImages(s.arg, mode); err != nil {
			return usageErr("fid: %s %s: %v", s.pos, s.arg, fidOSErr(err))
		}
		if len(s.files) < 2 {
			return usageErr("fid: %s %s: %d image file(s) found (%s mode looks for %s); FID needs at least 2",
				s.pos, s.arg, len(s.files), mode, strings.Join(fidImageExts[mode], " "))
		}
		s.prov = fidProv{mode: mode.String(), dim: inception.Pool3Dim, count: len(s.files)}
		total += len(s.files)
	}
	if err := fidCheckMatch(sides[0], sides[1]); err != nil {
		return err
	}
	if total == 0 && c.Weights != "" {
		// Nothing runs Inception: a --weights the user expected to be used
		// (perhaps a missing file) would otherwise pass unnoticed.
		return usageErr("fid: --weights %s does not apply: %s and %s are both statistics files, so no image runs through Inception (each records its weights' sha256): drop --weights",
			c.Weights, c.DirA, c.DirB)
	}
	res := &fidResult{}
	if total > 0 {
		cacheDir, cacheWarning, err := fidCacheDir(c.Cache, c.NoCache)
		if err != nil {
			return usageErr("fid: %v", err)
		}
		path, err := fidWeightsPath(c.Weights)
		if err != nil {
			return usageErr("fid: %v", err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return usageErr("fid: Inception weights %s: %v", path, fidOSErr(err))
		}
		for _, s := range sides {
			if !s.statsFile {
				s.prov.weightsSHA, s.prov.weightsFile = sum, path
			}
		}
		if err := fidCheckMatch(sides[0], sides[1]); err != nil {
			return err
		}
		b, err := backend.New(g.Backend)
		if err != nil {
			return usageErr("%v", err)
		}
		net, err := inception.Open(b, path)
		if err != nil {
			return usageErr("fid: %v", err)
		}
		res.Weights, res.WeightsSHA256, res.Backend = path, sum, backend.Resolve(g.Backend)
		if cacheWarning != "" {
			fmt.Fprintln(os.Stderr, "fid: "+cacheWarning)
		}
		fidWarnNpz(sides, mode)
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(progressOut()),
			progressbar.OptionSetDescription("fid "+mode.String()),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("images"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }))
		_ = bar.RenderBlank() // starts the clock before the first batch
		// Ctrl-C stops at the next batch boundary; a second one quits at
		// once (the default action is back), losing at most that batch.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		finished := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				stop()
				select {
				case <-finished: // ended by the stop below, not by a signal
					return
				default:
				}
				fmt.Fprintln(os.Stderr, "\nfid: stopping after the batch in progress (Ctrl-C again quits at once)")
			case <-finished:
			}
		}()
		for _, s := range sides {
			if s.stats != nil {
				continue
			}
			if err := c.sideStats(ctx, net, s.arg, s.files, mode, sum, backend.Resolve(g.Backend), cacheDir, bar, &s.stats, &s.cache, &s.cached); err != nil {
				close(finished)
				if errors.Is(err, context.Canceled) {
					if s.cache == "" {
						return interruptedErr("fid: %s: %v; nothing is saved (no feature cache): a rerun starts over", s.arg, err)
					}
					return interruptedErr("fid: %s: %v; the features are saved in %s: the same command resumes", s.arg, err, s.cache)
				}
				return usageErr("fid: %s %s: %v", s.pos, s.arg, err)
			}
		}
		close(finished)
		stop() // a Ctrl-C from here on quits at once: every feature is saved
	} else {
		fidWarnNpz(sides, mode)
		// Statistics files only: the weights they record (when both do).
		if a, b := sides[0].prov.weightsSHA, sides[1].prov.weightsSHA; a != "" && a == b {
			res.WeightsSHA256 = a
		}
	}
	for _, s := range sides {
		if s.save == "" {
			continue
		}
		meta := map[string]string{
			fidMetaMode:        mode.String(),
			fidMetaWeightsSHA:  res.WeightsSHA256,
			fidMetaWeightsFile: filepath.Base(res.Weights),
			fidMetaDim:         strconv.Itoa(len(s.stats.mu)),
			fidMetaCount:       strconv.Itoa(s.stats.n),
			fidMetaBackend:     res.Backend,
		}
		if err := metrics.SaveStatsMeta(s.save, s.stats.mu, s.stats.sigma, meta); err != nil {
			return usageErr("fid: %s %s: %v", s.saveFlag, s.save, fidOSErr(err))
		}
	}
	r, err := fidFromStats(sides[0].stats, sides[1].stats, mode)
	if err != nil {
		return failErr("fid: %v", err)
	}
	r.DirA, r.DirB = c.DirA, c.DirB
	r.Weights, r.WeightsSHA256, r.Backend = res.Weights, res.WeightsSHA256, res.Backend
	r.CachedA, r.CachedB, r.CacheA, r.CacheB = sides[0].cached, sides[1].cached, sides[0].cache, sides[1].cache
	r.Seconds = time.Since(start).Seconds()
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(os.Stderr, "mode %s: %s, %s\n", r.Mode, sides[0].summary(), sides[1].summary())
	fmt.Printf("FID %s\n", strconv.FormatFloat(r.FID, 'g', -1, 64))
	return nil
}

// summary says where a side's statistics came from, for the text output.
func (s *fidSide) summary() string {
	switch {
	case s.npz:
		return "statistics in " + s.arg
	case s.statsFile:
		return fmt.Sprintf("statistics of %d images in %s", s.prov.count, s.arg)
	}
	return fmt.Sprintf("%d images in %s (%d from the cache)", s.stats.n, s.arg, s.cached)
}

// fidWarnNpz says, once per side, that a .npz is taken on trust.
func fidWarnNpz(sides []*fidSide, mode inception.Mode) {
	for _, s := range sides {
		if s.npz {
			fmt.Fprintf(os.Stderr, "fid: warning: %s records neither the mode nor the Inception weights it was computed with: taken as %s-mode statistics of the same weights\n", s.desc(), mode)
		}
	}
}

// sideStats computes one folder's statistics through its cache file (under
// cacheDir; none when cacheDir is ""), setting *cacheFile and *cached.
func (c *fidCmd) sideStats(ctx context.Context, net *inception.Net, dir string, files []string, mode inception.Mode,
	weightsSHA, backendName, cacheDir string, bar *progressbar.ProgressBar, st **fidStats, cacheFile *string, cached *int) error {
	var cache *fidCache
	if cacheDir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		_, list, err := fidRelPaths(dir, files)
		if err != nil {
			return err
		}
		key := fidCacheKey{Dir: abs, Mode: mode.String(), WeightsSHA256: weightsSHA, Backend: backendName,
			Batch: c.Batch, Files: len(files), ListSHA256: list, Dim: inception.Pool3Dim}
		path := fidCacheFile(cacheDir, key)
		if cache, err = openFIDCache(path, key); err != nil {
			fmt.Fprintf(os.Stderr, "fid: feature cache %s: %v; going on without it\n", path, err)
			cache = nil
		} else {
			defer cache.Close()
			*cacheFile = path
			if cache.dropped > 0 {
				fmt.Fprintf(os.Stderr, "fid: feature cache %s: dropped a torn or corrupt tail (%d bytes); those images are recomputed\n", path, cache.dropped)
			}
			if cache.replaced {
				fmt.Fprintf(os.Stderr, "fid: feature cache %s: unreadable header, started over\n", path)
			}
		}
	}
	var err error
	*st, *cached, err = fidImageStats(ctx, net, dir, files, mode, c.Batch, cache, bar)
	return err
}
