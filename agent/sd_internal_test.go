package agent

import (
	"strings"
	"testing"
)

// An instance's metrics URL becomes Prometheus's target and metrics
// path; anything else is refused with what is wrong.
func TestMetricsTarget(t *testing.T) {
	for _, c := range []struct{ raw, addr, path, err string }{
		{raw: "http://127.0.0.1:9201/metrics", addr: "127.0.0.1:9201", path: "/metrics"},
		{raw: "http://[::1]:9201", addr: "[::1]:9201", path: "/metrics"},
		{raw: "http://10.0.0.5:80/dpc/metrics", addr: "10.0.0.5:80", path: "/dpc/metrics"},
		{raw: "https://127.0.0.1:9201/metrics", err: "want an http:// URL"},
		{raw: "http://u:p@127.0.0.1:9201/metrics", err: "want no user"},
		{raw: "http://127.0.0.1:9201/metrics?x=1", err: "want no user, query"},
		{raw: "http://127.0.0.1/metrics", err: "want host:port"},
		{raw: "http://127.0.0.1:0/metrics", err: "port from 1 to 65535"},
		{raw: "http://:9201/metrics", err: "want host:port"},
		{raw: "http://127.0.0.1:9201/" + strings.Repeat("x", maxMetricsURL), err: "more than 512"},
	} {
		addr, path, err := metricsTarget(c.raw)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%.60s: err %v, want one saying %q", c.raw, err, c.err)
			}
			continue
		}
		if err != nil || addr != c.addr || path != c.path {
			t.Errorf("%s: %q %q %v, want %q %q", c.raw, addr, path, err, c.addr, c.path)
		}
	}
}

// With the instances told to listen on loopback, the agent lists only
// targets there.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:0": true, "127.0.0.2:9201": true, "[::1]:0": true, "localhost:0": true,
		":0": false, "0.0.0.0:0": false, "10.0.0.5:9201": false, "127.0.0.1": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
