package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	"github.com/schollz/progressbar/v3"
)

func init() {
	register("fid", "Fréchet Inception Distance between two image folders (clean-fid or pytorch-fid pipeline, pytorch-fid's Inception weights).", &fidCmd{})
}

type fidCmd struct {
	DirA    string `arg:"" help:"First image folder (or saved statistics: .npz with mu/sigma, or .safetensors)." placeholder:"DIR_A"`
	DirB    string `arg:"" help:"Second image folder (or saved statistics)." placeholder:"DIR_B"`
	Mode    string `default:"clean" enum:"clean,pytorch-fid" help:"Input pipeline: clean (clean-fid: PIL bicubic on float channels, (x-128)/128; recursive file search) or pytorch-fid (torch bilinear, 2x-1; top-level files with lower-case extensions)."`
	Weights string `help:"Inception weights: pt_inception-2015-12-05-6726825d.pth or a safetensors conversion. Default: $DUALTOKEN_FID_WEIGHTS, ./pt_inception-2015-12-05-6726825d.pth, then torch's cache ~/.cache/torch/hub/checkpoints/." placeholder:"PATH"`
	Batch   int    `default:"16" help:"Images per forward pass."`
	SaveA   string `name:"save-stats-a" help:"Save DIR_A's feature statistics (float64 mu, sigma) to this .safetensors file, to pass later in place of DIR_A." placeholder:"FILE"`
	SaveB   string `name:"save-stats-b" help:"Save DIR_B's feature statistics to this file." placeholder:"FILE"`
	JSON    bool   `name:"json" help:"Print the result as JSON (schema 1)."`
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
			return "", fmt.Errorf("Inception weights %s not found: supply %s (published at %s)", flag, inception.WeightsFile, inception.WeightsURL)
		}
		return flag, nil
	}
	candidates := []string{os.Getenv("DUALTOKEN_FID_WEIGHTS"), inception.WeightsFile}
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

// fidImageStats computes the pool3 statistics of files, batch by batch,
// advancing bar (may be nil) by one per image. Unreadable files are errors
// naming the file.
func fidImageStats(net *inception.Net, files []string, mode inception.Mode, batch int, bar *progressbar.ProgressBar) (*fidStats, error) {
	if len(files) < 2 {
		return nil, fmt.Errorf("%d image(s): FID needs at least 2 per side for a covariance", len(files))
	}
	acc := metrics.NewStatsAccumulator(inception.Pool3Dim)
	for lo := 0; lo < len(files); lo += batch {
		chunk := files[lo:min(lo+batch, len(files))]
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
		feats, err := net.BatchPool3(imgs, mode)
		if err != nil {
			return nil, err
		}
		if err := acc.Add(feats, len(chunk)); err != nil {
			return nil, err
		}
		if bar != nil {
			bar.Add(len(chunk))
		}
	}
	mu, sigma, err := acc.Stats()
	return &fidStats{mu: mu, sigma: sigma, n: len(files)}, err
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

// isStatsFile reports whether a positional argument names saved statistics.
func isStatsFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && (strings.HasSuffix(p, ".npz") || strings.HasSuffix(p, ".safetensors"))
}

func (c *fidCmd) Run(g *Globals) error {
	start := time.Now()
	mode, err := inception.ParseMode(c.Mode)
	if err != nil {
		return usageErr("fid: --mode: %v", err)
	}
	if c.Batch < 1 {
		return usageErr("fid: --batch %d: must be at least 1", c.Batch)
	}
	sides := []struct {
		arg, save string
		files     []string
		stats     *fidStats
	}{{arg: c.DirA, save: c.SaveA}, {arg: c.DirB, save: c.SaveB}}
	total := 0
	for i := range sides {
		s := &sides[i]
		if isStatsFile(s.arg) {
			mu, sigma, err := metrics.LoadStats(s.arg)
			if err != nil {
				return usageErr("fid: %s: %v", s.arg, err)
			}
			s.stats = &fidStats{mu: mu, sigma: sigma}
			continue
		}
		if s.files, err = fidListImages(s.arg, mode); err != nil {
			return usageErr("fid: %s: %v", s.arg, err)
		}
		if len(s.files) < 2 {
			return usageErr("fid: %s: %d image file(s) found (%s mode looks for %s); FID needs at least 2",
				s.arg, len(s.files), mode, strings.Join(fidImageExts[mode], " "))
		}
		total += len(s.files)
	}
	res := &fidResult{}
	if total > 0 {
		path, err := fidWeightsPath(c.Weights)
		if err != nil {
			return usageErr("fid: %v", err)
		}
		b, err := backend.New(g.Backend)
		if err != nil {
			return usageErr("%v", err)
		}
		net, err := inception.Open(b, path)
		if err != nil {
			return usageErr("fid: %v", err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return usageErr("fid: %s: %v", path, err)
		}
		res.Weights, res.WeightsSHA256, res.Backend = path, sum, backend.Resolve(g.Backend)
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
		for i := range sides {
			s := &sides[i]
			if s.stats != nil {
				continue
			}
			if s.stats, err = fidImageStats(net, s.files, mode, c.Batch, bar); err != nil {
				return usageErr("fid: %s: %v", s.arg, err)
			}
		}
	}
	for _, s := range sides {
		if s.save != "" {
			if err := metrics.SaveStats(s.save, s.stats.mu, s.stats.sigma); err != nil {
				return usageErr("fid: --save-stats: %v", err)
			}
		}
	}
	r, err := fidFromStats(sides[0].stats, sides[1].stats, mode)
	if err != nil {
		return failErr("fid: %v", err)
	}
	r.DirA, r.DirB = c.DirA, c.DirB
	r.Weights, r.WeightsSHA256, r.Backend = res.Weights, res.WeightsSHA256, res.Backend
	r.Seconds = time.Since(start).Seconds()
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(os.Stderr, "mode %s: %d images in %s, %d in %s\n", r.Mode, r.CountA, r.DirA, r.CountB, r.DirB)
	fmt.Printf("FID %s\n", strconv.FormatFloat(r.FID, 'g', -1, 64))
	return nil
}
