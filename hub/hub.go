package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// ErrDataDirInUse: another process holds the data directory.
var ErrDataDirInUse = errors.New("hub: data directory in use")

// Hub is a running hub.
type Hub struct {
	cfg Config
	log *slog.Logger
	srv *broker.Server
	nc  *nats.Conn
	// sysNC is the hub's connection in the system account (server events).
	sysNC *nats.Conn
	node  *omq.Node
	js    jetstream.JetStream
	reg   *registry
	auth  *trust.Authority
	tls   trust.HubTLS
	// caPEM is the CA devices pin and trust: the hub's own, or the one
	// ending the chain of --tls-cert.
	caPEM []byte
	caFP  [32]byte

	registry *prometheus.Registry
	metrics  *metrics
	// secEvents carries refusals from the server to their reporter.
	secEvents chan broker.SecurityEvent
	// srvMu guards srv and reg for the reporter, which runs before Start
	// has set them.
	srvMu sync.Mutex

	// applyMu serialises bringing the server's accounts in line with the
	// registry.
	applyMu     sync.Mutex
	applied     string // the DPC account state last applied, as JSON
	pairingOpen bool

	stopBackground context.CancelFunc
	background     sync.WaitGroup
	catDone        chan error
	http           *metricsServer
	web            *webServer
	unlock         func()
	mgmtOnce       sync.Once
	mgmt           *management
	closeOnce      sync.Once

	// logsNode serves the logs service with a logger that never
	// publishes (logs.go).
	logsNode *omq.Node

	// announcer answers DNS-SD queries for the hub (mdns.go), or nil.
	announcer *discovery.Announcer
}

// Files under the data directory.
func (c Config) identityDir() string { return filepath.Join(c.DataDir, "identity") }
func (c Config) authorityFile() string {
	return filepath.Join(c.identityDir(), "authority.json")
}
func (c Config) stateFile() string  { return filepath.Join(c.identityDir(), "account-state.json") }
func (c Config) ownerCreds() string { return filepath.Join(c.identityDir(), "owner.creds") }

// firstHubMarker says this hub made the identity (the others of its
// cluster got a copy), and so makes the owner.
func (c Config) firstHubMarker() string { return filepath.Join(c.identityDir(), "made-here") }

// Start brings a hub up: its identity (made at first start), the embedded
// server with every client authenticated and on TLS, the registry of
// identities, the owner's credentials for this machine, the built-in
// functions, the catalog, identity management and pairing, and /metrics.
// It returns once the hub serves; Close stops it.
func Start(ctx context.Context, cfg Config) (_ *Hub, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			h.Close(context.Background())
		}
	}()
	if h.unlock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	var created bool
	h.auth, created, err = trust.LoadOrCreateAuthority(cfg.authorityFile())
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("made the hub's identity", "dir", cfg.identityDir())
		// This hub makes the owner; hubs given a copy of the identity to
		// join a cluster do not (see ensureOwner).
		if err := os.WriteFile(cfg.firstHubMarker(), nil, 0o600); err != nil {
			return nil, err
		}
	}
	if err := h.ensureTLS(); err != nil {
		return nil, err
	}
	if err := h.migrateGlobalAccount(); err != nil {
		return nil, err
	}
	state, err := h.cachedState()
	if err != nil {
		return nil, err
	}
	tr, err := h.auth.BrokerTrust(state, false)
	if err != nil {
		return nil, err
	}
	h.initMetrics()
	if cfg.LogStream != nil {
		if err := cfg.LogStream.Register(h.registry); err != nil {
			return nil, err
		}
	}
	h.secEvents = make(chan broker.SecurityEvent, securityEvents)
	bg, stop := context.WithCancel(context.Background())
	h.stopBackground = stop
	h.background.Add(1)
	go func() { defer h.background.Done(); h.reportSecurityEvents(bg) }()
	bcfg := broker.DefaultConfig()
	bcfg.Name = cfg.Name
	bcfg.Host, bcfg.Port = cfg.Host, cfg.Port
	bcfg.HTTPHost, bcfg.HTTPPort = cfg.MonitorHost, cfg.MonitorPort
	bcfg.StoreDir = cfg.DataDir // nats-server adds the jetstream/ level itself
	bcfg.MaxStore, bcfg.MaxMemory = cfg.MaxStore, cfg.MaxMemory
	bcfg.MaxPayload = cfg.MaxPayload
	bcfg.Logger = log
	bcfg.OnSecurityEvent = h.securityEvent
	bcfg.ReadyTimeout = cfg.ReadyTimeout
	if cfg.Cluster != nil {
		cl := *cfg.Cluster
		cl.TLS = &broker.TLSConfig{CertFile: h.tls.CertFile, KeyFile: h.tls.KeyFile, CAFile: h.tls.CAFile, VerifyClients: true}
		bcfg.Cluster = &cl
		bcfg.LameDuck = cfg.LameDuck
		if cfg.Name == DefaultConfig().Name {
			// JetStream in a cluster needs a name per server.
			host, _ := os.Hostname()
			bcfg.Name = fmt.Sprintf("dpc-hub-%s-%d", host, cl.Port)
		}
	}
	bcfg.Trust = tr
	if cfg.Web != "" {
		// Browsers reach it only through the web port's proxy (web.go).
		bcfg.WebSocket = &broker.WebSocketConfig{Host: "127.0.0.1", Port: broker.RandomPort}
	}
	bcfg.TLS = &broker.TLSConfig{CertFile: h.tls.CertFile, KeyFile: h.tls.KeyFile}
	if cfg.TLSCert != "" {
		bcfg.TLS = &broker.TLSConfig{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey}
	}
	srv, err := broker.Start(ctx, bcfg)
	if err != nil {
		return nil, err
	}
	h.srvMu.Lock()
	h.srv = srv
	h.srvMu.Unlock()
	if h.nc, err = h.srv.Connect(); err != nil {
		return nil, err
	}
	if err := h.watchLogins(); err != nil {
		return nil, err
	}
	omqMetrics, err := omq.NewMetrics(h.registry)
	if err != nil {
		return nil, err
	}
	if h.node, err = omq.New(h.nc, omq.WithLogger(log), omq.WithMetrics(omqMetrics)); err != nil {
		return nil, err
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		return nil, err
	}
	if err := h.waitJetStream(ctx); err != nil {
		return nil, err
	}
	if err := h.ensureAssets(ctx); err != nil {
		return nil, err
	}
	h.publishOwnLogs()
	// Make the registry's and the notes' buckets if they are missing, set
	// every asset's replicas and leader reads, then open the buckets for
	// use (a handle opened before would still read from any replica).
	openAll := func(ctx context.Context) (*registry, *notes.Store, error) {
		reg, err := openRegistry(ctx, h.js, h.replicas())
		if err != nil {
			return nil, nil, err
		}
		store, err := notes.Open(ctx, h.js, notes.MaxNoteSize(int(cfg.MaxNote)), notes.Replicas(h.replicas()), notes.Logger(log))
		return reg, store, err
	}
	if err := retry(ctx, h, "identity registry and notes", func(ctx context.Context) error { _, _, err := openAll(ctx); return err }); err != nil {
		return nil, err
	}
	if err := h.ensureReplicas(ctx); err != nil {
		return nil, err
	}
	if err := retry(ctx, h, "durable consumers of older versions", h.upgradeConsumers); err != nil {
		return nil, err
	}
	var reg *registry
	var store *notes.Store
	if err := retry(ctx, h, "identity registry and notes", func(ctx context.Context) (err error) {
		reg, store, err = openAll(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	h.srvMu.Lock()
	h.reg = reg
	h.srvMu.Unlock()
	// After a whole-cluster restart the registry's replicas answer some
	// seconds after JetStream does: retry rather than exit.
	if err := retry(ctx, h, "applying the identity registry", h.apply); err != nil {
		return nil, err
	}
	if err := retry(ctx, h, "the owner's identity", h.ensureOwner); err != nil {
		return nil, err
	}
	h.background.Add(1)
	go func() { defer h.background.Done(); h.watchRegistry(bg) }()

	// Watching from before the notes functions serve: no save goes untold.
	var notesSeen uint64
	if err := retry(ctx, h, "notes' latest change", func(ctx context.Context) (err error) {
		notesSeen, err = store.LastChange(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	h.background.Add(1)
	go func() { defer h.background.Done(); h.publishNoteChanges(bg, store, notesSeen) }()

	hubManifest, err := manifests.Builtin("hub")
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	// Each bind is retried on its own (a failed bind leaves nothing bound):
	// the durable consumer of the built-ins may answer late after a
	// cluster restart.
	binds := []struct {
		what string
		bind func(context.Context) error
	}{
		{"built-in functions", func(ctx context.Context) error {
			_, err := servicehost.Bind(ctx, h.node, servicehost.Service{Manifest: hubManifest, Handlers: builtins(store)},
				servicehost.Config{Host: host, Logger: log})
			return err
		}},
		{"identity management", h.bindDevices},
		{"pairing", h.bindPairing},
		{"large bodies", h.bindBodies},
		{"dead letters", h.bindDeadLetters},
		{"logs", h.bindLogs},
	}
	for _, b := range binds {
		if err := retry(ctx, h, b.what, b.bind); err != nil {
			return nil, err
		}
	}
	if err := h.startDeadLetters(bg); err != nil {
		return nil, err
	}
	// Opened after ensureReplicas, so that it reads from the stream leader.
	var catKV jetstream.KeyValue
	if err := retry(ctx, h, "catalog's services that may sleep", func(ctx context.Context) (err error) {
		catKV, err = h.js.KeyValue(ctx, catalog.DefaultBucket)
		return err
	}); err != nil {
		return nil, err
	}
	cat, err := catalog.New(h.node, catalog.Config{Interval: cfg.SweepInterval, Expiry: cfg.Expiry,
		Store: catalog.KVStore(catKV), Logger: log})
	if err != nil {
		return nil, err
	}
	h.catDone = make(chan error, 1)
	go func() { h.catDone <- cat.Run(bg) }()

	if cfg.Metrics != "" {
		if h.http, err = startMetrics(cfg.Metrics, cfg.MetricsWebConfig, h.registry, log); err != nil {
			return nil, err
		}
	}
	if cfg.Web != "" {
		if h.web, err = startWeb(cfg.Web, srv.WebSocketURL(), bcfg.TLS.CertFile, bcfg.TLS.KeyFile, log); err != nil {
			return nil, err
		}
	}
	if err := h.announce(bg, bcfg.Name); err != nil {
		return nil, err
	}
	return h, nil
}

// server is the embedded broker once it has started, else nil.
func (h *Hub) server() *broker.Server {
	h.srvMu.Lock()
	defer h.srvMu.Unlock()
	return h.srv
}

// initMetrics makes the hub's Prometheus registry and its own series.
func (h *Hub) initMetrics() {
	h.registry = prometheus.NewRegistry()
	h.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h.metrics = newMetrics(h.registry)
	h.registry.MustRegister(newNATSCollector(h.natsServer))
}

// ensureTLS makes (or renews) the hub's CA and certificate.
func (h *Hub) ensureTLS() error {
	h.tls = trust.HubTLSIn(filepath.Join(h.cfg.identityDir(), "tls"))
	hosts := append(trust.DefaultHosts(), h.cfg.TLSHosts...)
	if ip := net.ParseIP(h.cfg.Host); ip != nil && !ip.IsUnspecified() {
		hosts = append(hosts, h.cfg.Host)
	}
	changed, err := h.tls.Ensure(hosts)
	if err != nil {
		return err
	}
	if changed {
		h.log.Info("made the hub's TLS certificate", "file", h.tls.CertFile)
	}
	caPEM, err := h.tls.CAPEM()
	if err != nil {
		return err
	}
	if h.cfg.TLSCert != "" {
		// A certificate of the owner's: devices pin and trust its CA,
		// which the file must hold after the certificate.
		if caPEM, err = trust.ChainCAPEM(h.cfg.TLSCert); err != nil {
			return fmt.Errorf("--tls-cert %s: %w", h.cfg.TLSCert, err)
		}
	}
	ca, err := trust.ParseCAPEM(caPEM)
	if err != nil {
		return err
	}
	h.caPEM, h.caFP = caPEM, trust.Fingerprint(ca.Raw)
	return nil
}

// ClientURL is where clients connect (tls://…).
func (h *Hub) ClientURL() string { return h.srv.ClientURL() }

// LocalURL is the client URL on this machine's loopback.
func (h *Hub) LocalURL() string {
	_, port, _ := net.SplitHostPort(h.srv.NATS().Addr().String())
	host := "127.0.0.1"
	if ip := net.ParseIP(h.cfg.Host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		host = h.cfg.Host
	}
	return "tls://" + net.JoinHostPort(host, port)
}

// MonitorURL is the NATS monitoring endpoint, or "".
func (h *Hub) MonitorURL() string { return h.srv.MonitorURL() }

// MetricsURL is the /metrics endpoint, or "".
func (h *Hub) MetricsURL() string {
	if h.http == nil {
		return ""
	}
	return h.http.url
}

// WebURL is the web app's https:// address, or "" when it is off.
func (h *Hub) WebURL() string {
	if h.web == nil {
		return ""
	}
	return h.web.url
}

// ClusterURL is the route URL other hubs join, or "".
func (h *Hub) ClusterURL() string { return h.srv.ClusterURL() }

// CAFile is the hub's own CA certificate.
func (h *Hub) CAFile() string { return h.tls.CAFile }

// Server is the embedded broker.
func (h *Hub) Server() *broker.Server { return h.srv }

// Reload applies what can change while running (SIGHUP): the TLS
// certificate is read again.
func (h *Hub) Reload() error {
	if h.cfg.TLSCert == "" {
		if err := h.ensureTLS(); err != nil {
			return err
		}
	}
	if err := h.srv.ReloadTLS(); err != nil {
		return err
	}
	if h.web != nil {
		if err := h.web.reload(); err != nil {
			return err
		}
	}
	h.log.Info("reloaded the TLS certificate")
	if h.announcer != nil {
		// The CA may have changed with --tls-cert's file.
		if err := h.announcer.Update(true, h.caFP); err != nil {
			h.log.Warn("cannot update the hub's announcement on the LAN", "err", err)
		}
	}
	return nil
}

// Close stops the hub: it waits for the calls in flight to every service
// instance (Config.DrainTimeout bounds the wait), then stops the catalog
// and the background work, the built-in functions (calls in flight finish
// within ctx), then the server. The end of ctx ends every wait at once.
func (h *Hub) Close(ctx context.Context) {
	h.closeOnce.Do(func() {
		if h.announcer != nil {
			// Goodbye first: no new client should find a hub that stops.
			_ = h.announcer.Close()
		}
		if h.catDone != nil {
			// Only a hub that got as far as serving has calls to wait for;
			// a failed Start closes at once.
			h.drain(ctx)
		}
		if h.http != nil {
			h.http.shutdown(ctx)
		}
		if h.web != nil {
			h.web.shutdown(ctx)
		}
		if h.stopBackground != nil {
			h.stopBackground()
			if h.catDone != nil {
				<-h.catDone
			}
			h.background.Wait()
		}
		if h.node != nil {
			if err := h.node.Close(ctx); err != nil {
				h.log.Warn("closing built-ins", "err", err)
			}
		}
		if h.logsNode != nil {
			if err := h.logsNode.Close(ctx); err != nil {
				h.log.Warn("closing the logs service", "err", err)
			}
		}
		if h.cfg.LogStream != nil {
			// Its last records go out before the connection closes;
			// failures only count (never logged: they would be records).
			_ = h.cfg.LogStream.Close(ctx)
		}
		if h.nc != nil {
			h.nc.Close()
		}
		if h.sysNC != nil {
			h.sysNC.Close()
		}
		if h.srv != nil {
			// In a cluster: lame duck first, so clients move to the other
			// hubs before this one goes.
			h.srv.LameDuckShutdown()
		}
		if h.unlock != nil {
			h.unlock()
		}
	})
}

// AdvertisedURLs are the addresses other machines can reach this hub at:
// its host name and its interfaces' addresses when it listens on all of
// them (what `dpc-cli devices add` tells the new device).
func (h *Hub) AdvertisedURLs() []string {
	_, port, _ := net.SplitHostPort(h.srv.NATS().Addr().String())
	if ip := net.ParseIP(h.cfg.Host); h.cfg.Host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{"tls://" + net.JoinHostPort(h.cfg.Host, port)}
	}
	var out []string
	if host, err := os.Hostname(); err == nil && host != "" {
		out = append(out, "tls://"+net.JoinHostPort(host, port))
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				out = append(out, "tls://"+net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return append(out, h.LocalURL())
}
