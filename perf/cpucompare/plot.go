package cpucompare

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotRatios writes a PNG bar chart of the components' ratios on a log₂
// axis (bars up: ours faster, down: ours slower), each bar labelled with
// its ratio; components without a reference are left out.
func (r *Report) PlotRatios(path string) error {
	var labels []string
	var vals plotter.Values
	var xys plotter.XYs
	var texts []string
	lo, hi := 0.0, 0.0
	for _, c := range r.Components {
		if c.Ratio == nil {
			continue
		}
		v := math.Log2(*c.Ratio)
		xys = append(xys, plotter.XY{X: float64(len(vals)), Y: max(v, 0)})
		labels = append(labels, c.Name)
		vals = append(vals, v)
		texts = append(texts, fmt.Sprintf("%.2f×", *c.Ratio))
		lo, hi = min(lo, v), max(hi, v)
	}
	if len(vals) == 0 {
		return fmt.Errorf("no component has a ratio to plot")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("CPU %s, %d threads: our throughput / Python reference's", r.Date, r.Threads)
	p.Y.Label.Text = "ratio (log scale; > 1: ours faster)"
	bars, err := plotter.NewBarChart(vals, vg.Points(22))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{40, 110, 190, 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].XAlign = draw.XCenter
		lab.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(lab)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign = draw.XRight
	p.Y.Min, p.Y.Max = math.Floor(lo)-0.2, math.Ceil(hi)+0.6
	var ticks []plot.Tick
	for e := int(p.Y.Min); e <= int(p.Y.Max); e++ {
		ticks = append(ticks, plot.Tick{Value: float64(e), Label: fmt.Sprintf("%g×", math.Exp2(float64(e)))})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(max(6, 0.7*float64(len(vals))))*vg.Inch, 5*vg.Inch, path)
}
