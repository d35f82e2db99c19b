package chart

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticChart is a minute of a made-up replay: a sine of load, an
// elastic service following it, a fixed one overloaded at its peak, and
// gaps (NaN) where nothing was measured.
func syntheticChart() Data {
	d := Data{Title: "synthetic", SLA: 100, Marks: []float64{30}, Shade: [2]float64{40, 45},
		Services: []Service{{Name: "work"}, {Name: "work-fixed"}}}
	for i := range 60 {
		x := float64(i)
		d.T = append(d.T, x)
		lambda := 50 + 40*math.Sin(x/10)
		d.Offered = append(d.Offered, lambda)
		d.Services[0].Instances = append(d.Services[0].Instances, math.Ceil(lambda/30))
		d.Services[1].Instances = append(d.Services[1].Instances, 3)
		d.Services[0].P95 = append(d.Services[0].P95, 20+lambda/10)
		d.Services[1].P95 = append(d.Services[1].P95, 20*math.Exp(lambda/30))
	}
	d.Services[0].P95[10] = math.NaN()
	d.Services[1].Instances[20] = math.NaN()
	d.Services[1].P95[0] = 0 // a second without calls, on a log axis
	return d
}

func TestWriteChart_PNGAndSVG(t *testing.T) {
	for _, tc := range []struct {
		name string
		data Data
	}{
		{"synthetic", syntheticChart()},
		{"one second, nothing measured", Data{T: []float64{0}, Offered: []float64{1}, SLA: 100,
			Services: []Service{{Name: "work", Instances: []float64{math.NaN()}, P95: []float64{math.NaN()}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			paths, err := Write(dir, "chart", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(paths) != 2 || paths[0] != filepath.Join(dir, "chart.png") || paths[1] != filepath.Join(dir, "chart.svg") {
				t.Fatalf("paths %q", paths)
			}
			pngData, err := os.ReadFile(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pngData, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("chart.png does not start with the PNG signature: % x", pngData[:min(8, len(pngData))])
			}
			img, err := png.Decode(bytes.NewReader(pngData))
			if err != nil {
				t.Fatalf("chart.png: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 400 {
				t.Errorf("chart.png is %dx%d", b.Dx(), b.Dy())
			}
			svg, err := os.ReadFile(paths[1])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(svg), "<svg") || !strings.HasSuffix(strings.TrimSpace(string(svg)), "</svg>") {
				t.Errorf("chart.svg has no svg root: %.200s", svg)
			}
		})
	}
}

func TestWriteChart_NoData(t *testing.T) {
	if _, err := Write(t.TempDir(), "chart", Data{}); err == nil {
		t.Error("a chart of nothing drawn without error")
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 1}, {1, 1}, {1.1, 1.2}, {1.5, 1.5}, {3.1, 4}, {7, 8}, {10, 10}, {11, 12}, {284.4, 300}, {0.33, 0.4},
	} {
		if got := niceCeil(tc.in); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("niceCeil(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
}
