package loadgen

import (
	"math/rand/v2"
	"time"
)

// Arrivals hands out the times of a replay's requests, from the start of
// the load, in order; ok is false after the last.
type Arrivals func() (at time.Duration, ok bool)

// TraceArrivals are a trace's own request times.
func TraceArrivals(tr *Trace) Arrivals {
	i := 0
	return func() (time.Duration, bool) {
		if i >= len(tr.Offsets) {
			return 0, false
		}
		i++
		return tr.Offsets[i-1], true
	}
}

// integrationStep is the step in which curve arrivals integrate λ: fine
// enough that arrivals land within a millisecond of where the curve puts
// them, coarse enough to cost nothing against the calls they make.
const integrationStep = time.Millisecond

// PoissonArrivals is a non-homogeneous Poisson process of rate c.Rate: by
// time rescaling, arrival n comes when the integral Λ(t) of the rate
// reaches the sum of n exponential draws of mean 1.
func PoissonArrivals(c Curve, r *rand.Rand) Arrivals {
	return curveArrivals(c, r.ExpFloat64)
}

// EvenArrivals spaces arrivals evenly in Λ: one each time the integral of
// the rate grows by 1, so at a constant rate they are 1/λ apart.
func EvenArrivals(c Curve) Arrivals {
	return curveArrivals(c, func() float64 { return 1 })
}

// curveArrivals walks Λ(t) = ∫λ in integrationStep steps and emits an
// arrival each time Λ passes the next target, the targets growing by
// gap() each time; within a step λ is taken as constant, so the arrival
// falls in proportion.
func curveArrivals(c Curve, gap func() float64) Arrivals {
	var t time.Duration // start of the current step
	var lambda float64  // Λ(t)
	target := gap()
	end := c.Length()
	return func() (time.Duration, bool) {
		for t < end {
			step := min(integrationStep, end-t)
			inc := c.Rate(t) * step.Seconds()
			if lambda+inc >= target && inc > 0 {
				at := t + time.Duration(float64(step)*(target-lambda)/inc)
				target += gap()
				return at, true
			}
			lambda += inc
			t += step
		}
		return 0, false
	}
}
