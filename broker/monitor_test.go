package broker_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
)

func TestServer_Monitoring(t *testing.T) {
	tests := []struct {
		name     string
		httpPort int
		on       bool
	}{
		{"random port", broker.RandomPort, true},
		{"off", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := brokertest.Start(t, func(c *broker.Config) { c.JetStream = false; c.HTTPPort = tt.httpPort })
			base := srv.MonitorURL()
			if !tt.on {
				if base != "" {
					t.Fatalf("MonitorURL() = %q with monitoring off", base)
				}
				return
			}
			if !strings.HasPrefix(base, "http://127.0.0.1:") {
				t.Fatalf("MonitorURL() = %q, want http://127.0.0.1:<port>", base)
			}
			resp, err := http.Get(base + "/varz")
			if err != nil {
				t.Fatalf("GET /varz: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /varz: %s", resp.Status)
			}
			var varz struct {
				ServerName string `json:"server_name"`
				Port       int    `json:"port"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&varz); err != nil {
				t.Fatalf("decode /varz: %v", err)
			}
			if varz.ServerName != "test-hub" {
				t.Errorf("/varz server_name = %q, want test-hub", varz.ServerName)
			}
			if !strings.HasSuffix(srv.ClientURL(), ":"+strconv.Itoa(varz.Port)) {
				t.Errorf("/varz port %d is not the port of ClientURL() %s", varz.Port, srv.ClientURL())
			}
		})
	}
}

// An address on every interface reads as configured ("0.0.0.0", as NATS
// prints its client port), not as Go's "[::]"; a specific one as it is.
func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		a          *net.TCPAddr
		configured string
		want       string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8222}, "0.0.0.0", "0.0.0.0:8222"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8222}, "", "0.0.0.0:8222"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}, "127.0.0.1", "127.0.0.1:9090"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9090}, "::1", "[::1]:9090"},
	} {
		if got := broker.ListenAddr(tc.a, tc.configured); got != tc.want {
			t.Errorf("ListenAddr(%v, %q) = %q, want %q", tc.a, tc.configured, got, tc.want)
		}
	}
}
