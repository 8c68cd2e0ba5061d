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
	Task           string  `json:"task"`
	Metric         string  `json:"metric"`
	Baseline       float64 `json:"baseline"`
	Candidate      float64 `json:"candidate"`
	Delta          float64 `json:"delta"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Tolerance      float64 `json:"tolerance"`
	Regressed      bool    `json:"regressed"`
	Note           string  `json:"note,omitempty"`
}

// MarshalJSON writes a NaN candidate or delta (missing or undefined) as null,
// and any other NaN or infinite number as bench.JSONFloat does.
func (r CheckRow) MarshalJSON() ([]byte, error) {
	nullNaN := func(v float64) *bench.JSONFloat {
		if math.IsNaN(v) {
			return nil
		}
		f := bench.JSONFloat(v)
		return &f
	}
	return json.Marshal(struct {
		Task           string           `json:"task"`
		Metric         string           `json:"metric"`
		Baseline       bench.JSONFloat  `json:"baseline"`
		Candidate      *bench.JSONFloat `json:"candidate"`
		Delta          *bench.JSONFloat `json:"delta"`
		HigherIsBetter bool             `json:"higher_is_better"`
		Tolerance      bench.JSONFloat  `json:"tolerance"`
		Regressed      bool             `json:"regressed"`
		Note           string           `json:"note,omitempty"`
	}{r.Task, r.Metric, bench.JSONFloat(r.Baseline), nullNaN(r.Candidate), nullNaN(r.Delta), r.HigherIsBetter, bench.JSONFloat(r.Tolerance), r.Regressed, r.Note})
}

// CheckReport is the whole comparison; MissingTasks are baseline tasks the
// candidate lacks (a usage error: nothing to compare).
type CheckReport struct {
	Schema       int        `json:"schema"`
	Rows         []CheckRow `json:"rows"`
	Regressions  int        `json:"regressions"`
	MissingTasks []string   `json:"missing_tasks,omitempty"`
	ExtraTasks   []string   `json:"extra_tasks,omitempty"`
	// DifferentItems names the tasks whose two runs covered different
	// items ("pope: baseline 9000 items (all), candidate 100 items
	// (limit 100)"): their metrics are not comparable.
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
		t[k] = f
	}
	return t, nil
}

func (t Tolerances) For(task, metric string) float64 {
	for _, k := range []string{task + "/" + metric, task + "/*", "*/" + metric, metric} {
		if v, ok := t[k]; ok {
			return v
		}
	}
	return 0
}

// byTask indexes results by task; two results of one task are ambiguous.
func byTask(rs []*bench.Result, side string) (map[string]*bench.Result, error) {
	out := map[string]*bench.Result{}
	for _, r := range rs {
		if prev, dup := out[r.Task]; dup {
			return nil, fmt.Errorf("%s has two results for task %q (models %q and %q): point it at one model's results", side, r.Task, prev.Model.Name, r.Model.Name)
		}
		out[r.Task] = r
	}
	return out, nil
}

// Check compares every baseline metric with the candidate in the direction
// higher_is_better gives. A candidate metric that is missing or NaN regresses.
func Check(baseline, candidate []*bench.Result, tol Tolerances) (*CheckReport, error) {
	base, err := byTask(baseline, "baseline")
	if err != nil {
		return nil, err
	}
	cand, err := byTask(candidate, "candidate")
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Schema: 1}
	tasks := make([]string, 0, len(base))
	for t := range base {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	for _, task := range tasks {
		b := base[task]
		c, ok := cand[task]
		if !ok {
			rep.MissingTasks = append(rep.MissingTasks, task)
			continue
		}
		differ := itemsDiffer(b, c)
		if differ != "" {
			rep.DifferentItems = append(rep.DifferentItems, task+": "+differ)
		}
		metrics := make([]string, 0, len(b.Metrics))
		for m := range b.Metrics {
			metrics = append(metrics, m)
		}
		sort.Strings(metrics)
		informational := map[string]bool{}
		for _, m := range b.Informational {
			informational[m] = true
		}
		for _, m := range metrics {
			hib := b.HigherIsBetter[m]
			row := CheckRow{Task: task, Metric: m, Baseline: b.Metrics[m], HigherIsBetter: hib, Tolerance: tol.For(task, m)}
			cv, ok := c.Metrics[m]
			switch {
			case !ok:
				row.Candidate, row.Delta, row.Regressed, row.Note = math.NaN(), math.NaN(), !informational[m], "missing in candidate"
			default:
				row.Candidate = cv
				row.Delta = cv - row.Baseline
				row.Regressed = regressed(row.Baseline, cv, hib, row.Tolerance) && !informational[m]
				if b.TaskVersion != c.TaskVersion || fmt.Sprint(b.Protocol) != fmt.Sprint(c.Protocol) {
					row.Note = "protocol or task version differs"
				}
			}
			if informational[m] {
				row.Note = strings.TrimPrefix(row.Note+"; informational, not judged", "; ")
			}
			if differ != "" {
				row.Note = strings.TrimPrefix(row.Note+"; different items", "; ")
			}
			if row.Regressed {
				rep.Regressions++
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	for t := range cand {
		if _, ok := base[t]; !ok {
			rep.ExtraTasks = append(rep.ExtraTasks, t)
		}
	}
	sort.Strings(rep.ExtraTasks)
	return rep, nil
}

// itemsDiffer says how two runs of one task covered different items, or
// "" when they covered the same (by the IDs' digest where both results
// have it, else by the item count).
func itemsDiffer(b, c *bench.Result) string {
	if b.NSamples.IDsSHA256 != "" && c.NSamples.IDsSHA256 != "" {
		if b.NSamples.IDsSHA256 == c.NSamples.IDsSHA256 {
			return ""
		}
	} else if b.NSamples.Total == c.NSamples.Total {
		return ""
	}
	return fmt.Sprintf("baseline %s, candidate %s", selection(b), selection(c))
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
	if higherIsBetter {
		return cand < base-tol
	}
	return cand > base+tol
}
