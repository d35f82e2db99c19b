package broker_test

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/nats-io/nats.go"
)

func TestServer_Shutdown(t *testing.T) {
	tests := []struct {
		name     string
		shutdown func(*broker.Server)
	}{
		{"twice", func(s *broker.Server) { s.Shutdown(); s.Shutdown() }},
		{"concurrently", func(s *broker.Server) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(s.Shutdown)
			}
			wg.Wait()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.Start(t) // its cleanup shuts down once more
			client := brokertest.Connect(t, srv, nats.NoReconnect())
			u, err := url.Parse(srv.ClientURL())
			if err != nil {
				t.Fatal(err)
			}

			tt.shutdown(srv)

			if srv.NATS().Running() {
				t.Error("server still running after Shutdown")
			}
			brokertest.Eventually(t, 5*time.Second, client.IsClosed, "the open client connection is closed")
			if conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second); err == nil {
				conn.Close()
				t.Errorf("%s still accepts TCP connections", u.Host)
			}
			if nc, err := nats.Connect(srv.ClientURL(), nats.Timeout(5*time.Second)); err == nil {
				nc.Close()
				t.Errorf("NATS client connected to %s after Shutdown", srv.ClientURL())
			}
			if nc, err := srv.Connect(); err == nil {
				nc.Close()
				t.Error("in-process Connect() succeeded after Shutdown")
			}
		})
	}
}
