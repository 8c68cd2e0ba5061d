package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench"
)

// CheckRow compares one metric of one task between a baseline and a candidate.
type CheckRow struct {
	Task string `json:"task"`
	// Model is the baseline result's model name. CandidateModel is the
	// candidate's, set only where it differs (results paired by task, such
	// as checkpoint v1 against v2).
	Model          string  `json:"model"`
	CandidateModel string  `json:"candidate_model,omitempty"`
	Metric         string  `json:"metric"`
	Baseline       float64 `json:"baseline"`
	Candidate      float64 `json:"candidate"`
	Delta          float64 `json:"delta"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Tolerance      float64 `json:"tolerance"`
	Regressed      bool    `json:"regressed"`
	// Note says why a row is special ("missing in candidate", "different
	// items: not compared", ...); "" when nothing is. JSON always has it.
	Note string `json:"note"`
	// Missing is true when the candidate lacks the metric; Candidate and
	// Delta are then NaN and JSON writes them as null.
	Missing bool `json:"-"`
	// NotCompared is true when the row was not judged because the task's
	// two runs covered different items and CheckOptions.AllowDifferentItems
	// was false; Regressed is then false.
	NotCompared bool `json:"-"`
}

// MarshalJSON writes the candidate and delta of a metric missing from the
// candidate as null; every other NaN or infinite number (a candidate metric
// that is present but NaN included) is written as bench.JSONFloat does
// ("NaN", "Infinity", "-Infinity").
func (r CheckRow) MarshalJSON() ([]byte, error) {
	orNull := func(v float64) *bench.JSONFloat {
		if r.Missing {
			return nil
		}
		f := bench.JSONFloat(v)
		return &f
	}
	return json.Marshal(struct {
		Task           string           `json:"task"`
		Model          string           `json:"model"`
		CandidateModel string           `json:"candidate_model,omitempty"`
		Metric         string           `json:"metric"`
		Baseline       bench.JSONFloat  `json:"baseline"`
		Candidate      *bench.JSONFloat `json:"candidate"`
		Delta          *bench.JSONFloat `json:"delta"`
		HigherIsBetter bool             `json:"higher_is_better"`
		Tolerance      bench.JSONFloat  `json:"tolerance"`
		Regressed      bool             `json:"regressed"`
		Note           string           `json:"note"`
	}{r.Task, r.Model, r.CandidateModel, r.Metric, bench.JSONFloat(r.Baseline), orNull(r.Candidate), orNull(r.Delta), r.HigherIsBetter, bench.JSONFloat(r.Tolerance), r.Regressed, r.Note})
}

// CheckReport is the whole comparison. MissingTasks are baseline tasks the
// candidate lacks (a usage error: nothing to compare), ExtraTasks candidate
// tasks the baseline lacks; both are "task", or "task (model)" where the
// results of that task were paired by model.
type CheckReport struct {
	Schema       int        `json:"schema"`
	Rows         []CheckRow `json:"rows"`
	Regressions  int        `json:"regressions"`
	MissingTasks []string   `json:"missing_tasks,omitempty"`
	ExtraTasks   []string   `json:"extra_tasks,omitempty"`
	// DifferentItems names the tasks whose two runs covered different
	// items ("pope: baseline 9000 items (all), candidate 100 items
	// (limit 100)"): their metrics are not comparable, so unless
	// CheckOptions.AllowDifferentItems their rows are not judged and do
	// not count in Regressions.
	DifferentItems []string `json:"different_items,omitempty"`
}

// Tolerances maps "task/metric", "task/*", "*/metric" or "metric" to an
// absolute tolerance; the most specific key wins, default 0.
type Tolerances map[string]float64

// ParseTolerances reads "task/metric=abs" specs.
func ParseTolerances(specs []string) (Tolerances, error) {
	t := Tolerances{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || k == "" || err != nil || f < 0 || math.IsNaN(f) {
			return nil, fmt.Errorf("--tolerance %q: expected task/metric=ABS with ABS a non-negative number", s)
		}
		if task, metric, slash := strings.Cut(k, "/"); slash && (task == "" || metric == "" || task == "*" && metric == "*") {
			return nil, fmt.Errorf("--tolerance %q: the key must be task/metric, task/*, */metric or metric", s)
		}
		t[k] = f
	}
	return t, nil
}

// keys are the tolerance keys that apply to (task, metric), most specific first.
func tolKeys(task, metric string) []string {
	return []string{task + "/" + metric, task + "/*", "*/" + metric, metric}
}

// For is the tolerance of metric in task.
func (t Tolerances) For(task, metric string) float64 {
	for _, k := range tolKeys(task, metric) {
		if v, ok := t[k]; ok {
			return v
		}
	}
	return 0
}

// Validate checks that every key applies to some (task, metric) of
// results: a key that applies to none (a typo such as "vqav2/acuracy") is
// an error naming it and what the results hold.
func (t Tolerances) Validate(results []*bench.Result) error {
	used := map[string]bool{}
	metricsOf := map[string]map[string]bool{}
	for _, r := range results {
		if metricsOf[r.Task] == nil {
			metricsOf[r.Task] = map[string]bool{}
		}
		for m := range r.Metrics {
			metricsOf[r.Task][m] = true
			for _, k := range tolKeys(r.Task, m) {
				used[k] = true
			}
		}
	}
	var bad []string
	for k := range t {
		if !used[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	k := bad[0]
	task, _, slash := strings.Cut(k, "/")
	switch {
	case slash && task != "*" && metricsOf[task] != nil:
		return fmt.Errorf("--tolerance key %q matches no metric of the baseline's task %s (it has %s)", k, task, strings.Join(sortedKeys(metricsOf[task]), ", "))
	case slash && task != "*":
		return fmt.Errorf("--tolerance key %q matches no task/metric of the baseline (tasks: %s)", k, strings.Join(sortedKeys(metricsOf), ", "))
	}
	all := map[string]bool{}
	for _, ms := range metricsOf {
		for m := range ms {
			all[m] = true
		}
	}
	return fmt.Errorf("--tolerance key %q matches no metric of the baseline (it has %s)", k, strings.Join(sortedKeys(all), ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SelectModels keeps the results of the named models. A name that neither
// side has is an error listing the models they have.
func SelectModels(names []string, sides ...[]*bench.Result) ([][]*bench.Result, error) {
	if len(names) == 0 {
		return sides, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	have := map[string]bool{}
	out := make([][]*bench.Result, len(sides))
	for i, rs := range sides {
		for _, r := range rs {
			have[r.Model.Name] = true
			if want[r.Model.Name] {
				out[i] = append(out[i], r)
			}
		}
	}
	for _, n := range names {
		if !have[n] {
			return nil, fmt.Errorf("--model %q: no result has that model name (models: %s)", n, strings.Join(sortedKeys(have), ", "))
		}
	}
	return out, nil
}

// pairKey is how results are paired: by task, or by task and model name
// where either side has several models for the task.
type pairKey struct{ task, model string }

func (k pairKey) String() string {
	if k.model == "" {
		return k.task
	}
	return k.task + " (" + k.model + ")"
}

// checkPaths checks that paths, the results.json files results were read
// from, has one entry per result (nil: unknown, allowed).
func checkPaths(what string, results []*bench.Result, paths []string) error {
	if paths != nil && len(paths) != len(results) {
		return fmt.Errorf("reports: %d paths for %d %s results", len(paths), len(results), what)
	}
	return nil
}

// pathOf is the i-th result's file, or "" when paths are unknown.
func pathOf(paths []string, i int) string {
	if i < len(paths) {
		return paths[i]
	}
	return ""
}

// twoResults describes two results of one model on one task: their dtype
// and backend (each once where they agree) and, where known, both files.
func twoResults(a, b *bench.Result, pa, pb string) string {
	var parts []string
	for _, f := range []struct{ what, x, y string }{{"dtype", a.Run.DType, b.Run.DType}, {"backend", a.Run.Backend, b.Run.Backend}} {
		switch {
		case f.x == "" && f.y == "":
		case f.x == f.y:
			parts = append(parts, fmt.Sprintf("both %s %q", f.what, f.x))
		default:
			parts = append(parts, fmt.Sprintf("%s %q and %q", f.what, f.x, f.y))
		}
	}
	s := ""
	if len(parts) > 0 {
		s = " (" + strings.Join(parts, ", ") + ")"
	}
	if pa != "" && pb != "" {
		s += ": " + pa + " and " + pb
	}
	return s
}

// index groups results by task and, within a task, by model name; two
// results of one model on one task are ambiguous (the error names both
// files where paths are known).
func index(rs []*bench.Result, paths []string, side string) (map[string]map[string]*bench.Result, error) {
	out := map[string]map[string]*bench.Result{}
	at := map[*bench.Result]int{}
	for i, r := range rs {
		if out[r.Task] == nil {
			out[r.Task] = map[string]*bench.Result{}
		}
		if prev, dup := out[r.Task][r.Model.Name]; dup {
			return nil, fmt.Errorf("%s has two results for task %q of model %q%s; point it at one run's results", side, r.Task, r.Model.Name, twoResults(prev, r, pathOf(paths, at[prev]), pathOf(paths, i)))
		}
		out[r.Task][r.Model.Name] = r
		at[r] = i
	}
	return out, nil
}

// pairs keys one side's results: by task where both sides have one model
// for it, else by (task, model).
func pairs(side, other map[string]map[string]*bench.Result) map[pairKey]*bench.Result {
	out := map[pairKey]*bench.Result{}
	for task, models := range side {
		byTask := len(models) == 1 && len(other[task]) <= 1
		for name, r := range models {
			k := pairKey{task, name}
			if byTask {
				k.model = ""
			}
			out[k] = r
		}
	}
	return out
}

// CheckOptions control Check.
type CheckOptions struct {
	// Tolerances are the allowed worsenings (--tolerance). Every key must
	// apply to some metric of the whole baseline, before Models narrows it,
	// so one tolerance list serves every --model.
	Tolerances Tolerances
	// Models, when not empty, keeps only these models' results on both
	// sides (--model); a name neither side has is an error.
	Models []string
	// AllowDifferentItems judges the rows of a task whose two runs covered
	// different items (note "different items"); otherwise they are listed
	// in DifferentItems but not judged (note "different items: not
	// compared") and do not count in Regressions.
	AllowDifferentItems bool
	// BaselinePaths and CandidatePaths are the results.json files the
	// results were read from, in the same order (bench.FindResults's second
	// value), named by errors; nil when unknown.
	BaselinePaths, CandidatePaths []string
}

// selectModels keeps the results (and their paths) of the named models.
func selectModels(names []string, rs []*bench.Result, paths []string) ([]*bench.Result, []string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*bench.Result
	var outPaths []string
	for i, r := range rs {
		if want[r.Model.Name] {
			out = append(out, r)
			if paths != nil {
				outPaths = append(outPaths, paths[i])
			}
		}
	}
	return out, outPaths
}

// Check compares every baseline metric with the candidate in the direction
// higher_is_better gives. A candidate metric that is missing or NaN regresses.
//
// Results pair by task where each side has one result for it (so two
// checkpoints with different model names compare), and by (task, model
// name) where either side has several models for the task (a demo or
// multi-model run's OUT/<task>/<model>/). Every tolerance key must apply
// to some metric of the whole baseline (before opts.Models narrows it).
func Check(baseline, candidate []*bench.Result, opts CheckOptions) (*CheckReport, error) {
	if err := checkPaths("baseline", baseline, opts.BaselinePaths); err != nil {
		return nil, err
	}
	if err := checkPaths("candidate", candidate, opts.CandidatePaths); err != nil {
		return nil, err
	}
	tol := opts.Tolerances
	basePaths, candPaths := opts.BaselinePaths, opts.CandidatePaths
	if len(opts.Models) > 0 {
		if _, err := SelectModels(opts.Models, baseline, candidate); err != nil {
			return nil, err
		}
	}
	if err := tol.Validate(baseline); err != nil {
		return nil, err
	}
	if len(opts.Models) > 0 {
		baseline, basePaths = selectModels(opts.Models, baseline, basePaths)
		candidate, candPaths = selectModels(opts.Models, candidate, candPaths)
		if len(baseline) == 0 {
			return nil, fmt.Errorf("the baseline has no results of model(s) %s", strings.Join(opts.Models, ", "))
		}
	}
	bi, err := index(baseline, basePaths, "baseline")
	if err != nil {
		return nil, err
	}
	ci, err := index(candidate, candPaths, "candidate")
	if err != nil {
		return nil, err
	}
	base, cand := pairs(bi, ci), pairs(ci, bi)
	keys := make([]pairKey, 0, len(base))
	for k := range base {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].task != keys[j].task {
			return keys[i].task < keys[j].task
		}
		return keys[i].model < keys[j].model
	})
	rep := &CheckReport{Schema: 1}
	for _, key := range keys {
		b := base[key]
		c, ok := cand[key]
		if !ok {
			rep.MissingTasks = append(rep.MissingTasks, key.String())
			continue
		}
		task := key.task
		differ := itemsDiffer(b, c)
		if differ != "" {
			rep.DifferentItems = append(rep.DifferentItems, key.String()+": "+differ)
		}
		skip := differ != "" && !opts.AllowDifferentItems
		informational := map[string]bool{}
		for _, m := range b.Informational {
			informational[m] = true
		}
		candModel := ""
		if c.Model.Name != b.Model.Name {
			candModel = c.Model.Name
		}
		for _, m := range sortedKeys(b.Metrics) {
			hib := b.HigherIsBetter[m]
			row := CheckRow{Task: task, Model: b.Model.Name, CandidateModel: candModel, Metric: m, Baseline: b.Metrics[m], HigherIsBetter: hib, Tolerance: tol.For(task, m)}
			cv, ok := c.Metrics[m]
			switch {
			case !ok:
				row.Candidate, row.Delta, row.Missing, row.Regressed, row.Note = math.NaN(), math.NaN(), true, !informational[m], "missing in candidate"
			default:
				row.Candidate = cv
				row.Delta = cv - row.Baseline
				row.Regressed = regressed(row.Baseline, cv, hib, row.Tolerance) && !informational[m]
				if math.IsNaN(cv) {
					row.Note = "NaN in candidate"
				} else if worse := (hib && cv < row.Baseline) || (!hib && cv > row.Baseline); worse && !regressed(row.Baseline, cv, hib, row.Tolerance) && math.Abs(row.Delta) > row.Tolerance {
					row.Note = "worse only by float rounding"
				}
				if b.TaskVersion != c.TaskVersion || fmt.Sprint(withoutData(b.Protocol)) != fmt.Sprint(withoutData(c.Protocol)) {
					row.Note = strings.TrimPrefix(row.Note+"; protocol or task version differs", "; ")
				}
			}
			if informational[m] {
				row.Note = strings.TrimPrefix(row.Note+"; informational, not judged", "; ")
			}
			switch {
			case skip:
				row.Regressed, row.NotCompared = false, true
				row.Note = strings.TrimPrefix(row.Note+"; different items: not compared", "; ")
			case differ != "":
				row.Note = strings.TrimPrefix(row.Note+"; different items", "; ")
			}
			if row.Regressed {
				rep.Regressions++
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	for k := range cand {
		if _, ok := base[k]; !ok {
			rep.ExtraTasks = append(rep.ExtraTasks, k.String())
		}
	}
	sort.Strings(rep.ExtraTasks)
	return rep, nil
}

// itemsDiffer says how two runs of one task covered different items, or
// "" when they covered the same (by the IDs' digest where both results
// have it, else by the item count).
// Two runs whose fixed data files (data_files: annotations, questions)
// hashed differently were scored against different data, whatever their
// item IDs.
func itemsDiffer(b, c *bench.Result) string {
	if files := bench.DataDiffers(b, c); len(files) > 0 {
		return "data files differ: " + strings.Join(files, ", ")
	}
	if b.NSamples.IDsSHA256 != "" && c.NSamples.IDsSHA256 != "" {
		if b.NSamples.IDsSHA256 == c.NSamples.IDsSHA256 {
			return ""
		}
	} else if b.NSamples.Total == c.NSamples.Total {
		return ""
	}
	msg := fmt.Sprintf("baseline %s, candidate %s", selection(b), selection(c))
	if b.NSamples.Total == c.NSamples.Total {
		// Only the digests tell them apart: say so, or the two halves read alike.
		msg += ": same count, other item IDs"
	}
	return msg
}

func selection(r *bench.Result) string {
	var how []string
	if r.Run.Subset != "" {
		how = append(how, "subset "+r.Run.Subset)
	}
	if r.Run.Limit > 0 {
		how = append(how, fmt.Sprintf("limit %d", r.Run.Limit))
	}
	if len(how) == 0 {
		how = append(how, "all")
	}
	return fmt.Sprintf("%d items (%s)", r.NSamples.Total, strings.Join(how, ", "))
}

func regressed(base, cand float64, higherIsBetter bool, tol float64) bool {
	if math.IsNaN(cand) {
		return !math.IsNaN(base)
	}
	if math.IsInf(base, 0) || math.IsInf(cand, 0) {
		if base == cand {
			return false
		}
		if higherIsBetter {
			return cand < base
		}
		return cand > base
	}
	// A change this small is float rounding between builds or machines
	// (another summation order), not a regression.
	tol = max(tol, RoundingTolerance*max(1, math.Abs(base)))
	if higherIsBetter {
		return cand < base-tol
	}
	return cand > base+tol
}

// RoundingTolerance is the relative change (of the baseline's magnitude,
// and at least this much absolutely) that check never calls a regression:
// float rounding between builds or machines moves metrics by ~1e-7.
const RoundingTolerance = 1e-6

// withoutData is a protocol without its data root: where a copy of the data
// lies is no difference of protocol (its content is data_files' business).
func withoutData(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if k != "data" {
			out[k] = v
		}
	}
	return out
}
