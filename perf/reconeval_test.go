package perf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/model/inception"
	"github.com/dualtoken/evalharness/world"
)

func TestFLOPsDualTokenReconstructByHand(t *testing.T) {
	fc := tinyDualToken()
	dec := DualTokenDecode(fc) // counted by hand in TestFLOPsDualTokenByHand
	// Patch embedding 768, one tower layer (layer_recon 1) 4608, the pixel
	// down projection 3200 and its quantiser 192 (see TestFLOPsDualTokenByHand);
	// no semantic branch, no MAP head, no second layer.
	if got, want := DualTokenReconstruct(fc), 768.0+4608+3200+192+dec; got != want {
		t.Errorf("DualTokenReconstruct = %v, want %v", got, want)
	}
	// A shortcut from layer 1 with layer_recon 2: both layers and a second down projection.
	fc.LayerRecon, fc.LayerShortcut = 2, 1
	if got, want := DualTokenReconstruct(fc), 768.0+2*4608+2*3200+192+dec; got != want {
		t.Errorf("with a shortcut: %v, want %v", got, want)
	}
	// Pixels from the semantic codes: the tower to layer_sem and the semantic branch's down side.
	fc.LayerRecon, fc.LayerShortcut, fc.ReconFromSemantic = 1, 0, true
	fc.Sem.NEmbed = 5 // distinguishes the semantic quantiser: 2 depths · 2·4·5·4 = 320
	dec = DualTokenDecode(fc)
	if got, want := DualTokenReconstruct(fc), 768.0+4608+3200+320+dec; got != want {
		t.Errorf("from the semantic codes: %v, want %v", got, want)
	}
}

// The sweep over stage intervals. Batch 0 (untimed) completes at 1 s, batch
// 1 at 9 s: the rate's window is 8 s. Batch 1's stages ran 0–4 s (decode),
// 2–6.5 s (tokenizer) and 7–8 s (inception): the timed span is 0–9 s, busy
// 0–6.5 and 7–8 = 7.5 s, overlap 2–4 = 2 s, idle 1.5 s, and the stage times
// (4 + 4.5 + 1 = 9.5 s) are busy plus overlap. Batch 0's spans count only
// as first calls.
func TestBuildReconReportSweep(t *testing.T) {
	at := func(s float64) time.Time { return time.Unix(100, 0).Add(time.Duration(s * float64(time.Second))) }
	var spans [numStages][]span
	spans[stLoad] = []span{{0, at(-1), at(-0.5)}, {1, at(0), at(4)}}
	spans[stReconstruct] = []span{{0, at(-0.5), at(0.5)}, {1, at(2), at(6.5)}}
	spans[stInception] = []span{{0, at(0.5), at(0.9)}, {1, at(7), at(8)}}
	rep := buildReconReport(spans, []time.Time{at(1), at(9)}, 0, 4)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("window", rep.Window, 8)
	near("img/s", rep.ImgPerS, 4.0/8)
	near("timed span", rep.Span, 9)
	near("busy", rep.Busy, 7.5)
	near("overlap", rep.Overlap, 2)
	near("idle", rep.Idle, 1.5)
	near("load s/img", rep.StagePerImage["load_crop"], 4.0/4)
	near("reconstruct s/img", rep.StagePerImage["reconstruct"], 4.5/4)
	near("stage sum", rep.SumPerImage, 9.5/4)
	near("device s/img", rep.DevicePerImage, 5.5/4)
	near("host s/img", rep.HostPerImage, 4.0/4)
	near("device-bound rate", rep.DeviceBound, 4/5.5)
	near("reconstruct median batch (timed batch 1 only)", rep.StageBatchMedian["reconstruct"], 4.5)
	near("first tokenizer call", rep.FirstTokenizer, 1)
	near("first inception call", rep.FirstInception, 0.4)
	near("tokenizer compile (first minus median, not negative)", rep.CompileTokenizer, 0)
	if rep.TimedImages != 4 || rep.Bottleneck != "reconstruct" {
		t.Errorf("timed images %d, bottleneck %q", rep.TimedImages, rep.Bottleneck)
	}
	// A slow first call is the compile: 3 s of tokenizer beyond its median.
	spans[stReconstruct][0] = span{0, at(-7), at(0.5)}
	near("tokenizer compile", buildReconReport(spans, []time.Time{at(1), at(9)}, 0, 4).CompileTokenizer, 7.5-4.5)
	// No timed batch: nothing to divide by.
	if rep := buildReconReport(spans, []time.Time{at(1)}, 0, 4); rep.ImgPerS != 0 || rep.TimedImages != 0 {
		t.Errorf("one batch: %+v", rep)
	}
}

// The tiny preset runs end to end on the Go backend, as `evalrun run` runs
// batches and with each batch in turn: every image goes through every stage
// (exact counts), the rate is positive, stage times fit in the timed span
// (their sum is its busy time plus the measured overlap; without overlap,
// most of the span), and the JSON keeps the breakdown.
func TestReconEvalTiny(t *testing.T) {
	b := goBackend(t)
	const batch, warmup, iters = 2, 1, 3
	for _, noOverlap := range []bool{false, true} {
		r, err := Run(b, "go", Options{Component: ReconEvalComponent, Preset: "tiny", Batch: batch, DType: dtypes.Float32,
			Seed: 1, Warmup: warmup, Iters: iters, NoOverlap: noOverlap}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, r)
		re := r.ReconEval
		if re == nil {
			t.Fatal("no recon_eval in the result")
		}
		all, timed := (1+warmup+iters)*batch, iters*batch
		if re.Images != all || re.TimedImages != timed || re.MetricImages != all || re.FeatureRows != all || re.Overlapped == noOverlap {
			t.Errorf("no-overlap %v: images %d, timed %d, metrics %d, feature rows %d, overlapped %v; want %d, %d, %d, %d",
				noOverlap, re.Images, re.TimedImages, re.MetricImages, re.FeatureRows, re.Overlapped, all, timed, all, all)
		}
		if !(re.ImgPerS > 0) || math.IsInf(re.ImgPerS, 0) || !(re.Window > 0) || len(r.Steps) != iters {
			t.Errorf("rate %v img/s over %v s, %d steps", re.ImgPerS, re.Window, len(r.Steps))
		}
		const eps = 1e-6
		sum := re.SumPerImage * float64(timed)
		if math.Abs(sum-(re.Busy+re.Overlap)) > eps || re.Busy > re.Span+eps {
			t.Errorf("stages %.4f s, busy %.4f s + overlap %.4f s, timed span %.4f s", sum, re.Busy, re.Overlap, re.Span)
		}
		for _, n := range StageNames {
			if re.StagePerImage[n]*float64(timed) > re.Span+eps || !(re.StageBatchMedian[n] > 0) {
				t.Errorf("stage %s: %v s/img, median batch %v s (timed span %v s)", n, re.StagePerImage[n], re.StageBatchMedian[n], re.Span)
			}
		}
		if noOverlap && (re.Overlap != 0 || sum < 0.8*re.Span) {
			t.Errorf("stages in turn: overlap %v s, stages %v s of a %v s timed span", re.Overlap, sum, re.Span)
		}
		if !(re.FirstTokenizer > 0 && re.FirstInception > 0) || r.CompileSeconds < 0 || r.CompileSeconds != re.CompileTokenizer+re.CompileIncept {
			t.Errorf("compile %v s (%+v)", r.CompileSeconds, re)
		}
		if math.IsNaN(re.MeanPSNR) || re.MeanSSIM < -1 || re.MeanSSIM > 1 {
			t.Errorf("PSNR %v, SSIM %v", re.MeanPSNR, re.MeanSSIM)
		}
		fc, _ := DualTokenConfig("tiny")
		if want := float64(batch) * (DualTokenReconstruct(fc) + 2*Inception(inception.InputSize)); r.FLOPsPerCall != want {
			t.Errorf("FLOPs per call %v, want %v", r.FLOPsPerCall, want)
		}
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadResult(buf.Bytes())
		if err != nil || back.ReconEval == nil || back.ReconEval.TimedImages != timed || back.ReconEval.StagePerImage["reconstruct"] != re.StagePerImage["reconstruct"] {
			t.Errorf("JSON round trip: %v, %+v", err, back)
		}
	}
}

// An image that cannot be decoded is a failed record, as in a real run: the
// run goes on, and the counts leave that item out each time a batch holds it.
func TestReconEvalBadImage(t *testing.T) {
	b := goBackend(t)
	for _, noOverlap := range []bool{false, true} {
		w, e, err := newReconEval(b, Options{Component: ReconEvalComponent, Preset: "tiny", Batch: 2, Seed: 1, Iters: 3, NoOverlap: noOverlap})
		if err != nil {
			t.Fatal(err)
		}
		bad := e.batches[1][1] // batch 1's second image
		if err := os.WriteFile(bad.Payload.(string), []byte("not an image"), 0o644); err != nil {
			t.Fatal(err)
		}
		uses := 0
		for _, batch := range e.batches {
			for _, it := range batch {
				if it.ID == bad.ID {
					uses++
				}
			}
		}
		done := make(chan error, 1)
		go func() {
			_, err := Measure(w, 0, 3)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("no-overlap %v: %v", noOverlap, err)
			}
		case <-time.After(120 * time.Second):
			t.Fatalf("no-overlap %v: the run did not end", noOverlap)
		}
		var r Result
		w.Report(&r)
		w.Close()
		if all := 4 * 2; r.ReconEval.MetricImages != all-uses || r.ReconEval.FeatureRows != all-uses || r.ReconEval.Images != all {
			t.Errorf("no-overlap %v: %d images, %d with metrics, %d with features; want %d, %d, %d", noOverlap,
				r.ReconEval.Images, r.ReconEval.MetricImages, r.ReconEval.FeatureRows, all, all-uses, all-uses)
		}
	}
}

// TestReconEvalStepPastTheEnd: asking for a batch after the last one is an
// error in both modes, not a wait for a completion that never comes.
func TestReconEvalStepPastTheEnd(t *testing.T) {
	b := goBackend(t)
	for _, noOverlap := range []bool{false, true} {
		w, e, err := newReconEval(b, Options{Component: ReconEvalComponent, Preset: "tiny", Batch: 2, Seed: 1, Iters: 1, NoOverlap: noOverlap})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			var err error
			for range e.total + 1 {
				if err = e.step(); err != nil {
					break
				}
			}
			w.Close()
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "batches done") {
				t.Errorf("no-overlap %v: step past the end: %v, want an error", noOverlap, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no-overlap %v: a step past the end blocked", noOverlap)
		}
	}
}

func TestReconEvalRejects(t *testing.T) {
	b := goBackend(t)
	for _, o := range []Options{
		{Component: ReconEvalComponent, Preset: "tiny", Batch: 0},
		{Component: ReconEvalComponent, Preset: "tiny", Batch: 2, Layers: 3},
		{Component: ReconEvalComponent, Preset: "fid-299", Batch: 2},
		{Component: "dualtoken-encode", Preset: "tiny", Batch: 2, NoOverlap: true},
		{Component: ReconEvalComponent, Preset: "tiny", Batch: 2, Warmup: -1},
	} {
		if _, err := Build(b, o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: %v, want an ErrOptions", o, err)
		}
	}
}

// BenchmarkReconEvalHostStages times the host work of one image in the
// recon task at a preset's input size on one goroutine, without the models
// (the reconstruction is the ground truth itself): decode and crop, PSNR and
// both SSIMs, the two JPEG q95 round trips and clean-fid resizes of ground
// truth and reconstruction, and the record. ns/op is one image's cost on one
// core; at 170 img/s the host needs Σ·170 cores.
//
//	go test ./perf -run '^$' -bench ReconEvalHostStages -benchtime 20x
func BenchmarkReconEvalHostStages(b *testing.B) {
	for _, preset := range []string{"so400m-384", "so400m-256"} {
		fc, err := DualTokenConfig(preset)
		if err != nil {
			b.Fatal(err)
		}
		S := fc.Tower.Vision.ImageSize
		var src bytes.Buffer
		if err := imageio.EncodeJPEG(&src, world.Generate(1, 0).Image(S), sourceQuality); err != nil {
			b.Fatal(err)
		}
		gt, err := imageio.DecodeBytes(src.Bytes(), "src.jpg")
		if err != nil {
			b.Fatal(err)
		}
		run := func(name string, f func() error) {
			b.Run(preset+"/"+name, func(b *testing.B) {
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("load_crop", func() error {
			img, err := imageio.DecodeBytes(src.Bytes(), "src.jpg")
			if err == nil {
				imageio.ShortSideCenterCrop(img, S)
			}
			return err
		})
		run("psnr_ssim", func() error {
			_, e1 := metrics.PSNRPyiqaUint8(gt.Pix, gt.Pix, S, S, 3)
			_, _, e2 := metrics.SSIMBothUint8(gt.Pix, gt.Pix, S, S, 3)
			return errors.Join(e1, e2)
		})
		run("jpeg_roundtrip_x2", func() error {
			for range 2 {
				var buf bytes.Buffer
				if err := imageio.EncodeJPEG(&buf, gt, 95); err != nil {
					return err
				}
				if _, err := imageio.DecodeBytes(buf.Bytes(), "rt.jpg"); err != nil {
					return err
				}
			}
			return nil
		})
		run("inception_resize_x2", func() error {
			inception.Preprocess(gt, inception.Clean)
			inception.Preprocess(gt, inception.Clean)
			return nil
		})
	}
}

// TestReconEvalOverlapKeepsPredictions: the same batches give byte-identical
// predictions files whether batches overlap (as evalrun run) or run in turn.
func TestReconEvalOverlapKeepsPredictions(t *testing.T) {
	b := goBackend(t)
	var files [2][]byte
	for i, noOverlap := range []bool{false, true} {
		w, e, err := newReconEval(b, Options{Component: ReconEvalComponent, Preset: "tiny", Batch: 2, Seed: 3, Iters: 2, NoOverlap: noOverlap})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Measure(w, 0, 2); err != nil {
			t.Fatal(err)
		}
		var r Result
		w.Report(&r) // waits for the trailing batch
		data, err := os.ReadFile(e.preds.Name())
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The trailing batch of the overlapped run is not part of the comparison.
		lines := strings.SplitAfter(string(data), "\n")
		files[i] = []byte(strings.Join(lines[:min(len(lines), 3*2)], ""))
	}
	if len(files[0]) == 0 || !bytes.Equal(files[0], files[1]) {
		t.Errorf("predictions differ between the overlapped run (%d bytes) and the one in turn (%d bytes)", len(files[0]), len(files[1]))
	}
}
