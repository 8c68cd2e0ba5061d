package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
)

func init() {
	register("recon-metrics", "PSNR and SSIM (skimage/pytorch_msssim and torchmetrics conventions) of reconstructions against references, paired by relative path.", &reconMetricsCmd{})
}

type reconMetricsCmd struct {
	Ref  string `required:"" help:"Folder of reference (ground-truth) images, searched recursively." placeholder:"DIR"`
	Pred string `required:"" help:"Folder of reconstructions with the same relative paths." placeholder:"DIR"`
	Out  string `help:"Write the per-image CSV (path,psnr,ssim_wang,ssim_torchmetrics) here; '-' for stdout." placeholder:"FILE"`
	JSON bool   `name:"json" help:"Print the summary as JSON (schema 1)."`
}

func (c *reconMetricsCmd) Help() string {
	return `Pairs every image under --ref with the file of the same relative path under --pred
(recursive; .png .jpg .jpeg .webp .bmp .gif, any case) and computes on the decoded
8-bit RGB pixels:
  psnr               10·log10(255²/MSE) over all channels (scikit-image; +Inf when identical)
  ssim_wang          Gaussian σ 1.5, 11 taps, 5-px border cropped, channel mean
                     (scikit-image structural_similarity = pytorch_msssim.ssim)
  ssim_torchmetrics  torchmetrics ≥ 1.5: reflect padding, full-area mean
Prints the means (PSNR averaged per image over pairs with finite PSNR; identical pairs
are counted separately). Files present on one side only, undecodable files, pairs of
different sizes and images too small for SSIM's window stop the command (exit 2, no CSV)
with one line on stderr that counts them and names the first few.

Example:
  evalrun recon-metrics --ref out/gt --pred out/recon --out out/recon_metrics.csv`
}

// reconImageExt are the extensions recon-metrics pairs (compared lower-case).
var reconImageExt = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".bmp": true, ".gif": true}

// reconRow is one pair's result.
type reconRow struct {
	Path             string  `json:"path"`
	PSNR             float64 `json:"psnr"`
	SSIMWang         float64 `json:"ssim_wang"`
	SSIMTorchmetrics float64 `json:"ssim_torchmetrics"`
	problem          string
}

type reconSummary struct {
	Schema        int             `json:"schema"`
	Ref           string          `json:"ref"`
	Pred          string          `json:"pred"`
	Pairs         int             `json:"pairs"`
	PSNR          bench.JSONFloat `json:"psnr"`       // mean over pairs with finite PSNR; "Infinity" when every pair is identical
	PSNRPairs     int             `json:"psnr_pairs"` // pairs in that mean
	IdenticalPair int             `json:"identical"`  // pairs with +Inf PSNR
	SSIMWang      float64         `json:"ssim_wang"`  // mean over all pairs
	SSIMTM        float64         `json:"ssim_torchmetrics"`
	CSV           string          `json:"csv,omitempty"`
}

func (c *reconMetricsCmd) Run(g *Globals) error {
	if c.JSON && c.Out == "-" {
		return usageErr("recon-metrics: --json and --out - would both write stdout: give --out a file")
	}
	refFiles, err := reconListImages(c.Ref)
	if err != nil {
		return usageErr("recon-metrics: --ref %s: %v", c.Ref, err)
	}
	predFiles, err := reconListImages(c.Pred)
	if err != nil {
		return usageErr("recon-metrics: --pred %s: %v", c.Pred, err)
	}
	var problems []string
	var paired []string
	for p := range refFiles {
		if predFiles[p] {
			paired = append(paired, p)
		} else {
			problems = append(problems, "only in --ref: "+p)
		}
	}
	for p := range predFiles {
		if !refFiles[p] {
			problems = append(problems, "only in --pred: "+p)
		}
	}
	sort.Strings(paired)
	if len(predFiles) == 0 && len(refFiles) > 0 {
		return usageErr("recon-metrics: no images (%s) under --pred %s (--ref %s has %d)", reconExtList(), c.Pred, c.Ref, len(refFiles))
	}
	if len(refFiles) == 0 && len(predFiles) > 0 {
		return usageErr("recon-metrics: no images (%s) under --ref %s (--pred %s has %d)", reconExtList(), c.Ref, c.Pred, len(predFiles))
	}
	if len(problems) > 0 {
		return reconFail(problems, len(refFiles)+len(predFiles), c)
	}
	if len(paired) == 0 {
		return usageErr("recon-metrics: no images (%s) under --ref %s", reconExtList(), c.Ref)
	}

	rows := make([]reconRow, len(paired))
	next := make(chan int, len(paired))
	for i := range paired {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	// SSIM parallelises inside one pair too; a few pairs in flight keep the cores busy while decoding.
	for range min(len(paired), max(2, runtime.GOMAXPROCS(0)/2)) {
		wg.Go(func() {
			for i := range next {
				rows[i] = reconPair(c.Ref, c.Pred, paired[i])
			}
		})
	}
	wg.Wait()
	for _, r := range rows {
		if r.problem != "" {
			problems = append(problems, r.problem)
		}
	}
	if len(problems) > 0 {
		return reconFail(problems, 2*len(paired), c)
	}

	sum := reconSummary{Schema: 1, Ref: c.Ref, Pred: c.Pred, Pairs: len(rows), CSV: c.Out}
	for _, r := range rows {
		if math.IsInf(r.PSNR, 1) {
			sum.IdenticalPair++
		} else {
			sum.PSNR += bench.JSONFloat(r.PSNR)
			sum.PSNRPairs++
		}
		sum.SSIMWang += r.SSIMWang
		sum.SSIMTM += r.SSIMTorchmetrics
	}
	if sum.PSNRPairs > 0 {
		sum.PSNR /= bench.JSONFloat(sum.PSNRPairs)
	} else {
		sum.PSNR = bench.JSONFloat(math.Inf(1))
	}
	sum.SSIMWang /= float64(len(rows))
	sum.SSIMTM /= float64(len(rows))

	if c.Out != "" {
		if err := reconWriteCSV(c.Out, rows); err != nil {
			return usageErr("recon-metrics: writing --out %s: %v", c.Out, err)
		}
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Printf("pairs              %d\n", sum.Pairs)
	if sum.PSNRPairs > 0 {
		fmt.Printf("psnr               %.4f dB", float64(sum.PSNR))
	} else {
		fmt.Printf("psnr               +Inf dB")
	}
	if sum.IdenticalPair > 0 {
		fmt.Printf("  (mean of %d pairs; %d identical pairs have +Inf and are not in the mean)", sum.PSNRPairs, sum.IdenticalPair)
	}
	fmt.Println()
	fmt.Printf("ssim_wang          %.6f\n", sum.SSIMWang)
	fmt.Printf("ssim_torchmetrics  %.6f\n", sum.SSIMTM)
	if c.Out != "" && c.Out != "-" {
		fmt.Printf("per-image CSV      %s\n", c.Out)
	}
	return nil
}

// reconListImages returns the image files under root as slash-separated relative paths.
func reconListImages(root string) (map[string]bool, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("not a directory")
	}
	files := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !reconImageExt[strings.ToLower(filepath.Ext(path))] {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = true
		return nil
	})
	return files, err
}

func reconExtList() string {
	var e []string
	for k := range reconImageExt {
		e = append(e, k)
	}
	sort.Strings(e)
	return strings.Join(e, " ")
}

// reconPair decodes one pair and computes its metrics; problems are reported in the row.
func reconPair(refRoot, predRoot, rel string) reconRow {
	row := reconRow{Path: rel}
	ref, err := imageio.Load(filepath.Join(refRoot, filepath.FromSlash(rel)))
	if err != nil {
		row.problem = fmt.Sprintf("unreadable (--ref): %s: %v", rel, err)
		return row
	}
	pred, err := imageio.Load(filepath.Join(predRoot, filepath.FromSlash(rel)))
	if err != nil {
		row.problem = fmt.Sprintf("unreadable (--pred): %s: %v", rel, err)
		return row
	}
	if ref.H != pred.H || ref.W != pred.W {
		row.problem = fmt.Sprintf("size mismatch: %s: --ref %d×%d, --pred %d×%d", rel, ref.H, ref.W, pred.H, pred.W)
		return row
	}
	h, w := ref.H, ref.W
	if row.PSNR, err = metrics.PSNRUint8(ref.Pix, pred.Pix, h, w, 3); err == nil {
		row.SSIMWang, row.SSIMTorchmetrics, err = metrics.SSIMBothUint8(ref.Pix, pred.Pix, h, w, 3)
	}
	if err != nil {
		row.problem = fmt.Sprintf("cannot score: %s: %v", rel, err)
	}
	return row
}

func reconWriteCSV(path string, rows []reconRow) error {
	var w io.Writer = os.Stdout
	var f *os.File
	if path != "-" {
		var err error
		if f, err = os.Create(path); err != nil {
			return err
		}
		w = f
	}
	var b strings.Builder
	b.WriteString("path,psnr,ssim_wang,ssim_torchmetrics\n")
	for _, r := range rows {
		p := r.Path
		if strings.ContainsAny(p, ",\"\n") {
			p = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
		psnr := "inf" // as Python/pandas read it
		if !math.IsInf(r.PSNR, 1) {
			psnr = strconv.FormatFloat(r.PSNR, 'f', 6, 64)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", p, psnr,
			strconv.FormatFloat(r.SSIMWang, 'f', 8, 64), strconv.FormatFloat(r.SSIMTorchmetrics, 'f', 8, 64))
	}
	_, err := io.WriteString(w, b.String())
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// reconShown is how many problems reconFail names; the rest are counted.
const reconShown = 3

// reconFail returns the one-line exit-2 error: how many problems among how
// many files, the first few by path order, and that nothing was written.
// One line however many files are wrong (a missing --pred subfolder would
// otherwise print one line per image).
func reconFail(problems []string, files int, c *reconMetricsCmd) error {
	sort.Strings(problems)
	var shown []string
	for _, p := range problems[:min(len(problems), reconShown)] {
		shown = append(shown, strings.Join(strings.Fields(p), " "))
	}
	list := strings.Join(shown, "; ")
	if more := len(problems) - len(shown); more > 0 {
		list += fmt.Sprintf("; and %d more", more)
	}
	return usageErr("recon-metrics: %d problem(s) among %d files under --ref %s / --pred %s (%s); no metrics written",
		len(problems), files, c.Ref, c.Pred, list)
}
