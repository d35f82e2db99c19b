package broker_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/nats-io/nats.go"
)

// takenPort holds a loopback port open for the test and returns it.
func takenPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// inProcess opens srv's in-process connection, closed at cleanup.
func inProcess(t *testing.T, srv *broker.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect(opts...)
	if err != nil {
		t.Fatalf("Connect(): %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestStart_PortInUse(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *broker.Config, port int)
	}{
		{"client port", func(c *broker.Config, port int) { c.Port = port }},
		{"monitoring port", func(c *broker.Config, port int) { c.HTTPPort = port }},
		{"cluster port", func(c *broker.Config, port int) {
			c.JetStream = false
			c.Cluster = &broker.ClusterConfig{Name: "dpc-test", Host: "127.0.0.1", Port: port}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := takenPort(t)
			cfg := brokertest.Config(t.TempDir())
			// Start reports the failure as soon as the server logs it; the
			// small timeout only bounds the test should that ever regress.
			cfg.ReadyTimeout = 2 * time.Second
			tt.change(&cfg, port)

			srv, err := broker.Start(context.Background(), cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatalf("Start succeeded on taken port %d", port)
			}
			if !errors.Is(err, broker.ErrNotReady) {
				t.Errorf("Start() = %v, want ErrNotReady", err)
			}
			if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(port)) || !strings.Contains(msg, "in use") {
				t.Errorf("Start() = %q, want it to name port %d and say it is in use", msg, port)
			}
		})
	}
}

func TestStart_CancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := broker.Start(ctx, brokertest.Config(t.TempDir()))
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start succeeded with a cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start() = %v, want context.Canceled", err)
	}
}

func TestStart_ZeroReadyTimeoutUsesDefault(t *testing.T) {
	srv := brokertest.Start(t, func(c *broker.Config) { c.JetStream = false; c.ReadyTimeout = 0 })
	nc := brokertest.Connect(t, srv)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestServer_Accessors(t *testing.T) {
	srv := brokertest.Start(t, func(c *broker.Config) { c.JetStream = false })
	if got := srv.Config().Name; got != "test-hub" {
		t.Errorf("Config().Name = %q", got)
	}
	if srv.Config().Port != broker.RandomPort {
		t.Errorf("Config().Port = %d, want the configured RandomPort", srv.Config().Port)
	}
	if u := srv.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":-1") {
		t.Errorf("ClientURL() = %q, want nats://127.0.0.1:<chosen port>", u)
	}
	if u := srv.ClusterURL(); u != "" {
		t.Errorf("ClusterURL() = %q without a cluster", u)
	}
	if n := srv.NumRoutes(); n != 0 {
		t.Errorf("NumRoutes() = %d without a cluster", n)
	}
	if srv.NATS() == nil || srv.NATS().Name() != "test-hub" {
		t.Errorf("NATS() does not expose the running server")
	}
}
