package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// outcome is how one call of a replay ended.
type outcome int

const (
	outcomeOK      outcome = iota
	outcomeError           // an error reply, or no instance to take it
	outcomeTimeout         // no reply within --timeout
	outcomeDropped         // never sent: too many calls already in flight
)

// second is what happened to the calls one service was offered in one
// second of the load (by when each call was due, not when it ended), and
// how many instances it had.
type second struct {
	sent, ok, errors, timeouts, dropped int
	// lat has one entry per ended call: the time from when it was due
	// until it ended; a failed call counts as the whole timeout (see
	// recorder.failedAs).
	lat       []time.Duration
	instances int // -1: not sampled in this second
}

// recorder collects a replay's calls and instance counts per service per
// second. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	services []string
	secs     [][]second // by service, then by second of the load
	// failedAs is the latency a failed call is counted with: the call
	// timeout, the longest a caller waits. It keeps percentiles finite
	// (for the CSV and the chart) and makes a failure count as too slow
	// for any SLA shorter than the timeout.
	failedAs time.Duration
}

func newRecorder(services []string, failedAs time.Duration) *recorder {
	return &recorder{services: services, secs: make([][]second, len(services)), failedAs: failedAs}
}

// at returns service svc's record of second sec, growing the series.
// Call with r.mu held.
func (r *recorder) at(svc, sec int) *second {
	for len(r.secs[svc]) <= sec {
		r.secs[svc] = append(r.secs[svc], second{instances: -1})
	}
	return &r.secs[svc][sec]
}

// sent records a call due in second sec; dropped marks it not sent.
func (r *recorder) sent(svc, sec int, dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(svc, sec)
	s.sent++
	if dropped {
		s.dropped++
		s.lat = append(s.lat, r.failedAs)
	}
}

// done records the end of a call due in second sec, lat after it was due.
func (r *recorder) done(svc, sec int, o outcome, lat time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(svc, sec)
	switch o {
	case outcomeOK:
		s.ok++
	case outcomeTimeout:
		s.timeouts++
		lat = r.failedAs
	default:
		s.errors++
		lat = r.failedAs
	}
	s.lat = append(s.lat, lat)
}

// instances records n instances of svc seen in second sec.
func (r *recorder) instances(svc, sec, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at(svc, sec).instances = n
}

// Row is one service's second of a replay, as written to the CSV.
type Row struct {
	T       int // start of the second, from the start of the load
	Day     int // 1-based; 0 for a trace
	Service string
	Offered float64 // λ at the middle of the second
	Sent    int     // calls due in the second
	OK      int
	Errors  int
	Timeout int
	Dropped int
	// Latency percentiles of the second's calls in ms, a failed one
	// counting as the timeout; NaN when no call ended.
	P50 float64
	P95 float64
	P99 float64
	// Instances answering $SRV.PING; -1 when not known.
	Instances int
	SLAMet    bool
}

// rows turns the record into rows, per service the seconds [0, upTo),
// with the offered rate from c and each second judged against sla; day
// numbers the days (0: a trace, which has none). An
// instance count not sampled in a second is the last one seen before.
func (r *recorder) rows(c Curve, day time.Duration, upTo int, sla time.Duration) [][]Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]Row, len(r.services))
	for svc, name := range r.services {
		lastInst := -1
		for sec := range upTo {
			var s second
			if sec < len(r.secs[svc]) {
				s = r.secs[svc][sec]
			} else {
				s.instances = -1
			}
			if s.instances >= 0 {
				lastInst = s.instances
			}
			row := Row{
				T: sec, Service: name,
				Offered: c.Rate(time.Duration(sec)*time.Second + time.Second/2),
				Sent:    s.sent, OK: s.ok, Errors: s.errors, Timeout: s.timeouts, Dropped: s.dropped,
				P50: math.NaN(), P95: math.NaN(), P99: math.NaN(),
				Instances: lastInst, SLAMet: true,
			}
			if day >= time.Second {
				row.Day = sec/int(day/time.Second) + 1
			}
			if len(s.lat) > 0 {
				lat := slices.Clone(s.lat)
				slices.Sort(lat)
				row.P50, row.P95, row.P99 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.95)), ms(percentile(lat, 0.99))
				row.SLAMet = percentile(lat, 0.95) <= sla
			}
			out[svc] = append(out[svc], row)
		}
	}
	return out
}

// latencies returns svc's latencies of the calls due in [from, to) s.
func (r *recorder) latencies(svc, from, to int) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for sec := from; sec < to && sec < len(r.secs[svc]); sec++ {
		out = append(out, r.secs[svc][sec].lat...)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ServiceSummary is one service's figures over the reported seconds.
type ServiceSummary struct {
	Service string `json:"service"`
	Policy  string `json:"policy"`
	Seconds int    `json:"seconds"`
	// ViolationSeconds are seconds whose p95 exceeded the SLA;
	// ViolationFraction is their share of Seconds.
	ViolationSeconds  int     `json:"sla_violation_seconds"`
	ViolationFraction float64 `json:"sla_violation_fraction"`
	Calls             int     `json:"calls"`
	OK                int     `json:"completed"`
	Errors            int     `json:"errors"`
	Timeouts          int     `json:"timeouts"`
	Dropped           int     `json:"dropped"`
	// SlowFraction is the share of calls slower than the SLA, failed ones
	// included.
	SlowFraction float64 `json:"slow_call_fraction"`
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	// InstanceSeconds is the sum over the seconds of the instances
	// running; MeanInstances is that over Seconds.
	InstanceSeconds int     `json:"instance_seconds"`
	MeanInstances   float64 `json:"mean_instances"`
	MaxInstances    int     `json:"max_instances"`
}

// summarizeService sums up one service's rows within [from, to) s, with
// lat the latencies of its calls due then (sorted in place).
func summarizeService(name, policy string, rows []Row, lat []time.Duration, from, to int, sla time.Duration) ServiceSummary {
	s := ServiceSummary{Service: name, Policy: policy}
	for _, r := range rows {
		if r.T < from || r.T >= to {
			continue
		}
		s.Seconds++
		if !r.SLAMet {
			s.ViolationSeconds++
		}
		s.Calls += r.Sent
		s.OK += r.OK
		s.Errors += r.Errors
		s.Timeouts += r.Timeout
		s.Dropped += r.Dropped
		if r.Instances > 0 {
			s.InstanceSeconds += r.Instances
			s.MaxInstances = max(s.MaxInstances, r.Instances)
		}
	}
	if s.Seconds > 0 {
		s.ViolationFraction = float64(s.ViolationSeconds) / float64(s.Seconds)
		s.MeanInstances = float64(s.InstanceSeconds) / float64(s.Seconds)
	}
	if len(lat) > 0 {
		slices.Sort(lat) // ours: latencies returns a fresh slice
		s.P50, s.P95, s.P99 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.95)), ms(percentile(lat, 0.99))
		// The first latency above the SLA; every one after it is slower.
		i, _ := slices.BinarySearch(lat, sla+1)
		s.SlowFraction = float64(len(lat)-i) / float64(len(lat))
	}
	return s
}

// secondView is one service's second, for progress lines.
type secondView struct {
	sent, failed int
	p95          float64 // ms; NaN when no call has ended
	instances    int     // -1: not known
}

// second returns svc's record of second sec so far.
func (r *recorder) second(svc, sec int) secondView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := secondView{p95: math.NaN(), instances: -1}
	if sec < 0 || sec >= len(r.secs[svc]) {
		return v
	}
	s := r.secs[svc][sec]
	v.sent, v.failed, v.instances = s.sent, s.errors+s.timeouts+s.dropped, s.instances
	if len(s.lat) > 0 {
		lat := slices.Clone(s.lat)
		slices.Sort(lat)
		v.p95 = ms(percentile(lat, 0.95))
	}
	return v
}
