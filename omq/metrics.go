package omq

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is omq's Prometheus collector: calls handled by instances, their
// errors, handler duration and queue wait, and calls made by stubs, all
// labelled by service and function. Create it on a registry of your choosing
// and pass it to New with WithMetrics; several Nodes may share one.
type Metrics struct {
	handled     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	expired     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	queueWait   *prometheus.HistogramVec
	calls       *prometheus.CounterVec
	callLatency *prometheus.HistogramVec
}

// latencyBuckets span 50µs to ~26s in factors of 2: loopback NATS round
// trips are tens of microseconds, slow handlers take seconds.
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, 20)

// NewMetrics creates the collector and registers it on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	sf := []string{"service", "function"}
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omq", Name: "handled_total",
			Help: "Calls handled by instances in this process.",
		}, sf),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omq", Name: "handler_errors_total",
			Help: "Calls answered with an error, by error code (" + codeLabelsHelp + ").",
		}, append(sf, "code")),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omq", Name: "expired_total",
			Help: "Calls skipped because the caller's deadline had passed before handling started.",
		}, sf),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "omq", Name: "handler_duration_seconds",
			Help:    "Time spent in the handler (service time).",
			Buckets: latencyBuckets,
		}, sf),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "omq", Name: "queue_wait_seconds",
			Help:    "Time from the caller's send to the start of handling.",
			Buckets: latencyBuckets,
		}, sf),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "omq", Name: "client_calls_total",
			Help: "Calls made through stubs in this process, by result (ok, timeout, no_responders, error, or the error code: " + codeLabelsHelp + ").",
		}, append(sf, "kind", "result")),
		callLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "omq", Name: "client_call_duration_seconds",
			Help:    "Round-trip time of synchronous calls seen by the caller.",
			Buckets: latencyBuckets,
		}, sf),
	}
	for _, c := range []prometheus.Collector{m.handled, m.errors, m.expired, m.duration, m.queueWait, m.calls, m.callLatency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fnMetrics holds one function's curried series, so that the hot path does
// no label lookups.
type fnMetrics struct {
	m         *Metrics
	svc, fn   string
	handled   prometheus.Counter
	expired   prometheus.Counter
	duration  prometheus.Observer
	queueWait prometheus.Observer
}

func (m *Metrics) forFunction(svc, fn string) *fnMetrics {
	if m == nil {
		return nil
	}
	return &fnMetrics{
		m: m, svc: svc, fn: fn,
		handled:   m.handled.WithLabelValues(svc, fn),
		expired:   m.expired.WithLabelValues(svc, fn),
		duration:  m.duration.WithLabelValues(svc, fn),
		queueWait: m.queueWait.WithLabelValues(svc, fn),
	}
}

func (f *fnMetrics) observe(wait, service time.Duration, e *Error) {
	if f == nil {
		return
	}
	f.handled.Inc()
	f.duration.Observe(service.Seconds())
	f.queueWait.Observe(wait.Seconds())
	if e != nil {
		f.m.errors.WithLabelValues(f.svc, f.fn, codeLabel(e.Code)).Inc()
	}
}

func (f *fnMetrics) expire() {
	if f != nil {
		f.expired.Inc()
	}
}

// observeCall records one call made by a stub.
func (m *Metrics) observeCall(svc, fn, kind string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(svc, fn, kind, resultLabel(err)).Inc()
	if kind == "call" && err == nil {
		m.callLatency.WithLabelValues(svc, fn).Observe(d.Seconds())
	}
}

func resultLabel(err error) string {
	var re *Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &re):
		return codeLabel(re.Code)
	case errors.Is(err, ErrNoResponders):
		return "no_responders"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	}
	return "error"
}

// Error codes come from handlers and from remote instances, so any integer
// may turn up. As label values they are kept to a fixed set, so that a
// hostile or buggy service cannot grow the number of series without bound:
// the codes below stand for themselves; any other is its class.
var codeLabels = func() map[int]string {
	m := map[int]string{}
	for _, c := range []int{400, 404, 408, 409, CodeTooLarge, 422, 429, 500, 503} {
		m[c] = strconv.Itoa(c)
	}
	return m
}()

const codeLabelsHelp = "400, 404, 408, 409, 413, 422, 429, 500 or 503, else 4xx, 5xx or other"

// codeLabel is an error code's label value: one of codeLabels, "4xx",
// "5xx" or "other".
func codeLabel(code int) string {
	if l, ok := codeLabels[code]; ok {
		return l
	}
	switch {
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}
