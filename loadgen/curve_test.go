package loadgen

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// The shape takes its knots' values, and halfway between two knots the
// mean of theirs.
func TestDiurnal_ShapeAtKnownPoints(t *testing.T) {
	for _, tc := range []struct {
		hour float64
		want float64
	}{
		{4, 0},        // night trough
		{7, 0.4},      // halfway up to the morning peak
		{10, 0.8},     // morning peak
		{12, 0.675},   // halfway down to the lull
		{14, 0.55},    // afternoon lull
		{20, 1},       // evening peak
		{0, 0.5},      // midnight: halfway from the evening peak to the trough
		{23.999, 0.5}, // the day closes on itself
		{2, 0.1464},   // a quarter of the way, (1−cos(3π/4))/2 down from 1: 1 − 0.8536
	} {
		if got := diurnalShape(tc.hour / 24); !near(got, tc.want, 1e-3) {
			t.Errorf("shape at %gh = %.4f, want %.4f", tc.hour, got, tc.want)
		}
	}
}

func TestDiurnal_Rate(t *testing.T) {
	d := Diurnal{Day: 240 * time.Second, Days: 3, Base: 10, Peak: 110, FlashAt: 0.5, FlashLen: 0.1, FlashX: 3}
	hour := d.Day / 24
	for _, tc := range []struct {
		name string
		at   time.Duration
		want float64
	}{
		{"first night", 4 * hour, 10},
		{"first evening peak", 20 * hour, 110},
		{"second morning peak", d.Day + 10*hour, 90},
		{"noon of day 2: no flash before the last day", d.Day + 12*hour, 77.5},
		{"noon of the last day: flash", 2*d.Day + 12*hour, 3 * 77.5},
		{"end of the flash", 2*d.Day + 12*hour + d.Day/10, 10 + 100*diurnalShape(0.6)},
		{"before the start", -time.Second, 0},
		{"after the end", 3 * d.Day, 0},
	} {
		if got := d.Rate(tc.at); !near(got, tc.want, 1e-6) {
			t.Errorf("%s: λ(%s) = %.4f, want %.4f", tc.name, tc.at, got, tc.want)
		}
	}
	if d.Length() != 720*time.Second || d.ReportFrom() != 480*time.Second {
		t.Errorf("Length %s, ReportFrom %s; want 12m0s and 8m0s", d.Length(), d.ReportFrom())
	}
	from, to, ok := d.FlashWindow()
	if !ok || from != 600*time.Second || to != 624*time.Second {
		t.Errorf("FlashWindow = %s, %s, %v; want 10m0s, 10m24s", from, to, ok)
	}
	if _, _, ok := (Diurnal{Day: time.Minute, Days: 1, FlashX: 1, FlashLen: 0.1}).FlashWindow(); ok {
		t.Error("a flash of ×1 reported as a flash crowd")
	}
}

// integral of c's rate over [from, to), by the midpoint rule in 1ms steps.
func integral(c Curve, from, to time.Duration) float64 {
	var sum float64
	for t := from; t < to; t += time.Millisecond {
		sum += c.Rate(t+time.Millisecond/2) * 0.001
	}
	return sum
}

func countArrivals(a Arrivals, from, to time.Duration) (n int, sorted bool) {
	sorted = true
	last := time.Duration(-1)
	for {
		at, ok := a()
		if !ok {
			return n, sorted
		}
		if at < last {
			sorted = false
		}
		last = at
		if at >= from && at < to {
			n++
		}
	}
}

// Even arrivals match the integral of λ to within one per span; Poisson
// ones to within a few standard deviations (√n), with a fixed seed.
func TestArrivals_FollowTheCurve(t *testing.T) {
	d := Diurnal{Day: 60 * time.Second, Days: 2, Base: 5, Peak: 200, FlashAt: 0.7, FlashLen: 0.08, FlashX: 3}
	spans := [][2]time.Duration{{0, d.Length()}, {0, 10 * time.Second}, {d.ReportFrom(), d.Length()}}
	if from, to, ok := d.FlashWindow(); ok {
		spans = append(spans, [2]time.Duration{from, to})
	}
	for _, sp := range spans {
		want := integral(d, sp[0], sp[1])
		even, sorted := countArrivals(EvenArrivals(d), sp[0], sp[1])
		if !sorted || !near(float64(even), want, 2) {
			t.Errorf("even arrivals in [%s, %s): %d (sorted %v), want %.1f", sp[0], sp[1], even, sorted, want)
		}
		pois, sorted := countArrivals(PoissonArrivals(d, rand.New(rand.NewPCG(1, 2))), sp[0], sp[1])
		if !sorted || !near(float64(pois), want, 4*math.Sqrt(want)+1) {
			t.Errorf("Poisson arrivals in [%s, %s): %d (sorted %v), want %.1f ± %.1f", sp[0], sp[1], pois, sorted, want, 4*math.Sqrt(want))
		}
	}
	// At a constant rate, even arrivals are 1/λ apart.
	flat := Diurnal{Day: 10 * time.Second, Days: 1, Base: 50, Peak: 50}
	a := EvenArrivals(flat)
	first, _ := a()
	second, _ := a()
	if gap := second - first; gap < 19*time.Millisecond || gap > 21*time.Millisecond {
		t.Errorf("even arrivals at 50/s are %s apart, want 20ms", gap)
	}
}

func TestTrace_RateAndArrivals(t *testing.T) {
	tr, err := NewTrace([]float64{1000.5, 1000, 1003.9, 1001.2, 1000.25}, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 125 * time.Millisecond, 250 * time.Millisecond, 600 * time.Millisecond, 1950 * time.Millisecond}
	var got []time.Duration
	arr := TraceArrivals(tr)
	for at, ok := arr(); ok; at, ok = arr() {
		got = append(got, at)
	}
	if len(got) != len(want) {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("arrival %d at %s, want %s", i, got[i], want[i])
		}
	}
	if tr.Length() != 2*time.Second || tr.Rate(500*time.Millisecond) != 4 || tr.Rate(1500*time.Millisecond) != 1 || tr.Rate(2*time.Second) != 0 {
		t.Errorf("Length %s, rates %v %v %v", tr.Length(), tr.Rate(500*time.Millisecond), tr.Rate(1500*time.Millisecond), tr.Rate(2*time.Second))
	}
}

func TestParseTrace_Forms(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []float64
	}{
		{"plain", "0.5\n1\n\n# note\n2.25\n", []float64{0.5, 1, 2.25}},
		{"header", "id,t,path\n1,10.5,/a\n2, 11 ,/b\n", []float64{10.5, 11}},
		{"header t only", "t\n3\n4\n", []float64{3, 4}},
		{"quoted, CRLF, BOM", "\ufeff\"t\"\r\n\"1.5\"\r\n", []float64{1.5}},
		{"epoch seconds", "1700000000.125\n1700000001\n", []float64{1700000000.125, 1700000001}},
	} {
		got, err := ParseTrace("trace.csv", strings.NewReader(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

func TestParseTrace_ErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not a number", "1\n2\nabc\n", `trace.csv:3: "abc" is not a time in seconds`},
		{"no t column", "when,path\n1,/a\n", `trace.csv:1: no column "t"`},
		{"short row", "id,t\n1,2\n3\n", "trace.csv:3: 1 field(s), no column 2 (t)"},
		{"two fields without header", "1,2\n", "trace.csv:1: 2 fields"},
		{"NaN", "# times\n1\nNaN\n", `trace.csv:3: "NaN" is not a time in seconds`},
		{"Inf", "t\n+Inf\n", `trace.csv:2: "+Inf"`},
		{"empty", "\n# nothing\n", "trace.csv: no request times"},
		{"header only", "t\n", "trace.csv: no request times"},
	} {
		_, err := ParseTrace("trace.csv", strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := ParseTrace("trace.csv", strings.NewReader("")); !errors.Is(err, ErrNoTimestamps) {
		t.Errorf("empty trace: %v, want ErrNoTimestamps", err)
	}
}

func TestLoadTrace_File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte("t\n1\n2\nx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTrace(path); err == nil || !strings.Contains(err.Error(), path+":4:") {
		t.Errorf("got %v, want an error at %s:4", err, path)
	}
	if _, err := LoadTrace(filepath.Join(t.TempDir(), "none.csv")); err == nil {
		t.Error("a missing file read without error")
	}
}

// ParseTrace never panics, and what it accepts is finite numbers.
func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{"1\n2\n", "t\n1\n", "a,t\n1,2\n", "", "\ufefft\n", "1,2\n", "t\nNaN\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseTrace("fuzz", strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no times and no error")
		}
		for _, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted %v", v)
			}
		}
	})
}

// A stray timestamp is refused before the trace is built: a 0 among Unix
// milliseconds would span 54 years (and overflow a time.Duration).
func TestNewTrace_RefusesAHugeSpan(t *testing.T) {
	_, err := NewTrace([]float64{0, 1, 1.7e12}, 1, 7*24*time.Hour)
	if err == nil || !strings.Contains(err.Error(), "at most 168h0m0s") {
		t.Fatalf("err = %v, want the replay refused as too long", err)
	}
}
