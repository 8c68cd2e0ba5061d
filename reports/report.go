package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualtoken/evalharness/bench"
)

// Options control a report.
type Options struct {
	// OutDir receives plots, report.{md,csv,json} and index.html; "" = no files.
	OutDir string
	// Matches maps our model names to the paper rows they reproduce.
	Matches map[string]string
	// Paths are the results.json files the results were read from, in the
	// same order (bench.FindResults's second value), named by errors; nil
	// when unknown.
	Paths []string
}

// Report is every table and plot made from a set of results. Tables holds
// only the paper tables that our results fill at least half the columns of
// (Table.HasOurs); it is empty, not nil, when there are none.
type Report struct {
	Tables  []Table         `json:"tables"`
	All     Table           `json:"all_results"`
	Plots   []*Plot         `json:"-"`
	Results []*bench.Result `json:"-"`
}

// Make builds the paper tables that our results fill at least half the
// columns of, the table of all measured metrics, and (with OutDir) the plots.
//
// Two results of one model on one task (e.g. float32 and bfloat16 runs'
// folders, which share the model name) are an error: a table cell holds
// one number, and which one would depend on the order the folders were read.
func Make(results []*bench.Result, opts Options) (*Report, error) {
	if err := checkPaths("reported", results, opts.Paths); err != nil {
		return nil, err
	}
	type key struct{ model, task string }
	seen := map[key]int{}
	for i, res := range results {
		k := key{res.Model.Name, res.Task}
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("model %q has two results for task %q%s; report one run's folder, or give the runs different model names", k.model, k.task, twoResults(results[j], res, pathOf(opts.Paths, j), pathOf(opts.Paths, i)))
		}
		seen[k] = i
	}
	if err := CheckMatches(results, opts.Matches); err != nil {
		return nil, err
	}
	r := &Report{Tables: []Table{}, Results: results}
	for _, spec := range Tables() {
		t := Build(spec, results, opts.Matches)
		if t.HasOurs() {
			r.Tables = append(r.Tables, t)
		}
	}
	r.All = allResults(results)
	if opts.OutDir == "" {
		return r, nil
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, err
	}
	if p, err := Figure1(opts.OutDir, results); err != nil {
		return nil, err
	} else {
		r.Plots = append(r.Plots, p)
	}
	for _, t := range r.Tables {
		for _, c := range t.Columns {
			p, err := Bars(opts.OutDir, t, c)
			if err != nil {
				return nil, err
			}
			if p != nil {
				r.Plots = append(r.Plots, p)
			}
		}
	}
	lines, err := OverCheckpoints(opts.OutDir, results)
	if err != nil {
		return nil, err
	}
	r.Plots = append(r.Plots, lines...)
	for _, f := range []struct{ name, format string }{{"report.md", "markdown"}, {"report.csv", "csv"}, {"report.json", "json"}, {"report.txt", "text"}} {
		if err := r.writeFile(filepath.Join(opts.OutDir, f.name), f.format); err != nil {
			return nil, err
		}
	}
	if err := r.writeFile(filepath.Join(opts.OutDir, "index.html"), "html"); err != nil {
		return nil, err
	}
	return r, nil
}

// PaperRows lists the paper rows a match may name, in table order.
func PaperRows() []string {
	var out []string
	seen := map[string]bool{}
	for _, spec := range Tables() {
		for _, p := range spec.Paper {
			if !seen[p.Model] {
				seen[p.Model] = true
				out = append(out, p.Model)
			}
		}
	}
	return out
}

// CheckMatches checks that every match pairs a model some result has with
// a paper row some table has; otherwise the error names the bad one and
// lists the known ones (a typo would silently give no delta row).
func CheckMatches(results []*bench.Result, matches map[string]string) error {
	models := map[string]bool{}
	for _, r := range results {
		models[r.Model.Name] = true
	}
	rows := map[string]bool{}
	for _, p := range PaperRows() {
		rows[p] = true
	}
	for _, name := range sortedKeys(matches) {
		paper := matches[name]
		if !models[name] {
			return fmt.Errorf("--match %q: no result has model %q (models: %s)", name+"="+paper, name, quoteList(sortedKeys(models)))
		}
		if !rows[paper] {
			return fmt.Errorf("--match %q: no paper row %q (rows: %s)", name+"="+paper, paper, quoteList(PaperRows()))
		}
	}
	return nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func (r *Report) writeFile(path, format string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Write(f, format); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// allResults is one row per (task, model) with every metric.
func allResults(results []*bench.Result) Table {
	t := Table{ID: "all", Title: "All measured results", Labels: []string{"value"}, KeyHeaders: []string{"model", "task/metric"}}
	sorted := append([]*bench.Result(nil), results...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Task != sorted[j].Task {
			return sorted[i].Task < sorted[j].Task
		}
		return sorted[i].Model.Name < sorted[j].Model.Name
	})
	for _, res := range sorted {
		ms := make([]string, 0, len(res.Metrics))
		for m := range res.Metrics {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		for _, m := range ms {
			t.Rows = append(t.Rows, Row{Model: res.Model.Name, Source: res.Task + "/" + m, Cells: map[string]Cell{"value": {res.Metrics[m], true}}})
		}
		t.Notes = append(t.Notes, fmt.Sprintf("%s on %s: %s", res.Model.Name, res.Task, protocolString(res)))
	}
	return t
}

// Write renders every table in format (text, markdown, csv, json, html).
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		tables := r.Tables
		if tables == nil { // [] rather than null when no paper table is shown
			tables = []Table{}
		}
		return enc.Encode(map[string]any{"schema": 1, "tables": tables, "all_results": r.All})
	case "html":
		return r.writeHTML(w)
	case "csv":
		for i, t := range append(append([]Table(nil), r.Tables...), r.All) {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "# %s\n", t.Title)
			if err := t.Render(w, "csv"); err != nil {
				return err
			}
		}
		return nil
	case "text", "markdown":
		for _, t := range append(append([]Table(nil), r.Tables...), r.All) {
			if err := t.Render(w, format); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown format %q (text, markdown, csv, json, html)", format)
}

func (r *Report) writeHTML(w io.Writer) error {
	fmt.Fprint(w, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>DualToken evaluation report</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table.results{border-collapse:collapse;margin:1em 0}table.results td,table.results th{border:1px solid #ccc;padding:3px 8px;text-align:right}
table.results td:first-child,table.results td:nth-child(2){text-align:left}.notes{font-size:90%;color:#555}
figure{display:inline-block;margin:1em}img{max-width:100%}</style></head><body>
<h1>DualToken evaluation report</h1>
`)
	for _, t := range r.Tables {
		if err := t.Render(w, "html"); err != nil {
			return err
		}
	}
	if len(r.Plots) > 0 {
		fmt.Fprintln(w, "<h2>Plots</h2>")
		for _, p := range r.Plots {
			png := ""
			for _, f := range p.Files {
				if strings.HasSuffix(f, ".png") {
					png = filepath.Base(f)
				}
			}
			fmt.Fprintf(w, "<figure><img src=\"%s\" alt=\"%s\"><figcaption>%s (<a href=\"%s.svg\">SVG</a>)</figcaption></figure>\n", png, htmlEscape(p.Title), htmlEscape(p.Title), p.Name)
		}
	}
	if err := r.All.Render(w, "html"); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "</body></html>")
	return err
}
