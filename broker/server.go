// Package broker runs an embedded NATS server — the DPC hub's message
// broker — from a validated Config: client port, JetStream store, HTTP
// monitoring, TLS, users or nkeys with per-subject permissions, and cluster
// routes so that several hubs form one NATS cluster.
//
// The host program owns signals (the server is started with NoSigs) and the
// server's log lines go to log/slog.
//
//	srv, err := broker.Start(ctx, cfg)
//	defer srv.Shutdown()
//	nc, err := srv.Connect() // in-process, no TCP
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ErrNotReady is returned when the server does not accept connections
// within Config.ReadyTimeout.
var ErrNotReady = errors.New("broker: server not ready")

// Server is a running embedded NATS server.
type Server struct {
	cfg          Config
	ns           *server.Server
	internalUser string
	internalPass string
	resolver     *server.MemAccResolver
	cert         *certReloader
	shutdownOnce sync.Once
}

// Start validates cfg and starts the server, returning once it accepts
// connections. ctx and Config.ReadyTimeout bound the wait for that; when
// either ends it, or the server fails to start (a port in use, an unusable
// store), Start stops the server and returns an error. It returns only after
// the server's own start-up has unwound, so nothing is left listening or
// writing to StoreDir, which a slow JetStream recovery can delay.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg}
	opts, err := s.options()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: new server: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The server reports a failed start (port taken, store unusable) only
	// through its log, and then stops starting; catch the first such line so
	// Start returns it at once instead of waiting out ReadyTimeout.
	fatal := make(chan string, 1)
	onFatal := func(msg string) {
		select {
		case fatal <- msg:
		default:
		}
	}
	ns.SetLoggerV2(slogAdapter{l: logger.With("component", "nats-server"), onFatal: onFatal, onSecurity: cfg.OnSecurityEvent}, cfg.Debug, cfg.Trace, false)
	s.ns = ns

	started := make(chan struct{})
	go func() {
		defer close(started)
		ns.Start()
	}()
	if err := s.waitReady(ctx, started, fatal); err != nil {
		// Shutting down while ns.Start runs would let it open listeners
		// and store files after the shutdown; let it finish first.
		<-started
		s.Shutdown()
		return nil, err
	}
	if cfg.JetStream && !ns.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("broker: JetStream did not start (store %s)", cfg.StoreDir)
	}
	return s, nil
}

// DefaultReadyTimeout is how long Start waits when Config.ReadyTimeout is 0.
const DefaultReadyTimeout = 10 * time.Second

// defaultRoutePort is the conventional NATS cluster port, used when
// ClusterConfig.Port is 0.
const defaultRoutePort = 6222

// readyPoll is how long one readiness check may block, so that a failure
// logged meanwhile or a cancelled ctx is noticed promptly.
const readyPoll = 50 * time.Millisecond

// waitReady waits until the server accepts connections, a start failure is
// logged, ctx is done or ReadyTimeout passes. started closes when the
// server's Start returns.
func (s *Server) waitReady(ctx context.Context, started <-chan struct{}, fatal <-chan string) error {
	timeout := s.cfg.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	notReady := func() error {
		return fmt.Errorf("%w within %s", ErrNotReady, timeout)
	}

	// Start opens the client listener itself (and gives up after logging a
	// fatal error); routes and the rest come up in the background.
	select {
	case <-started:
	case msg := <-fatal:
		return fmt.Errorf("%w: %s", ErrNotReady, msg)
	case <-ctx.Done():
		return fmt.Errorf("broker: start: %w", ctx.Err())
	case <-deadline.C:
		return notReady()
	}
	for {
		select {
		case msg := <-fatal:
			return fmt.Errorf("%w: %s", ErrNotReady, msg)
		case <-ctx.Done():
			return fmt.Errorf("broker: start: %w", ctx.Err())
		case <-deadline.C:
			return notReady()
		default:
		}
		if s.ns.ReadyForConnections(readyPoll) {
			return nil
		}
	}
}

func (s *Server) options() (*server.Options, error) {
	c := s.cfg
	o := &server.Options{
		ServerName:         c.Name,
		Host:               c.Host,
		Port:               c.Port,
		NoSigs:             true,
		JetStream:          c.JetStream,
		StoreDir:           c.StoreDir,
		JetStreamMaxMemory: c.MaxMemory,
		JetStreamMaxStore:  c.MaxStore,
		HTTPHost:           c.HTTPHost,
		HTTPPort:           c.HTTPPort,
		MaxPayload:         c.MaxPayload,
		Debug:              c.Debug,
		Trace:              c.Trace,
	}
	if o.Port == 0 {
		o.Port = 4222
	}
	if c.JetStream && c.MaxMemory == 0 {
		o.JetStreamMaxMemory = -1
	}
	if c.JetStream && c.MaxStore == 0 {
		o.JetStreamMaxStore = -1
	}
	if t := c.TLS; t != nil {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: t.VerifyClients,
		})
		if err != nil {
			return nil, fmt.Errorf("broker: TLS: %w", err)
		}
		// The certificate comes from a reloader, so that ReloadTLS can
		// swap it for new connections without a restart.
		s.cert, err = newCertReloader(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker: TLS: %w", err)
		}
		tc.Certificates = nil
		tc.GetCertificate = s.cert.get
		o.TLS, o.TLSVerify, o.TLSConfig = true, t.VerifyClients, tc
		o.TLSCert, o.TLSKey, o.TLSCaCert = t.CertFile, t.KeyFile, t.CAFile
		o.TLSTimeout = 2
	}
	if len(c.Users) > 0 || len(c.NKeys) > 0 {
		s.internalUser = "dpc-internal-" + randomHex(4)
		s.internalPass = randomHex(16)
		o.Users = append(o.Users, &server.User{Username: s.internalUser, Password: s.internalPass})
		for _, u := range c.Users {
			o.Users = append(o.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: u.Permissions.server()})
		}
		for _, k := range c.NKeys {
			o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: k.PublicKey, Permissions: k.Permissions.server()})
		}
	}
	if tr := c.Trust; tr != nil {
		oc, err := jwt.DecodeOperatorClaims(tr.Operator)
		if err != nil {
			return nil, fmt.Errorf("broker: config Trust.Operator: %w", err)
		}
		s.resolver = &server.MemAccResolver{}
		for i, a := range tr.Accounts {
			ac, err := jwt.DecodeAccountClaims(a)
			if err != nil {
				return nil, fmt.Errorf("broker: config Trust.Accounts[%d]: %w", i, err)
			}
			_ = s.resolver.Store(ac.Subject, a)
		}
		o.TrustedOperators = []*jwt.OperatorClaims{oc}
		o.SystemAccount = oc.SystemAccount
		o.AccountResolver = s.resolver
		o.DefaultSentinel = tr.DefaultSentinel
	}
	if ws := c.WebSocket; ws != nil {
		port := ws.Port
		if port == 0 {
			port = RandomPort // nats-server reads 0 as "no listener"
		}
		hs := ws.HandshakeTimeout
		if hs == 0 {
			hs = 5 * time.Second
		}
		// No TLS here: Validate keeps the listener on loopback, behind a
		// proxy that terminates TLS. Authentication is the client port's
		// (operator JWTs, default sentinel), as no websocket-specific
		// users or cookies are set.
		o.Websocket = server.WebsocketOpts{Host: ws.Host, Port: port, NoTLS: true, HandshakeTimeout: hs}
	}
	if cl := c.Cluster; cl != nil {
		o.Cluster.Name = cl.Name
		o.Cluster.Host = cl.Host
		o.Cluster.Port = cl.Port
		if o.Cluster.Port == 0 {
			// nats-server reads port 0 as "no cluster" and would drop the
			// routes without a word; 0 means the default here, as for Port.
			o.Cluster.Port = defaultRoutePort
		}
		for _, r := range cl.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("broker: config Cluster.Routes: %w", err)
			}
			o.Routes = append(o.Routes, u)
		}
		if t := cl.TLS; t != nil {
			tc, err := routeTLS(t)
			if err != nil {
				return nil, fmt.Errorf("broker: cluster TLS: %w", err)
			}
			o.Cluster.TLSConfig, o.Cluster.TLSTimeout = tc, 2
		}
		if c.LameDuck > 0 {
			o.LameDuckDuration = c.LameDuck
			o.LameDuckGracePeriod = min(c.LameDuck/2, time.Second)
		}
	}
	return o, nil
}

func (p *Permissions) server() *server.Permissions {
	if p == nil {
		return nil
	}
	sp := &server.Permissions{}
	if p.PublishAllow != nil || p.PublishDeny != nil {
		sp.Publish = &server.SubjectPermission{Allow: p.PublishAllow, Deny: p.PublishDeny}
	}
	if p.SubscribeAllow != nil || p.SubscribeDeny != nil {
		sp.Subscribe = &server.SubjectPermission{Allow: p.SubscribeAllow, Deny: p.SubscribeDeny}
	}
	if p.AllowResponses {
		sp.Response = &server.ResponsePermission{MaxMsgs: 1}
	}
	return sp
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect opens an in-process client connection (no TCP) for the host
// program's own use. It authenticates as the server's internal user, so it
// works whatever users are configured. The caller closes it.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{nats.InProcessServer(s.ns), nats.Name(s.cfg.Name + "-internal")}
	if s.internalUser != "" {
		all = append(all, nats.UserInfo(s.internalUser, s.internalPass))
	}
	if tr := s.cfg.Trust; tr != nil {
		all = append(all, nats.UserJWTAndSeed(tr.ConnectJWT, string(tr.ConnectSeed)))
	}
	// In-process connections skip TLS: the server knows no bytes leave the
	// process.
	all = append(all, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("broker: in-process connect: %w", err)
	}
	return nc, nil
}

// UpdateAccount replaces an account's JWT at run time (Trust only): its
// limits, signing keys and revocations apply at once — connections of
// users it revokes, or signed by keys it drops, are closed, and so are
// connections beyond a lowered connection limit.
func (s *Server) UpdateAccount(accountJWT string) error {
	if s.resolver == nil {
		return errors.New("broker: UpdateAccount needs Trust")
	}
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return fmt.Errorf("broker: account JWT: %w", err)
	}
	if err := s.resolver.Store(ac.Subject, accountJWT); err != nil {
		return fmt.Errorf("broker: storing account %s: %w", ac.Subject, err)
	}
	acc, err := s.ns.LookupAccount(ac.Subject)
	if err != nil {
		return fmt.Errorf("broker: account %s: %w", ac.Subject, err)
	}
	s.ns.UpdateAccountClaims(acc, ac)
	return nil
}

// ReloadTLS reads the certificate and key files again; new connections
// get the new certificate, established ones keep theirs.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return errors.New("broker: ReloadTLS needs TLS")
	}
	return s.cert.load()
}

// ClientURL is the URL clients on other hosts or processes connect to,
// e.g. nats://127.0.0.1:4222 (tls:// when TLS is on).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// MonitorURL is the base URL of the HTTP monitoring endpoints, or "" when
// monitoring is off.
func (s *Server) MonitorURL() string {
	a := s.ns.MonitorAddr()
	if a == nil {
		return ""
	}
	return "http://" + ListenAddr(a, s.cfg.HTTPHost)
}

// ListenAddr is a's host and port as a person expects to read them: on
// every interface, it keeps the host as configured ("0.0.0.0", as NATS
// prints its client port) rather than Go's "[::]".
func ListenAddr(a *net.TCPAddr, configured string) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() && configured != "" {
		host = configured
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// WebSocketURL is the ws:// URL of the WebSocket listener on loopback,
// or "" when it is off.
func (s *Server) WebSocketURL() string {
	if s.cfg.WebSocket == nil {
		return ""
	}
	return s.ns.WebsocketURL()
}

// ClusterURL is the nats-route:// URL other servers list in their Routes to
// join this one, or "" when clustering is off.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return fmt.Sprintf("nats-route://%s", a.String())
}

// NumRoutes is the number of cluster routes currently connected.
func (s *Server) NumRoutes() int { return s.ns.NumRoutes() }

// NATS exposes the underlying server for what this package does not wrap.
func (s *Server) NATS() *server.Server { return s.ns }

// Config is the configuration the server was started with.
func (s *Server) Config() Config { return s.cfg }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once and from several goroutines.
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}

// LameDuckShutdown is Shutdown after lame-duck mode (Config.LameDuck, in
// a cluster): clients are told to move to the other servers and closed
// gradually before the server stops. Without both it is Shutdown.
func (s *Server) LameDuckShutdown() {
	if s.cfg.LameDuck <= 0 || s.cfg.Cluster == nil {
		s.Shutdown()
		return
	}
	s.shutdownOnce.Do(func() {
		s.ns.LameDuckShutdown()
		s.ns.WaitForShutdown()
	})
}

// routeTLS is mutual TLS between the servers of a cluster: each presents
// its certificate and checks the other's against the CA, both ways (a
// route is dialled by one server and accepted by the other).
func routeTLS(t *TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", t.CAFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}
