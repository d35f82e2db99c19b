package provisioner

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrUnattainable is returned, wrapped with the figures, by Capacity when
// the response-time target is not above the mean service time: no
// instance, however idle, answers within it on average.
var ErrUnattainable = errors.New("provisioner: response-time target unattainable")

// Capacity is the G/G/1 bound of Urgaonkar et al.: the arrival rate, in
// requests/s, one instance sustains while its mean response time stays
// within d,
//
//	δ = [s + (σa² + σb²) / (2(d − s))]⁻¹
//
// where s is the mean service time in seconds and varA, varB (σa², σb²) the
// variances of the inter-arrival and service times in s². It fails with
// ErrUnattainable when d ≤ s. With s = 0 and no variance the bound is +Inf:
// an instance that takes no time has no limit the model can see.
func Capacity(s, varA, varB float64, d time.Duration) (float64, error) {
	for _, v := range []struct {
		name string
		x    float64
	}{{"mean service time", s}, {"inter-arrival variance", varA}, {"service-time variance", varB}} {
		if v.x < 0 || math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			return 0, fmt.Errorf("provisioner: capacity: %s %v is not a finite non-negative number", v.name, v.x)
		}
	}
	ds := d.Seconds()
	if ds <= s {
		return 0, fmt.Errorf("%w: target d=%v ≤ mean service time s=%s", ErrUnattainable, d, fmtSeconds(s))
	}
	return 1 / (s + (varA+varB)/(2*(ds-s))), nil
}

// CapacityAtRate is Capacity with the inter-arrival variance taken at the
// rate being sized for rather than at the rate observed. Measured σa²
// belongs to today's per-instance rate: for Poisson arrivals σa = 1/λᵢ, so
// at a few calls a second per instance σa² dwarfs everything else and
// Capacity says an instance serves a handful of calls a second. What does
// not change with the rate is the shape of the arrival process, its
// squared coefficient of variation ca² = σa²/E[a]² (1 for Poisson, 0 for
// evenly spaced calls). An instance loaded at δ sees σa² = ca²/δ², and the
// bound becomes the fixed point
//
//	δ = [s + (ca²/δ² + σb²) / (2(d − s))]⁻¹
//
// whose largest solution, with x = 1/δ and D = d − s, is the smaller root of
// ca²·x² − 2D·x + 2D·s + σb² = 0:
//
//	x = (D − √(D² − ca²(2D·s + σb²))) / ca²     (x = s + σb²/2D when ca² = 0)
//
// A negative discriminant means the bound is above d at every rate. The
// bound is loose at low utilisation (σa² = ca²/δ² grows as δ falls), so
// that happens with bursty arrivals (ca² above about 2 at ρ near s/d)
// although such a queue does meet d when lightly loaded. CapacityAtRate
// then sizes as for the burstiest arrivals the bound still handles, ca²* =
// D²/(2D·s + σb²), where the two roots meet: x = D/ca²* = (2D·s + σb²)/D.
// So δ falls as ca² grows up to ca²*, then stays there — continuous, no
// cliff to "as many instances as allowed" — and loose = true says so.
func CapacityAtRate(s, ca2, varB float64, d time.Duration) (delta float64, loose bool, err error) {
	if _, err := Capacity(s, ca2, varB, d); err != nil {
		return 0, false, err
	}
	ds := d.Seconds()
	D := ds - s
	if ca2 == 0 {
		return 1 / (s + varB/(2*D)), false, nil
	}
	disc := D*D - ca2*(2*D*s+varB)
	if disc < 0 {
		return D / (2*D*s + varB), true, nil
	}
	x := (D - math.Sqrt(disc)) / ca2
	if x <= 0 {
		return math.Inf(1), false, nil
	}
	return 1 / x, false, nil
}

// instancesTolerance is the relative slack Instances allows before it
// rounds up: λ/δ = 3.0000000001 is 3 instances, not 4. Measured rates and
// moments carry far more error than 1e-9, while float rounding of λ/δ
// (about 1e-16 relative) would otherwise add a whole instance, as it does
// for (0.1·3)/0.1 = 3.0000000000000004.
const instancesTolerance = 1e-9

// Instances is η = ⌈λ/δ⌉, the instances needed for arrival rate lambda when
// each sustains delta (requests/s both). It is 0 when lambda ≤ 0 and at
// least 1 when lambda > 0. A quotient within a relative 1e-9 above a whole
// number counts as that number (see instancesTolerance). A delta that is
// not positive gives no capacity at all: math.MaxInt, for the supervisor to
// clamp to the service's maximum.
func Instances(lambda, delta float64) int {
	if !(lambda > 0) { // also NaN
		return 0
	}
	if !(delta > 0) {
		return math.MaxInt
	}
	q := math.Ceil(lambda / delta * (1 - instancesTolerance))
	switch {
	case q < 1:
		return 1
	case q >= math.MaxInt32: // far beyond any limit; float→int would overflow near 2⁶³
		return math.MaxInt
	}
	return int(q)
}

// ca2Memory is how many inter-arrival gaps the smoothed ca² remembers.
const ca2Memory = 2000

// capacityEstimate keeps the last moments that had data, so that an idle
// period, whose observation carries no moments, does not lose what one
// instance can do.
type capacityEstimate struct {
	d time.Duration
	// model is ModelGG1 (or "") or ModelErlang; slaQ the erlang model's
	// percentile (0: DefaultSLAPercentile).
	model string
	slaQ  float64
	s     float64 // mean service time, s
	varB  float64 // service-time variance, s²
	varA  float64 // inter-arrival variance, s²
	ca2   float64 // inter-arrival squared coefficient of variation, σa²/E[a]², smoothed
	// ca2Weight is the number of gaps ca2 stands for, capped at ca2Memory.
	ca2Weight float64
	haveS     bool
	haveA     bool
}

func (e *capacityEstimate) observe(obs Observation) {
	if obs.ServiceTime.Count > 0 {
		e.s, e.varB, e.haveS = obs.ServiceTime.Mean, obs.ServiceTime.Variance, true
	}
	if ia := obs.InterArrival; ia.Count > 1 && ia.Mean > 0 {
		// ca² is a property of the arrival process, not of one period; a
		// period at night holds a dozen gaps and its ca² is noise. Average
		// over the last few thousand gaps, each period weighted by its
		// count.
		n := float64(ia.Count)
		sample := ia.Variance / (ia.Mean * ia.Mean)
		w := min(e.ca2Weight, ca2Memory)
		e.ca2 = (e.ca2*w + sample*n) / (w + n)
		e.ca2Weight = w + n
		e.varA, e.haveA = ia.Variance, true
	}
}

// String gives the figures behind δ: "s=20.0ms, ca²=1.00 (σa²=(200ms)² now), σb²=(14.1ms)², d=100ms".
func (e *capacityEstimate) String() string {
	a := fmt.Sprintf("ca²=%.2f (σa²=%s now)", e.ca2, fmtVariance(e.varA))
	if !e.haveA {
		a = "ca²=0 (no inter-arrival samples yet)"
	}
	return fmt.Sprintf("s=%s, %s, σb²=%s, d=%v", fmtSeconds(e.s), a, fmtVariance(e.varB), e.d)
}

// sizing is η for one rate, with the words that explain it. known is false
// when η is a fallback (δ unknown or the target unattainable) rather than
// ⌈λ/δ⌉; a policy then should not remember it as a provisioned state.
type sizing struct {
	eta   int
	known bool
	text  string // "δ=41.8/s (s=…, d=100ms) → η=3"
}

// size computes η for lambda from the moments seen so far. Without
// service-time samples it keeps the current count (at least one while
// there is demand); with an unattainable target it asks for every instance
// the limits allow, since more instances at least remove the queueing.
func (e *capacityEstimate) size(lambda float64, obs Observation) sizing {
	if lambda <= 0 {
		return sizing{eta: 0, known: true, text: "no arrivals → η=0"}
	}
	if !e.haveS {
		n := max(obs.Current, 1)
		return sizing{eta: n, text: fmt.Sprintf("no service-time samples yet, δ unknown: keep %d", n)}
	}
	if e.model == ModelErlang {
		return e.sizeErlang(lambda, obs)
	}
	// σa² at the rate being sized for, not today's: see CapacityAtRate.
	delta, loose, err := CapacityAtRate(e.s, e.ca2, e.varB, e.d)
	if errors.Is(err, ErrUnattainable) {
		n, what := obs.Limits.Max, "Limits.Max"
		if n <= 0 {
			n, what = max(obs.Current, 1), "no maximum set, keep current"
		}
		return sizing{eta: n, text: fmt.Sprintf("d=%v ≤ s=%s, no instance meets the target: as many as allowed (%s) → η=%d", e.d, fmtSeconds(e.s), what, n)}
	}
	if err != nil { // moments the supervisor should never send (negative, NaN)
		n := max(obs.Current, 1)
		return sizing{eta: n, text: fmt.Sprintf("%v: keep %d", err, n)}
	}
	eta := Instances(lambda, delta)
	note := ""
	if loose {
		D := e.d.Seconds() - e.s
		note = fmt.Sprintf(", bound above d at every rate for ca² > %.2f: sized at that edge", D*D/(2*D*e.s+e.varB))
	}
	return sizing{eta: eta, known: true, text: fmt.Sprintf("δ=%s (%v%s) → η=%d", fmtRate(delta), e, note, eta)}
}

// atLeastOneForWork raises a count of zero to one while calls wait: with no
// arrivals in the period λ is 0, yet a backlog or a durable lane holding
// calls still needs an instance to drain it.
func atLeastOneForWork(n int, obs Observation) (int, string) {
	if n > 0 {
		return n, ""
	}
	switch {
	case obs.Durable > 0:
		return 1, fmt.Sprintf("; %d calls wait in the durable lane → 1", obs.Durable)
	case obs.Backlog > 0:
		return 1, fmt.Sprintf("; %d calls wait in a backlog → 1", obs.Backlog)
	}
	return n, ""
}

// checkObservation rejects figures no computation can use.
func checkObservation(policy string, obs Observation) error {
	if obs.Lambda < 0 || math.IsNaN(obs.Lambda) || math.IsInf(obs.Lambda, 0) {
		return fmt.Errorf("provisioner: %s: service %q: arrival rate %v is not a finite non-negative number", policy, obs.Service, obs.Lambda)
	}
	return nil
}

// fmtSeconds writes a time in seconds with a unit a person reads at a
// glance: 20.0ms, 850.0µs, 1.50s.
func fmtSeconds(s float64) string {
	switch a := math.Abs(s); {
	case a == 0:
		return "0s"
	case a < 1e-3:
		return fmt.Sprintf("%.1fµs", s*1e6)
	case a < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	default:
		return fmt.Sprintf("%.2fs", s)
	}
}

// fmtVariance writes a variance as the square of its standard deviation,
// (20.0ms)², which says more to a reader than 4.0e-04 s².
func fmtVariance(v float64) string {
	if v <= 0 {
		return "0"
	}
	return "(" + fmtSeconds(math.Sqrt(v)) + ")²"
}

// fmtRate writes a rate in requests/s: 120.0/s, 0.0417/s.
func fmtRate(r float64) string {
	if r != 0 && math.Abs(r) < 0.1 {
		return fmt.Sprintf("%.3g/s", r)
	}
	return fmt.Sprintf("%.1f/s", r)
}

// fmtRatio writes λobs/λpred; +Inf when nothing was predicted.
func fmtRatio(r float64) string {
	if math.IsInf(r, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.2f", r)
}

// rateRatio is λobs/λpred with the cases of a zero prediction made
// explicit: no arrivals against none predicted is on target (1), any
// arrival against none predicted is +Inf.
func rateRatio(obs, pred float64) float64 {
	switch {
	case pred > 0:
		return obs / pred
	case obs > 0:
		return math.Inf(1)
	}
	return 1
}
