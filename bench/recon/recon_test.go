package recon

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/model/weights"
)

// plusOne "reconstructs" by adding one grey level to every channel: MSE = 1
// exactly (world images never reach 255), 1/255² on pyiqa's [0,1] scale.
type plusOne struct{ k int }

func (p plusOne) Info() bench.ModelInfo { return bench.ModelInfo{Name: "plus-one"} }
func (p plusOne) InputSize() int        { return 32 }
func (p plusOne) CodebookSize() int     { return p.k }
func (p plusOne) Reconstruct(_ context.Context, imgs []*imageio.Image) ([]bench.Reconstruction, error) {
	out := make([]bench.Reconstruction, len(imgs))
	for i, im := range imgs {
		r := im.Clone()
		for j := range r.Pix {
			r.Pix[j]++
		}
		// 4 positions × depth 2; codes 0..3 only: usage 4/k.
		out[i] = bench.Reconstruction{Image: r, Codes: []int32{0, 1, 2, 3, 0, 1, 2, 3}, Depth: 2}
	}
	return out, nil
}

func TestPSNRSSIMAndCodebookOnKnownReconstruction(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 1, 5, 40); err != nil {
		t.Fatal(err)
	}
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(context.Background(), task, plusOne{k: 16}, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := 10 * math.Log10(1/(1.0/(255*255)+1e-8)) // pyiqa: MSE on [0,1] + 1e-8
	if math.Abs(res.Metrics["psnr"]-want) > 1e-9 {
		t.Errorf("psnr %v, want %v", res.Metrics["psnr"], want)
	}
	// A constant shift changes only the means: SSIM's luminance term stays ~1.
	if s := res.Metrics["ssim"]; s < 0.99 || s > 1 {
		t.Errorf("ssim %v", s)
	}
	if u := res.Metrics["codebook_usage"]; u != 100*4.0/16 {
		t.Errorf("usage %v", u)
	}
	if _, ok := res.Metrics["rfid_clean"]; ok {
		t.Errorf("rFID without inception weights")
	}
	if !strings.Contains(res.Protocol["fid_mode"].(string), "not computed") {
		t.Errorf("protocol does not say rFID was skipped: %v", res.Protocol)
	}
}

func TestRFIDWithFormulaInception(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Inception on 12 images")
	}
	dir := t.TempDir()
	if err := WriteDemo(dir, 2, 6, 40); err != nil {
		t.Fatal(err)
	}
	wpath := formulaInceptionFile(t)
	task, err := New(bench.Options{Data: dir, Extra: map[string]string{"inception": wpath, "jpeg": "none"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(context.Background(), task, plusOne{k: 4}, bench.RunConfig{OutDir: t.TempDir(), BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	fid, ok := res.Metrics["rfid_clean"]
	if !ok || math.IsNaN(fid) || fid < 0 {
		t.Fatalf("rfid %v %v", fid, ok)
	}
	if res.HigherIsBetter["rfid_clean"] {
		t.Errorf("rFID must be lower-is-better")
	}
}

func TestBadInputs(t *testing.T) {
	empty := t.TempDir()
	if _, err := New(bench.Options{Data: empty}); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty dir: %v", err)
	}
	dir := t.TempDir()
	WriteDemo(dir, 1, 2, 16)
	if _, err := New(bench.Options{Data: dir, Extra: map[string]string{"inception": "/nope/pt_inception.pth"}}); err == nil || !strings.Contains(err.Error(), "pt_inception-2015-12-05") {
		t.Errorf("missing weights: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "zz.png"), []byte("broken"), 0o644)
	task, _ := New(bench.Options{Data: dir})
	if _, err := bench.Run(context.Background(), task, plusOne{k: 4}, bench.RunConfig{OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "1 of 3 images") {
		t.Errorf("unreadable image: %v", err)
	}
}

// identity reconstructs every image exactly: pyiqa's PSNR is 80 dB.
type identity struct{ plusOne }

func (identity) Reconstruct(_ context.Context, imgs []*imageio.Image) ([]bench.Reconstruction, error) {
	out := make([]bench.Reconstruction, len(imgs))
	for i, im := range imgs {
		out[i] = bench.Reconstruction{Image: im.Clone(), Codes: []int32{0, 1, 2, 3, 0, 1, 2, 3}, Depth: 2}
	}
	return out, nil
}

// TestPerfectReconstruction: an exact reconstruction is stored in the
// predictions and results and read back on resume, not a failed item. Its
// PSNR is pyiqa's 10·log10(1/(0+1e-8)) = 80 dB, which the authors' eval
// reports (scikit-image's formula, used before, gave +Inf and an infinite
// mean over the set).
func TestPerfectReconstruction(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 1, 3, 40); err != nil {
		t.Fatal(err)
	}
	task, err := New(bench.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for run := range 2 { // the second run reads the cached predictions
		res, err := bench.Run(context.Background(), task, identity{plusOne{k: 16}}, bench.RunConfig{OutDir: out, BatchSize: 2})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if math.Abs(res.Metrics["psnr"]-80) > 1e-9 || res.Metrics["ssim"] != 1 || res.NSamples.Failed != 0 {
			t.Errorf("run %d: psnr %v, ssim %v, %d failed; want 80 (pyiqa), 1, 0", run, res.Metrics["psnr"], res.Metrics["ssim"], res.NSamples.Failed)
		}
	}
}

// TestStagedFeaturesMatchPerImage: with the runner overlapping batches and
// one Inception call per batch on ground truth and reconstructions together,
// every record holds its own image's features — each equal to the features
// of that image's JPEG q95 round trip computed alone — and the run's
// records equal Predict's, batch by batch, without the overlap.
func TestStagedFeaturesMatchPerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Inception on 20 images")
	}
	dir := t.TempDir()
	if err := WriteDemo(dir, 3, 5, 40); err != nil {
		t.Fatal(err)
	}
	set := inception.FormulaWeights(inception.StateDictSpecs())
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := inception.New(b, set)
	if err != nil {
		t.Fatal(err)
	}
	newTask := func() *Task {
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"jpeg": "q95"}})
		if err != nil {
			t.Fatal(err)
		}
		task.(*Task).UseInception(net)
		return task.(*Task)
	}
	task := newTask()
	items, _ := task.Items()
	var staged []bench.Record
	batches := [][]bench.Item{items[:2], items[2:4], items[4:]}
	if err := bench.RunBatches(context.Background(), task, plusOne{k: 4}, batches, func(_ int, recs []bench.Record) error {
		staged = append(staged, recs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plain := newTask()
	for i, batch := range batches {
		recs, err := plain.Predict(context.Background(), plusOne{k: 4}, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range recs {
			if k := 2*i + j; string(r.Pred) != string(staged[k].Pred) {
				t.Errorf("item %s: the overlapped run's record differs from Predict's", items[k].ID)
			}
		}
	}
	for k, it := range items {
		var p pred
		if err := json.Unmarshal(staged[k].Pred, &p); err != nil {
			t.Fatal(err)
		}
		img, err := imageio.Load(it.Payload.(string))
		if err != nil {
			t.Fatal(err)
		}
		gt := imageio.ShortSideCenterCrop(img, 32)
		rec, _ := plusOne{}.Reconstruct(context.Background(), []*imageio.Image{gt})
		for name, c := range map[string]struct {
			img    *imageio.Image
			packed string
		}{"ground truth": {gt, p.FeatRef}, "reconstruction": {rec[0].Image, p.FeatRec}} {
			rt, err := jpegRoundTrip(c.img)
			if err != nil {
				t.Fatal(err)
			}
			want, err := net.BatchPool3([]*imageio.Image{rt}, inception.Clean)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bench.UnpackFloat32(c.packed)
			if err != nil || len(got) != len(want) {
				t.Fatalf("%s %s: %d features (%v), want %d", it.ID, name, len(got), err, len(want))
			}
			for i := range want {
				if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("%s %s feature %d: %v, alone %v", it.ID, name, i, got[i], want[i])
				}
			}
		}
	}
}

// onBackend is plusOne on a given backend (bench.BackendUser).
type onBackend struct {
	plusOne
	b compute.Backend
}

func (o onBackend) Backend() compute.Backend { return o.b }

// TestInceptionOnTheModelsBackend: the task's Inception runs on the model's
// backend when the model says which (no second client); otherwise on a new
// backend of the model's kind.
func TestInceptionOnTheModelsBackend(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDemo(dir, 1, 1, 40); err != nil {
		t.Fatal(err)
	}
	wpath := formulaInceptionFile(t)
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []bench.Model{onBackend{plusOne{k: 4}, b}, plusOne{k: 4}} {
		task, err := New(bench.Options{Data: dir, Extra: map[string]string{"inception": wpath}})
		if err != nil {
			t.Fatal(err)
		}
		net, err := task.(*Task).inception(m)
		if err != nil {
			t.Fatal(err)
		}
		_, shares := m.(onBackend)
		if got := net.Backend() == b; got != shares {
			t.Errorf("%T: inception on the model's backend %v, want %v", m, got, shares)
		}
	}
}

// formulaInceptionFile writes formula weights, standing in for pytorch-fid's
// (same names and shapes), as a safetensors file for the inception= option.
func formulaInceptionFile(t *testing.T) string {
	t.Helper()
	set := inception.FormulaWeights(inception.StateDictSpecs())
	var ts []*weights.Tensor
	for _, n := range set.Names() {
		x, _ := set.Get(n)
		ts = append(ts, x)
	}
	wpath := filepath.Join(t.TempDir(), "inception.safetensors")
	if err := weights.WriteSafetensors(wpath, ts, nil); err != nil {
		t.Fatal(err)
	}
	return wpath
}
