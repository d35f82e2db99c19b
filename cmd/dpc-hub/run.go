package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/omq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownGrace bounds how long calls in flight may take to finish on stop.
const shutdownGrace = 10 * time.Second

// Run starts the hub and serves until ctx ends.
func (c *CLI) Run(ctx context.Context) error {
	log := c.logger()
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
	if _, err := node.Bind(ctx, "hub", builtins{}, omq.Description("DPC hub built-in functions")); err != nil {
		return err
	}

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
	if err := node.Close(sctx); err != nil {
		log.Warn("closing built-ins", "err", err)
	}
	nc.Close()
	srv.Shutdown()
	log.Info("dpc-hub stopped")
	return nil
}
