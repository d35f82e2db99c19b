package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/broker"
	"github.com/nats-io/nkeys"
)

func TestDefaultConfig_Validates(t *testing.T) {
	if err := broker.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	userPub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	account, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	accountPub, err := account.PublicKey()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change func(*broker.Config)
		field  string // "" means valid
	}{
		{"default", func(*broker.Config) {}, ""},
		{"random ports", func(c *broker.Config) { c.Port, c.HTTPPort = broker.RandomPort, broker.RandomPort }, ""},
		{"port 0 is the NATS default", func(c *broker.Config) { c.Port = 0 }, ""},
		{"port too big", func(c *broker.Config) { c.Port = 65536 }, "Port"},
		{"port below random", func(c *broker.Config) { c.Port = -2 }, "Port"},
		{"http port too big", func(c *broker.Config) { c.HTTPPort = 70000 }, "HTTPPort"},
		{"http port is the client port", func(c *broker.Config) { c.Port, c.HTTPPort = 4300, 4300 }, "HTTPPort"},
		{"http port is the default client port", func(c *broker.Config) { c.Port, c.HTTPPort = 0, 4222 }, "HTTPPort"},
		{"name with a space", func(c *broker.Config) { c.Name = "my hub" }, "Name"},
		{"jetstream without store", func(c *broker.Config) { c.StoreDir = "  " }, "StoreDir"},
		{"no store without jetstream", func(c *broker.Config) { c.JetStream, c.StoreDir = false, "" }, ""},
		{"negative memory", func(c *broker.Config) { c.MaxMemory = -1 }, "MaxMemory"},
		{"negative store", func(c *broker.Config) { c.MaxStore = -1 }, "MaxStore"},
		{"negative payload", func(c *broker.Config) { c.MaxPayload = -1 }, "MaxPayload"},
		{"payload over max pending", func(c *broker.Config) { c.MaxPayload = 65<<20 + 1 }, "MaxPayload"},
		{"negative ready timeout", func(c *broker.Config) { c.ReadyTimeout = -1 }, "ReadyTimeout"},
		{"zero ready timeout", func(c *broker.Config) { c.ReadyTimeout = 0 }, ""},
		{"websocket on loopback", func(c *broker.Config) {
			c.WebSocket = &broker.WebSocketConfig{Host: "127.0.0.1", Port: broker.RandomPort}
		}, ""},
		{"websocket without TLS beyond loopback", func(c *broker.Config) { c.WebSocket = &broker.WebSocketConfig{Host: "0.0.0.0"} }, "WebSocket.Host"},
		{"websocket port too big", func(c *broker.Config) { c.WebSocket = &broker.WebSocketConfig{Host: "::1", Port: 70000} }, "WebSocket.Port"},
		{"tls without cert", func(c *broker.Config) { c.TLS = &broker.TLSConfig{KeyFile: "k.pem"} }, "TLS.CertFile"},
		{"tls without key", func(c *broker.Config) { c.TLS = &broker.TLSConfig{CertFile: "c.pem"} }, "TLS.KeyFile"},
		{"verify clients without CA", func(c *broker.Config) {
			c.TLS = &broker.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", VerifyClients: true}
		}, "TLS.CAFile"},
		{"tls complete", func(c *broker.Config) {
			c.TLS = &broker.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem", VerifyClients: true}
		}, ""},
		{"user without name", func(c *broker.Config) {
			c.Users = []broker.User{{Name: "a", Password: "x"}, {Password: "y"}}
		}, "Users[1].Name"},
		{"user without password", func(c *broker.Config) {
			c.Users = []broker.User{{Name: "a"}}
		}, "Users[0].Password"},
		{"user twice", func(c *broker.Config) {
			c.Users = []broker.User{{Name: "a", Password: "x"}, {Name: "b", Password: "y"}, {Name: "a", Password: "z"}}
		}, "Users[2].Name"},
		{"nkey not a key", func(c *broker.Config) {
			c.NKeys = []broker.NKeyUser{{PublicKey: "not-a-key"}}
		}, "NKeys[0].PublicKey"},
		{"nkey with a bad checksum", func(c *broker.Config) {
			c.NKeys = []broker.NKeyUser{{PublicKey: "U" + strings.Repeat("A", 55)}}
		}, "NKeys[0].PublicKey"},
		{"nkey of an account", func(c *broker.Config) {
			c.NKeys = []broker.NKeyUser{{PublicKey: accountPub}}
		}, "NKeys[0].PublicKey"},
		{"nkey twice", func(c *broker.Config) {
			c.NKeys = []broker.NKeyUser{{PublicKey: userPub}, {PublicKey: userPub}}
		}, "NKeys[1].PublicKey"},
		{"nkey valid", func(c *broker.Config) {
			c.NKeys = []broker.NKeyUser{{PublicKey: userPub}}
		}, ""},
		{"cluster without name", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Port: 6222}
		}, "Cluster.Name"},
		{"cluster name with a space", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Name: "dpc lan", Port: 6222}
		}, "Cluster.Name"},
		{"cluster port", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Name: "dpc", Port: 100000}
		}, "Cluster.Port"},
		{"route without scheme", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Name: "dpc", Routes: []string{"10.0.0.2:6222"}}
		}, "Cluster.Routes[0]"},
		{"route without port", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Name: "dpc", Routes: []string{"nats-route://10.0.0.2:6222", "nats-route://10.0.0.3"}}
		}, "Cluster.Routes[1]"},
		{"cluster with jetstream needs a server name", func(c *broker.Config) {
			c.Name = ""
			c.Cluster = &broker.ClusterConfig{Name: "dpc", Routes: []string{"nats-route://10.0.0.2:6222"}}
		}, "Name"},
		{"cluster complete", func(c *broker.Config) {
			c.Cluster = &broker.ClusterConfig{Name: "dpc", Port: broker.RandomPort, Routes: []string{"nats-route://10.0.0.2:6222"}}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := broker.DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", tt.field)
			}
			if want := "config " + tt.field + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %q, want it to name %q", err, want)
			}
		})
	}
}

func TestConfig_ValidateReportsEveryProblem(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Port = -5
	cfg.StoreDir = ""
	cfg.TLS = &broker.TLSConfig{VerifyClients: true}
	cfg.Users = []broker.User{{Name: "ok", Password: "x"}, {Password: "y"}}
	cfg.Cluster = &broker.ClusterConfig{Name: "dpc", Routes: []string{"::bad"}}

	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	fields := []string{"Port", "StoreDir", "TLS.CertFile", "TLS.KeyFile", "TLS.CAFile", "Users[1].Name", "Cluster.Routes[0]"}
	for _, f := range fields {
		if !strings.Contains(err.Error(), "config "+f+":") {
			t.Errorf("error does not name %s:\n%v", f, err)
		}
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not hold its problems as a list", err)
	}
	if got := len(joined.Unwrap()); got != len(fields) {
		t.Errorf("got %d problems, want %d:\n%v", got, len(fields), err)
	}
}

func TestStart_RejectsInvalidConfig(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Port = 1 << 20
	srv, err := broker.Start(context.Background(), cfg)
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start accepted an invalid config")
	}
	if !strings.Contains(err.Error(), "config Port:") {
		t.Errorf("Start() = %v, want the Validate error", err)
	}
	if errors.Is(err, broker.ErrNotReady) {
		t.Errorf("Start() = %v, should fail before starting anything", err)
	}
}
