package cpucompare

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	r, ok := ParseGoBench("BenchmarkPool3/batch8-2         \t       2\t1479114133 ns/op\t         0.2370 cpu-s/image\t         5.409 images/s")
	if !ok || r.Name != "BenchmarkPool3/batch8" || r.N != 2 || r.Metrics["ns/op"] != 1479114133 ||
		r.Metrics["cpu-s/image"] != 0.2370 || r.Metrics["images/s"] != 5.409 {
		t.Errorf("Pool3 line: %+v, %v", r, ok)
	}
	// A sub-benchmark whose own name ends in a dash-number keeps it; only the -GOMAXPROCS suffix goes.
	r, ok = ParseGoBench("BenchmarkX/D=2048-8-2 1 5 ns/op")
	if !ok || r.Name != "BenchmarkX/D=2048-8" {
		t.Errorf("suffix: %+v, %v", r, ok)
	}
	for _, l := range []string{"PASS", "goos: linux", "BenchmarkX-2 notanumber 5 ns/op", "BenchmarkX-2 3 5 images/s",
		"BenchmarkX-2 3 5 ns/op 7", "BenchmarkX-2 3 x ns/op", "ok  github.com/x 1.2s"} {
		if r, ok := ParseGoBench(l); ok {
			t.Errorf("%q parsed as %+v", l, r)
		}
	}
}

func TestParseRefLine(t *testing.T) {
	r, err := ParseRefLine(`{"name": "ssim", "wall_s_per_op": 0.05, "cpu_s_per_op": 0.049, "n": 20, "items_per_op": 1, "value": 0.9565, "impl": "skimage"}`)
	if err != nil || r.Name != "ssim" || r.WallPerOp != 0.05 || r.CPUPerOp != 0.049 || r.N != 20 || r.Value == nil || *r.Value != 0.9565 {
		t.Errorf("%+v, %v", r, err)
	}
	r, err = ParseRefLine(`{"name": "vqa_eval", "skipped": "no VQA_GIT"}`)
	if err != nil || r.Skipped == "" {
		t.Errorf("skipped line: %+v, %v", r, err)
	}
	for line, want := range map[string]string{
		`{"name": "ssim", "wall_s_per_op": 0, "items_per_op": 1}`: "must be positive",
		`{"wall_s_per_op": 1, "items_per_op": 1}`:                 "no name",
		`not json`: "reference line",
	} {
		if _, err := ParseRefLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want it to contain %q", line, err, want)
		}
	}
}

func TestMedianRatio(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3,1,2 = %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4,1,3,2 = %v", m)
	}
	if sp := Spread([]float64{10, 30, 12}); math.Abs(sp-20.0/12) > 1e-12 {
		t.Errorf("spread of 10,30,12 = %v, want 20/12", sp)
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if r := Ratio(ptr(6), ptr(3)); r == nil || *r != 2 {
		t.Errorf("6/3 = %v", r)
	}
	if Ratio(ptr(6), nil) != nil || Ratio(nil, ptr(3)) != nil || Ratio(ptr(6), ptr(0)) != nil {
		t.Error("a missing or zero side gave a ratio")
	}
}

func goRun(name string, nsPerOp float64, extra map[string]float64) GoRun {
	m := map[string]float64{"ns/op": nsPerOp}
	for k, v := range extra {
		m[k] = v
	}
	return GoRun{Name: name, N: 20, Metrics: m}
}

func TestMerge(t *testing.T) {
	in := &Inputs{
		Go: map[string][]GoRun{
			// 10, 12 and 30 ms per pair: median 12 ms → 83.3 pairs/s.
			"ssim": {goRun("BenchmarkCPUCompareSSIM", 10e6, map[string]float64{"value": 0.9565, "cpu-ns/op": 20e6}),
				goRun("BenchmarkCPUCompareSSIM", 30e6, map[string]float64{"value": 0.9565, "cpu-ns/op": 24e6}),
				goRun("BenchmarkCPUCompareSSIM", 12e6, map[string]float64{"value": 0.9565, "cpu-ns/op": 22e6})},
			"psnr":     {goRun("BenchmarkCPUComparePSNR", 1e6, map[string]float64{"value": 30})},
			"vqa_eval": {goRun("BenchmarkVQAEvaluate", 10e6, nil)},
			"spm_encode/bpe420": {goRun("BenchmarkCPUCompareSentencePiece/bpe420", 20e6,
				map[string]float64{"tokens/op": 1000})},
		},
		Ref: map[string][]RefRun{
			"ssim": {{Name: "ssim", WallPerOp: 0.048, CPUPerOp: 0.05, ItemsPerOp: 1, Value: ptr(0.95654), Impl: "skimage"},
				{Name: "ssim", WallPerOp: 0.05, CPUPerOp: 0.05, ItemsPerOp: 1, Value: ptr(0.95654), Impl: "skimage"},
				{Name: "ssim", WallPerOp: 0.06, CPUPerOp: 0.05, ItemsPerOp: 1, Value: ptr(0.95654), Impl: "skimage"}},
			"psnr":              {{Name: "psnr", WallPerOp: 0.002, ItemsPerOp: 1, Value: ptr(31), Impl: "skimage"}},
			"vqa_eval":          {{Name: "vqa_eval", Skipped: "no VQA_GIT"}},
			"spm_encode/bpe420": {{Name: "spm_encode/bpe420", WallPerOp: 0.04, CPUPerOp: 0.04, ItemsPerOp: 999, Impl: "sp"}},
		},
		Versions: map[string]string{"scikit-image": "0.19.3", "scipy": "1.10.1"},
		Env:      map[string]string{"go": "go1.27.3", "threads": "2", "nproc": "2"},
		Load: []LoadSample{{"start", [3]float64{0.5, 1, 1.2}}, {"ssim", [3]float64{1.5, 1, 1.2}},
			{"end", [3]float64{0.7, 1, 1.2}}},
	}
	r, err := Merge(in, "2026-11-27")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Component{}
	for _, c := range r.Components {
		byName[c.Name] = c
	}
	if len(r.Components) != 4 || r.Components[0].Name != "ssim" {
		t.Fatalf("components %v, want ssim, psnr, spm_encode/bpe420, vqa_eval in Specs order", r.Components)
	}
	s := byName["ssim"]
	// Medians: ours 12 ms → 83.33/s, reference 50 ms → 20/s: ratio 4.1667. CPU: 22 ms vs 50 ms → 2.2727.
	if math.Abs(*s.Ours-1/0.012) > 1e-9 || math.Abs(*s.Reference-20) > 1e-9 || math.Abs(*s.Ratio-0.05/0.012) > 1e-9 {
		t.Errorf("ssim ours %v reference %v ratio %v", *s.Ours, *s.Reference, *s.Ratio)
	}
	if s.RatioCPU == nil || math.Abs(*s.RatioCPU-0.05/0.022) > 1e-9 {
		t.Errorf("ssim ratio_cpu %v, want %v", s.RatioCPU, 0.05/0.022)
	}
	if !strings.Contains(s.Check, "same value") || s.ReferenceVer != "scikit-image 0.19.3, scipy 1.10.1" {
		t.Errorf("ssim check %q, versions %q", s.Check, s.ReferenceVer)
	}
	if p := byName["psnr"]; !strings.Contains(p.Check, "values differ") || p.RatioCPU != nil {
		t.Errorf("psnr 30 vs 31: check %q, ratio_cpu %v (Go side has no CPU time)", p.Check, p.RatioCPU)
	}
	v := byName["vqa_eval"]
	if v.Ours == nil || math.Abs(*v.Ours-1000/0.01) > 1e-6 || v.Reference != nil || v.Ratio != nil || !strings.Contains(v.Check, "no VQA_GIT") {
		t.Errorf("vqa without reference: %+v", v)
	}
	if sp := byName["spm_encode/bpe420"]; math.Abs(*sp.Ours-1000/0.02) > 1e-6 || !strings.Contains(sp.Check, "items per op differ") {
		t.Errorf("tokens from the tokens/op metric, count mismatch flagged: ours %v check %q", *sp.Ours, sp.Check)
	}
	if r.Machine.MaxLoad != 1.5 || r.Machine.LoadEnd[0] != 0.7 || len(s.LoadBefore) != 3 || s.LoadBefore[0] != 1.5 || r.Threads != 2 {
		t.Errorf("max load %v, end %v, before ssim %v, threads %d", r.Machine.MaxLoad, r.Machine.LoadEnd, s.LoadBefore, r.Threads)
	}
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| ssim |", "4.17×", "| 167% / 24% |", "| vqa_eval |", "| — | questions/s | — | — | 0% / — | — | — |", "highest 1-min figure seen 1.50"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	png := filepath.Join(t.TempDir(), "r.png")
	if err := r.PlotRatios(png); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("png: %v", err)
	}
}

func TestMergeErrors(t *testing.T) {
	in := &Inputs{Go: map[string][]GoRun{"ssim": {goRun("BenchmarkCPUComparePSNR", 1, nil)}}}
	if _, err := Merge(in, "d"); err == nil || !strings.Contains(err.Error(), "want BenchmarkCPUCompareSSIM") {
		t.Errorf("wrong benchmark under a component: %v", err)
	}
	in = &Inputs{Go: map[string][]GoRun{"spm_encode/bpe420": {goRun("BenchmarkCPUCompareSentencePiece/bpe420", 1, nil)}}}
	if _, err := Merge(in, "d"); err == nil || !strings.Contains(err.Error(), "no tokens/op") {
		t.Errorf("token benchmark without a count: %v", err)
	}
	if _, err := Merge(&Inputs{}, "d"); err == nil {
		t.Error("no results merged without an error")
	}
}

func TestReadInputs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.txt": "ssim\tBenchmarkCPUCompareSSIM-2   \t      20\t  10262591 ns/op\t  0.9565 value\n" +
			"ssim\tBenchmarkCPUCompareSSIM-2   \t      20\t  10362591 ns/op\t  0.9565 value\n",
		"ref.jsonl":     `{"name": "ssim", "wall_s_per_op": 0.05, "cpu_s_per_op": 0.05, "n": 20, "items_per_op": 1, "value": 0.9565, "impl": "skimage"}` + "\n",
		"versions.json": `{"scikit-image": "0.19.3"}`,
		"env.txt":       "nproc 2\ncpu Intel(R) Xeon(R) Processor\nthreads 2\n",
		"load.txt":      "load start 0.27 1.23 1.25 1/300 42\nload ssim 0.5 1.1 1.2 2/301 43\n",
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Go["ssim"]) != 2 || len(in.Ref["ssim"]) != 1 || in.Env["cpu"] != "Intel(R) Xeon(R) Processor" ||
		len(in.Load) != 2 || in.Load[0].Avg != [3]float64{0.27, 1.23, 1.25} || in.Versions["scikit-image"] != "0.19.3" {
		t.Errorf("read %+v", in)
	}
	os.WriteFile(filepath.Join(dir, "go.txt"), []byte("ssim\tPASS\n"), 0o644)
	if _, err := ReadInputs(dir); err == nil || !strings.Contains(err.Error(), "go.txt:1: not a benchmark result") {
		t.Errorf("bad go.txt: %v", err)
	}
	if _, err := ParseLoad("load x 1 2"); err == nil {
		t.Error("short load line accepted")
	}
}
