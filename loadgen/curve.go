package loadgen

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Curve is the offered arrival rate λ(t) of a replay, in requests per
// second, t measured from the start of the load.
type Curve interface {
	// Rate is λ(t); 0 outside [0, Length).
	Rate(t time.Duration) float64
	// Length is how long the load lasts.
	Length() time.Duration
	// ReportFrom is where the reported part of the run begins: the first
	// days of a diurnal curve only train the predictive policy's history.
	ReportFrom() time.Duration
}

// Diurnal is a day of traffic with a morning and an evening peak,
// compressed into Day and repeated Days times, with a flash crowd on the
// last day:
//
//	λ(t) = (Base + (Peak − Base) · shape(x)) · flash(t),  x = (t mod Day) / Day
//
// shape goes through the knots of diurnalKnots — 0 at 04:00, 0.8 at the
// morning peak (10:00), 0.55 in the afternoon lull (14:00), 1 at the
// evening peak (20:00), back to 0 at 04:00 — and between two knots (x0,
// y0), (x1, y1) it follows half a cosine,
//
//	shape(x) = y0 + (y1 − y0) · (1 − cos(π·(x − x0)/(x1 − x0))) / 2,
//
// so it is smooth, flat at every peak and trough, and takes exactly the
// knots' values there. flash(t) is FlashX while t is within the last day
// and x ∈ [FlashAt, FlashAt + FlashLen), 1 otherwise: a flash crowd comes
// at once, with no ramp, so it is the case no prediction helps with.
type Diurnal struct {
	Day        time.Duration
	Days       int
	Base, Peak float64
	// FlashAt and FlashLen are fractions of a day; FlashX multiplies the
	// rate. FlashX ≤ 1 or FlashLen 0: no flash crowd.
	FlashAt, FlashLen, FlashX float64
}

// diurnalKnots are (hour of the day, shape) points of Diurnal's shape, in
// order; the first is repeated a day later to close the loop.
var diurnalKnots = [][2]float64{{4, 0}, {10, 0.8}, {14, 0.55}, {20, 1}, {28, 0}}

// diurnalShape is the shape of the day at fraction x ∈ [0, 1) of it.
func diurnalShape(x float64) float64 {
	h := x * 24
	if h < diurnalKnots[0][0] {
		h += 24
	}
	for i := 1; i < len(diurnalKnots); i++ {
		k0, k1 := diurnalKnots[i-1], diurnalKnots[i]
		if h <= k1[0] {
			u := (h - k0[0]) / (k1[0] - k0[0])
			return k0[1] + (k1[1]-k0[1])*(1-math.Cos(math.Pi*u))/2
		}
	}
	return diurnalKnots[0][1]
}

func (d Diurnal) Length() time.Duration { return time.Duration(d.Days) * d.Day }

func (d Diurnal) ReportFrom() time.Duration { return time.Duration(d.Days-1) * d.Day }

func (d Diurnal) Rate(t time.Duration) float64 {
	if t < 0 || t >= d.Length() || d.Day <= 0 {
		return 0
	}
	x := float64(t%d.Day) / float64(d.Day)
	r := d.Base + (d.Peak-d.Base)*diurnalShape(x)
	if d.inFlash(t, x) {
		r *= d.FlashX
	}
	return r
}

func (d Diurnal) inFlash(t time.Duration, x float64) bool {
	return d.FlashX > 1 && d.FlashLen > 0 && t >= d.ReportFrom() && x >= d.FlashAt && x < d.FlashAt+d.FlashLen
}

// FlashWindow is when the flash crowd is, from the start of the load;
// ok is false when there is none.
func (d Diurnal) FlashWindow() (from, to time.Duration, ok bool) {
	if d.FlashX <= 1 || d.FlashLen <= 0 {
		return 0, 0, false
	}
	from = d.ReportFrom() + time.Duration(d.FlashAt*float64(d.Day))
	to = min(from+time.Duration(d.FlashLen*float64(d.Day)), d.Length())
	return from, to, true
}

// Trace is a recorded list of request times replayed Speedup times
// faster: its rate in each second of the replay is the number of requests
// the trace puts in it.
type Trace struct {
	// Offsets are the requests' times from the first, sorted, already
	// divided by the speedup.
	Offsets []time.Duration
	perSec  []float64
}

// NewTrace makes a trace of request times in seconds (any origin, any
// order), replayed speedup times faster. A replay longer than maxLen is
// refused before anything is allocated for it: a stray timestamp (a 0
// among Unix times, milliseconds among seconds) would otherwise ask for
// gigabytes, or overflow time.Duration.
func NewTrace(seconds []float64, speedup float64, maxLen time.Duration) (*Trace, error) {
	tr := &Trace{}
	if len(seconds) == 0 {
		return tr, nil
	}
	first, last := seconds[0], seconds[0]
	for _, s := range seconds {
		first, last = min(first, s), max(last, s)
	}
	if span := (last - first) / speedup; span >= maxLen.Seconds() {
		return nil, fmt.Errorf("the replay would last %.0f s at speedup %g (at most %s): from %g to %g", span, speedup, maxLen, first, last)
	}
	tr.Offsets = make([]time.Duration, len(seconds))
	for i, s := range seconds {
		tr.Offsets[i] = time.Duration(math.Round((s - first) / speedup * float64(time.Second)))
	}
	slices.Sort(tr.Offsets)
	tr.perSec = make([]float64, int(tr.Offsets[len(tr.Offsets)-1]/time.Second)+1)
	for _, o := range tr.Offsets {
		tr.perSec[o/time.Second]++
	}
	return tr, nil
}

func (tr *Trace) Length() time.Duration { return time.Duration(len(tr.perSec)) * time.Second }

func (tr *Trace) ReportFrom() time.Duration { return 0 }

func (tr *Trace) Rate(t time.Duration) float64 {
	if t < 0 || t >= tr.Length() {
		return 0
	}
	return tr.perSec[t/time.Second]
}
