package perf

import (
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotRatios writes a PNG bar chart of the report's ratios (ours / PyTorch,
// a dashed line at 1). Where no reference ran, it plots each run's share of
// the bf16 matmul peak instead and says so in the title, so a partial run
// still leaves a figure.
func PlotRatios(r *CardReport, path string) error {
	var labels []string
	var vals plotter.Values
	ours := ""
	for _, n := range r.Names() {
		if e := r.Components[n]; e.Ratio != nil {
			labels = append(labels, n)
			vals = append(vals, *e.Ratio)
			ours = e.OursDType
		}
	}
	ratios := len(vals) > 0
	p := plot.New()
	title := fmt.Sprintf("%s %s: our throughput (%s) / PyTorch's (bf16)", strings.ToUpper(r.Card), r.Date, ours)
	p.Y.Label.Text = "ratio (ours / PyTorch, same card, same run)"
	if !ratios {
		for _, s := range r.Runs {
			labels = append(labels, fmt.Sprintf("%s %s b%d", s.Component, s.Preset, s.Batch))
			vals = append(vals, 100*s.ShareOfPeak)
		}
		title = fmt.Sprintf("%s %s: no PyTorch reference ran; share of the matmul peak", strings.ToUpper(r.Card), r.Date)
		p.Y.Label.Text = "achieved / matmul peak (%)"
	}
	p.Title.Text = title
	if len(vals) == 0 {
		labels, vals = []string{"(no runs)"}, plotter.Values{0}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(28))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{215, 50, 40, 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	top := 0.0
	var xys plotter.XYs
	var texts []string
	for i, v := range vals {
		top = max(top, v)
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
		if ratios {
			texts = append(texts, fmt.Sprintf("%.2f×", v))
		} else {
			texts = append(texts, fmt.Sprintf("%.1f%%", v))
		}
	}
	labelsOnBars, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return err
	}
	for i := range labelsOnBars.TextStyle {
		labelsOnBars.TextStyle[i].XAlign = draw.XCenter
		labelsOnBars.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(labelsOnBars)
	if ratios {
		one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(vals)) - 0.5, Y: 1}})
		if err != nil {
			return err
		}
		one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		one.Color = color.Gray{90}
		p.Add(one)
	}
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = 0.5
	p.X.Tick.Label.XAlign = draw.XRight
	p.Y.Min = 0
	p.Y.Max = 1.15 * max(top, 1)
	w := vg.Length(max(5, 1.2*float64(len(vals)))) * vg.Inch
	return p.Save(w, 4.5*vg.Inch, path)
}
