package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/hub"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/logging"
)

// CLI is dpc-hub's flags. Each also reads DPC_HUB_<NAME> from the
// environment.
type CLI struct {
	Config kong.ConfigFlag `help:"YAML file of settings, keyed by long flag name (port: 4333, data: /var/lib/dpc, routes: [...])." type:"existingfile" env:"-"`

	Name     string `help:"Server name, unique within a cluster." default:"dpc-hub"`
	Host     string `help:"Interface NATS clients connect on (TLS, every client authenticated)." default:"0.0.0.0"`
	Port     int    `help:"NATS client port (-1: random)." default:"4222"`
	HTTPHost string `name:"http-host" help:"Interface of the NATS monitoring port; it shows every connection, so loopback unless you need it elsewhere." default:"127.0.0.1"`
	HTTPPort int    `name:"http-port" help:"NATS monitoring port (/varz, /connz, /jsz); 0 turns it off." default:"8222"`
	Data     string `help:"Data directory: JetStream's files (<data>/jetstream) and the hub's identity (<data>/identity: keys, CA, owner credentials)." default:"data" type:"path"`

	Metrics          string `help:"Address of the Prometheus /metrics endpoint; empty turns it off. Loopback unless --metrics-web-config protects it." default:"127.0.0.1:9090"`
	MetricsWebConfig string `name:"metrics-web-config" help:"Prometheus exporter-toolkit web config (TLS, basic auth) for /metrics: how to let a Prometheus on another host scrape." type:"existingfile" placeholder:"FILE"`

	TLSCert  string   `name:"tls-cert" help:"PEM certificate to use instead of the one the hub makes for itself (with --tls-key), followed by its chain up to the CA that devices then pin." type:"existingfile" placeholder:"FILE"`
	TLSKey   string   `name:"tls-key" help:"PEM key of --tls-cert." type:"existingfile" placeholder:"FILE"`
	TLSHosts []string `name:"tls-host" help:"Extra names or addresses the hub's own certificate covers (it always covers localhost, the host name and this machine's addresses)." placeholder:"NAME"`

	MaxPayload int32         `name:"max-payload" help:"Largest message in bytes, a call's body among them (larger bodies go through the large-body store)." default:"1048576"`
	MaxStore   int64         `name:"max-store" help:"JetStream disk storage cap in bytes (notes, durable calls, large bodies)." default:"8589934592"`
	MaxMemory  int64         `name:"max-memory" help:"JetStream memory storage cap in bytes." default:"268435456"`
	MaxBodies  int64         `name:"max-bodies" help:"Cap of the large-body store in bytes." default:"1073741824"`
	MaxNote    int64         `name:"max-note" help:"Largest note in bytes." default:"8388608"`
	MaxLogs    int64         `name:"max-logs" help:"Size in bytes of the window of recent log records of every DPC process (dpc-cli logs); records also go after 7 days." default:"67108864"`
	PairingTTL time.Duration `name:"pairing-ttl" help:"How long a pairing code is valid." default:"10m"`

	ClusterName string        `name:"cluster-name" help:"Join hubs into one NATS cluster under this name."`
	ClusterHost string        `name:"cluster-host" help:"Interface for routes from other hubs." default:"0.0.0.0"`
	ClusterPort int           `name:"cluster-port" help:"Port for routes from other hubs." default:"6222"`
	Routes      []string      `help:"Other hubs' route URLs, e.g. nats-route://nas:6222 (comma-separated). Every hub of a cluster holds the same identity: see docs/RELIABILITY.md."`
	Replicas    int           `help:"Copies of each JetStream asset (notes, durable calls, identities, …); 0: 1 alone, min(3, hubs) in a cluster." default:"0"`
	LameDuck    time.Duration `name:"lame-duck" help:"In a cluster, how long a stopping hub spends moving its clients to the others." default:"5s"`

	DrainTimeout time.Duration `name:"drain-timeout" help:"On SIGINT or SIGTERM, how long the hub waits for calls in flight to every service to finish before it stops (a second signal stops it at once); 0 waits for none." default:"30s"`

	Web string `help:"Address of the HTTPS port serving the web app for phones and browsers (a browser pairs like any device; see docs/WEBAPP.md); empty turns it off." default:":8443" placeholder:"ADDR"`

	MDNS           bool     `name:"mdns" help:"Announce the hub on the LAN with DNS-SD over multicast DNS (_dpc._tcp), so that commands find it without --nats. It gives only an address: devices still pair." default:"true" negatable:""`
	MDNSInterfaces []string `name:"mdns-interface" help:"Network interfaces to announce on, each with its own addresses (default: the default multicast interface)." placeholder:"NAME"`

	SweepInterval time.Duration `name:"sweep-interval" help:"How often the catalog pings the services." default:"${sweep_interval}"`
	Expiry        time.Duration `help:"A service instance silent this long leaves the catalog." default:"${expiry}"`

	logging.LogFlags `embed:""`

	mu     sync.Mutex
	hub    *hub.Hub
	logger *slog.Logger
}

// hubConfig turns the flags into the hub's configuration.
func (c *CLI) hubConfig() (hub.Config, error) {
	cfg := hub.DefaultConfig()
	cfg.Name = c.Name
	cfg.Host, cfg.Port = c.Host, c.Port
	cfg.MonitorHost, cfg.MonitorPort = c.HTTPHost, c.HTTPPort
	cfg.DataDir = c.Data
	cfg.Metrics, cfg.MetricsWebConfig = c.Metrics, c.MetricsWebConfig
	cfg.TLSCert, cfg.TLSKey, cfg.TLSHosts = c.TLSCert, c.TLSKey, c.TLSHosts
	cfg.MaxPayload, cfg.MaxStore, cfg.MaxMemory, cfg.MaxBodies, cfg.MaxNote = c.MaxPayload, c.MaxStore, c.MaxMemory, c.MaxBodies, c.MaxNote
	cfg.PairingTTL = c.PairingTTL
	cfg.MaxLogs = c.MaxLogs
	cfg.SweepInterval, cfg.Expiry = c.SweepInterval, c.Expiry
	cfg.Replicas, cfg.LameDuck, cfg.DrainTimeout = c.Replicas, c.LameDuck, c.DrainTimeout
	cfg.Announce, cfg.AnnounceInterfaces = c.MDNS, c.MDNSInterfaces
	cfg.Web = c.Web
	if c.ClusterName != "" {
		cfg.Cluster = &broker.ClusterConfig{Name: c.ClusterName, Host: c.ClusterHost, Port: c.ClusterPort}
		for _, r := range c.Routes {
			if r = strings.TrimSpace(r); r != "" {
				cfg.Cluster.Routes = append(cfg.Cluster.Routes, r)
			}
		}
	} else if len(c.Routes) > 0 {
		return cfg, fmt.Errorf("--routes needs --cluster-name")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// The broker checks ports and names; do it before anything starts.
	b := broker.DefaultConfig()
	b.Port, b.HTTPPort, b.Cluster, b.MaxPayload = c.Port, c.HTTPPort, cfg.Cluster, c.MaxPayload
	if err := b.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Run starts the hub and serves until ctx ends.
func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()
	cfg, err := c.hubConfig()
	if err != nil {
		return command.Usage(err)
	}
	cfg.Logger = log
	// The hub publishes its own records through its in-process
	// connection, and closes the stream as it stops.
	cfg.LogStream = c.LogStream()
	h, err := hub.Start(ctx, cfg)
	if err != nil {
		return c.portsTaken(err)
	}
	c.mu.Lock()
	c.hub, c.logger = h, log
	c.mu.Unlock()
	log.Info("dpc-hub ready",
		"nats", h.ClientURL(),
		"monitoring", h.MonitorURL(),
		"metrics", h.MetricsURL(),
		"cluster", h.ClusterURL(),
		"web", h.WebURL(),
		"data", cfg.DataDir)

	<-ctx.Done()
	log.Info("dpc-hub stopping")
	// The drain has its own bound (--drain-timeout); the built-ins' calls
	// get shutdownGrace after it.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout+shutdownGrace)
	defer cancel()
	h.Close(sctx)
	log.Info("dpc-hub stopped")
	return nil
}

// Reload is SIGHUP: the TLS certificate is read again, and the log level
// from the config file; nothing stops.
func (c *CLI) Reload() error {
	c.mu.Lock()
	h := c.hub
	c.mu.Unlock()
	if h == nil {
		return nil
	}
	if err := c.reloadLogLevel(); err != nil {
		return err
	}
	if err := h.Reload(); err != nil {
		return err
	}
	c.logger.Info("reloaded", "log_level", c.LogLevel)
	return nil
}

// shutdownGrace bounds how long calls in flight may take to finish on stop.
const shutdownGrace = 10 * time.Second
