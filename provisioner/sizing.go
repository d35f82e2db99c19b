package provisioner

import (
	"errors"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/oracle"
)

// Sizing models: how an instance count is computed for a rate.
const (
	// ModelGG1 is the paper's: each instance a G/G/1 queue of its own
	// (calls pushed to an instance wait there), capacity δ from the
	// response-time bound, η = ⌈λ/δ⌉. The target is a mean.
	ModelGG1 = "gg1"
	// ModelErlang is one queue shared by every instance, M/G/n: what
	// omq's dispatch to the idle makes of a service (a call starts at
	// the first free slot anywhere). The fewest instances whose response
	// time meets the target at the SLA's percentile, by Erlang C with
	// the Allen–Cunneen wait tail (package oracle, the model the replay's
	// oracle uses). Fewer instances than G/G/1 for the same SLA: pooled
	// servers queue far less than separate ones.
	ModelErlang = "erlang"
)

// DefaultSLAPercentile is the response-time percentile the erlang model
// holds the target at.
const DefaultSLAPercentile = 95

// sizeErlang is size for ModelErlang: the service time measured, its
// distribution taken as deterministic when its squared coefficient of
// variation is under 0.5 and exponential otherwise (the oracle's two),
// n instances of obs.Concurrency slots. Calls already waiting (a flash
// crowd's first seconds) are sized to drain within one period, on top of
// the rate: a count that only keeps up with the rate leaves them waiting
// for as long as its small surplus takes.
func (e *capacityEstimate) sizeErlang(lambda float64, obs Observation) sizing {
	var drain string
	if obs.Backlog > 0 && obs.Period > 0 && lambda > 0 {
		extra := float64(obs.Backlog) / obs.Period.Seconds()
		drain = fmt.Sprintf(" + %d waiting over %v", obs.Backlog, obs.Period)
		lambda += extra
	}
	dist := oracle.Exponential
	if e.s > 0 && e.varB/(e.s*e.s) < 0.5 {
		dist = oracle.Deterministic
	}
	q := e.slaQ
	if q == 0 {
		q = DefaultSLAPercentile
	}
	m := oracle.Model{
		ServiceTime: time.Duration(e.s * float64(time.Second)),
		Dist:        dist,
		Concurrency: max(obs.Concurrency, 1),
		SLA:         e.d,
		Percentile:  q / 100,
		Min:         1,
		Max:         max(obs.Limits.Max, 1),
	}
	n, err := m.Instances(lambda)
	switch {
	case errors.Is(err, oracle.ErrInfeasible), errors.Is(err, oracle.ErrTooMany):
		n := max(obs.Limits.Max, 1)
		return sizing{eta: n, text: fmt.Sprintf("%v: no count within max meets p%g ≤ %v: as many as allowed → η=%d", m, q, e.d, n)}
	case err != nil:
		n := max(obs.Current, 1)
		return sizing{eta: n, text: fmt.Sprintf("%v: keep %d", err, n)}
	}
	return sizing{eta: n, known: true, text: fmt.Sprintf("erlang %v at λ=%s%s → η=%d", m, fmtRate(lambda), drain, n)}
}

// checkModel validates a policy's sizing model and SLA percentile.
func checkModel(policy, model string, q float64) error {
	switch {
	case model != "" && model != ModelGG1 && model != ModelErlang:
		return fmt.Errorf("provisioner: %s: Model %q: want %q or %q", policy, model, ModelGG1, ModelErlang)
	case !(q >= 0 && q < 100):
		return fmt.Errorf("provisioner: %s: SLAPercentile %v must be in (0, 100), or 0 for %d", policy, q, DefaultSLAPercentile)
	}
	return nil
}
