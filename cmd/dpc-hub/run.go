package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownGrace bounds how long calls in flight may take to finish on stop.
const shutdownGrace = 10 * time.Second

// Run starts the hub and serves until ctx ends.
func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()
	cfg, err := c.brokerConfig(log)
	if err != nil {
		return err
	}
	srv, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Shutdown()

	nc, err := srv.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := omq.NewMetrics(reg)
	if err != nil {
		return err
	}
	node, err := omq.New(nc, omq.WithLogger(log), omq.WithMetrics(metrics))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := notes.Open(ctx, js)
	if err != nil {
		return fmt.Errorf("notes store: %w", err)
	}
	hubManifest, err := manifests.Builtin("hub")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	if _, err := servicehost.Bind(ctx, node, servicehost.Service{Manifest: hubManifest, Handlers: builtins(store)},
		servicehost.Config{Host: host, Logger: log}); err != nil {
		return fmt.Errorf("built-in functions: %w", err)
	}
	cat, err := catalog.New(node, catalog.Config{Interval: c.SweepInterval, Expiry: c.Expiry, Logger: log})
	if err != nil {
		return err
	}
	catDone := make(chan error, 1)
	catCtx, stopCatalog := context.WithCancel(context.Background())
	defer stopCatalog()
	go func() { catDone <- cat.Run(catCtx) }()

	var metricsSrv *http.Server
	metricsURL := ""
	if c.Metrics != "" {
		ln, err := net.Listen("tcp", c.Metrics)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", c.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		metricsURL = "http://" + ln.Addr().String() + "/metrics"
	}

	log.Info("dpc-hub ready",
		"nats", srv.ClientURL(),
		"monitoring", srv.MonitorURL(),
		"metrics", metricsURL,
		"cluster", srv.ClusterURL(),
		"data", cfg.StoreDir)

	<-ctx.Done()
	log.Info("dpc-hub stopping")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	stopCatalog()
	<-catDone
	if err := node.Close(sctx); err != nil {
		log.Warn("closing built-ins", "err", err)
	}
	nc.Close()
	srv.Shutdown()
	log.Info("dpc-hub stopped")
	return nil
}
