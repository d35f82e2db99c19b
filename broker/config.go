package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// RandomPort asks the operating system for a free port; use it for tests and
// for running several hubs on one machine.
const RandomPort = -1

// Config describes one embedded NATS server. Start from DefaultConfig and
// change what differs; Validate reports every problem at once.
type Config struct {
	// Name identifies this server in a cluster and in monitoring. It must be
	// unique among the servers of one cluster when JetStream is on.
	Name string

	// Host and Port are where NATS clients connect. Port 0 means the NATS
	// default 4222; RandomPort picks a free port.
	Host string
	Port int

	// JetStream turns on persistence. StoreDir is required with it: streams,
	// key-value buckets and the durable async lane live there.
	JetStream bool
	StoreDir  string
	// MaxMemory and MaxStore bound JetStream's memory and disk use in bytes;
	// 0 lets the server pick (a share of the machine's).
	MaxMemory int64
	MaxStore  int64

	// HTTPPort serves the NATS monitoring endpoints (/varz, /connz, /jsz …).
	// 0 turns monitoring off; RandomPort picks a free port.
	HTTPHost string
	HTTPPort int

	// TLS, when set, requires TLS for client connections.
	TLS *TLSConfig

	// Users and NKeys restrict who may connect and, per user, which subjects
	// they may publish and subscribe to. Empty means no authentication. The
	// server always adds one internal user for Server.Connect, so the host
	// program's own connection works whatever is configured here.
	Users []User
	NKeys []NKeyUser

	// Trust, when set, switches the server to NATS's decentralised
	// authentication (operator, accounts, user JWTs): Users and NKeys must
	// then be empty.
	Trust *Trust

	// Cluster, when set, lets several servers form one NATS cluster.
	Cluster *ClusterConfig

	// WebSocket, when set, opens the server's WebSocket listener for
	// browsers, with the same authentication as the client port.
	WebSocket *WebSocketConfig

	// MaxPayload limits one message's size in bytes; 0 keeps the NATS default
	// (1 MiB).
	MaxPayload int32

	// Logger receives the server's log lines; nil discards them. Debug and
	// Trace turn on the server's verbose levels.
	Logger *slog.Logger
	Debug  bool
	Trace  bool

	// OnSecurityEvent, if set, hears every client the server refuses (a
	// failed login, a denied publish or subscription) instead of the
	// server's log. It is called from the server's goroutines, possibly
	// under its locks: hand the event off, do not call back into the
	// server.
	OnSecurityEvent func(SecurityEvent)

	// LameDuck, if positive, is how long Shutdown spends in lame-duck mode
	// first: the server stops taking clients and tells those it has to
	// move to other servers of the cluster, closing them gradually over
	// this time. Only with Cluster.
	LameDuck time.Duration

	// ReadyTimeout bounds how long Start waits for the server to accept
	// connections; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// TLSConfig names PEM files for the server's certificate and, optionally, the
// CA used to verify client certificates.
type TLSConfig struct {
	CertFile string
	KeyFile  string
	// CAFile verifies client certificates; required when VerifyClients is set.
	CAFile string
	// VerifyClients demands a client certificate signed by CAFile.
	VerifyClients bool
}

// Trust is decentralised authentication: the server trusts one operator;
// every client presents a user JWT issued under one of Accounts and signs
// the server's nonce with its key (the standard .creds file), and gets the
// permissions the JWT, or the scope of the key that signed it, grants.
type Trust struct {
	// Operator is the operator JWT; it names the system account.
	Operator string
	// Accounts are the account JWTs, the system account's among them,
	// served from memory. Server.UpdateAccount replaces one at run time.
	Accounts []string
	// DefaultSentinel, if set, is the bearer user JWT a client that
	// presents no credentials is given (NATS default_sentinel).
	DefaultSentinel string
	// ConnectJWT and ConnectSeed are the host program's own user, which
	// Server.Connect authenticates as.
	ConnectJWT  string
	ConnectSeed []byte
}

// User is a username/password login with optional permissions.
type User struct {
	Name        string
	Password    string
	Permissions *Permissions
}

// NKeyUser is a login by NKey public key (a string starting with "U").
type NKeyUser struct {
	PublicKey   string
	Permissions *Permissions
}

// Permissions lists the subjects a user may publish and subscribe to.
// Wildcards follow NATS rules. A nil list leaves that direction open, except
// that AllowResponses with a nil PublishAllow allows publishing replies only
// (the NATS server's rule).
type Permissions struct {
	PublishAllow   []string
	PublishDeny    []string
	SubscribeAllow []string
	SubscribeDeny  []string
	// AllowResponses lets a service user reply to requests on any reply
	// subject it was sent, without listing _INBOX.> in PublishAllow.
	AllowResponses bool
}

// ClusterConfig joins this server to others. Every server of one cluster
// uses the same Name and lists some of the others under Routes.
type ClusterConfig struct {
	Name string
	Host string
	// Port listens for routes from other servers; 0 means the NATS default
	// 6222, RandomPort picks a free port.
	Port int
	// Routes are URLs of other servers' cluster ports, e.g.
	// "nats-route://10.0.0.2:6222".
	Routes []string
	// TLS, when set, secures and authenticates routes: each server
	// presents CertFile and accepts a route only with a certificate signed
	// by CAFile (VerifyClients is implied).
	TLS *TLSConfig
}

// WebSocketConfig is the server's WebSocket listener. It speaks plain
// ws:// (no TLS of its own), so it must listen on loopback: a proxy in the
// same host program terminates TLS in front of it (the hub's web server).
type WebSocketConfig struct {
	// Host is a loopback address; Port 0 or RandomPort picks a free port.
	Host string
	Port int
	// HandshakeTimeout bounds the upgrade; 0 means 5s.
	HandshakeTimeout time.Duration
}

// DefaultConfig is a hub on the NATS default port on all interfaces, with
// JetStream under ./data (nats-server keeps its files in <StoreDir>/jetstream)
// and monitoring on 8222.
func DefaultConfig() Config {
	return Config{
		Name:         "dpc-hub",
		Host:         "0.0.0.0",
		Port:         4222,
		JetStream:    true,
		StoreDir:     "data",
		HTTPHost:     "0.0.0.0",
		HTTPPort:     8222,
		ReadyTimeout: 10 * time.Second,
	}
}

// maxPayloadLimit is nats-server's default max_pending: a larger payload
// could never be delivered, and the server refuses to start with one.
const maxPayloadLimit = 64 << 20

// Validate reports every problem in c, each naming the field at fault.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("broker: config %s: %s", field, fmt.Sprintf(format, args...)))
	}
	checkPort := func(field string, p int) {
		if p < RandomPort || p > 65535 {
			bad(field, "%d is not a port (0-65535, or -1 for a random one)", p)
		}
	}
	if strings.ContainsAny(c.Name, " \t\r\n") {
		bad("Name", "%q contains white space", c.Name)
	}
	checkPort("Port", c.Port)
	checkPort("HTTPPort", c.HTTPPort)
	if c.HTTPPort > 0 && c.HTTPPort == effectivePort(c.Port, 4222) {
		bad("HTTPPort", "%d is also the client Port", c.HTTPPort)
	}
	if c.JetStream && strings.TrimSpace(c.StoreDir) == "" {
		bad("StoreDir", "required when JetStream is on")
	}
	if c.MaxMemory < 0 {
		bad("MaxMemory", "must not be negative")
	}
	if c.MaxStore < 0 {
		bad("MaxStore", "must not be negative")
	}
	if c.MaxPayload < 0 || c.MaxPayload > maxPayloadLimit {
		bad("MaxPayload", "%d is outside 0-%d", c.MaxPayload, maxPayloadLimit)
	}
	if t := c.TLS; t != nil {
		if t.CertFile == "" {
			bad("TLS.CertFile", "required with TLS")
		}
		if t.KeyFile == "" {
			bad("TLS.KeyFile", "required with TLS")
		}
		if t.VerifyClients && t.CAFile == "" {
			bad("TLS.CAFile", "required when VerifyClients is set")
		}
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		if u.Name == "" {
			bad(fmt.Sprintf("Users[%d].Name", i), "empty")
		}
		if u.Password == "" {
			bad(fmt.Sprintf("Users[%d].Password", i), "empty for user %q", u.Name)
		}
		if u.Name != "" && seen[u.Name] {
			bad(fmt.Sprintf("Users[%d].Name", i), "user %q listed twice", u.Name)
		}
		seen[u.Name] = true
	}
	seenKey := map[string]bool{}
	for i, k := range c.NKeys {
		if !nkeys.IsValidPublicUserKey(k.PublicKey) {
			bad(fmt.Sprintf("NKeys[%d].PublicKey", i), "%q is not a user public nkey (56 characters starting with U)", k.PublicKey)
		} else if seenKey[k.PublicKey] {
			bad(fmt.Sprintf("NKeys[%d].PublicKey", i), "%q listed twice", k.PublicKey)
		}
		seenKey[k.PublicKey] = true
	}
	if tr := c.Trust; tr != nil {
		if len(c.Users) > 0 || len(c.NKeys) > 0 {
			bad("Trust", "cannot be combined with Users or NKeys")
		}
		if tr.Operator == "" {
			bad("Trust.Operator", "empty")
		}
		if tr.ConnectJWT == "" || len(tr.ConnectSeed) == 0 {
			bad("Trust.ConnectJWT", "the host program's user JWT and seed are required")
		}
	}
	if cl := c.Cluster; cl != nil {
		if cl.Name == "" {
			bad("Cluster.Name", "empty")
		} else if strings.ContainsAny(cl.Name, " \t\r\n") {
			bad("Cluster.Name", "%q contains white space", cl.Name)
		}
		checkPort("Cluster.Port", cl.Port)
		if t := cl.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
			bad("Cluster.TLS", "needs CertFile, KeyFile and CAFile")
		}
		for i, r := range cl.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Hostname() == "" || u.Port() == "" {
				bad(fmt.Sprintf("Cluster.Routes[%d]", i), "%q is not a URL like nats-route://host:6222", r)
			}
		}
		if c.JetStream && c.Name == "" {
			bad("Name", "required for JetStream in a cluster")
		}
	}
	if ws := c.WebSocket; ws != nil {
		if ip := net.ParseIP(ws.Host); ip == nil || !ip.IsLoopback() {
			bad("WebSocket.Host", "%q is not a loopback address: the listener has no TLS, a proxy in front provides it", ws.Host)
		}
		if ws.Port < RandomPort || ws.Port > 65535 {
			bad("WebSocket.Port", "%d is not a port (0-65535, or -1 for a random one)", ws.Port)
		}
		if ws.HandshakeTimeout < 0 {
			bad("WebSocket.HandshakeTimeout", "must not be negative")
		}
	}
	if c.ReadyTimeout < 0 {
		bad("ReadyTimeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// effectivePort is the port p listens on when it is 0.
func effectivePort(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}
