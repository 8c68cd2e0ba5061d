package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/dualtoken/evalharness/bench"
)

// Cell is one number of a built table; NaN means "not reported / not run".
// In JSON a NaN or infinite value is the string "NaN", "Infinity" or
// "-Infinity" (bench.JSONFloat).
type Cell struct {
	Value float64 `json:"value"`
	Set   bool    `json:"set"`
}

// MarshalJSON implements json.Marshaler.
func (c Cell) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value bench.JSONFloat `json:"value"`
		Set   bool            `json:"set"`
	}{bench.JSONFloat(c.Value), c.Set})
}

// Row is one line of a built table.
type Row struct {
	Model  string          `json:"model"`
	Source string          `json:"source"` // "paper", "ours", "delta"
	Cells  map[string]Cell `json:"cells"`  // by column label
}

// Table is a paper table filled with our results.
type Table struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Columns []Column `json:"-"`
	Labels  []string `json:"columns"`
	Rows    []Row    `json:"rows"`
	Notes   []string `json:"notes"`
	// KeyHeaders names the two leading columns (default "model", "source").
	KeyHeaders []string `json:"-"`
}

// Build fills spec with our results. matches maps our model name to the
// paper row it reproduces; matched models get a delta row (ours − paper).
// Only models with at least one result for the table's columns appear.
func Build(spec TableSpec, results []*bench.Result, matches map[string]string) Table {
	t := Table{ID: spec.ID, Title: spec.Title, Columns: spec.Columns, Notes: append([]string(nil), spec.Notes...)}
	for _, c := range spec.Columns {
		t.Labels = append(t.Labels, c.Label)
	}
	ours := map[string]map[string]Cell{}
	var order []string
	protocols := map[string]map[string]string{} // task -> model -> protocol
	for _, r := range results {
		for _, c := range spec.Columns {
			if r.Task != c.Task {
				continue
			}
			v, ok := r.Metrics[c.Metric]
			if !ok {
				continue
			}
			// A total over only some subtasks (MME with subtasks=available)
			// is on no scale the paper uses.
			if complete, ok := r.Protocol["complete"].(bool); ok && !complete {
				note := fmt.Sprintf("%s on %s: not every subtask was run (complete=false), so its total is left out of this table", r.Task, r.Model.Name)
				if !slices.Contains(t.Notes, note) {
					t.Notes = append(t.Notes, note)
				}
				continue
			}
			if c.Scale != 0 {
				v *= c.Scale
			}
			name := r.Model.Name
			if ours[name] == nil {
				ours[name] = map[string]Cell{}
				order = append(order, name)
			}
			ours[name][c.Label] = Cell{v, true}
			if protocols[r.Task] == nil {
				protocols[r.Task] = map[string]string{}
			}
			protocols[r.Task][name] = protocolString(r)
		}
	}
	paperIdx := map[string]int{}
	for i, p := range spec.Paper {
		paperIdx[p.Model] = i
	}
	matchedBy := map[int][]string{}
	var unmatched []string
	for _, name := range order {
		if p, ok := matches[name]; ok {
			if i, ok := paperIdx[p]; ok {
				matchedBy[i] = append(matchedBy[i], name)
				continue
			}
		}
		unmatched = append(unmatched, name)
	}
	for i, p := range spec.Paper {
		pr := Row{Model: p.Model, Source: "paper", Cells: map[string]Cell{}}
		for k, v := range p.Values {
			pr.Cells[k] = Cell{v, true}
		}
		t.Rows = append(t.Rows, pr)
		for _, name := range matchedBy[i] {
			t.Rows = append(t.Rows, Row{Model: name, Source: "ours", Cells: ours[name]})
			d := Row{Model: name, Source: "delta", Cells: map[string]Cell{}}
			for _, l := range t.Labels {
				o, p := ours[name][l], pr.Cells[l]
				if o.Set && p.Set {
					d.Cells[l] = Cell{o.Value - p.Value, true}
				}
			}
			t.Rows = append(t.Rows, d)
		}
	}
	for _, name := range unmatched {
		t.Rows = append(t.Rows, Row{Model: name, Source: "ours", Cells: ours[name]})
	}
	for _, task := range sortedKeys(protocols) {
		t.Notes = append(t.Notes, protocolNotes(task, protocols[task])...)
	}
	t.Notes = append(t.Notes, "Paper numbers: "+PaperSource+".")
	return t
}

// protocolNotes says which protocol the models of a table ran task with:
// one line when they agree, else one line per protocol naming its models
// (a table mixing, say, jpeg=q95 and jpeg=none rows must say so).
func protocolNotes(task string, byModel map[string]string) []string {
	models := map[string][]string{} // protocol -> models
	for _, m := range sortedKeys(byModel) {
		models[byModel[m]] = append(models[byModel[m]], m)
	}
	if len(models) == 1 {
		for p := range models {
			return []string{"Our protocol — " + task + ": " + p}
		}
	}
	protos := sortedKeys(models)
	sort.SliceStable(protos, func(i, j int) bool { return models[protos[i]][0] < models[protos[j]][0] })
	notes := make([]string, 0, len(protos))
	for _, p := range protos {
		notes = append(notes, "Our protocol — "+task+" (differs by model; "+strings.Join(models[p], ", ")+"): "+p)
	}
	return notes
}

// HasOurs reports whether our results fill at least half of the table's
// columns (a single shared column, such as ZS in Table 2, is not enough).
func (t Table) HasOurs() bool {
	filled := map[string]bool{}
	for _, r := range t.Rows {
		if r.Source != "ours" {
			continue
		}
		for l, c := range r.Cells {
			if c.Set {
				filled[l] = true
			}
		}
	}
	return len(filled) > 0 && 2*len(filled) >= len(t.Labels)
}

func protocolString(r *bench.Result) string {
	keys := make([]string, 0, len(r.Protocol))
	for k := range r.Protocol {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("v%d", r.TaskVersion)}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, r.Protocol[k]))
	}
	parts = append(parts, fmt.Sprintf("n=%d", r.NSamples.Scored))
	if r.NSamples.Failed > 0 {
		parts = append(parts, fmt.Sprintf("failed=%d", r.NSamples.Failed))
	}
	return strings.Join(parts, ", ")
}

func fmtCell(c Cell, source string) string {
	if !c.Set || math.IsNaN(c.Value) {
		return "-"
	}
	v := c.Value
	var s string
	switch a := math.Abs(v); {
	case source == "paper":
		s = strconv.FormatFloat(v, 'f', -1, 64) // as printed in the paper
	case math.IsInf(v, 0):
		s = fmt.Sprint(v)
	case a >= 100:
		s = fmt.Sprintf("%.1f", v)
	case a >= 1 || a == 0:
		s = fmt.Sprintf("%.2f", v)
	default:
		s = fmt.Sprintf("%.3f", v)
	}
	if source == "delta" && v >= 0 {
		s = "+" + s
	}
	return s
}

func (t Table) records() [][]string {
	keys := t.KeyHeaders
	if len(keys) != 2 {
		keys = []string{"model", "source"}
	}
	out := [][]string{append(append([]string(nil), keys...), t.Labels...)}
	for _, r := range t.Rows {
		rec := []string{r.Model, r.Source}
		for _, l := range t.Labels {
			rec = append(rec, fmtCell(r.Cells[l], r.Source))
		}
		out = append(out, rec)
	}
	return out
}

// Render writes the table as text, markdown, csv or json.
func (t Table) Render(w io.Writer, format string) error {
	recs := t.records()
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		cw.WriteAll(recs)
		return cw.Error()
	case "json":
		// One table alone (ablation's table3.json) carries the schema
		// version as every JSON document evalrun writes does.
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Schema int `json:"schema"`
			Table
		}{1, t})
	case "text", "markdown", "html":
	default:
		return fmt.Errorf("unknown format %q (text, markdown, csv, json, html)", format)
	}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft}
	for range t.Labels {
		align = append(align, tw.AlignRight)
	}
	opts := []tablewriter.Option{tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align})}
	switch format {
	case "markdown":
		fmt.Fprintf(w, "### %s\n\n", t.Title)
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	case "html":
		fmt.Fprintf(w, "<h2>%s</h2>\n", htmlEscape(t.Title))
		opts = append(opts, tablewriter.WithRenderer(renderer.NewHTML(renderer.HTMLConfig{TableClass: "results", EscapeContent: true})))
	default:
		fmt.Fprintf(w, "%s\n", t.Title)
	}
	tb := tablewriter.NewTable(w, opts...)
	tb.Header(recs[0])
	if err := tb.Bulk(recs[1:]); err != nil {
		return err
	}
	if err := tb.Render(); err != nil {
		return err
	}
	switch format {
	case "markdown":
		fmt.Fprintln(w)
		for _, n := range t.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	case "html":
		fmt.Fprintln(w, "<ul class=\"notes\">")
		for _, n := range t.Notes {
			fmt.Fprintf(w, "<li>%s</li>\n", htmlEscape(n))
		}
		fmt.Fprintln(w, "</ul>")
	default:
		for _, n := range t.Notes {
			fmt.Fprintf(w, "  * %s\n", n)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
