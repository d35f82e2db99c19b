package provisioner

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// PredictiveConfig configures a Predictive policy.
type PredictiveConfig struct {
	// ResponseTime is d, the mean response-time target of the G/G/1 model.
	// It has no default: it is the service's SLA.
	ResponseTime time.Duration
	// Slot is the length of the time-of-day periods the history keeps one
	// peak for; Day must be a whole number of Slots.
	Slot time.Duration
	// Day is the length of the cycle the workload repeats. Days are counted
	// from the Unix epoch, so with 24h they are UTC days. It is
	// configurable so that tests and trace replays can compress a day into
	// minutes.
	Day time.Duration
	// Days is how many past days the prediction looks at, and how many the
	// history keeps.
	Days int
	// Percentile of the past days' peaks to provision for, 0 < P ≤ 100
	// (nearest rank: with 7 days, 95 is the highest).
	Percentile float64
	// Lead is how far ahead to provision: instances for the slot that
	// holds now+Lead are asked for before it begins, so they run when its
	// load arrives. Zero means one Slot, so that a config that changes Slot
	// (a compressed day) keeps a lead that fits it; at most a Day.
	Lead time.Duration
	// Model and SLAPercentile: as ReactiveConfig's.
	Model         string
	SLAPercentile float64
}

// DefaultPredictiveConfig returns hour slots of a 24h day, a week of
// history, the 95th percentile — the paper's "high percentile" — and a
// lead of one slot (Lead 0); ResponseTime must still be set.
func DefaultPredictiveConfig() PredictiveConfig {
	return PredictiveConfig{
		Slot:       time.Hour,
		Day:        24 * time.Hour,
		Days:       7,
		Percentile: 95,
	}
}

// Validate reports the first field out of range.
func (c PredictiveConfig) Validate() error {
	switch {
	case c.ResponseTime <= 0:
		return fmt.Errorf("provisioner: predictive: ResponseTime %v must be positive", c.ResponseTime)
	case c.Slot <= 0:
		return fmt.Errorf("provisioner: predictive: Slot %v must be positive", c.Slot)
	case c.Day < c.Slot || c.Day%c.Slot != 0:
		return fmt.Errorf("provisioner: predictive: Day %v must be a whole number of Slots (%v)", c.Day, c.Slot)
	case c.Days < 1:
		return fmt.Errorf("provisioner: predictive: Days %d must be at least 1", c.Days)
	case !(c.Percentile > 0 && c.Percentile <= 100):
		return fmt.Errorf("provisioner: predictive: Percentile %v must be in (0, 100]", c.Percentile)
	case c.Lead < 0 || c.Lead > c.Day:
		return fmt.Errorf("provisioner: predictive: Lead %v must be between 0 (one Slot) and a Day (%v)", c.Lead, c.Day)
	}
	return checkModel("predictive", c.Model, c.SLAPercentile)
}

// Predictive is the predictive provisioning of Urgaonkar et al.: it
// records the peak arrival rate of every time-of-day slot in a History and
// provisions each slot, ahead of time, for a high percentile of the peaks
// that slot had on past days — η = ⌈λpred/δ⌉.
//
// While its Lead reaches into the next slot it takes the higher of the two
// predictions, so that a peak is covered until it has passed. A slot with
// no history falls back to the observed rate. It does not react to what it
// did not predict; Combined adds that.
//
// A Predictive keeps its state per service and is safe for concurrent use;
// Decide calls are serialised, so its history should answer quickly.
type Predictive struct {
	cfg  PredictiveConfig
	hist History

	mu    sync.Mutex
	state map[string]*predictiveState
}

type predictiveState struct {
	est capacityEstimate
	// The slot being observed and its peak so far; dirty while the peak is
	// higher than what the history last accepted.
	have  bool
	day   int64
	slot  int
	peak  float64
	dirty bool
	// Predictions read from the history, by day and slot: they come from
	// past days only, which this policy does not write again, so one read
	// per slot and day does instead of one or two every period.
	predicted map[[2]int64]prediction
}

type prediction struct {
	rate float64
	n    int
}

// NewPredictive returns a Predictive policy for cfg keeping its history in
// hist.
func NewPredictive(cfg PredictiveConfig, hist History) (*Predictive, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hist == nil {
		return nil, fmt.Errorf("provisioner: predictive: nil History")
	}
	return &Predictive{cfg: cfg, hist: hist, state: make(map[string]*predictiveState)}, nil
}

// Name is "predictive".
func (p *Predictive) Name() string { return "predictive" }

// SlotOf returns the day (counted from the Unix epoch in units of Day) and
// the slot of the day that t falls in.
func (p *Predictive) SlotOf(t time.Time) (day int64, slot int) {
	ns, dn := t.UnixNano(), p.cfg.Day.Nanoseconds()
	day = ns / dn
	if ns%dn < 0 { // floor, not truncation, before the epoch
		day--
	}
	return day, int((ns - day*dn) / p.cfg.Slot.Nanoseconds())
}

// Predict returns the peak rate to provision for at t: the Percentile
// (nearest rank) of the peaks recorded for t's slot on the Days days
// before t's day, and how many days that is. With no history n is 0 and
// rate is 0.
func (p *Predictive) Predict(ctx context.Context, service string, t time.Time) (rate float64, n int, err error) {
	day, slot := p.SlotOf(t)
	peaks, err := p.hist.Peaks(ctx, service, slot)
	if err != nil {
		return 0, 0, fmt.Errorf("provisioner: predictive: service %q slot %d: %w", service, slot, err)
	}
	rates := make([]float64, 0, p.cfg.Days)
	for d, r := range peaks {
		if d < day && d >= day-int64(p.cfg.Days) {
			rates = append(rates, r)
		}
	}
	if len(rates) == 0 {
		return 0, 0, nil
	}
	slices.Sort(rates)
	rank := int(math.Ceil(p.cfg.Percentile / 100 * float64(len(rates))))
	rank = min(max(rank, 1), len(rates))
	return rates[rank-1], len(rates), nil
}

// Decide records the period's rate in the current slot's peak and asks for
// ⌈λpred/δ⌉ instances, λpred the higher of the predictions for now and
// for now+Lead.
func (p *Predictive) Decide(ctx context.Context, obs Observation) (Decision, error) {
	pl, err := p.plan(ctx, obs)
	if err != nil {
		return Decision{}, err
	}
	n, extra := atLeastOneForWork(pl.size.eta, obs)
	return Decision{Desired: n, Reason: pl.predText + ": " + pl.size.text + pl.notes + extra}, nil
}

// predictivePlan is what Predictive decided and why, for Decide and for
// Combined, which builds on it.
type predictivePlan struct {
	est         *capacityEstimate // the service's moments, updated with obs
	lambdaPred  float64
	fromHistory bool   // false: lambdaPred is λobs, for want of history
	predText    string // where lambdaPred comes from
	notes       string // history failures, "; …"
	size        sizing // η for lambdaPred
}

func (p *Predictive) plan(ctx context.Context, obs Observation) (predictivePlan, error) {
	if err := checkObservation(p.Name(), obs); err != nil {
		return predictivePlan{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state[obs.Service]
	if st == nil {
		st = &predictiveState{est: capacityEstimate{d: p.cfg.ResponseTime, model: p.cfg.Model, slaQ: p.cfg.SLAPercentile}}
		p.state[obs.Service] = st
	}
	st.est.observe(obs)
	pl := predictivePlan{est: &st.est}
	pl.notes = p.track(ctx, obs, st)

	type pred struct {
		label string
		at    time.Time
		slot  int
		rate  float64
		n     int // days of history; 0: none
	}
	nowDay, nowSlot := p.SlotOf(obs.Now)
	preds := []pred{{label: "now", at: obs.Now, slot: nowSlot}}
	ahead := obs.Now.Add(p.lead())
	if d1, s1 := p.SlotOf(ahead); d1 != nowDay || s1 != nowSlot {
		preds = append(preds, pred{label: "in " + p.lead().String(), at: ahead, slot: s1})
	}
	for i := range preds {
		d, sl := p.SlotOf(preds[i].at)
		key := [2]int64{d, int64(sl)}
		if c, ok := st.predicted[key]; ok {
			preds[i].rate, preds[i].n = c.rate, c.n
			continue
		}
		r, n, err := p.Predict(ctx, obs.Service, preds[i].at)
		if err != nil {
			if ctx.Err() != nil {
				return predictivePlan{}, fmt.Errorf("provisioner: predictive: service %q: %w", obs.Service, ctx.Err())
			}
			// A history that cannot be read degrades to sizing for the
			// observed rate this period rather than to no decision.
			pl.notes += fmt.Sprintf("; history unreadable: %v", err)
			continue
		}
		preds[i].rate, preds[i].n = r, n
		if st.predicted == nil || len(st.predicted) > 4*int(p.cfg.Day/p.cfg.Slot) {
			st.predicted = map[[2]int64]prediction{} // a day or two's worth, at most
		}
		st.predicted[key] = prediction{r, n}
	}

	var parts []string
	for _, pr := range preds {
		if pr.n == 0 {
			parts = append(parts, fmt.Sprintf("slot %d (%s) no history", pr.slot, pr.label))
			continue
		}
		parts = append(parts, fmt.Sprintf("slot %d (%s) p%g of %d days %s", pr.slot, pr.label, p.cfg.Percentile, pr.n, fmtRate(pr.rate)))
		if !pl.fromHistory || pr.rate > pl.lambdaPred {
			pl.lambdaPred, pl.fromHistory = pr.rate, true
		}
	}
	text := strings.Join(parts, ", ")
	if pl.fromHistory {
		pl.predText = fmt.Sprintf("%s → λpred=%s", text, fmtRate(pl.lambdaPred))
	} else {
		pl.lambdaPred = obs.Lambda
		pl.predText = fmt.Sprintf("%s: from λobs=%s", text, fmtRate(obs.Lambda))
	}
	pl.size = st.est.size(pl.lambdaPred, obs)
	return pl, nil
}

// track folds the period's rate into the current slot's peak and keeps the
// history up to date with it — on every rise, not only when the slot ends,
// so that a restart loses at most the period in flight. It returns the
// history's failures as a note for the reason; a failed write is retried
// next period, and once more when the slot ends.
func (p *Predictive) track(ctx context.Context, obs Observation, st *predictiveState) string {
	day, slot := p.SlotOf(obs.Now)
	var note string
	if st.have && (st.day != day || st.slot != slot) {
		if st.dirty {
			if err := p.hist.RecordPeak(ctx, obs.Service, st.slot, st.day, st.peak, p.keep()); err != nil {
				note += fmt.Sprintf("; peak %s of day %d slot %d lost: %v", fmtRate(st.peak), st.day, st.slot, err)
			}
		}
		st.have = false
	}
	if !st.have {
		// The first period of a slot is recorded even at rate 0: a quiet
		// day is a day of history, not a missing one.
		st.have, st.day, st.slot, st.peak, st.dirty = true, day, slot, obs.Lambda, true
	} else if obs.Lambda > st.peak {
		st.peak, st.dirty = obs.Lambda, true
	}
	if st.dirty {
		if err := p.hist.RecordPeak(ctx, obs.Service, slot, day, st.peak, p.keep()); err != nil {
			note += fmt.Sprintf("; could not record peak %s of slot %d: %v", fmtRate(st.peak), slot, err)
		} else {
			st.dirty = false
		}
	}
	return note
}

// lead is Lead, or one Slot when Lead is zero.
func (p *Predictive) lead() time.Duration { return cmp.Or(p.cfg.Lead, p.cfg.Slot) }

// keep is how many days the history keeps: today and the Days before it,
// all a prediction for a Lead into tomorrow reads.
func (p *Predictive) keep() int { return p.cfg.Days + 1 }

var _ Provisioner = (*Predictive)(nil)
