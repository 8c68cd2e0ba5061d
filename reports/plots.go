package reports

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/dualtoken/evalharness/bench"
)

var (
	paperColor = color.RGBA{110, 110, 110, 255}
	oursColor  = color.RGBA{215, 50, 40, 255}
)

// Plot is one figure written as PNG and SVG.
type Plot struct {
	Name  string // file stem
	Title string
	Files []string
}

// maxPlotted bounds the magnitude of what a plot shows: gonum pads an empty
// axis range by ±1, which vanishes beyond about 1e15 (its tick code then
// panics), and a range that overflows to Inf sends the rasteriser into a
// near-endless loop. No metric of ours comes near; a results file that
// claims one keeps it in the tables only.
const maxPlotted = 1e12

// plottable: v can be drawn (finite, at most maxPlotted in magnitude).
func plottable(v float64) bool { return math.Abs(v) <= maxPlotted }

func save(p *plot.Plot, dir, stem string, w, h vg.Length) (files []string, err error) {
	defer func() {
		// gonum panics on ranges it cannot tick; say which plot rather than
		// lose the whole report.
		if e := recover(); e != nil {
			files, err = nil, fmt.Errorf("plot %s: %v", stem, e)
		}
	}()
	for _, ext := range []string{".png", ".svg"} {
		f := filepath.Join(dir, stem+ext)
		if err := p.Save(w, h, f); err != nil {
			return nil, fmt.Errorf("saving %s: %w", f, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// Figure1 plots zero-shot accuracy against rFID: the paper's tokenizers
// (Table 1 rows reporting both) and every model of ours with both numbers.
func Figure1(dir string, results []*bench.Result) (*Plot, error) {
	spec := Tables()[0]
	p := plot.New()
	p.Title.Text = "Zero-shot top-1 vs rFID (Figure 1)"
	p.X.Label.Text = "rFID (lower is better)"
	p.Y.Label.Text = "ImageNet zero-shot top-1 (%)"
	var paperXY plotter.XYs
	var paperLabels []string
	for _, r := range spec.Paper {
		zs, ok1 := r.Values["ZS"]
		fid, ok2 := r.Values["rFID"]
		if ok1 && ok2 {
			paperXY = append(paperXY, plotter.XY{X: fid, Y: zs})
			paperLabels = append(paperLabels, r.Model)
		}
	}
	ours := Build(spec, results, nil)
	var oursXY plotter.XYs
	var oursLabels []string
	for _, r := range ours.Rows {
		if r.Source != "ours" {
			continue
		}
		zs, fid := r.Cells["ZS"], r.Cells["rFID"]
		if zs.Set && fid.Set && plottable(fid.Value) && plottable(zs.Value) {
			oursXY = append(oursXY, plotter.XY{X: fid.Value, Y: zs.Value})
			oursLabels = append(oursLabels, r.Model)
		}
	}
	if err := scatterWithLabels(p, "paper", paperXY, paperLabels, paperColor, draw.CircleGlyph{}); err != nil {
		return nil, err
	}
	if len(oursXY) > 0 {
		if err := scatterWithLabels(p, "ours", oursXY, oursLabels, oursColor, draw.PyramidGlyph{}); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = true
	p.X.Max += 0.15 * (p.X.Max - p.X.Min) // room for the labels of the rightmost points
	files, err := save(p, dir, "figure1_zs_vs_rfid", 8*vg.Inch, 5*vg.Inch)
	if err != nil {
		return nil, err
	}
	return &Plot{Name: "figure1_zs_vs_rfid", Title: p.Title.Text, Files: files}, nil
}

func scatterWithLabels(p *plot.Plot, name string, xy plotter.XYs, labels []string, c color.Color, g draw.GlyphDrawer) error {
	if len(xy) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color = c
	s.GlyphStyle.Shape = g
	s.GlyphStyle.Radius = vg.Points(4)
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Color = c
		l.TextStyle[i].Font.Size = vg.Points(7)
		l.TextStyle[i].XAlign = draw.XLeft
	}
	l.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(-3)}
	p.Add(s, l)
	p.Legend.Add(name, s)
	return nil
}

// Bars draws, for one table column, the paper's values and ours as bars.
func Bars(dir string, t Table, col Column) (*Plot, error) {
	var vals plotter.Values
	var names []string
	var colors []color.Color
	for _, r := range t.Rows {
		c := r.Cells[col.Label]
		if r.Source == "delta" || !c.Set || !plottable(c.Value) {
			continue
		}
		vals = append(vals, c.Value)
		names = append(names, r.Model)
		if r.Source == "ours" {
			colors = append(colors, oursColor)
		} else {
			colors = append(colors, paperColor)
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	p := plot.New()
	dirWord := "higher is better"
	if !col.HigherIsBetter {
		dirWord = "lower is better"
	}
	p.Title.Text = fmt.Sprintf("%s — %s (%s)", t.ID, col.Label, dirWord)
	p.Y.Label.Text = col.Label
	w := vg.Points(14)
	var xy plotter.XYs
	var texts []string
	for i, v := range vals {
		one := make(plotter.Values, len(vals))
		for j := range one {
			one[j] = 0
		}
		one[i] = v
		b, err := plotter.NewBarChart(one, w)
		if err != nil {
			return nil, err
		}
		b.Color = colors[i]
		b.LineStyle.Width = 0
		p.Add(b)
		xy = append(xy, plotter.XY{X: float64(i), Y: v})
		texts = append(texts, barValue(v))
	}
	// Each bar's value above it: the axis alone cannot be read to the digit
	// a comparison with the paper needs.
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: texts})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(6)
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(l)
	p.X.Label.Text = "grey: the paper's numbers   red: ours" // a legend would cover bars
	p.X.Label.TextStyle.Font.Size = vg.Points(8)
	p.Y.Min = math.Min(0, p.Y.Min)
	p.Y.Max *= 1.08 // room for the labels
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.Font.Size = vg.Points(7)
	stem := fmt.Sprintf("%s_%s", t.ID, sanitize(col.Label))
	files, err := save(p, dir, stem, vg.Length(math.Max(5, 0.45*float64(len(vals))))*vg.Inch, 4.5*vg.Inch)
	if err != nil {
		return nil, err
	}
	return &Plot{Name: stem, Title: p.Title.Text, Files: files}, nil
}

// barValue writes v to the digits the paper's tables use: one decimal for
// scores in the hundreds and up (MME 1492.7), two for percentages and dB,
// three below 1 (SSIM).
func barValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

func sanitize(s string) string { return nonWord.ReplaceAllString(s, "_") }

var lastNumber = regexp.MustCompile(`(\d+)(\D*)$`)

// checkpointOf splits a model name into its series (the name with its last
// number replaced by "#") and that number: run-step-000200 → ("run-step-#", 200).
// Names without a number are not checkpoints.
func checkpointOf(name string) (series string, step int, ok bool) {
	m := lastNumber.FindStringSubmatchIndex(name)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[m[2]:m[3]])
	if err != nil || n > maxPlotted {
		return "", 0, false // not a step a plot can tell from its neighbours
	}
	return name[:m[2]] + "#" + name[m[3]:], n, true
}

// OverCheckpoints draws task/metric across the checkpoints of a training run:
// models whose names differ only in their last number (run-step-000200,
// run-step-001000) form a series, ordered by that number; one figure per task
// and series of at least two checkpoints, one line per metric. Models that
// are not checkpoints of a common run are left to the bar charts.
func OverCheckpoints(dir string, results []*bench.Result) ([]*Plot, error) {
	type key struct{ task, series string }
	groups := map[key][]*bench.Result{}
	for _, r := range results {
		if s, _, ok := checkpointOf(r.Model.Name); ok {
			k := key{r.Task, s}
			groups[k] = append(groups[k], r)
		}
	}
	keys := make([]key, 0, len(groups))
	for k, rs := range groups {
		if len(rs) >= 2 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].task != keys[j].task {
			return keys[i].task < keys[j].task
		}
		return keys[i].series < keys[j].series
	})
	var out []*Plot
	for _, k := range keys {
		rs := groups[k]
		sort.SliceStable(rs, func(i, j int) bool {
			_, a, _ := checkpointOf(rs[i].Model.Name)
			_, b, _ := checkpointOf(rs[j].Model.Name)
			return a < b
		})
		metrics := map[string]bool{}
		for _, r := range rs {
			for m := range r.Metrics {
				metrics[m] = true
			}
		}
		ms := make([]string, 0, len(metrics))
		for m := range metrics {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		p := plot.New()
		p.Title.Text = k.task + " across checkpoints of " + k.series
		p.X.Label.Text = "step"
		for c, m := range ms {
			var xy plotter.XYs
			for _, r := range rs {
				_, step, _ := checkpointOf(r.Model.Name)
				if v, ok := r.Metrics[m]; ok && plottable(v) {
					xy = append(xy, plotter.XY{X: float64(step), Y: v})
				}
			}
			if len(xy) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			col := plotutilColor(c)
			l.Color, pts.Color = col, col
			p.Add(l, pts)
			p.Legend.Add(m, l)
		}
		stem := "checkpoints_" + sanitize(k.task) + "_" + sanitize(k.series)
		files, err := save(p, dir, stem, 7*vg.Inch, 4.5*vg.Inch)
		if err != nil {
			return nil, err
		}
		out = append(out, &Plot{Name: stem, Title: p.Title.Text, Files: files})
	}
	return out, nil
}

func plotutilColor(i int) color.Color {
	palette := []color.RGBA{{215, 50, 40, 255}, {40, 100, 200, 255}, {40, 160, 70, 255}, {230, 150, 20, 255}, {140, 60, 170, 255}, {20, 170, 170, 255}, {120, 80, 40, 255}}
	return palette[i%len(palette)]
}
