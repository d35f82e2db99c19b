// Package brokertest starts real embedded NATS servers for tests: random
// ports, JetStream in a temporary directory, stopped by t.Cleanup.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/nats-io/nats.go"
)

// Config is the configuration Start uses before applying changes: loopback,
// random client port, monitoring off (loopback when a test turns it on),
// JetStream in dir.
func Config(dir string) broker.Config {
	cfg := broker.DefaultConfig()
	cfg.Name = "test-hub"
	cfg.Host = "127.0.0.1"
	cfg.Port = broker.RandomPort
	cfg.HTTPHost = "127.0.0.1"
	cfg.HTTPPort = 0
	cfg.StoreDir = dir
	return cfg
}

// Start runs a server for the test. Each change is applied to Config(t.TempDir()).
func Start(t testing.TB, changes ...func(*broker.Config)) *broker.Server {
	t.Helper()
	cfg := Config(t.TempDir())
	for _, c := range changes {
		c(&cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig runs a server with exactly cfg.
func StartConfig(t testing.TB, cfg broker.Config) *broker.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Connect opens a TCP client connection to srv, closed at cleanup.
func Connect(t testing.TB, srv *broker.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", srv.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Eventually polls cond every 10ms until it holds, failing the test with
// what after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
