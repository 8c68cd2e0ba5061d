package reports

import (
	"bytes"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

func sample() []*bench.Result {
	mk := func(model, task string, m map[string]float64, hib bool) *bench.Result {
		h := map[string]bool{}
		for k := range m {
			h[k] = hib
		}
		r := &bench.Result{Schema: 1, Task: task, TaskVersion: 1, Protocol: map[string]any{"split": "val"}, Metrics: m, HigherIsBetter: h}
		r.Model.Name = model
		r.NSamples = bench.NSamples{Total: 10, Scored: 10}
		return r
	}
	return []*bench.Result{
		mk("ckpt-step-100", "imagenet-zeroshot", map[string]float64{"top1": 70.5, "top5": 90}, true),
		mk("ckpt-step-100", "recon", map[string]float64{"rfid_clean": 2.5, "psnr": 24.1, "ssim": 0.61}, true),
		mk("ckpt-step-200", "imagenet-zeroshot", map[string]float64{"top1": 75.25, "top5": 92}, true),
		mk("ckpt-step-200", "recon", map[string]float64{"rfid_clean": 1.5, "psnr": 25.3, "ssim": 0.65}, true),
	}
}

func TestTableDeltaAgainstPaper(t *testing.T) {
	tab := Build(Tables()[0], sample(), map[string]string{"ckpt-step-200": "DualToken (SigLIP-So/14-384)"})
	var ours, delta *Row
	for i, r := range tab.Rows {
		if r.Model == "ckpt-step-200" && r.Source == "ours" {
			ours = &tab.Rows[i]
		}
		if r.Model == "ckpt-step-200" && r.Source == "delta" {
			delta = &tab.Rows[i]
		}
	}
	if ours == nil || delta == nil {
		t.Fatalf("rows: %+v", tab.Rows)
	}
	// Paper: ZS 82.0, PSNR 28.69 for DualToken So/14-384.
	if d := delta.Cells["ZS"].Value; math.Abs(d-(75.25-82.0)) > 1e-9 {
		t.Errorf("ZS delta %v", d)
	}
	if d := delta.Cells["PSNR"].Value; math.Abs(d-(25.3-28.69)) > 1e-9 {
		t.Errorf("PSNR delta %v", d)
	}
	if delta.Cells["T2I"].Set {
		t.Errorf("delta without our value")
	}
	var buf bytes.Buffer
	if err := tab.Render(&buf, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "-6.75") || !strings.Contains(buf.String(), "split=val") {
		t.Errorf("markdown lacks delta or protocol note:\n%s", buf.String())
	}
}

func TestReportRendersNonBlankPlots(t *testing.T) {
	dir := t.TempDir()
	rep, err := Make(sample(), Options{OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plots) < 3 {
		t.Fatalf("only %d plots", len(rep.Plots))
	}
	for _, p := range rep.Plots {
		for _, f := range p.Files {
			st, err := os.Stat(f)
			if err != nil || st.Size() == 0 {
				t.Fatalf("%s: %v", f, err)
			}
			if !strings.HasSuffix(f, ".png") {
				continue
			}
			fh, _ := os.Open(f)
			img, _, err := image.Decode(fh)
			fh.Close()
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			b := img.Bounds()
			if b.Dx() < 300 || b.Dy() < 200 {
				t.Errorf("%s: %v too small", f, b)
			}
			// Not blank: more than one distinct colour, and some dark pixels.
			colours := map[uint32]bool{}
			for y := b.Min.Y; y < b.Max.Y; y += 3 {
				for x := b.Min.X; x < b.Max.X; x += 3 {
					r, g, bb, _ := img.At(x, y).RGBA()
					colours[r>>8<<16|g>>8<<8|bb>>8] = true
				}
			}
			if len(colours) < 3 {
				t.Errorf("%s looks blank (%d colours)", f, len(colours))
			}
		}
	}
	for _, name := range []string{"index.html", "report.md", "report.csv", "report.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(html), "figure1_zs_vs_rfid.png") || !strings.Contains(string(html), "<table") {
		t.Errorf("html lacks plots or tables")
	}
}
