package chart

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Data is what a chart shows, one point per second.
type Data struct {
	Title   string
	T       []float64 // seconds from the start of the load
	Offered []float64 // λ, req/s
	// Services are drawn in order: the elastic one, then the fixed one.
	Services []Service
	SLA      float64 // ms
	// Marks are times to draw a dotted vertical line at (day boundaries);
	// Shade, when its end is after its start, is a span to shade (the
	// flash crowd).
	Marks []float64
	Shade [2]float64
}

// Service is one service's series; NaN where there is no value.
type Service struct {
	Name      string
	Instances []float64
	P95       []float64 // ms
}

var (
	chartColors = []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	}
	offeredColor = color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 0xff}
	slaColor     = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	shadeColor   = color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0x30}
	markColor    = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
)

// p95Floor keeps a p95 of 0 (no calls in a second) on the log axis.
const p95Floor = 0.1

// Write draws the chart of d as base.png and base.svg in dir and returns
// their paths.
func Write(dir, base string, d Data) ([]string, error) {
	const w, h = 28 * vg.Centimeter, 22 * vg.Centimeter
	var paths []string
	for _, f := range []struct {
		ext    string
		canvas func() (draw.Canvas, io.WriterTo)
	}{
		{"png", func() (draw.Canvas, io.WriterTo) {
			c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
			return draw.New(c), vgimg.PngCanvas{Canvas: c}
		}},
		{"svg", func() (draw.Canvas, io.WriterTo) {
			c := vgsvg.New(w, h)
			return draw.New(c), c
		}},
	} {
		// The panels hold state of the drawing (tick positions), so each
		// format gets plots of its own.
		panels, err := chartPanels(d)
		if err != nil {
			return paths, err
		}
		dc, out := f.canvas()
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Millimeter * 3, PadTop: vg.Millimeter * 3,
			PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 8}
		grid := make([][]*plot.Plot, len(panels))
		for i, p := range panels {
			grid[i] = []*plot.Plot{p}
		}
		canvases := plot.Align(grid, tiles, dc)
		for i, p := range panels {
			p.Draw(canvases[i][0])
		}
		path := filepath.Join(dir, base+"."+f.ext)
		if err := writeTo(path, out); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeTo(path string, w io.WriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// chartPanels builds the three panels, one above the other on the same
// time axis: offered load, instances, p95 latency against the SLA.
func chartPanels(d Data) ([]*plot.Plot, error) {
	if len(d.T) == 0 {
		return nil, fmt.Errorf("chart: no data")
	}
	xmin, xmax := d.T[0], d.T[len(d.T)-1]+1

	load := &panel{ylabel: "offered λ (req/s)", lo: 0, hi: 1}
	load.series("", d.T, d.Offered, offeredColor, nil, false)

	inst := &panel{ylabel: "instances", lo: 0, hi: 2}
	for i, s := range d.Services {
		inst.series(s.Name, d.T, s.Instances, chartColors[i%len(chartColors)], nil, true)
	}
	inst.hi++ // room above the highest count

	// Log scale: a second without calls has a p95 of 0, drawn at the
	// floor; the SLA line is always in view.
	lat := &panel{ylabel: "p95 latency (ms, log)", log: true, lo: math.Max(d.SLA/10, p95Floor), hi: d.SLA * 2}
	for i, s := range d.Services {
		p95 := make([]float64, len(s.P95))
		for j, v := range s.P95 {
			p95[j] = v
			if !math.IsNaN(v) {
				p95[j] = math.Max(v, p95Floor)
			}
		}
		lat.series(s.Name, d.T, p95, chartColors[i%len(chartColors)], nil, false)
	}
	if d.SLA > 0 {
		lat.series(fmt.Sprintf("SLA %g ms", d.SLA), []float64{xmin, xmax}, []float64{d.SLA, d.SLA}, slaColor, []vg.Length{vg.Points(4), vg.Points(3)}, false)
	}

	var out []*plot.Plot
	for i, pn := range []*panel{load, inst, lat} {
		p, err := pn.plot(d, xmin, xmax)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			p.Title.Text = d.Title
		}
		out = append(out, p)
	}
	out[len(out)-1].X.Label.Text = "time (s)"
	return out, nil
}

// panel gathers one panel's lines and the range of their values before
// the plot is made, so that the shading and marks, which span the whole
// range, can be drawn first, under the data.
type panel struct {
	ylabel string
	log    bool
	lo, hi float64
	lines  []*plotter.Line
	legend []legendEntry
}

type legendEntry struct {
	name string
	line *plotter.Line
}

// series adds y over x as lines broken where y is NaN, named in the
// legend once (unless name is ""). step draws a staircase, for counts.
func (pn *panel) series(name string, x, y []float64, c color.Color, dashes []vg.Length, step bool) {
	named := false
	var seg plotter.XYs
	flush := func() {
		if len(seg) == 0 {
			return
		}
		l := &plotter.Line{XYs: seg, LineStyle: plotter.DefaultLineStyle}
		l.Color = c
		l.Width = vg.Points(1.2)
		l.Dashes = dashes
		if step {
			l.StepStyle = plotter.PostStep
		}
		pn.lines = append(pn.lines, l)
		if name != "" && !named {
			pn.legend = append(pn.legend, legendEntry{name, l})
			named = true
		}
		seg = nil
	}
	for i := range min(len(x), len(y)) {
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			flush()
			continue
		}
		seg = append(seg, plotter.XY{X: x[i], Y: y[i]})
		pn.lo, pn.hi = math.Min(pn.lo, y[i]), math.Max(pn.hi, y[i])
	}
	flush()
}

// plot makes the panel's plot: grid, shading and marks, then the lines.
func (pn *panel) plot(d Data, xmin, xmax float64) (*plot.Plot, error) {
	p := plot.New()
	p.Y.Label.Text = pn.ylabel
	p.Legend.Top = true
	p.Legend.XOffs = -6 * vg.Millimeter // inside the panel, clear of the edge
	p.Add(plotter.NewGrid())
	lo, hi := pn.lo, pn.hi
	if !pn.log {
		hi = niceCeil(hi)
	}
	if pn.log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if d.Shade[1] > d.Shade[0] {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: d.Shade[0], Y: lo}, {X: d.Shade[1], Y: lo}, {X: d.Shade[1], Y: hi}, {X: d.Shade[0], Y: hi}})
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		poly.Color = shadeColor
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	for _, m := range d.Marks {
		l, err := plotter.NewLine(plotter.XYs{{X: m, Y: lo}, {X: m, Y: hi}})
		if err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
		l.Color = markColor
		l.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(l)
	}
	for _, l := range pn.lines {
		p.Add(l)
	}
	for _, e := range pn.legend {
		p.Legend.Add(e.name, e.line)
	}
	p.X.Min, p.X.Max = xmin, xmax
	p.Y.Min, p.Y.Max = lo, hi
	return p, nil
}

// niceCeil rounds v up to a round multiple of a power of ten (1, 1.2,
// 1.5, 2, 2.5, 3, 4, 5, 6, 8), so that a linear axis ends on a round
// number, not far above the data, and its ticks are labelled as such.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*pow {
			return m * pow
		}
	}
	return 10 * pow
}
