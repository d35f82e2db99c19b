package provisioner

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Default thresholds of the reactive band [τ2, τ1].
const (
	// DefaultTau1 reprovisions when the rate grew 20 % past what the
	// instances were sized for. Rounding η up and the G/G/1 bound being a
	// lower bound leave some headroom, but not much more than that; and 20 %
	// is well above the noise of a rate measured over a period (a Poisson
	// count of 1000 calls varies by about 3 %).
	DefaultTau1 = 1.2
	// DefaultTau2 reprovisions when the rate has halved. Removing instances
	// is never urgent — too many costs resources, too few breaks the
	// response-time target — so the band is wider below than above, and a
	// dip between bursts does not shed instances the next burst needs.
	DefaultTau2 = 0.5
)

// ReactiveConfig configures a Reactive policy.
type ReactiveConfig struct {
	// ResponseTime is d, the mean response-time target of the G/G/1 model.
	// It has no default: it is the service's SLA.
	ResponseTime time.Duration
	// Tau1 and Tau2 bound the band of λobs/λpred within which the policy
	// keeps its count: above Tau1 or below Tau2 it recomputes η from the
	// observed rate. Tau1 > 1 > Tau2 > 0.
	Tau1, Tau2 float64
	// Model sizes the count for a rate: ModelGG1 (default; ResponseTime
	// is a mean) or ModelErlang (ResponseTime bounds the SLAPercentile of
	// response time, default DefaultSLAPercentile).
	Model         string
	SLAPercentile float64
}

// DefaultReactiveConfig returns the default thresholds, DefaultTau1 and
// DefaultTau2; ResponseTime must still be set.
func DefaultReactiveConfig() ReactiveConfig {
	return ReactiveConfig{Tau1: DefaultTau1, Tau2: DefaultTau2}
}

// Validate reports the first field out of range.
func (c ReactiveConfig) Validate() error {
	switch {
	case c.ResponseTime <= 0:
		return fmt.Errorf("provisioner: reactive: ResponseTime %v must be positive", c.ResponseTime)
	case !(c.Tau1 > 1):
		return fmt.Errorf("provisioner: reactive: Tau1 %v must be above 1 (default %v)", c.Tau1, DefaultTau1)
	case !(c.Tau2 > 0 && c.Tau2 < 1):
		return fmt.Errorf("provisioner: reactive: Tau2 %v must be between 0 and 1 (default %v)", c.Tau2, DefaultTau2)
	}
	return checkModel("reactive", c.Model, c.SLAPercentile)
}

// Reactive is the reactive provisioning of Urgaonkar et al.: it sizes each
// service for the rate it last saw, η = ⌈λ/δ⌉, and resizes only when the
// observed rate leaves the band [τ2, τ1] around that rate — so it follows
// real changes within one period and ignores noise.
//
// δ comes from the moments of each observation, or from the last that had
// any. A Reactive keeps its state per service and is safe for concurrent
// use.
type Reactive struct {
	cfg ReactiveConfig

	mu    sync.Mutex
	state map[string]*reactiveState
}

type reactiveState struct {
	est        capacityEstimate
	havePred   bool
	lambdaPred float64 // the rate η was computed for
	eta        int
}

// NewReactive returns a Reactive policy for cfg.
func NewReactive(cfg ReactiveConfig) (*Reactive, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reactive{cfg: cfg, state: make(map[string]*reactiveState)}, nil
}

// Name is "reactive".
func (r *Reactive) Name() string { return "reactive" }

// Decide keeps the count it last computed while λobs/λpred stays within
// [τ2, τ1], and recomputes η from λobs otherwise or when it has not
// computed one yet.
func (r *Reactive) Decide(ctx context.Context, obs Observation) (Decision, error) {
	if err := checkObservation("reactive", obs); err != nil {
		return Decision{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state[obs.Service]
	if st == nil {
		st = &reactiveState{est: capacityEstimate{d: r.cfg.ResponseTime, model: r.cfg.Model, slaQ: r.cfg.SLAPercentile}}
		r.state[obs.Service] = st
	}
	st.est.observe(obs)

	lobs := obs.Lambda
	var why string
	if st.havePred {
		ratio := rateRatio(lobs, st.lambdaPred)
		head := fmt.Sprintf("λobs=%s, λpred=%s, ratio %s", fmtRate(lobs), fmtRate(st.lambdaPred), fmtRatio(ratio))
		switch {
		case ratio > r.cfg.Tau1:
			why = fmt.Sprintf("%s > τ1=%.2f", head, r.cfg.Tau1)
		case ratio < r.cfg.Tau2:
			why = fmt.Sprintf("%s < τ2=%.2f", head, r.cfg.Tau2)
		default:
			n, extra := atLeastOneForWork(st.eta, obs)
			return Decision{Desired: n, Reason: fmt.Sprintf("%s within [τ2=%.2f, τ1=%.2f]: keep η=%d%s",
				head, r.cfg.Tau2, r.cfg.Tau1, st.eta, extra)}, nil
		}
	} else {
		why = fmt.Sprintf("λobs=%s, no λpred yet", fmtRate(lobs))
	}

	sz := st.est.size(lobs, obs)
	if sz.known {
		st.havePred, st.lambdaPred, st.eta = true, lobs, sz.eta
	} else {
		// A fallback is not a provisioned state: recompute next period, when
		// the moments may allow it, instead of holding the fallback while
		// the rate stays in the band.
		st.havePred = false
	}
	n, extra := atLeastOneForWork(sz.eta, obs)
	return Decision{Desired: n, Reason: why + ": " + sz.text + extra}, nil
}

var _ Provisioner = (*Reactive)(nil)
