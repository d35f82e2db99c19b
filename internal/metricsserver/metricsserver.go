// Package metricsserver serves a Prometheus registry on /metrics: the one
// way dpc-service, dpc-agent and dpc-provisioner expose their figures.
// (The hub serves its own, because it also takes the exporter-toolkit web
// config for TLS and basic auth.)
package metricsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownWait bounds how long Close waits for scrapes in progress.
const shutdownWait = 2 * time.Second

// NewRegistry is a registry with the Go runtime's and the process's
// collectors (go_*, process_*) already on it, which every DPC process
// exports beside its own series.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Route is one more path a Server serves beside /metrics (the agent's
// Prometheus service discovery, /sd).
type Route struct {
	Path    string
	Handler http.Handler
}

// Server serves one registry on /metrics.
type Server struct {
	srv *http.Server
	url string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves
// reg on /metrics, and each of routes, until Close. An empty addr serves nothing: it returns
// a Server whose URL is "" and whose Close does nothing, so that callers
// need no special case for "metrics off".
func Start(addr string, reg *prometheus.Registry, log *slog.Logger, routes ...Route) (*Server, error) {
	if addr == "" {
		return &Server{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	for _, r := range routes {
		mux.Handle(r.Path, r.Handler)
	}
	host, _, _ := net.SplitHostPort(addr)
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		url: "http://" + broker.ListenAddr(ln.Addr().(*net.TCPAddr), host) + "/metrics",
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return s, nil
}

// URL is the endpoint's address as a scraper reaches it
// ("http://127.0.0.1:9092/metrics"), or "" when nothing is served.
func (s *Server) URL() string { return s.url }

// Close stops serving, letting scrapes in progress finish for a moment.
// Safe to call more than once.
func (s *Server) Close() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
