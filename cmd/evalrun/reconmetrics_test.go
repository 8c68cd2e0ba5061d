package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
)

func reconTestImage(h, w int, seed uint8) *imageio.Image {
	m := imageio.New(h, w)
	for i := range m.Pix {
		m.Pix[i] = uint8(i*7) ^ seed
	}
	return m
}

func reconSave(t *testing.T, path string, m *imageio.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imageio.SavePNG(path, m); err != nil {
		t.Fatal(err)
	}
}

func TestReconMetrics(t *testing.T) {
	dir := t.TempDir()
	ref, pred := filepath.Join(dir, "ref"), filepath.Join(dir, "pred")
	pairs := map[string][2]*imageio.Image{
		"a.png":       {reconTestImage(24, 30, 0), reconTestImage(24, 30, 3)},
		"sub/b.PNG":   {reconTestImage(16, 16, 1), reconTestImage(16, 16, 9)},
		"sub/c/d.png": {reconTestImage(20, 12, 5), reconTestImage(20, 12, 5)}, // identical
	}
	for p, ims := range pairs {
		reconSave(t, filepath.Join(ref, p), ims[0])
		reconSave(t, filepath.Join(pred, p), ims[1])
	}
	// A non-image file is ignored.
	if err := os.WriteFile(filepath.Join(ref, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "m.csv")
	code, out, errOut := runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred, "--out", csvPath, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var sum reconSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	csv, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if lines[0] != "path,psnr,ssim_wang,ssim_torchmetrics" || len(lines) != 4 {
		t.Fatalf("csv:\n%s", csv)
	}
	var psnrSum, wangSum, tmSum float64
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		ims, ok := pairs[f[0]]
		if !ok {
			t.Fatalf("unexpected path %q", f[0])
		}
		a, b := ims[0], ims[1]
		psnr, _ := metrics.PSNRUint8(a.Pix, b.Pix, a.H, a.W, 3)
		wang, _ := metrics.SSIMUint8(a.Pix, b.Pix, a.H, a.W, 3, metrics.SSIMWang)
		tm, _ := metrics.SSIMUint8(a.Pix, b.Pix, a.H, a.W, 3, metrics.SSIMTorchmetrics)
		if math.IsInf(psnr, 1) {
			if f[1] != "inf" {
				t.Errorf("%s: psnr %q, want inf", f[0], f[1])
			}
		} else {
			psnrSum += psnr
			if g, _ := strconv.ParseFloat(f[1], 64); math.Abs(g-psnr) > 1e-6 {
				t.Errorf("%s: psnr %v, want %v", f[0], g, psnr)
			}
		}
		wangSum += wang
		tmSum += tm
		gw, _ := strconv.ParseFloat(f[2], 64)
		gt, _ := strconv.ParseFloat(f[3], 64)
		if math.Abs(gw-wang) > 1e-8 || math.Abs(gt-tm) > 1e-8 {
			t.Errorf("%s: ssim %v %v, want %v %v", f[0], gw, gt, wang, tm)
		}
	}
	if sum.Pairs != 3 || sum.IdenticalPair != 1 || sum.PSNRPairs != 2 ||
		math.Abs(float64(sum.PSNR)-psnrSum/2) > 1e-9 || math.Abs(sum.SSIMWang-wangSum/3) > 1e-9 || math.Abs(sum.SSIMTM-tmSum/3) > 1e-9 {
		t.Errorf("summary %+v; want psnr %v wang %v tm %v", sum, psnrSum/2, wangSum/3, tmSum/3)
	}
	// Text output names the means.
	code, out, _ = runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred)
	if code != 0 || !strings.Contains(out, "ssim_torchmetrics") || !strings.Contains(out, "1 identical pairs") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
}

func TestReconMetricsBadInput(t *testing.T) {
	dir := t.TempDir()
	ref, pred := filepath.Join(dir, "ref"), filepath.Join(dir, "pred")
	reconSave(t, filepath.Join(ref, "a.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(pred, "a.png"), reconTestImage(16, 16, 1))
	reconSave(t, filepath.Join(ref, "only_ref.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(pred, "x/only_pred.png"), reconTestImage(16, 16, 0))
	code, _, errOut := runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred)
	if code != 2 || !strings.Contains(errOut, "only in --ref: only_ref.png") || !strings.Contains(errOut, "only in --pred: x/only_pred.png") ||
		!strings.Contains(errOut, "2 problem(s) among 4 files") {
		t.Errorf("unpaired: exit %d, stderr:\n%s", code, errOut)
	}
	// Unreadable and size-mismatched pairs.
	os.Remove(filepath.Join(ref, "only_ref.png"))
	os.RemoveAll(filepath.Join(pred, "x"))
	if err := os.WriteFile(filepath.Join(ref, "bad.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	reconSave(t, filepath.Join(pred, "bad.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(ref, "size.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(pred, "size.png"), reconTestImage(16, 18, 0))
	csvPath := filepath.Join(dir, "m.csv")
	code, _, errOut = runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred, "--out", csvPath)
	if code != 2 || !strings.Contains(errOut, "unreadable (--ref): bad.png") || !strings.Contains(errOut, "size mismatch: size.png: --ref 16×16, --pred 16×18") {
		t.Errorf("unreadable: exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(csvPath); err == nil {
		t.Errorf("CSV written despite bad input")
	}
	code, _, errOut = runCaptured(t, "recon-metrics", "--ref", filepath.Join(dir, "nope"), "--pred", pred)
	if code != 2 || !strings.Contains(errOut, "--ref "+filepath.Join(dir, "nope")) {
		t.Errorf("missing dir: exit %d, stderr:\n%s", code, errOut)
	}
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	code, _, errOut = runCaptured(t, "recon-metrics", "--ref", empty, "--pred", empty)
	if code != 2 || !strings.Contains(errOut, "no images") {
		t.Errorf("empty: exit %d, stderr:\n%s", code, errOut)
	}
}

// Every pair identical: the mean PSNR is +Inf, written "Infinity" in JSON
// (it used to be written 0).
func TestReconMetricsAllIdenticalJSON(t *testing.T) {
	dir := t.TempDir()
	ref, pred := filepath.Join(dir, "ref"), filepath.Join(dir, "pred")
	reconSave(t, filepath.Join(ref, "a.png"), reconTestImage(16, 16, 0))
	reconSave(t, filepath.Join(pred, "a.png"), reconTestImage(16, 16, 0))
	code, out, errOut := runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred, "--json")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if doc["psnr"] != "Infinity" || doc["psnr_pairs"] != 0.0 || doc["identical"] != 1.0 {
		t.Errorf("summary %v: want psnr \"Infinity\", psnr_pairs 0, identical 1", doc)
	}
}

// However many files are wrong, bad input is one line on stderr (exit 2)
// that counts them and names the first few; a --pred with no images at all
// says so instead of listing every reference as unpaired. It used to print
// one line per problem file.
func TestReconMetricsBadInputOneLine(t *testing.T) {
	dir := t.TempDir()
	ref, pred, empty := filepath.Join(dir, "ref"), filepath.Join(dir, "pred"), filepath.Join(dir, "empty")
	for i := range 6 {
		reconSave(t, filepath.Join(ref, "r"+strconv.Itoa(i)+".png"), reconTestImage(16, 16, 0))
	}
	reconSave(t, filepath.Join(pred, "r0.png"), reconTestImage(16, 16, 1))
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCaptured(t, "recon-metrics", "--ref", ref, "--pred", pred)
	want := "evalrun: recon-metrics: 5 problem(s) among 7 files under --ref " + ref + " / --pred " + pred +
		" (only in --ref: r1.png; only in --ref: r2.png; only in --ref: r3.png; and 2 more); no metrics written\n"
	if code != 2 || errOut != want {
		t.Errorf("unpaired: exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, errOut, want)
	}
	code, _, errOut = runCaptured(t, "recon-metrics", "--ref", ref, "--pred", empty)
	if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no images") || !strings.Contains(errOut, "--pred "+empty) {
		t.Errorf("empty --pred: exit %d, stderr:\n%s", code, errOut)
	}
	code, _, errOut = runCaptured(t, "recon-metrics", "--ref", empty, "--pred", ref)
	if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no images") || !strings.Contains(errOut, "--ref "+empty) {
		t.Errorf("empty --ref: exit %d, stderr:\n%s", code, errOut)
	}
}
