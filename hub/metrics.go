package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"
)

// metrics are the hub's own series (omq's come from omq.NewMetrics).
type metrics struct {
	identities     prometheus.Gauge
	pairings       *prometheus.CounterVec
	authFailures   prometheus.Counter
	denials        *prometheus.CounterVec
	denialsDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		identities: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dpc_hub_identities", Help: "Identities the hub admits (not revoked).",
		}),
		pairings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dpc_hub_pairing_events_total",
			Help: "Pairing events: code (a code made), paired, refused (a bad code or proof), throttled, revoked.",
		}, []string{"event"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dpc_hub_authentication_failures_total", Help: "Connections refused at login (unknown, forged or revoked credentials).",
		}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dpc_hub_permission_denials_total", Help: "Publishes and subscriptions the server refused, by role and operation.",
		}, []string{"role", "op"}),
		denialsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dpc_hub_permission_denials_unreported_total", Help: "Refusals not logged because too many came at once (counted in no other series).",
		}),
	}
	reg.MustRegister(m.identities, m.pairings, m.authFailures, m.denials, m.denialsDropped)
	for _, e := range []string{"code", "paired", "refused", "throttled", "revoked"} {
		m.pairings.WithLabelValues(e)
	}
	return m
}

// metricsServer serves /metrics.
type metricsServer struct {
	srv *http.Server
	url string
}

// startMetrics listens on addr. With webConfig (Prometheus's
// exporter-toolkit format) it serves TLS and basic auth as that file
// says: the standard way to let a Prometheus on another host scrape.
func startMetrics(addr, webConfig string, reg *prometheus.Registry, log *slog.Logger) (*metricsServer, error) {
	if webConfig != "" {
		if err := web.Validate(webConfig); err != nil {
			return nil, fmt.Errorf("metrics web config %s: %w", webConfig, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	scheme := "http"
	if webConfig != "" {
		var wc struct {
			TLS map[string]any `yaml:"tls_server_config"`
		}
		if b, err := os.ReadFile(webConfig); err == nil && yaml.Unmarshal(b, &wc) == nil && len(wc.TLS) > 0 {
			scheme = "https"
		}
	}
	host, _, _ := net.SplitHostPort(addr)
	m.url = scheme + "://" + broker.ListenAddr(ln.Addr().(*net.TCPAddr), host) + "/metrics"
	flags := &web.FlagConfig{WebConfigFile: &webConfig}
	go func() {
		if err := web.Serve(ln, m.srv, flags, log.With("component", "metrics")); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return m, nil
}

func (m *metricsServer) shutdown(ctx context.Context) { _ = m.srv.Shutdown(ctx) }
