package brokertest_test

import (
	"strings"
	"testing"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
)

func TestConfig_LoopbackAndRandomPorts(t *testing.T) {
	dir := t.TempDir()
	cfg := brokertest.Config(dir)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "127.0.0.1" || cfg.HTTPHost != "127.0.0.1" {
		t.Errorf("Host %q, HTTPHost %q, want loopback", cfg.Host, cfg.HTTPHost)
	}
	if cfg.Port != broker.RandomPort || cfg.HTTPPort != 0 {
		t.Errorf("Port %d, HTTPPort %d, want random and off", cfg.Port, cfg.HTTPPort)
	}
	if !cfg.JetStream || cfg.StoreDir != dir {
		t.Errorf("JetStream %v in %q, want on in %q", cfg.JetStream, cfg.StoreDir, dir)
	}
}

func TestStart_ConnectAndEventually(t *testing.T) {
	var srv *broker.Server
	t.Run("server", func(t *testing.T) {
		srv = brokertest.Start(t, func(c *broker.Config) { c.Name = "changed" })
		if srv.Config().Name != "changed" {
			t.Errorf("change not applied: Name %q", srv.Config().Name)
		}
		if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
			t.Errorf("ClientURL() = %q", srv.ClientURL())
		}
		nc := brokertest.Connect(t, srv)
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if srv.NATS().Running() {
		t.Error("server still running after the subtest's cleanup")
	}
}
