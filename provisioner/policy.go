package provisioner

import (
	"context"
	"time"
)

// Provisioner is a provisioning policy: given what the supervisor observed
// of one service over the last period, it proposes how many instances the
// service needs. The supervisor clamps the proposal to the service's
// limits and enforces it; a policy never starts or stops anything itself.
//
// Decide is called once per period per service, from one goroutine, with
// Observation.Now increasing; a policy may keep state between calls (its
// windows, its history). It must not block for long: the supervisor's
// period is its budget.
type Provisioner interface {
	// Name is the policy's name in logs and metrics labels, such as
	// "reactive" or "target-tracking".
	Name() string
	Decide(ctx context.Context, obs Observation) (Decision, error)
}

// Decision is a policy's proposal, with the reason in words a person
// reading the supervisor's log understands ("λ=120.0/s ÷ δ=41.8/s → 3").
type Decision struct {
	Desired int
	Reason  string
}

// Observation is what the supervisor saw of one service over the last
// period. Rates and moments cover the period only (differences between two
// samples of the instances' running sums), not the instances' lifetimes.
type Observation struct {
	Service string
	// Now is the supervisor's clock at the end of the period.
	Now time.Time
	// Period is the length of the window the rates and moments cover.
	Period time.Duration
	// Current is the number of instances running or starting (as the
	// agents report them); Ready those that answered $SRV.STATS.
	Current int
	Ready   int
	// Concurrency is the handler slots of one instance (the highest any
	// instance reported), for models that count servers.
	Concurrency int
	// Limits are the service's min and max instances; the supervisor
	// clamps every decision to them, a policy may use them in its reason.
	Limits Limits
	// Lambda is the arrival rate over the period, requests/s, as offered
	// to the service: calls that reached an instance plus the growth of
	// what waits for one.
	Lambda float64
	// ServiceTime and InterArrival are pooled over the instances, in
	// seconds; InterArrival is per instance (the gaps one instance sees),
	// as the G/G/1 model of one instance wants it.
	ServiceTime  Moments
	InterArrival Moments
	// QueueWait is the time from send to start of handling, over the
	// instances' recent calls (none older than a few seconds).
	QueueWait Percentiles
	// Backlog is calls waiting for an instance: received but not yet
	// started, or refused busy and held by their callers (estimated
	// from their queue waits).
	Backlog int64
	// Stalled is how many instances have every handler slot taken and
	// none freeing (omq.StateStalled): not counted in Ready, and the
	// supervisor adds as many to the policy's proposal.
	Stalled int
	// Durable is calls waiting in the durable lane (pending plus
	// delivered but not acknowledged).
	Durable int64
	// Woken is how many wakes were heard over the period: calls that
	// found no instance and waited for one (a service scaled to zero).
	// The supervisor keeps at least one instance while it is not 0.
	Woken int
}

// Limits bound a service's instance count.
type Limits struct {
	Min, Max int
}

// Moments summarise a distribution in seconds.
type Moments struct {
	Count    int64
	Mean     float64 // s
	Variance float64 // s²
}

// Percentiles of a latency distribution.
type Percentiles struct {
	P50, P90, P99 time.Duration
}
