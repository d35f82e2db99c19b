package omq

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// moments accumulates count, mean and variance (Welford) and the raw sums,
// in seconds. The sums let a reader that samples twice compute the mean and
// variance of the window in between.
type moments struct {
	n     int64
	mean  float64
	m2    float64
	sum   float64
	sumSq float64
}

func (m *moments) add(x float64) {
	m.n++
	d := x - m.mean
	m.mean += d / float64(m.n)
	m.m2 += d * (x - m.mean)
	m.sum += x
	m.sumSq += x * x
}

// Moments is the wire form of a running distribution, in seconds.
type Moments struct {
	Count    int64   `json:"count"`
	Mean     float64 `json:"mean_s"`
	Variance float64 `json:"variance_s2"`
	Sum      float64 `json:"sum_s"`
	SumSq    float64 `json:"sum_sq_s2"`
}

func (m *moments) snapshot() Moments {
	v := 0.0
	if m.n > 1 {
		v = m.m2 / float64(m.n-1)
	}
	return Moments{Count: m.n, Mean: m.mean, Variance: v, Sum: m.sum, SumSq: m.sumSq}
}

// funcStats are one function's figures on one instance.
type funcStats struct {
	mu          sync.Mutex
	requests    int64
	errors      int64
	expired     int64
	lastError   string
	processing  time.Duration
	service     moments
	queueWait   moments
	interArrive moments
	lastArrival time.Time
}

// FunctionData is the extra per-function figures an instance reports in the
// data field of each endpoint of its $SRV.STATS reply.
type FunctionData struct {
	// Expired counts calls skipped because their deadline had passed.
	Expired      int64   `json:"expired"`
	ServiceTime  Moments `json:"service_time"`
	QueueWait    Moments `json:"queue_wait"`
	InterArrival Moments `json:"inter_arrival"`
}

// arrival records one request reaching the instance (before it waits for a
// free slot), for inter-arrival statistics.
func (s *funcStats) arrival(now time.Time) {
	s.mu.Lock()
	if !s.lastArrival.IsZero() {
		s.interArrive.add(now.Sub(s.lastArrival).Seconds())
	}
	s.lastArrival = now
	s.mu.Unlock()
}

func (s *funcStats) done(wait, service time.Duration, err *Error) {
	s.mu.Lock()
	s.requests++
	s.processing += service
	s.service.add(service.Seconds())
	s.queueWait.add(wait.Seconds())
	if err != nil {
		s.errors++
		s.lastError = fmt.Sprintf("%d:%s", err.Code, err.Description) // as nats.go micro writes it
	}
	s.mu.Unlock()
}

func (s *funcStats) expire() {
	s.mu.Lock()
	s.expired++
	s.mu.Unlock()
}

// waitWindow keeps the most recent queue waits of an instance for
// percentiles: the last 1024 calls, none older than waitMaxAge, so that a
// supervisor reading an idle instance does not see the waits of a burst
// long gone. The instance's statMu guards it.
type waitWindow struct {
	buf  [1024]waitSample
	next int
	full bool
	// base is the time of the first sample; samples keep their time as an
	// offset from it, on the monotonic clock (a wall-clock step must not
	// hide recent waits or keep old ones).
	base time.Time
}

type waitSample struct {
	at   time.Duration // since base, at the start of handling
	wait float64
}

// waitMaxAge bounds the age of the waits percentiles are taken over.
const waitMaxAge = 5 * time.Second

func (w *waitWindow) add(now time.Time, d time.Duration) {
	if w.base.IsZero() {
		w.base = now
	}
	w.buf[w.next] = waitSample{at: now.Sub(w.base), wait: d.Seconds()}
	w.next++
	if w.next == len(w.buf) {
		w.next, w.full = 0, true
	}
}

// recent returns the waits recorded since now−waitMaxAge, in seconds,
// unsorted: the caller sorts them outside the lock that guards w.
func (w *waitWindow) recent(now time.Time) []float64 {
	n := w.next
	if w.full {
		n = len(w.buf)
	}
	since := now.Sub(w.base) - waitMaxAge
	vals := make([]float64, 0, n)
	for _, s := range w.buf[:n] {
		if s.at >= since {
			vals = append(vals, s.wait)
		}
	}
	return vals
}

// waitPercentiles returns p50, p90 and p99 of vals (sorting them).
func waitPercentiles(vals []float64) (p50, p90, p99 float64) {
	if len(vals) == 0 {
		return 0, 0, 0
	}
	slices.Sort(vals)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(vals)))) - 1
		return vals[max(0, min(i, len(vals)-1))]
	}
	return at(0.50), at(0.90), at(0.99)
}

// InstanceData is the instance-wide figures an instance reports in the
// top-level "data" field of its $SRV.STATS reply (an omq extension; ADR-32
// readers ignore it).
type InstanceData struct {
	Concurrency int `json:"concurrency"`
	// InFlight is the number of handlers running now.
	InFlight int64 `json:"in_flight"`
	// Backlog is the number of calls received but not yet started: waiting
	// for a free slot, or still queued in the client library.
	Backlog int64 `json:"backlog"`
	// QueueWait percentiles over the last 1024 calls of the last 5 s,
	// seconds; 0 when there were none.
	QueueWaitP50 float64 `json:"queue_wait_p50_s"`
	QueueWaitP90 float64 `json:"queue_wait_p90_s"`
	QueueWaitP99 float64 `json:"queue_wait_p99_s"`
	// Arrivals over all functions, for the arrival rate and its variance.
	InterArrival Moments `json:"inter_arrival"`
	// Durable is true when the instance consumes the durable lane.
	Durable bool `json:"durable"`
	// Queue is how many calls beyond those running the instance keeps
	// waiting for a slot (see Queue).
	Queue int `json:"queue"`
	// Refused counts calls sent back busy since the instance started:
	// their callers sent them again, to this or another instance.
	Refused int64 `json:"refused"`
	// Offered counts the unicast calls that reached this instance for
	// the first time (started, waiting or refused): summed over a
	// service's instances, every unicast call once, however often it was
	// refused — the rate offered to the service.
	Offered int64 `json:"offered"`
	// State is "ok", "saturated" (every handler slot taken: new calls
	// that may go elsewhere are refused) or "stalled" (saturated, and no
	// slot has freed for StallAfter: the handlers stopped finishing).
	State string `json:"state"`
}

// Instance states in InstanceData.State.
const (
	StateOK        = "ok"
	StateSaturated = "saturated"
	StateStalled   = "stalled"
)
