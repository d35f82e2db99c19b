package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/internal/logging"
)

// CLI is dpc-hub's flags. Each also reads DPC_<NAME> from the environment.
type CLI struct {
	Config kong.ConfigFlag `help:"YAML file of settings, keyed by long flag name (port: 4333, data: /var/lib/dpc, routes: [...])." type:"existingfile" env:"-"`

	Name     string `help:"Server name, unique within a cluster." default:"dpc-hub"`
	Host     string `help:"Interface NATS clients connect on." default:"0.0.0.0"`
	Port     int    `help:"NATS client port (-1: random)." default:"4222"`
	HTTPPort int    `name:"http-port" help:"NATS monitoring port (/varz, /connz, /jsz); 0 turns it off." default:"8222"`
	Data     string `help:"Data directory; JetStream (the durable lane) keeps its files in <data>/jetstream." default:"data" type:"path"`
	Metrics  string `help:"Address of the Prometheus /metrics endpoint; empty turns it off." default:":9090"`

	TLSCert   string `name:"tls-cert" help:"PEM certificate: require TLS from clients." type:"existingfile"`
	TLSKey    string `name:"tls-key" help:"PEM key of --tls-cert." type:"existingfile"`
	TLSCA     string `name:"tls-ca" help:"PEM CA that client certificates must be signed by." type:"existingfile"`
	TLSVerify bool   `name:"tls-verify" help:"Require a client certificate signed by --tls-ca."`

	User     string `help:"Require this user name from clients (with --password)."`
	Password string `help:"Password of --user."`

	ClusterName string   `name:"cluster-name" help:"Join hubs into one NATS cluster under this name."`
	ClusterHost string   `name:"cluster-host" help:"Interface for routes from other hubs." default:"0.0.0.0"`
	ClusterPort int      `name:"cluster-port" help:"Port for routes from other hubs." default:"6222"`
	Routes      []string `help:"Other hubs' route URLs, e.g. nats-route://nas:6222 (comma-separated)."`

	SweepInterval time.Duration `name:"sweep-interval" help:"How often the catalog pings the services." default:"${sweep_interval}"`
	Expiry        time.Duration `help:"A service instance silent this long leaves the catalog." default:"${expiry}"`

	logging.LogFlags `embed:""`
}

// brokerConfig turns the flags into a broker configuration.
func (c *CLI) brokerConfig(log *slog.Logger) (broker.Config, error) {
	cfg := broker.DefaultConfig()
	cfg.Name = c.Name
	cfg.Host, cfg.Port = c.Host, c.Port
	cfg.HTTPHost, cfg.HTTPPort = c.Host, c.HTTPPort
	cfg.StoreDir = c.Data // nats-server adds the jetstream/ level itself
	cfg.Logger = log
	cfg.ReadyTimeout = 30 * time.Second
	if c.TLSCert != "" || c.TLSKey != "" {
		cfg.TLS = &broker.TLSConfig{CertFile: c.TLSCert, KeyFile: c.TLSKey, CAFile: c.TLSCA, VerifyClients: c.TLSVerify}
	}
	if c.User != "" {
		cfg.Users = []broker.User{{Name: c.User, Password: c.Password}}
	}
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
	return cfg, nil
}
