package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
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

	// Cluster, when set, lets several servers form one NATS cluster.
	Cluster *ClusterConfig

	// MaxPayload limits one message's size in bytes; 0 keeps the NATS default
	// (1 MiB).
	MaxPayload int32

	// Logger receives the server's log lines; nil discards them. Debug and
	// Trace turn on the server's verbose levels.
	Logger *slog.Logger
	Debug  bool
	Trace  bool

	// ReadyTimeout bounds how long Start waits for the server to accept
	// connections.
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
// Wildcards follow NATS rules. A nil list leaves that direction open.
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
	// Port listens for routes from other servers; RandomPort picks one.
	Port int
	// Routes are URLs of other servers' cluster ports, e.g.
	// "nats-route://10.0.0.2:6222".
	Routes []string
}

// DefaultConfig is a hub on the NATS default port on all interfaces, with
// JetStream under ./data/jetstream and monitoring on 8222.
func DefaultConfig() Config {
	return Config{
		Name:         "dpc-hub",
		Host:         "0.0.0.0",
		Port:         4222,
		JetStream:    true,
		StoreDir:     "data/jetstream",
		HTTPHost:     "0.0.0.0",
		HTTPPort:     8222,
		ReadyTimeout: 10 * time.Second,
	}
}

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
	checkPort("Port", c.Port)
	checkPort("HTTPPort", c.HTTPPort)
	if c.JetStream && strings.TrimSpace(c.StoreDir) == "" {
		bad("StoreDir", "required when JetStream is on")
	}
	if c.MaxMemory < 0 || c.MaxStore < 0 {
		bad("MaxMemory/MaxStore", "must not be negative")
	}
	if c.MaxPayload < 0 {
		bad("MaxPayload", "must not be negative")
	}
	if t := c.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" {
			bad("TLS", "CertFile and KeyFile are both required")
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
		if seen[u.Name] {
			bad(fmt.Sprintf("Users[%d].Name", i), "user %q listed twice", u.Name)
		}
		seen[u.Name] = true
	}
	for i, k := range c.NKeys {
		if !strings.HasPrefix(k.PublicKey, "U") || len(k.PublicKey) != 56 {
			bad(fmt.Sprintf("NKeys[%d].PublicKey", i), "%q is not a user public nkey (56 characters starting with U)", k.PublicKey)
		}
	}
	if cl := c.Cluster; cl != nil {
		if cl.Name == "" {
			bad("Cluster.Name", "empty")
		}
		checkPort("Cluster.Port", cl.Port)
		for i, r := range cl.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				bad(fmt.Sprintf("Cluster.Routes[%d]", i), "%q is not a URL like nats-route://host:6222", r)
			}
		}
		if c.JetStream && c.Name == "" {
			bad("Name", "required for JetStream in a cluster")
		}
	}
	if c.ReadyTimeout < 0 {
		bad("ReadyTimeout", "must not be negative")
	}
	return errors.Join(errs...)
}
