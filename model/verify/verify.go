// Package verify checks a model against golden outputs: each architecture
// registers a Runner that computes, from the inputs stored in a golden
// safetensors file, the outputs it knows by their golden names; Compare
// checks them elementwise (|got-want| <= atol + rtol*|want|, integers exactly).
// In bfloat16 mode (Check.DType) the runner runs the model in bfloat16 and
// says, per float output, how many bfloat16 stages produced it; those pass
// within precision.CompareBF16's bounds for that count, and integer outputs
// (codes, token ids) are reported by their share of equal elements.
// `evalrun verify` and the TestParity tests both go through here.
package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/weights"
)

// Options is what Run asks of a Runner.
type Options struct {
	// DType is the compute dtype to run the model in: float32 (or the zero
	// DType) or bfloat16 (the weight matrices stored in it, as the
	// architecture's SetDType does).
	DType dtypes.DType
}

// BF16 says how a float output is checked in bfloat16 mode.
type BF16 struct {
	// Stages is the number of bfloat16 stages behind the output (see
	// precision.CompareBF16: its bounds grow with it). 0 marks a float32
	// island: a value computed in float32 from golden inputs (a quantiser
	// fed the golden latent), checked with the float32 tolerance.
	Stages int
	// Offset and Scale, when Scale != 0, compare (x-Offset)/Scale instead of
	// x: for an output that is an affine map of the quantity the stages
	// produce (SigLIP's logits = cosine*exp(logit_scale) + logit_bias, whose
	// bias would otherwise set the bound's scale).
	Offset, Scale float64
}

// Result is what a Runner computed.
type Result struct {
	Outputs map[string]*weights.Tensor // by golden name
	Inputs  []string                   // the golden keys it read as inputs
	// BF16 gives, in bfloat16 mode, every float output's check. A float
	// output without one fails the comparison (the runner must say).
	BF16 map[string]BF16
}

// Runner runs the model in dir on golden's inputs in opt.DType and returns
// the outputs it produced, keyed by golden name.
type Runner func(b compute.Backend, dir string, golden weights.Set, opt Options) (*Result, error)

var (
	mu      sync.Mutex
	runners = map[string]Runner{}
)

// Register makes r the runner for the given config.json model_type values.
func Register(r Runner, modelTypes ...string) {
	mu.Lock()
	defer mu.Unlock()
	for _, t := range modelTypes {
		runners[t] = r
	}
}

// A Detector names the model_type of a config.json that has none (the
// authors' configs of some architectures omit it), or returns "".
type Detector func(cfg *config.Raw) string

var detectors []Detector

// RegisterDetector adds d to the detectors Run asks when config.json has
// no model_type.
func RegisterDetector(d Detector) {
	mu.Lock()
	defer mu.Unlock()
	detectors = append(detectors, d)
}

// Known lists the registered model types.
func Known() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(runners))
	for k := range runners {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrBadInput marks errors that are the user's input (exit code 2).
var ErrBadInput = errors.New("bad input")

// Row statuses.
const (
	StatusCompared  = "compared"  // checked; OK says whether it passed
	StatusInput     = "input"     // a golden input
	StatusSkipped   = "skipped"   // a golden output the architecture does not produce
	StatusAgreement = "agreement" // bfloat16 mode, integers: the share equal is reported, not required
)

// Row is the comparison of one golden tensor.
type Row struct {
	Name      string  `json:"name"`
	Shape     []int   `json:"shape,omitempty"`
	MaxAbsErr float64 `json:"max_abs_err"`
	// WorstRatio is max |got-want| / (atol + rtol*|want|); <= 1 passes. In
	// bfloat16 mode, for rows with Stages, it is the larger of
	// max|got-want| / Bound and RMSErr / RMSBound.
	WorstRatio float64 `json:"worst_ratio"`
	OK         bool    `json:"ok"`
	Status     string  `json:"status"` // "compared", "input", "skipped"; bfloat16 mode: also "agreement"
	Note       string  `json:"note,omitempty"`

	// bfloat16 mode only (see precision.CompareBF16): the stage count the
	// row was checked at (absent: a float32 island, checked with atol and
	// rtol, or an integer tensor), the bounds on max|got-want| and on
	// rms(got-want), and rms(got-want); for "agreement" rows the share of
	// equal elements.
	Stages   int      `json:"stages,omitempty"`
	Bound    float64  `json:"bound,omitempty"`
	RMSErr   float64  `json:"rms_err,omitempty"`
	RMSBound float64  `json:"rms_bound,omitempty"`
	Equal    *float64 `json:"equal,omitempty"`
}

// MarshalJSON writes an infinite or NaN max_abs_err or worst_ratio (a
// shape mismatch, non-finite outputs) as null and leaves out a non-finite
// bound: JSON has no infinity.
func (r Row) MarshalJSON() ([]byte, error) {
	type plain Row // without this method
	finite := func(x float64) *float64 {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil
		}
		return &x
	}
	omit := func(x float64) *float64 { // the omitempty fields: absent when 0 or not finite
		if x == 0 {
			return nil
		}
		return finite(x)
	}
	return json.Marshal(struct {
		plain
		MaxAbsErr  *float64 `json:"max_abs_err"`
		WorstRatio *float64 `json:"worst_ratio"`
		Bound      *float64 `json:"bound,omitempty"`
		RMSErr     *float64 `json:"rms_err,omitempty"`
		RMSBound   *float64 `json:"rms_bound,omitempty"`
	}{plain(r), finite(r.MaxAbsErr), finite(r.WorstRatio), omit(r.Bound), omit(r.RMSErr), omit(r.RMSBound)})
}

// Report is a whole verify run.
type Report struct {
	Schema    int    `json:"schema"`
	Model     string `json:"model"`
	ModelType string `json:"model_type"`
	Golden    string `json:"golden"`
	// DType is the compute dtype the model ran in: "float32" or "bfloat16".
	DType string  `json:"dtype"`
	Atol  float64 `json:"atol"`
	Rtol  float64 `json:"rtol"`
	Rows  []Row   `json:"tensors"`
	// Compared counts the rows with status "compared", Failed those of them
	// that failed, Agreement (bfloat16 mode) the integer tensors reported by
	// their share of equal elements.
	Compared  int  `json:"compared"`
	Failed    int  `json:"failed"`
	Agreement int  `json:"agreement"`
	OK        bool `json:"ok"`
}

// Check is how a verify run compares.
type Check struct {
	// DType is the compute dtype: float32 (zero) compares every output with
	// Atol/Rtol and integers exactly; bfloat16 compares float outputs with
	// precision.CompareBF16 at their stage count (float32 islands with
	// Atol/Rtol) and reports integer outputs' agreement without requiring it.
	DType      dtypes.DType
	Atol, Rtol float64 // pass when |got-want| <= Atol + Rtol*|want| elementwise
}

// Run loads dir's config.json, finds the runner for its model_type, runs it
// in float32 on the golden file and compares with tolerance atol, rtol.
// Errors wrapping ErrBadInput are the user's.
func Run(b compute.Backend, dir, goldenPath string, atol, rtol float64) (*Report, error) {
	return RunWith(b, dir, goldenPath, Check{Atol: atol, Rtol: rtol})
}

// RunWith is Run in c.DType.
func RunWith(b compute.Backend, dir, goldenPath string, c Check) (*Report, error) {
	if err := precision.Check(c.DType); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if err := checkTolerance(c); err != nil {
		return nil, err
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	mt, err := cfg.ModelType()
	detected := false
	if err != nil && !cfg.Has("model_type") {
		mu.Lock()
		ds := slices.Clone(detectors)
		mu.Unlock()
		for _, d := range ds {
			if t := d(cfg); t != "" {
				mt, err, detected = t, nil, true
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	mu.Lock()
	r, ok := runners[mt]
	mu.Unlock()
	switch {
	case !ok && detected:
		return nil, fmt.Errorf("%w: %s has no model_type and its keys look like %q, which no runner handles (supported: %s)", ErrBadInput, cfg.Path, mt, strings.Join(Known(), ", "))
	case !ok:
		return nil, fmt.Errorf("%w: %v", ErrBadInput, cfg.UnknownModelType(Known()...))
	}
	golden, err := weights.OpenSafetensors(goldenPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	defer golden.Close()
	if err := checkGoldenIDs(golden); err != nil {
		return nil, err
	}
	res, err := r(b, dir, golden, Options{DType: precision.Compute(c.DType)})
	if err != nil {
		return nil, nameGolden(err, golden)
	}
	rep := CompareResult(res, golden, c)
	rep.Model, rep.ModelType, rep.Golden = dir, mt, goldenPath
	if rep.Compared+rep.Agreement == 0 {
		return rep, fmt.Errorf("%w: golden file %s has none of the outputs a %s model produces", ErrBadInput, goldenPath, mt)
	}
	return rep, nil
}

// checkTolerance refuses a tolerance no comparison can honour: negative
// (nothing passes, or with a positive rtol a tolerance that changes sign) or
// not finite (everything passes, NaN nothing).
func checkTolerance(c Check) error {
	for _, t := range []struct {
		name string
		v    float64
	}{{"atol", c.Atol}, {"rtol", c.Rtol}} {
		if t.v < 0 || math.IsNaN(t.v) || math.IsInf(t.v, 0) {
			return fmt.Errorf("%w: %s = %g, want a finite number >= 0", ErrBadInput, t.name, t.v)
		}
	}
	return nil
}

// checkGoldenIDs requires the golden input_ids, when present, to be stored
// as integers: token ids saved as floats are a broken golden file, and its
// message names the stored dtype (a runner sees them converted).
func checkGoldenIDs(golden *weights.SafetensorsFile) error {
	if !golden.Has("input_ids") {
		return nil
	}
	t, err := golden.Get("input_ids")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	switch t.DType {
	case weights.I64, weights.I32, weights.I16, weights.I8, weights.U8:
		return nil
	}
	return fmt.Errorf("%w: golden file %s: input_ids is %s%v, expected integer token ids (I64 or I32)", ErrBadInput, golden.Path, t.DType, t.Shape)
}

// nameGolden adds the golden file's path, and the tensors it holds, to a
// runner's bad-input error about the golden file that does not name it
// (runners see a weights.Set, not its path): "golden file has no
// pixel_values" from another suite's golden must say which file.
func nameGolden(err error, golden *weights.SafetensorsFile) error {
	msg := err.Error()
	// In verify the token ids and pixels always come from the golden file.
	aboutGolden := strings.Contains(msg, "golden file ") || strings.Contains(msg, "golden input") ||
		strings.Contains(msg, "input_ids") || strings.Contains(msg, "pixel_values")
	if !errors.Is(err, ErrBadInput) || !aboutGolden || strings.Contains(msg, golden.Path) {
		return err
	}
	msg = strings.TrimPrefix(msg, ErrBadInput.Error()+": ")
	if strings.Contains(msg, "golden file ") {
		msg = strings.Replace(msg, "golden file ", "golden file "+golden.Path+" ", 1)
	} else {
		msg += " (golden file " + golden.Path + ")"
	}
	if !strings.Contains(msg, " has no ") {
		return fmt.Errorf("%w: %s", ErrBadInput, msg)
	}
	names := golden.Names()
	held := strings.Join(names, ", ")
	if len(names) > 8 {
		held = strings.Join(names[:8], ", ") + fmt.Sprintf(", ... (%d in all)", len(names))
	}
	return fmt.Errorf("%w: %s; it holds %s", ErrBadInput, msg, held)
}

// Compare checks outs against every golden tensor in float32 mode; golden
// keys listed in inputs are reported as inputs, others absent from outs as
// skipped.
func Compare(outs map[string]*weights.Tensor, inputs []string, golden weights.Set, atol, rtol float64) *Report {
	return CompareResult(&Result{Outputs: outs, Inputs: inputs}, golden, Check{Atol: atol, Rtol: rtol})
}

// CompareResult is Compare in c.DType (see Check).
func CompareResult(res *Result, golden weights.Set, c Check) *Report {
	bf16 := precision.Compute(c.DType) == precision.BF16
	isInput := map[string]bool{}
	for _, n := range res.Inputs {
		isInput[n] = true
	}
	rep := &Report{Schema: 1, DType: precision.Name(c.DType), Atol: c.Atol, Rtol: c.Rtol, OK: true}
	for _, name := range golden.Names() {
		want, _ := golden.Get(name)
		row := Row{Name: name, Shape: want.Shape}
		got, have := res.Outputs[name]
		switch {
		case isInput[name] && !have:
			row.Status, row.OK = StatusInput, true
		case !have:
			row.Status, row.OK = StatusSkipped, true
		case bf16:
			compareBF16(&row, got, want, res.BF16, c)
		default:
			row.Status = StatusCompared
			row.MaxAbsErr, row.WorstRatio, row.OK, row.Note = compareTensor(got, want, c.Atol, c.Rtol)
		}
		switch row.Status {
		case StatusCompared:
			rep.Compared++
			if !row.OK {
				rep.Failed++
				rep.OK = false
			}
		case StatusAgreement:
			rep.Agreement++
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep
}

// compareBF16 fills row for a produced output in bfloat16 mode: integers by
// agreement, float32 islands with atol/rtol, other floats with
// precision.CompareBF16 at their stage count.
func compareBF16(row *Row, got, want *weights.Tensor, checks map[string]BF16, c Check) {
	row.Status = StatusCompared
	fail := func(note string) {
		row.MaxAbsErr, row.WorstRatio, row.OK, row.Note = math.Inf(1), math.Inf(1), false, note
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		fail(fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape))
		return
	}
	if !want.DType.IsFloat() {
		// An argmin or argmax flips wherever two candidates are closer than
		// bfloat16's error: equality is reported, not required.
		g, err1 := got.Int64()
		w, err2 := want.Int64()
		if err1 != nil || err2 != nil {
			fail(fmt.Sprintf("integer tensor expected, got %s", got.DType))
			return
		}
		same := 0
		for i := range w {
			if g[i] == w[i] {
				same++
			} else {
				row.MaxAbsErr = math.Max(row.MaxAbsErr, math.Abs(float64(g[i]-w[i])))
			}
		}
		frac := 1.0
		if len(w) > 0 {
			frac = float64(same) / float64(len(w))
		}
		row.Status, row.OK, row.Equal = StatusAgreement, true, &frac
		row.Note = fmt.Sprintf("%.1f%% equal (%d of %d); not required in bfloat16", 100*frac, same, len(w))
		return
	}
	chk, ok := checks[row.Name]
	switch {
	case !ok:
		fail("the runner gave no bfloat16 stage count for this output")
		return
	case chk.Stages == 0: // float32 island
		row.MaxAbsErr, row.WorstRatio, row.OK, row.Note = compareTensor(got, want, c.Atol, c.Rtol)
		return
	}
	g, err1 := got.Float32()
	w, err2 := want.Float32()
	if err1 != nil || err2 != nil {
		fail("unreadable tensor")
		return
	}
	if chk.Scale != 0 {
		affine := func(x []float32) {
			for i, v := range x {
				x[i] = float32((float64(v) - chk.Offset) / chk.Scale)
			}
		}
		affine(g)
		affine(w)
	}
	// Non-finite golden values must be matched exactly (as in float32 mode);
	// the bounds come from the finite ones.
	gf, wf := g[:0:0], w[:0:0]
	for i := range w {
		wv := float64(w[i])
		if !math.IsInf(wv, 0) && !math.IsNaN(wv) {
			gf, wf = append(gf, g[i]), append(wf, w[i])
			continue
		}
		if gv := float64(g[i]); !(gv == wv || (math.IsNaN(gv) && math.IsNaN(wv))) {
			fail(fmt.Sprintf("element %d: got %g, want %g", i, g[i], w[i]))
			return
		}
	}
	a := precision.CompareBF16(gf, wf, chk.Stages)
	row.Stages, row.Bound, row.RMSErr, row.RMSBound = a.Stages, a.Bound, a.RMS, a.RMSBound
	row.MaxAbsErr, row.OK = a.MaxAbs, a.OK
	row.WorstRatio = math.Max(ratio(a.MaxAbs, a.Bound), ratio(a.RMS, a.RMSBound))
	if a.NonFinite > 0 {
		row.WorstRatio = math.Inf(1)
	}
	if chk.Scale != 0 {
		row.Note = fmt.Sprintf("compared as (x%+.6g)/%.6g", -chk.Offset, chk.Scale)
	}
	if !a.OK {
		row.Note = strings.TrimPrefix(row.Note+"; "+a.String()+"; "+a.Mismatched, "; ")
	}
}

// ratio is x/bound, with 0/0 = 0.
func ratio(x, bound float64) float64 {
	if x == 0 {
		return 0
	}
	return x / bound
}

func compareTensor(got, want *weights.Tensor, atol, rtol float64) (maxAbs, worst float64, ok bool, note string) {
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return math.Inf(1), math.Inf(1), false, fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
	}
	if !want.DType.IsFloat() {
		g, err1 := got.Int64()
		w, err2 := want.Int64()
		if err1 != nil || err2 != nil {
			return math.Inf(1), math.Inf(1), false, fmt.Sprintf("integer tensor expected, got %s", got.DType)
		}
		bad := 0
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > 0 {
				bad++
				maxAbs = math.Max(maxAbs, d)
			}
		}
		if bad > 0 {
			return maxAbs, math.Inf(1), false, fmt.Sprintf("%d of %d integers differ", bad, len(w))
		}
		return 0, 0, true, ""
	}
	g, err1 := got.Float64()
	w, err2 := want.Float64()
	if err1 != nil || err2 != nil {
		return math.Inf(1), math.Inf(1), false, "unreadable tensor"
	}
	ok = true
	for i := range w {
		if math.IsInf(w[i], 0) || math.IsNaN(w[i]) {
			if !(g[i] == w[i] || (math.IsNaN(g[i]) && math.IsNaN(w[i]))) {
				ok = false
				maxAbs, worst = math.Inf(1), math.Inf(1)
			}
			continue
		}
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = math.Max(maxAbs, d)
		r := d / (atol + rtol*math.Abs(w[i]))
		worst = math.Max(worst, r)
		if r > 1 {
			ok = false
		}
	}
	return maxAbs, worst, ok, ""
}
