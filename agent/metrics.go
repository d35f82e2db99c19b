package agent

import (
	"strconv"
	"sync"

	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/prometheus/client_golang/prometheus"
)

// maxOtherServices bounds the service label values given to services the
// agent has no command of its own or manifest for (it runs them as
// "dpc-service <service>"): their names come from spawn requests, so
// without a bound a supervisor gone wrong could grow the series without
// end. Past it they are counted as otherServices.
const maxOtherServices = 64

// otherServices is the service label of spawns and exits past
// maxOtherServices; '.' keeps it apart from every valid service name.
const otherServices = ".other"

// Results of spawns and exits, as label values.
const (
	spawnStarted = "started" // the process runs
	spawnRefused = "refused" // at MaxProcesses, shutting down, or the id is in use
	spawnFailed  = "failed"  // no credentials for it, or the program did not start
	exitStopped  = "stopped" // it exited after a stop asked it to
	exitDied     = "died"    // it exited without being asked to
)

// metrics are an agent's Prometheus series: what it did (spawns, exits)
// counted as it happens, and its processes read from /proc when scraped.
type metrics struct {
	a      *Agent
	spawns *prometheus.CounterVec
	exits  *prometheus.CounterVec

	rss, cpu, start, procs, max *prometheus.Desc

	mu    sync.Mutex
	other map[string]bool // services labelled by name though the agent has no command of its own for them
}

func newMetrics(reg prometheus.Registerer, a *Agent) (*metrics, error) {
	const ns, sub = "dpc", "agent"
	perProcess := []string{"service", "instance_id"}
	bound := "One series per process running or stopping: at most the agent's max_processes (" + strconv.Itoa(a.cfg.MaxProcesses) + "). "
	m := &metrics{
		a: a,
		spawns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spawns_total",
			Help: "Spawn requests by service and result: started, refused (at max_processes, shutting down, or the instance id in use), failed (no credentials, or the program did not start). " +
				"Services the agent has no command or manifest for are named up to " + strconv.Itoa(maxOtherServices) + " of them, then counted as " + otherServices + "."},
			[]string{"service", "result"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "exits_total",
			Help: "Processes that exited, by service and result: stopped (after a stop asked them to) or died (without being asked)."},
			[]string{"service", "result"}),
		rss: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "process_resident_memory_bytes"),
			bound+"Resident memory of the process (VmRSS), read from /proc at scrape time.", perProcess, nil),
		cpu: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "process_cpu_seconds_total"),
			bound+"User and system CPU time of the process (its threads, not its children), read from /proc at scrape time.", perProcess, nil),
		start: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "process_start_time_seconds"),
			bound+"When the agent started the process, in seconds since the Unix epoch.", perProcess, nil),
		procs: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "processes"),
			"Processes the agent has, by service and state: running, stopping, or exited (kept in list for keep_exited).", []string{"service", "state"}, nil),
		max: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "max_processes"),
			"Processes the agent runs at once at most (max_processes).", nil, nil),
		other: map[string]bool{},
	}
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}

// service is a service's label value: its name, unless it is one more
// past maxOtherServices of the services the agent has no command for.
func (m *metrics) service(name string) string {
	if _, ok := m.a.cfg.Services[name]; ok {
		return name
	}
	if _, ok := m.a.cfg.Manifests[name]; ok {
		return name
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.other[name] {
		return name
	}
	if len(m.other) >= maxOtherServices {
		return otherServices
	}
	m.other[name] = true
	return name
}

func (m *metrics) spawned(service, result string) {
	if m != nil {
		m.spawns.WithLabelValues(m.service(service), result).Inc()
	}
}

func (m *metrics) exited(service string, stopped bool) {
	if m == nil {
		return
	}
	result := exitDied
	if stopped {
		result = exitStopped
	}
	m.exits.WithLabelValues(m.service(service), result).Inc()
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.spawns.Describe(ch)
	m.exits.Describe(ch)
	for _, d := range []*prometheus.Desc{m.rss, m.cpu, m.start, m.procs, m.max} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the counters, then each live
// process as /proc says now. A process gone between the snapshot and the
// read is left out of this scrape.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.spawns.Collect(ch)
	m.exits.Collect(ch)
	type live struct {
		id, service string
		pid         int
		started     float64
	}
	var procs []live
	counts := map[[2]string]int{}
	m.a.mu.Lock()
	for _, p := range m.a.procs {
		svc := m.service(p.service)
		counts[[2]string{svc, p.state}]++
		if p.state != StateExited {
			procs = append(procs, live{id: p.id, service: svc, pid: p.cmd.Process.Pid, started: float64(p.started.UnixNano()) / 1e9})
		}
	}
	m.a.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.max, prometheus.GaugeValue, float64(m.a.cfg.MaxProcesses))
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.procs, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	for _, p := range procs {
		cpu, err := procstat.CPU(p.pid)
		if err != nil {
			continue // gone, or no /proc here
		}
		ch <- prometheus.MustNewConstMetric(m.cpu, prometheus.CounterValue, cpu.Seconds(), p.service, p.id)
		ch <- prometheus.MustNewConstMetric(m.start, prometheus.GaugeValue, p.started, p.service, p.id)
		if rss, err := procstat.RSS(p.pid); err == nil {
			ch <- prometheus.MustNewConstMetric(m.rss, prometheus.GaugeValue, float64(rss), p.service, p.id)
		}
	}
}
