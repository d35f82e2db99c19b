package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/notes"
)

// Config is one hub's settings. Start from DefaultConfig.
type Config struct {
	// Name identifies this hub in a cluster and in monitoring.
	Name string
	// Host and Port are where NATS clients connect (TLS only).
	Host string
	Port int
	// MonitorHost and MonitorPort serve the NATS monitoring endpoints
	// (/varz, /connz, …); port 0 turns them off. Loopback by default:
	// they show every connection.
	MonitorHost string
	MonitorPort int
	// Metrics is the address of the Prometheus /metrics endpoint; "" turns
	// it off.
	Metrics string
	// MetricsWebConfig, if set, is a Prometheus exporter-toolkit web
	// configuration file (TLS, basic auth) for the /metrics endpoint: the
	// way to expose it beyond loopback.
	MetricsWebConfig string
	// DataDir holds JetStream's files and the hub's identity.
	DataDir string
	// ProfileDir is where the owner's credentials for this machine go
	// (trust.ProfileDir when empty).
	ProfileDir string
	// TLSCert and TLSKey replace the certificate the hub makes for itself
	// (its CA still signs pairing); TLSHosts are extra names or addresses
	// the hub's own certificate must cover.
	TLSCert, TLSKey string
	TLSHosts        []string
	// MaxPayload bounds one message (a call's body; larger bodies go
	// through the large-body store): 0 keeps 1 MiB.
	MaxPayload int32
	// MaxStore and MaxMemory cap JetStream storage on disk and in memory.
	MaxStore, MaxMemory int64
	// MaxBodies caps the large-body store (bytes).
	MaxBodies int64
	// MaxNote caps one note's size (bytes).
	MaxNote int64
	// MaxLogs caps the window of recent log records (bytes; see logs.go).
	MaxLogs int64
	// PairingTTL is how long a pairing code is valid.
	PairingTTL time.Duration
	// Cluster joins this hub to others. Every hub of a cluster holds the
	// same identity (authority.json and the CA: see docs/RELIABILITY.md),
	// and the routes between them are TLS, each hub proving itself with a
	// certificate from that CA.
	Cluster *broker.ClusterConfig
	// Replicas is how many copies of each JetStream asset the hubs keep;
	// 0: 1 alone, min(3, hubs) in a cluster.
	Replicas int
	// LameDuck is how long a hub of a cluster spends moving its clients to
	// the others when it stops.
	LameDuck time.Duration
	// DrainTimeout bounds how long Close waits for calls in flight to
	// service instances to finish before the server stops; 0 waits for
	// none.
	DrainTimeout time.Duration
	// Catalog sweep interval and instance expiry.
	SweepInterval, Expiry time.Duration
	Logger                *slog.Logger
	// LogStream, if set, is the handler behind Logger: the hub publishes
	// its own records through its in-process connection once it has one,
	// registers the handler's counters, and closes it on Close.
	LogStream *logstream.Handler
	// ReadyTimeout bounds the embedded server's start.
	ReadyTimeout time.Duration
	// Web is the address of the HTTPS port serving the web app and, at
	// /nats, the NATS server's WebSocket listener (web.go); "" turns it
	// off, as in DefaultConfig.
	Web string
	// Announce makes the hub announce itself on the LAN with DNS-SD over
	// multicast DNS (mdns.go), on AnnounceInterfaces (by name; none: the
	// default multicast interface). Off in DefaultConfig, so that a hub
	// started as a library (every test) stays off the LAN; dpc-hub turns
	// it on unless --mdns=false.
	Announce           bool
	AnnounceInterfaces []string
}

// DefaultConfig is a hub on the NATS default port on every interface,
// monitoring and metrics on loopback, data in ./data.
func DefaultConfig() Config {
	cat := catalog.DefaultConfig()
	return Config{
		Name:          "dpc-hub",
		Host:          "0.0.0.0",
		Port:          4222,
		MonitorHost:   "127.0.0.1",
		MonitorPort:   8222,
		Metrics:       "127.0.0.1:9090",
		DataDir:       "data",
		MaxStore:      8 << 30,
		MaxMemory:     256 << 20,
		MaxBodies:     1 << 30,
		MaxNote:       notes.DefaultMaxNoteSize,
		MaxLogs:       DefaultMaxLogs,
		PairingTTL:    10 * time.Minute,
		LameDuck:      5 * time.Second,
		DrainTimeout:  DefaultDrainTimeout,
		SweepInterval: cat.Interval,
		Expiry:        cat.Expiry,
		ReadyTimeout:  30 * time.Second,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("data directory: empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key go together")
	}
	if c.MaxStore <= 0 || c.MaxMemory <= 0 {
		bad("JetStream limits must be positive (store %d, memory %d)", c.MaxStore, c.MaxMemory)
	}
	if c.MaxBodies <= 0 || c.MaxBodies > c.MaxStore {
		bad("large-body store limit %d must be positive and within the store limit %d", c.MaxBodies, c.MaxStore)
	}
	if c.MaxLogs <= 0 || c.MaxLogs > c.MaxStore {
		bad("log window limit %d must be positive and within the store limit %d", c.MaxLogs, c.MaxStore)
	}
	if c.MaxNote <= 0 {
		bad("note size limit must be positive")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		bad("replicas %d: want 1 to 5, or 0 for automatic", c.Replicas)
	}
	if c.Web != "" {
		if _, _, err := net.SplitHostPort(c.Web); err != nil {
			bad("web address %q: want HOST:PORT or :PORT (%v)", c.Web, err)
		}
	}
	if c.DrainTimeout < 0 {
		bad("drain timeout %s must not be negative", c.DrainTimeout)
	}
	if c.PairingTTL < time.Minute || c.PairingTTL > 24*time.Hour {
		bad("pairing code validity %s must be between 1m and 24h", c.PairingTTL)
	}
	return errors.Join(errs...)
}
