package loadgen

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Outcome is how one call ended.
type Outcome int

const (
	OutcomeOK      Outcome = iota
	OutcomeError           // an error reply, or no instance to take it
	OutcomeTimeout         // no reply within --timeout
	OutcomeDropped         // never sent: too many calls already in flight
)

// second is what happened to the calls one service was offered in one
// second of the load (by when each call was due, not when it ended), and
// how many instances it had.
type second struct {
	sent, ok, errors, timeouts, dropped int
	// lat has one entry per ended call: the time from when it was due
	// until it ended; a failed call counts as the whole timeout (see
	// Recorder.failedAs).
	lat       []time.Duration
	instances int // -1: not sampled in this second
}

// Recorder collects the calls and instance counts of a load, per service
// (by index into the services it was made with) and per second of the
// load. Safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	services []string
	secs     [][]second // by service, then by second of the load
	// failedAs is the latency a failed call is counted with: the call
	// timeout, the longest a caller waits. It keeps percentiles finite
	// (for the CSV and the chart) and makes a failure count as too slow
	// for any SLA shorter than the timeout.
	failedAs time.Duration
}

// NewRecorder records the given services; a failed call counts as taking
// failedAs (the call timeout, the longest a caller waits).
func NewRecorder(services []string, failedAs time.Duration) *Recorder {
	return &Recorder{services: services, secs: make([][]second, len(services)), failedAs: failedAs}
}

// at returns service svc's record of second sec, growing the series.
// Call with r.mu held.
func (r *Recorder) at(svc, sec int) *second {
	for len(r.secs[svc]) <= sec {
		r.secs[svc] = append(r.secs[svc], second{instances: -1})
	}
	return &r.secs[svc][sec]
}

// Sent records a call due in second sec; dropped marks it not sent.
func (r *Recorder) Sent(svc, sec int, dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(svc, sec)
	s.sent++
	if dropped {
		s.dropped++
		s.lat = append(s.lat, r.failedAs)
	}
}

// Done records the end of a call due in second sec, lat after it was due.
func (r *Recorder) Done(svc, sec int, o Outcome, lat time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(svc, sec)
	switch o {
	case OutcomeOK:
		s.ok++
	case OutcomeTimeout:
		s.timeouts++
		lat = r.failedAs
	default:
		s.errors++
		lat = r.failedAs
	}
	s.lat = append(s.lat, lat)
}

// Instances records n instances of svc seen in second sec.
func (r *Recorder) Instances(svc, sec, n int) {
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

// Rows turns the record into rows, per service the seconds [0, upTo),
// with the offered rate from c and each second judged against sla; day
// numbers the days (0: a trace, which has none). An
// instance count not sampled in a second is the last one seen before.
func (r *Recorder) Rows(c Curve, day time.Duration, upTo int, sla time.Duration) [][]Row {
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
				row.P50, row.P95, row.P99 = ms(Percentile(lat, 0.50)), ms(Percentile(lat, 0.95)), ms(Percentile(lat, 0.99))
				row.SLAMet = Percentile(lat, 0.95) <= sla
			}
			out[svc] = append(out[svc], row)
		}
	}
	return out
}

// Latencies returns svc's latencies of the calls due in [from, to) s.
func (r *Recorder) Latencies(svc, from, to int) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for sec := from; sec < to && sec < len(r.secs[svc]); sec++ {
		out = append(out, r.secs[svc][sec].lat...)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// SecondView is one service's second so far, for progress lines.
type SecondView struct {
	Sent, Failed int
	P95          float64 // ms; NaN when no call has ended
	Instances    int     // -1: not known
}

// Second returns svc's record of second sec so far.
func (r *Recorder) Second(svc, sec int) SecondView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := SecondView{P95: math.NaN(), Instances: -1}
	if sec < 0 || sec >= len(r.secs[svc]) {
		return v
	}
	s := r.secs[svc][sec]
	v.Sent, v.Failed, v.Instances = s.sent, s.errors+s.timeouts+s.dropped, s.instances
	if len(s.lat) > 0 {
		lat := slices.Clone(s.lat)
		slices.Sort(lat)
		v.P95 = ms(Percentile(lat, 0.95))
	}
	return v
}

// Services are the services recorded, in the order of their indices.
func (r *Recorder) Services() []string { return slices.Clone(r.services) }

// Percentile is the nearest-rank percentile of sorted: the smallest value
// with at least p of the samples at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return sorted[max(0, min(i, n-1))]
}
