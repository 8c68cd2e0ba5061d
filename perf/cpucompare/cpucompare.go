// Package cpucompare merges the two sides of scripts/cpu/bench.sh — Go
// benchmark output and the Python reference's JSON lines, measured
// alternately on the same machine with the same thread count — into the CPU
// comparison report (reports/perf/DATE-cpu.json and .md): per component our
// throughput, the reference's, and their ratio.
//
// Both sides time N ops per repeat (Go: -benchtime Nx; Python: N ops after
// one warm-up op) and the report uses each side's median repeat.
package cpucompare

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Spec says how one component is read from the two sides.
type Spec struct {
	Name  string // component, as bench.sh and ref_bench.py name it
	Bench string // Go benchmark name without the -GOMAXPROCS suffix
	Unit  string // throughput unit, items per second
	// Items per Go op: a fixed count, or the value of ItemsMetric on the
	// benchmark line when set (the token count of an encode pass).
	Items       float64
	ItemsMetric string
	Sizes       string // the inputs, in words
	RefLibs     []string
	Note        string
}

// Specs are the components of bench.sh, in report order.
var Specs = []Spec{
	{Name: "jpeg_decode/384x384", Bench: "BenchmarkCPUCompareDecode/384x384", Unit: "images/s", Items: 1,
		Sizes: "384×384 JPEG q90 4:2:0 (PIL-written) → RGB", RefLibs: []string{"pillow", "libjpeg_turbo"}},
	{Name: "jpeg_decode/500x375", Bench: "BenchmarkCPUCompareDecode/500x375", Unit: "images/s", Items: 1,
		Sizes: "500×375 JPEG q90 4:2:0 (PIL-written) → RGB", RefLibs: []string{"pillow", "libjpeg_turbo"}},
	{Name: "siglip_preprocess/384x384", Bench: "BenchmarkCPUCompareSiglip384/384x384", Unit: "images/s", Items: 1,
		Sizes: "decoded 384×384 RGB → 384×384 (both sides skip the resize: copy, rescale, normalise, CHW f32)", RefLibs: []string{"pillow", "numpy"}},
	{Name: "siglip_preprocess/500x375", Bench: "BenchmarkCPUCompareSiglip384/500x375", Unit: "images/s", Items: 1,
		Sizes: "decoded 500×375 RGB → bicubic 384×384, rescale, normalise, CHW f32", RefLibs: []string{"pillow", "numpy"}},
	{Name: "ssim", Bench: "BenchmarkCPUCompareSSIM", Unit: "pairs/s", Items: 1,
		Sizes: "384×384×3 uint8 pair, Gaussian σ 1.5 11×11, data range 255", RefLibs: []string{"scikit-image", "scipy"}},
	{Name: "psnr", Bench: "BenchmarkCPUComparePSNR", Unit: "pairs/s", Items: 1,
		Sizes: "384×384×3 uint8 pair, data range 255", RefLibs: []string{"scikit-image"}},
	{Name: "frechet", Bench: "BenchmarkCPUCompareFrechet", Unit: "distances/s", Items: 1,
		Sizes: "D=2048 statistics (of 3072 samples each), float64", RefLibs: []string{"scipy", "numpy", "blas"},
		Note: "different algorithms: ours is a Cholesky factor, the congruence Lᵀ·Σ2·L as float64 products on GoMLX's Go backend and gonum's symmetric eigenvalues (our BLAS's symmetric products over the cores), the reference scipy's Schur-based sqrtm on OpenBLAS (two threads)"},
	{Name: "spm_encode/unigram150", Bench: "BenchmarkCPUCompareSentencePiece/unigram150", Unit: "tokens/s", ItemsMetric: "tokens/op",
		Sizes: "English lines of /usr/share/common-licenses, one Encode per line; fixture unigram model, vocab 150", RefLibs: []string{"sentencepiece"}},
	{Name: "spm_encode/bpe420", Bench: "BenchmarkCPUCompareSentencePiece/bpe420", Unit: "tokens/s", ItemsMetric: "tokens/op",
		Sizes: "same lines, fixture BPE model with byte fallback, vocab 420", RefLibs: []string{"sentencepiece"}},
	{Name: "spm_encode/unigram8k", Bench: "BenchmarkCPUCompareSentencePiece/unigram8k", Unit: "tokens/s", ItemsMetric: "tokens/op",
		Sizes: "same lines, unigram model trained on them, vocab 8000", RefLibs: []string{"sentencepiece"}},
	{Name: "vqa_eval", Bench: "BenchmarkVQAEvaluate", Unit: "questions/s", Items: 1000,
		Sizes: "1000 questions × 10 answers (metrics BenchmarkVQAEvaluate's set)", RefLibs: []string{"python"},
		Note: "the Go benchmark reports no value; a one-off check on this set gave overall accuracy 42 on both sides"},
	{Name: "vit_encoder", Bench: "BenchmarkVisionEncoderLayers", Unit: "images/s", Items: 4,
		Sizes: "12 pre-LN blocks, B=4 T=196 W=768 heads 12 MLP 3072, f32, random weights", RefLibs: []string{"torch"},
		Note: "ours: SigLIP blocks (GELU tanh) on GoMLX's Go backend; reference: torch.nn.TransformerEncoder (GELU erf, fast path)"},
	{Name: "inception_pool3", Bench: "BenchmarkPool3/batch8", Unit: "images/s", Items: 8,
		Sizes: "batch 8, 3×299×299 → 2048-d pool3, f32, random weights", RefLibs: []string{"torch", "torchvision"},
		Note: "torchvision's Inception-v3 has nearly the FLOPs of pytorch-fid's FID Inception (same convolutions; pool variants differ)"},
}

// GoRun is one Go benchmark result line.
type GoRun struct {
	Name    string             // without the -GOMAXPROCS suffix
	N       int                // iterations
	Metrics map[string]float64 // unit → value: ns/op, cpu-ns/op, tokens/op, value, ...
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseGoBench parses a `go test -bench` result line ("BenchmarkX/sub-2  5
// 123 ns/op  4.5 unit ..."); ok is false for any other line.
func ParseGoBench(line string) (GoRun, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return GoRun{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return GoRun{}, false
	}
	r := GoRun{Name: procsSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return GoRun{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	if _, ok := r.Metrics["ns/op"]; !ok {
		return GoRun{}, false
	}
	return r, true
}

// RefRun is one JSON line of ref_bench.py run.
type RefRun struct {
	Name       string   `json:"name"`
	WallPerOp  float64  `json:"wall_s_per_op"`
	CPUPerOp   float64  `json:"cpu_s_per_op"`
	N          int      `json:"n"`
	ItemsPerOp float64  `json:"items_per_op"`
	Value      *float64 `json:"value"`
	Impl       string   `json:"impl"`
	Skipped    string   `json:"skipped"`
}

// ParseRefLine parses one ref_bench.py JSON line.
func ParseRefLine(line string) (RefRun, error) {
	var r RefRun
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, fmt.Errorf("reference line %q: %v", truncate(line, 80), err)
	}
	if r.Name == "" {
		return r, fmt.Errorf("reference line %q: no name", truncate(line, 80))
	}
	if r.Skipped == "" && (r.WallPerOp <= 0 || r.ItemsPerOp <= 0) {
		return r, fmt.Errorf("reference line for %s: wall_s_per_op %v and items_per_op %v must be positive", r.Name, r.WallPerOp, r.ItemsPerOp)
	}
	return r, nil
}

// Component is one row of the report. Ours and Reference are throughputs
// (Unit) from each side's median repeat; Ratio = Ours / Reference, absent
// when no reference ran. RatioCPU compares items per CPU-second instead,
// where both sides measured CPU time (it differs from Ratio where one side
// runs on more threads than the other).
type Component struct {
	Name          string    `json:"name"`
	Sizes         string    `json:"sizes"`
	Unit          string    `json:"unit"`
	Ours          *float64  `json:"ours"`
	Reference     *float64  `json:"reference,omitempty"`
	Ratio         *float64  `json:"ratio,omitempty"`
	RatioCPU      *float64  `json:"ratio_cpu,omitempty"`
	ReferenceImpl string    `json:"reference_impl,omitempty"`
	ReferenceVer  string    `json:"reference_versions,omitempty"`
	OpsPerRepeat  int       `json:"ops_per_repeat"`
	OursSecPerOp  []float64 `json:"ours_s_per_op"`
	RefSecPerOp   []float64 `json:"reference_s_per_op,omitempty"`
	OursValue     *float64  `json:"ours_value,omitempty"`
	RefValue      *float64  `json:"reference_value,omitempty"`
	Check         string    `json:"check,omitempty"`
	Note          string    `json:"note,omitempty"`
	LoadBefore    []float64 `json:"load_average_before,omitempty"`
}

// Report is reports/perf/DATE-cpu.json.
type Report struct {
	Date         string            `json:"date"`
	Machine      Machine           `json:"machine"`
	Go           string            `json:"go"`
	GoMLX        string            `json:"gomlx"`
	GOEXPERIMENT string            `json:"goexperiment"`
	Threads      int               `json:"threads"`
	Repeats      int               `json:"repeats"`
	Method       string            `json:"method"`
	RefVersions  map[string]string `json:"reference_versions"`
	Components   []*Component      `json:"components"`
	Notes        []string          `json:"notes,omitempty"`
}

// Machine says where it ran. The load averages are /proc/loadavg's 1/5/15
// minute figures at the start and end (each component has its own);
// MaxLoad is the highest 1-minute figure seen.
type Machine struct {
	NProc     int        `json:"nproc"`
	CPU       string     `json:"cpu_model"`
	SIMD      string     `json:"cpu_simd_flags,omitempty"`
	Kernel    string     `json:"kernel,omitempty"`
	LoadStart [3]float64 `json:"load_average_start"`
	LoadEnd   [3]float64 `json:"load_average_end"`
	MaxLoad   float64    `json:"max_load_1min"`
}

// Method is the timing rule the report states.
const Method = "Each component alternates Go and Python, one process per repeat; every repeat times the same N ops on both sides " +
	"(Go: a test binary with -test.benchtime Nx -test.count 1, whose b.N-style benchmarks do an untimed 1-op run first and " +
	"whose setup/compile is outside the timer; Python: one untimed warm-up op then N timed ops). Per side the median repeat's " +
	"seconds per op is used; throughput = items per op / that. ratio = our throughput / reference throughput (> 1: we are faster). " +
	"Same inputs (the script writes them once; both sides read the same files) and the same thread budget " +
	"(GOMAXPROCS = torch threads = OpenBLAS threads)."

// Inputs are the files bench.sh leaves in its OUT folder.
type Inputs struct {
	Go       map[string][]GoRun  // component → repeats
	Ref      map[string][]RefRun // component → repeats
	Versions map[string]string
	Env      map[string]string
	Load     []LoadSample
}

// LoadSample is a line of load.txt: "load LABEL 1min 5min 15min ...".
type LoadSample struct {
	Label string
	Avg   [3]float64
}

// ReadInputs reads go.txt, ref.jsonl, versions.json, env.txt and load.txt
// from dir.
func ReadInputs(dir string) (*Inputs, error) {
	in := &Inputs{Go: map[string][]GoRun{}, Ref: map[string][]RefRun{}, Env: map[string]string{}}
	if err := eachLine(filepath.Join(dir, "go.txt"), func(l string) error {
		comp, rest, ok := strings.Cut(l, "\t")
		if !ok {
			return fmt.Errorf("want COMPONENT<TAB>benchmark line, got %q", truncate(l, 80))
		}
		r, ok := ParseGoBench(rest)
		if !ok {
			return fmt.Errorf("not a benchmark result: %q", truncate(rest, 80))
		}
		in.Go[comp] = append(in.Go[comp], r)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(dir, "ref.jsonl"), func(l string) error {
		r, err := ParseRefLine(l)
		if err == nil {
			in.Ref[r.Name] = append(in.Ref[r.Name], r)
		}
		return err
	}); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "versions.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &in.Versions); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "versions.json"), err)
	}
	if err := eachLine(filepath.Join(dir, "env.txt"), func(l string) error {
		k, v, _ := strings.Cut(l, " ")
		in.Env[k] = v
		return nil
	}); err != nil {
		return nil, err
	}
	err = eachLine(filepath.Join(dir, "load.txt"), func(l string) error {
		s, err := ParseLoad(l)
		in.Load = append(in.Load, s)
		return err
	})
	return in, err
}

// ParseLoad parses "load LABEL" followed by /proc/loadavg's contents.
func ParseLoad(line string) (LoadSample, error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "load" {
		return LoadSample{}, fmt.Errorf("load line %q: want load LABEL 1min 5min 15min", line)
	}
	s := LoadSample{Label: f[1]}
	for i := range 3 {
		v, err := strconv.ParseFloat(f[2+i], 64)
		if err != nil {
			return LoadSample{}, fmt.Errorf("load line %q: %v", line, err)
		}
		s.Avg[i] = v
	}
	return s, nil
}

func eachLine(path string, f func(string) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			if err := f(l); err != nil {
				return fmt.Errorf("%s:%d: %v", path, n, err)
			}
		}
	}
	return sc.Err()
}

// Median of xs (the mean of the middle two for an even count); NaN if empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Spread is (max − min) / median of xs: how far a side's repeats disagree.
func Spread(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return (slices.Max(xs) - slices.Min(xs)) / Median(xs)
}

// Ratio is ours / ref, nil when either is missing or not positive.
func Ratio(ours, ref *float64) *float64 {
	if ours == nil || ref == nil || *ours <= 0 || *ref <= 0 {
		return nil
	}
	return ptr(*ours / *ref)
}

func ptr(v float64) *float64 { return &v }

// Merge builds the report from the inputs, one row per Spec that has Go
// results; a row without reference results keeps Ours and leaves the
// reference and the ratios out.
func Merge(in *Inputs, date string) (*Report, error) {
	r := &Report{Date: date, Method: Method, RefVersions: in.Versions,
		Go: in.Env["go"], GoMLX: in.Env["gomlx"], GOEXPERIMENT: in.Env["goexperiment"]}
	r.Threads, _ = strconv.Atoi(in.Env["threads"])
	r.Repeats, _ = strconv.Atoi(in.Env["repeats"])
	r.Machine.NProc, _ = strconv.Atoi(in.Env["nproc"])
	r.Machine.CPU, r.Machine.SIMD, r.Machine.Kernel = in.Env["cpu"], in.Env["simd"], in.Env["kernel"]
	loads := map[string][3]float64{}
	for _, s := range in.Load {
		loads[s.Label] = s.Avg
		r.Machine.MaxLoad = max(r.Machine.MaxLoad, s.Avg[0])
	}
	r.Machine.LoadStart, r.Machine.LoadEnd = loads["start"], loads["end"]
	for _, sp := range Specs {
		gos := in.Go[sp.Name]
		if len(gos) == 0 {
			continue
		}
		c, err := mergeOne(sp, gos, in.Ref[sp.Name], in.Versions)
		if err != nil {
			return nil, err
		}
		if l, ok := loads[sp.Name]; ok {
			c.LoadBefore = l[:]
		}
		r.Components = append(r.Components, c)
	}
	if len(r.Components) == 0 {
		return nil, fmt.Errorf("no Go benchmark results for any known component")
	}
	return r, nil
}

func mergeOne(sp Spec, gos []GoRun, refs []RefRun, versions map[string]string) (*Component, error) {
	c := &Component{Name: sp.Name, Sizes: sp.Sizes, Unit: sp.Unit, Note: sp.Note, OpsPerRepeat: gos[0].N}
	var cpu []float64
	items := sp.Items
	for _, g := range gos {
		if g.Name != sp.Bench {
			return nil, fmt.Errorf("%s: Go result is %s, want %s", sp.Name, g.Name, sp.Bench)
		}
		c.OursSecPerOp = append(c.OursSecPerOp, g.Metrics["ns/op"]/1e9)
		if v, ok := g.Metrics["cpu-ns/op"]; ok {
			cpu = append(cpu, v/1e9)
		} else if v, ok := g.Metrics["cpu-s/image"]; ok {
			cpu = append(cpu, v*sp.Items)
		}
		if sp.ItemsMetric != "" {
			v, ok := g.Metrics[sp.ItemsMetric]
			if !ok {
				return nil, fmt.Errorf("%s: Go result has no %s", sp.Name, sp.ItemsMetric)
			}
			items = v
		}
		if v, ok := g.Metrics["value"]; ok {
			c.OursValue = ptr(v)
		}
	}
	oursSec := Median(c.OursSecPerOp)
	c.Ours = ptr(items / oursSec)
	var refCPU []float64
	refItems := 0.0
	for _, rr := range refs {
		if rr.Skipped != "" {
			c.Check = "no reference: " + rr.Skipped
			continue
		}
		c.RefSecPerOp = append(c.RefSecPerOp, rr.WallPerOp)
		refCPU = append(refCPU, rr.CPUPerOp)
		refItems = rr.ItemsPerOp
		c.ReferenceImpl = rr.Impl
		if rr.Value != nil {
			c.RefValue = ptr(*rr.Value)
		}
	}
	if len(c.RefSecPerOp) == 0 {
		return c, nil
	}
	c.Check = ""
	c.Reference = ptr(refItems / Median(c.RefSecPerOp))
	c.Ratio = Ratio(c.Ours, c.Reference)
	if len(cpu) == len(gos) && Median(refCPU) > 0 {
		c.RatioCPU = Ratio(ptr(items/Median(cpu)), ptr(refItems/Median(refCPU)))
	}
	var vs []string
	for _, l := range sp.RefLibs {
		if v, ok := versions[l]; ok {
			vs = append(vs, l+" "+v)
		}
	}
	c.ReferenceVer = strings.Join(vs, ", ")
	var checks []string
	if items != refItems {
		checks = append(checks, fmt.Sprintf("items per op differ: ours %g, reference %g", items, refItems))
	}
	if c.OursValue != nil && c.RefValue != nil {
		// Go prints benchmark metrics to 4 significant digits.
		if d := math.Abs(*c.OursValue - *c.RefValue); d > 1e-3*math.Abs(*c.RefValue) {
			checks = append(checks, fmt.Sprintf("values differ: ours %.6g, reference %.6g", *c.OursValue, *c.RefValue))
		} else {
			checks = append(checks, fmt.Sprintf("same value to 4 digits (%.6g)", *c.RefValue))
		}
	}
	if sp.ItemsMetric != "" && items == refItems {
		checks = append(checks, fmt.Sprintf("same token count (%g)", items))
	}
	c.Check = strings.Join(checks, "; ")
	return c, nil
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// WriteMarkdown writes the readable table and the conditions it was
// measured under.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# CPU comparison, %s\n\n", r.Date)
	fmt.Fprintf(b, "%d × %s, kernel %s; %s (GOEXPERIMENT=%s), GoMLX %s; %d threads on both sides; %d repeats, median.\n",
		r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Go, r.GOEXPERIMENT, r.GoMLX, r.Threads, r.Repeats)
	if r.Machine.SIMD != "" {
		fmt.Fprintf(b, "CPU flags: %s.\n", r.Machine.SIMD)
	}
	s, e := r.Machine.LoadStart, r.Machine.LoadEnd
	fmt.Fprintf(b, "Load average (1/5/15 min) at the start %.2f %.2f %.2f, at the end %.2f %.2f %.2f; highest 1-min figure seen %.2f. ",
		s[0], s[1], s[2], e[0], e[1], e[2], r.Machine.MaxLoad)
	b.WriteString("The machine is shared: figures are noisy; spread = (slowest − fastest repeat) / median, per side.\n\n")
	b.WriteString("ratio = our throughput / reference throughput (> 1: ours is faster); ratio (CPU) compares items per CPU-second, " +
		"which differs from ratio where one side uses both threads and the other one.\n\n")
	b.WriteString("| component | size | ours | reference | unit | ratio | ratio (CPU) | spread ours / ref | load before | reference impl (version) |\n")
	b.WriteString("|---|---|---:|---:|---|---:|---:|---:|---:|---|\n")
	for _, c := range r.Components {
		load := "—"
		if len(c.LoadBefore) > 0 {
			load = fmt.Sprintf("%.2f", c.LoadBefore[0])
		}
		spread := fmt.Sprintf("%.0f%% / ", 100*Spread(c.OursSecPerOp))
		if len(c.RefSecPerOp) > 0 {
			spread += fmt.Sprintf("%.0f%%", 100*Spread(c.RefSecPerOp))
		} else {
			spread += "—"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Name, c.Sizes, num(c.Ours), num(c.Reference), c.Unit,
			ratio(c.Ratio), ratio(c.RatioCPU), spread, load, refCell(c))
	}
	b.WriteString("\nChecks and notes:\n\n")
	for _, c := range r.Components {
		var s []string
		if c.Check != "" {
			s = append(s, c.Check)
		}
		if c.Note != "" {
			s = append(s, c.Note)
		}
		if len(s) > 0 {
			fmt.Fprintf(b, "- %s: %s\n", c.Name, strings.Join(s, "; "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	fmt.Fprintf(b, "\nMethod: %s\n\nRerun: `scripts/cpu/bench.sh %s` (see scripts/cpu/README.md).\n", r.Method, r.Date)
	_, err := io.WriteString(w, b.String())
	return err
}

func refCell(c *Component) string {
	if c.ReferenceImpl == "" {
		return "—"
	}
	s := strings.ReplaceAll(c.ReferenceImpl, "|", "/")
	if c.ReferenceVer != "" {
		s += " (" + c.ReferenceVer + ")"
	}
	return s
}

func num(v *float64) string {
	switch {
	case v == nil:
		return "—"
	case *v >= 100:
		return strconv.FormatFloat(*v, 'f', 0, 64)
	case *v >= 1:
		return strconv.FormatFloat(*v, 'f', 2, 64)
	}
	return strconv.FormatFloat(*v, 'g', 3, 64)
}

func ratio(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f×", *v)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
