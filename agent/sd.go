package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

const (
	// firstAsk is how long after a spawn the agent first asks the
	// instance for its /metrics; each unanswered ask doubles the wait up
	// to askEvery. An instance binds once it has reached the hub, which
	// may take a while (a hub down, a slow start), so the agent keeps
	// asking, gently, for as long as the process runs.
	firstAsk = 200 * time.Millisecond
	askEvery = 10 * time.Second
	// askTimeout bounds one $SRV.INFO request.
	askTimeout = time.Second
	// maxMetricsURL bounds the URL an instance reports: it ends up in
	// every service discovery answer.
	maxMetricsURL = 512
)

// discovery knows where the processes the agent runs serve /metrics, for
// Prometheus's HTTP service discovery (ServiceDiscovery). Each process
// has one watcher, which asks the instance for its $SRV INFO (the
// metrics URL is in its metadata, catalog.MetaMetrics) until it answers,
// keeps the target while the process runs and drops it when it exits: at
// most one target per live process, so at most max_processes.
type discovery struct {
	agent string
	log   *slog.Logger
	// loopback: list only targets on loopback, as the agent told the
	// instances to listen there. An instance could name any URL — the
	// agent cannot check it is the instance's own — and Prometheus would
	// fetch it.
	loopback bool
	nc       atomic.Pointer[nats.Conn] // set by Bind; nil until then

	mu      sync.Mutex
	targets map[string]sdTarget // by instance id
}

// sdTarget is one instance's /metrics.
type sdTarget struct {
	p       *process // whose: a later process of the same id has its own
	service string
	addr    string // host:port, as the instance reported it
	path    string
}

func newDiscovery(agent, instanceMetrics string, log *slog.Logger) *discovery {
	return &discovery{agent: agent, log: log, loopback: isLoopback(instanceMetrics), targets: map[string]sdTarget{}}
}

// isLoopback says whether a listen address's host is a loopback one.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// watch finds p's /metrics and lists it until p exits.
func (d *discovery) watch(p *process) {
	wait := firstAsk
	for {
		t := time.NewTimer(wait)
		select {
		case <-p.done:
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, askEvery)
		nc := d.nc.Load()
		if nc == nil {
			continue // not bound yet
		}
		tg, answered, err := ask(nc, p, d.loopback)
		if err != nil {
			// Its URL will not change: asking again would not help.
			d.log.Warn("instance metrics not listed for Prometheus", "instance", p.id, "service", p.service, "err", err)
			return
		}
		if !answered {
			continue
		}
		if tg.addr == "" {
			return // it serves no /metrics
		}
		d.mu.Lock()
		d.targets[p.id] = tg
		d.mu.Unlock()
		d.log.Debug("instance metrics listed for Prometheus", "instance", p.id, "service", p.service, "target", tg.addr+tg.path)
		<-p.done
		d.mu.Lock()
		if d.targets[p.id].p == p {
			delete(d.targets, p.id)
		}
		d.mu.Unlock()
		return
	}
}

// ask requests p's instance's $SRV INFO. answered is false while the
// instance is not there (yet); a target with no address means it
// answered without a metrics URL.
func ask(nc *nats.Conn, p *process, loopback bool) (tg sdTarget, answered bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
	defer cancel()
	subject := micro.APIPrefix + "." + micro.InfoVerb.String() + "." + p.service + "." + p.id
	msg, err := nc.RequestWithContext(ctx, subject, nil)
	if err != nil {
		return sdTarget{}, false, nil // no responders, a timeout, a reconnect: ask again later
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil || info.Name != p.service || info.ID != p.id {
		return sdTarget{}, false, nil // not the instance's answer
	}
	raw, ok := info.Metadata[catalog.MetaMetrics]
	if !ok {
		return sdTarget{}, true, nil
	}
	addr, path, err := metricsTarget(raw)
	if err == nil && loopback && !isLoopback(addr) {
		err = fmt.Errorf("%q: not on loopback, where the agent told the instance to listen", raw)
	}
	if err != nil {
		return sdTarget{}, true, fmt.Errorf("%s: metadata %s: %w", subject, catalog.MetaMetrics, err)
	}
	return sdTarget{p: p, service: p.service, addr: addr, path: path}, true, nil
}

// metricsTarget splits an instance's metrics URL into Prometheus's target
// (host:port) and metrics path.
func metricsTarget(raw string) (addr, path string, err error) {
	if len(raw) > maxMetricsURL {
		return "", "", fmt.Errorf("URL of %d bytes, more than %d", len(raw), maxMetricsURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	switch {
	case u.Scheme != "http":
		return "", "", fmt.Errorf("%q: want an http:// URL", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", "", fmt.Errorf("%q: want no user, query or fragment", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: want host:port with a port from 1 to 65535", raw)
	}
	path = cmp.Or(u.Path, "/metrics")
	if !strings.HasPrefix(path, "/") {
		return "", "", fmt.Errorf("%q: path %q does not start with /", raw, path)
	}
	return u.Host, path, nil
}

// sdGroup is one entry of Prometheus's HTTP service discovery format.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Target labels. instance_id and agent are what the agent's own series
// call them; Prometheus's instance stays the scraped address.
const (
	labelService     = "service"
	labelInstanceID  = "instance_id"
	labelAgent       = "agent"
	labelMetricsPath = "__metrics_path__" // Prometheus's: where to scrape, when not /metrics
)

// groups lists the targets, by service and instance id.
func (d *discovery) groups() []sdGroup {
	d.mu.Lock()
	out := make([]sdGroup, 0, len(d.targets))
	for id, tg := range d.targets {
		labels := map[string]string{labelService: tg.service, labelInstanceID: id, labelAgent: d.agent}
		if tg.path != "/metrics" {
			labels[labelMetricsPath] = tg.path
		}
		out = append(out, sdGroup{Targets: []string{tg.addr}, Labels: labels})
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(x, y sdGroup) int {
		return cmp.Or(strings.Compare(x.Labels[labelService], y.Labels[labelService]),
			strings.Compare(x.Labels[labelInstanceID], y.Labels[labelInstanceID]))
	})
	return out
}

// ServiceDiscovery serves Prometheus's HTTP service discovery
// (http_sd_configs): one target per process the agent runs whose
// instance reported the URL of its /metrics, labelled service,
// instance_id and agent (and __metrics_path__ when it is not /metrics).
// It answers from what the agent already knows, never waiting on the
// hub or a process. Without Config.Metrics the list is empty.
func (a *Agent) ServiceDiscovery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "service discovery: GET only", http.StatusMethodNotAllowed)
			return
		}
		groups := []sdGroup{}
		if a.sd != nil {
			groups = a.sd.groups()
		}
		b, err := json.Marshal(groups)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b) // a scraper gone: nothing to do
	})
}
