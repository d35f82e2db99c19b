package provisioner

import (
	"context"
	"fmt"
	"sync"
)

// Combined is the provisioning of Urgaonkar et al. as the paper combines
// it: the predictive count is the base, planned ahead from past days, and
// the reactive rule corrects it on shorter time scales — when λobs/λpred
// exceeds τ1 (a flash crowd nobody predicted) the count for λobs is used
// if higher; when it falls below τ2 (the prediction was too high) the
// count for λobs replaces it.
//
// The correction holds while the observed rate stays outside the band;
// there is no separate reactive state, so once the rate is back near the
// prediction the prediction rules again.
type Combined struct {
	pred       *Predictive
	tau1, tau2 float64

	mu    sync.Mutex
	below map[string]int // consecutive periods under τ2, by service
}

// belowPeriods is how many periods in a row λobs/λpred must stay under τ2
// before the count drops below the prediction. The paper compares the
// rate "over the past few minutes"; one quiet period of a few noisy
// seconds is not that, and acting on it flaps between the two counts.
const belowPeriods = 3

// NewCombined combines pred with the reactive thresholds of rcfg. pred
// belongs to the Combined from then on (its Decide records the history;
// do not also use pred as a policy). rcfg.ResponseTime may be zero, taking
// pred's; otherwise it must equal it, since both halves size instances
// with the same model.
func NewCombined(pred *Predictive, rcfg ReactiveConfig) (*Combined, error) {
	if pred == nil {
		return nil, fmt.Errorf("provisioner: combined: nil Predictive")
	}
	d := pred.cfg.ResponseTime
	if rcfg.ResponseTime == 0 {
		rcfg.ResponseTime = d
	}
	if rcfg.ResponseTime != d {
		return nil, fmt.Errorf("provisioner: combined: reactive ResponseTime %v differs from predictive %v", rcfg.ResponseTime, d)
	}
	if err := rcfg.Validate(); err != nil {
		return nil, fmt.Errorf("provisioner: combined: %w", err)
	}
	return &Combined{pred: pred, tau1: rcfg.Tau1, tau2: rcfg.Tau2, below: map[string]int{}}, nil
}

// Name is "combined".
func (c *Combined) Name() string { return "combined" }

// Decide takes the predictive count and corrects it reactively.
func (c *Combined) Decide(ctx context.Context, obs Observation) (Decision, error) {
	pl, err := c.pred.plan(ctx, obs)
	if err != nil {
		return Decision{}, err
	}
	var n int
	var why string
	if !pl.fromHistory {
		// The predictive half already sized for λobs, which is all the
		// reactive half would do.
		c.track(obs.Service, false)
		n, why = pl.size.eta, "predictive without history: "+pl.predText+": "+pl.size.text
	} else {
		ratio := rateRatio(obs.Lambda, pl.lambdaPred)
		below := c.track(obs.Service, ratio < c.tau2)
		head := fmt.Sprintf("λobs=%s, λpred=%s, ratio %s", fmtRate(obs.Lambda), fmtRate(pl.lambdaPred), fmtRatio(ratio))
		pred := "predictive: " + pl.predText + ": " + pl.size.text
		switch {
		case ratio > c.tau1:
			r := pl.est.size(obs.Lambda, obs)
			if r.eta > pl.size.eta {
				n, why = r.eta, fmt.Sprintf("reactive, flash crowd (%s > τ1=%.2f): %s; over %s", head, c.tau1, r.text, pred)
			} else {
				n, why = pl.size.eta, fmt.Sprintf("%s; %s > τ1=%.2f but the reactive η=%d is not higher", pred, head, c.tau1, r.eta)
			}
		case below > 0 && below < belowPeriods:
			n, why = pl.size.eta, fmt.Sprintf("%s; %s < τ2=%.2f for %d of %d periods", pred, head, c.tau2, below, belowPeriods)
		case below > 0:
			r := pl.est.size(obs.Lambda, obs)
			n, why = r.eta, fmt.Sprintf("reactive, prediction too high (%s < τ2=%.2f for %d periods): %s; instead of %s", head, c.tau2, belowPeriods, r.text, pred)
		default:
			n, why = pl.size.eta, fmt.Sprintf("%s; %s within [τ2=%.2f, τ1=%.2f]", pred, head, c.tau2, c.tau1)
		}
	}
	n, extra := atLeastOneForWork(n, obs)
	return Decision{Desired: n, Reason: why + pl.notes + extra}, nil
}

// track counts the periods in a row under τ2 and returns the count: one
// more if under, else 0.
func (c *Combined) track(service string, under bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !under {
		delete(c.below, service)
		return 0
	}
	c.below[service]++
	return c.below[service]
}
