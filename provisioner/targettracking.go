package provisioner

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// TargetTrackingConfig configures a TargetTracking policy.
type TargetTrackingConfig struct {
	// Target is the queue wait (send to start of handling) to hold the
	// chosen percentile at. It has no default.
	Target time.Duration
	// Percentile of QueueWait to track: 50, 90 or 99.
	Percentile int
	// Tolerance is how far observed/target may stray from 1 before the
	// count changes, as in the Kubernetes HPA.
	Tolerance float64
	// UpWindow and DownWindow are the HPA's stabilisation windows: a scale
	// up goes to the lowest recommendation of the last UpWindow, a scale
	// down to the highest of the last DownWindow. Zero uses only the
	// current recommendation.
	UpWindow, DownWindow time.Duration
	// One decision raises the count to at most
	// max(⌈current × MaxUpFactor⌉, current + MaxUpStep), the HPA's default
	// scale-up policy (100 % or 4 pods per period, whichever is more):
	// queue wait grows steeply near saturation, and the ratio it gives
	// would overshoot.
	MaxUpFactor float64
	MaxUpStep   int
}

// DefaultTargetTrackingConfig returns the HPA's defaults except for the
// scale-down window; Target must still be set.
//
//   - Percentile 90: the tail users feel, still steady over a few seconds
//     of calls (the 99th is noisy at low rates).
//   - Tolerance 0.1, the HPA's.
//   - UpWindow 0, the HPA's: scale up at once.
//   - DownWindow 30s instead of the HPA's 5 minutes. The window exists so
//     that a lull between bursts does not shed instances the next burst
//     needs; the HPA's is long because pods take tens of seconds to start,
//     our instances start in well under a second, so holding surplus ones
//     for long buys little. 30s spans several decision periods, enough to
//     ride out a gap.
//   - MaxUpFactor 2 and MaxUpStep 4, the HPA's scale-up policy.
func DefaultTargetTrackingConfig() TargetTrackingConfig {
	return TargetTrackingConfig{
		Percentile:  90,
		Tolerance:   0.1,
		UpWindow:    0,
		DownWindow:  30 * time.Second,
		MaxUpFactor: 2,
		MaxUpStep:   4,
	}
}

// Validate reports the first field out of range.
func (c TargetTrackingConfig) Validate() error {
	switch {
	case c.Target <= 0:
		return fmt.Errorf("provisioner: target-tracking: Target %v must be positive", c.Target)
	case c.Percentile != 50 && c.Percentile != 90 && c.Percentile != 99:
		return fmt.Errorf("provisioner: target-tracking: Percentile %d must be 50, 90 or 99", c.Percentile)
	case !(c.Tolerance >= 0 && c.Tolerance < 1):
		return fmt.Errorf("provisioner: target-tracking: Tolerance %v must be in [0, 1)", c.Tolerance)
	case c.UpWindow < 0 || c.DownWindow < 0:
		return fmt.Errorf("provisioner: target-tracking: windows (up %v, down %v) must not be negative", c.UpWindow, c.DownWindow)
	case !(c.MaxUpFactor >= 1) || math.IsInf(c.MaxUpFactor, 0):
		return fmt.Errorf("provisioner: target-tracking: MaxUpFactor %v must be at least 1", c.MaxUpFactor)
	case c.MaxUpStep < 0:
		return fmt.Errorf("provisioner: target-tracking: MaxUpStep %d must not be negative", c.MaxUpStep)
	case c.MaxUpFactor == 1 && c.MaxUpStep == 0:
		return fmt.Errorf("provisioner: target-tracking: MaxUpFactor 1 with MaxUpStep 0 would never scale up")
	}
	return nil
}

// TargetTracking holds a percentile of the queue wait at a target the way
// the Kubernetes Horizontal Pod Autoscaler holds a metric: desired =
// ⌈current × observed/target⌉, unchanged within a tolerance, stabilised
// over windows (up fast, down slowly) and with a bounded step up. Unlike
// the G/G/1 policies it needs no model of the service, only its symptom.
//
// A TargetTracking keeps its state per service and is safe for concurrent
// use.
type TargetTracking struct {
	cfg TargetTrackingConfig

	mu    sync.Mutex
	state map[string]*stabilizer
}

// NewTargetTracking returns a TargetTracking policy for cfg.
func NewTargetTracking(cfg TargetTrackingConfig) (*TargetTracking, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &TargetTracking{cfg: cfg, state: make(map[string]*stabilizer)}, nil
}

// Name is "target-tracking".
func (p *TargetTracking) Name() string { return "target-tracking" }

// Decide recommends a count from the queue wait, then stabilises and caps
// it as the HPA does.
func (p *TargetTracking) Decide(ctx context.Context, obs Observation) (Decision, error) {
	if err := checkObservation(p.Name(), obs); err != nil {
		return Decision{}, err
	}
	cur := max(obs.Current, 0)
	rec, why := p.recommend(cur, obs)

	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state[obs.Service]
	if st == nil {
		st = &stabilizer{}
		p.state[obs.Service] = st
	}
	n, note := st.stabilize(obs.Now, cur, rec, p.cfg.UpWindow, p.cfg.DownWindow)
	why += note
	// At least 1, so that a policy with MaxUpStep 0 still starts from zero.
	if limit := max(int(math.Ceil(float64(cur)*p.cfg.MaxUpFactor)), cur+p.cfg.MaxUpStep, 1); n > limit {
		n = limit
		why += fmt.Sprintf("; capped at %d = max(⌈%d×%g⌉, %d+%d) per step", limit, cur, p.cfg.MaxUpFactor, cur, p.cfg.MaxUpStep)
	}
	return Decision{Desired: n, Reason: why}, nil
}

// recommend is the period's count before stabilisation.
func (p *TargetTracking) recommend(cur int, obs Observation) (int, string) {
	if cur == 0 {
		// Nothing runs, so nothing waits in a queue to measure: demand
		// alone decides.
		switch {
		case obs.Lambda > 0:
			return 1, fmt.Sprintf("no instances, λ=%s → 1", fmtRate(obs.Lambda))
		case obs.Backlog > 0:
			return 1, fmt.Sprintf("no instances, %d calls in a backlog → 1", obs.Backlog)
		case obs.Durable > 0:
			return 1, fmt.Sprintf("no instances, %d calls in the durable lane → 1", obs.Durable)
		}
		return 0, "no instances and no demand → 0"
	}
	var w time.Duration
	switch p.cfg.Percentile {
	case 50:
		w = obs.QueueWait.P50
	case 99:
		w = obs.QueueWait.P99
	default:
		w = obs.QueueWait.P90
	}
	observed, target := float64(w), float64(p.cfg.Target)
	ratio := observed / target
	head := fmt.Sprintf("queue wait p%d=%v, target %v, ratio %.2f on %d", p.cfg.Percentile, w, p.cfg.Target, ratio, cur)
	// |observed − target| ≤ tol × target rather than |ratio − 1| ≤ tol: the
	// quotient 110ms/100ms − 1 comes out a hair above 0.1 in floats.
	if math.Abs(observed-target) <= p.cfg.Tolerance*target {
		return cur, fmt.Sprintf("%s: within tolerance %.2f, keep %d", head, p.cfg.Tolerance, cur)
	}
	q := math.Ceil(float64(cur) * ratio * (1 - instancesTolerance)) // slack as in Instances
	n := math.MaxInt32                                              // the step cap below brings it down
	if q < math.MaxInt32 {
		n = int(q)
	}
	why := fmt.Sprintf("%s → ⌈%d×%.2f⌉=%d", head, cur, ratio, n)
	n, extra := atLeastOneForWork(n, obs)
	if n == 0 && obs.Lambda > 0 {
		n, extra = 1, fmt.Sprintf("; λ=%s → 1", fmtRate(obs.Lambda))
	}
	return n, why + extra
}

var _ Provisioner = (*TargetTracking)(nil)
