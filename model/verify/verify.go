// Package verify checks a model against golden outputs: each architecture
// registers a Runner that computes, from the inputs stored in a golden
// safetensors file, the outputs it knows by their golden names; Compare
// checks them elementwise (|got-want| <= atol + rtol*|want|, integers exactly).
// `evalrun verify` and the TestParity tests both go through here.
package verify

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/model/config"
	"github.com/dualtoken/evalharness/model/weights"
)

// Runner runs the model in dir on golden's inputs. It returns the outputs it
// produced (keyed by golden name) and the golden keys it read as inputs.
type Runner func(b compute.Backend, dir string, golden weights.Set) (outputs map[string]*weights.Tensor, inputs []string, err error)

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

// Row is the comparison of one golden tensor.
type Row struct {
	Name      string  `json:"name"`
	Shape     []int   `json:"shape,omitempty"`
	MaxAbsErr float64 `json:"max_abs_err"`
	// WorstRatio is max |got-want| / (atol + rtol*|want|); <= 1 passes.
	WorstRatio float64 `json:"worst_ratio"`
	OK         bool    `json:"ok"`
	Status     string  `json:"status"` // "compared", "input", "skipped"
	Note       string  `json:"note,omitempty"`
}

// Report is a whole verify run.
type Report struct {
	Schema    int     `json:"schema"`
	Model     string  `json:"model"`
	ModelType string  `json:"model_type"`
	Golden    string  `json:"golden"`
	Atol      float64 `json:"atol"`
	Rtol      float64 `json:"rtol"`
	Rows      []Row   `json:"tensors"`
	Compared  int     `json:"compared"`
	Failed    int     `json:"failed"`
	OK        bool    `json:"ok"`
}

// Run loads dir's config.json, finds the runner for its model_type, runs it on
// the golden file and compares. Errors wrapping ErrBadInput are the user's.
func Run(b compute.Backend, dir, goldenPath string, atol, rtol float64) (*Report, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	mt, err := cfg.ModelType()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	mu.Lock()
	r, ok := runners[mt]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, cfg.UnknownModelType(Known()...))
	}
	golden, err := weights.OpenSafetensors(goldenPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	defer golden.Close()
	outs, inputs, err := r(b, dir, golden)
	if err != nil {
		return nil, err
	}
	rep := Compare(outs, inputs, golden, atol, rtol)
	rep.Model, rep.ModelType, rep.Golden = dir, mt, goldenPath
	if rep.Compared == 0 {
		return rep, fmt.Errorf("%w: golden file %s has none of the outputs a %s model produces", ErrBadInput, goldenPath, mt)
	}
	return rep, nil
}

// Compare checks outs against every golden tensor; golden keys listed in
// inputs are reported as inputs, others absent from outs as skipped.
func Compare(outs map[string]*weights.Tensor, inputs []string, golden weights.Set, atol, rtol float64) *Report {
	isInput := map[string]bool{}
	for _, n := range inputs {
		isInput[n] = true
	}
	rep := &Report{Schema: 1, Atol: atol, Rtol: rtol, OK: true}
	for _, name := range golden.Names() {
		want, _ := golden.Get(name)
		row := Row{Name: name, Shape: want.Shape}
		got, have := outs[name]
		switch {
		case isInput[name] && !have:
			row.Status, row.OK = "input", true
		case !have:
			row.Status, row.OK = "skipped", true
		default:
			row.Status = "compared"
			rep.Compared++
			row.MaxAbsErr, row.WorstRatio, row.OK, row.Note = compareTensor(got, want, atol, rtol)
			if !row.OK {
				rep.Failed++
				rep.OK = false
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep
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
