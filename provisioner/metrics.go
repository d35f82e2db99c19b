package provisioner

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the supervisor's Prometheus figures: what it observed of
// each service, what its policy proposed, and what it did. Register them
// on a registry the caller owns.
type Metrics struct {
	instances *prometheus.GaugeVec
	proposed  *prometheus.GaugeVec
	lambda    *prometheus.GaugeVec
	service   *prometheus.GaugeVec
	queueWait *prometheus.GaugeVec
	backlog   *prometheus.GaugeVec
	decisions *prometheus.CounterVec
	spawns    *prometheus.CounterVec
	stops     *prometheus.CounterVec
	deaths    *prometheus.CounterVec
	agents    *prometheus.GaugeVec
	absent    *prometheus.CounterVec
	wakes     *prometheus.CounterVec
	active    prometheus.Gauge
	rounds    prometheus.Histogram
}

// NewMetrics creates the supervisor's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "dpc", "provisioner"
	m := &Metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "instances",
			Help: "Instances of a service: desired (the enforced decision), current (running or starting, managed or not), ready (answering $SRV.STATS, not draining), " +
				"starting (started by an agent, not yet in $SRV under its instance id), absent (started by an agent, still not in $SRV under its instance id after the start timeout)."},
			[]string{"service", "state"}),
		proposed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "proposed_instances",
			Help: "The policy's proposal before min/max and the durable-lane floor."}, []string{"service", "policy"}),
		lambda: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "arrival_rate",
			Help: "Observed arrival rate over the last period, requests per second."}, []string{"service"}),
		service: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "service_time_seconds",
			Help: "Mean service time over the last period."}, []string{"service"}),
		queueWait: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_wait_seconds",
			Help: "Queue wait percentiles (send to start of handling) over the instances' recent calls."}, []string{"service", "quantile"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "backlog",
			Help: "Calls waiting: received by instances but not started (lane=core), or in the durable lane (lane=durable)."}, []string{"service", "lane"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "decisions_total",
			Help: "Decisions per service, by action (up, down, hold)."}, []string{"service", "policy", "action"}),
		spawns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spawns_total",
			Help: "Instances the supervisor asked agents to start, by result."}, []string{"service", "agent", "result"}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stops_total",
			Help: "Instances the supervisor asked agents to stop, by result."}, []string{"service", "agent", "result"}),
		deaths: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "instance_deaths_total",
			Help: "Instances that exited without being asked to, or were lost with their agent; each is replaced."}, []string{"service", "cause"}),
		agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "agents",
			Help: "Agents known to the supervisor: live (answered list within the expiry) or vanished; silent: answered $SRV.PING but not list in the last round."}, []string{"state"}),
		absent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "absent_instances_total",
			Help: "Processes an agent runs that never appeared in $SRV under their instance id within the start timeout (each reported once)."}, []string{"service"}),
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "wake_spawns_total",
			Help: "Instances started at once for a wake: a call waiting for an instance of a service that had none (scale from zero)."}, []string{"service"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active",
			Help: "1 while this provisioner supervises (it holds the lease, or runs without one), 0 while it stands by."}),
		rounds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "round_duration_seconds",
			Help: "Time one supervision round took (gather, decide, enforce).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	reg.MustRegister(m.instances, m.proposed, m.lambda, m.service, m.queueWait, m.backlog,
		m.decisions, m.spawns, m.stops, m.deaths, m.agents, m.absent, m.wakes, m.active, m.rounds)
	return m
}

// standBy drops the figures of the services and agents: a standby
// observes nothing, and stale values beside the active supervisor's would
// mislead. Counters stay.
func (m *Metrics) standBy() {
	m.active.Set(0)
	for _, g := range []*prometheus.GaugeVec{m.instances, m.proposed, m.lambda, m.service, m.queueWait, m.backlog, m.agents} {
		g.Reset()
	}
}
