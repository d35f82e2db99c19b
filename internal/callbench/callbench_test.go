package callbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/benchreport"
)

func startServer(t *testing.T) *broker.Server {
	t.Helper()
	return brokertest.Start(t, func(c *broker.Config) { c.JetStream = false; c.StoreDir = "" })
}

func shortConfig(url string) Config {
	return Config{
		URL:      url,
		Sides:    []string{SideRaw, SideOMQ},
		Clients:  []int{1, 3},
		Duration: 150 * time.Millisecond,
		Warmup:   30 * time.Millisecond,
		Repeats:  2,
		Timeout:  5 * time.Second,
		Targets:  DefaultTargets,
	}
}

// checkSane holds a summary to what any run must satisfy, however slow the
// machine: calls were made and the percentiles are ordered.
func checkSane(t *testing.T, what string, s Summary) {
	t.Helper()
	if s.Ops <= 0 || s.OpsPerSec <= 0 {
		t.Errorf("%s: no calls: %+v", what, s)
	}
	if !(0 < s.Min && s.Min <= s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
		t.Errorf("%s: want 0 < min <= p50 <= p90 <= p99 <= max, got %s %s %s %s %s",
			what, s.Min, s.P50, s.P90, s.P99, s.Max)
	}
}

func TestRun_SaneNumbers(t *testing.T) {
	srv := startServer(t)
	cfg := shortConfig(srv.ClientURL())
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 4 {
		t.Fatalf("want 4 cases (2 sides × 2 client counts), got %d", len(rep.Cases))
	}
	for _, c := range rep.Cases {
		what := fmt.Sprintf("%s, %d clients", c.Side, c.Clients)
		if len(c.Runs) != cfg.Repeats {
			t.Errorf("%s: %d runs, want %d", what, len(c.Runs), cfg.Repeats)
		}
		for _, r := range c.Runs {
			checkSane(t, what+" run", r)
		}
		checkSane(t, what+" median", c.Median)
		if c.Warmup == nil {
			t.Errorf("%s: no warm-up recorded", what)
		}
	}
	if len(rep.Comparisons) != 2 {
		t.Fatalf("want a comparison per client count, got %+v", rep.Comparisons)
	}
	for _, c := range rep.Comparisons {
		if c.ThroughputRatio <= 0 || c.P50Ratio <= 0 {
			t.Errorf("ratios must be positive: %+v", c)
		}
	}
	if rep.Server.Version == "" || rep.Machine.NumCPU < 1 || rep.Machine.GoVersion == "" {
		t.Errorf("server or machine not filled in: %+v %+v", rep.Server, rep.Machine)
	}
	// 2 sides × 2 client counts × (warm-up + 2 runs).
	if n := strings.Count(progress.String(), "\n"); n != 12 {
		t.Errorf("want 12 progress lines, got %d:\n%s", n, progress.String())
	}

	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ops/s", "p50", "p99", "omq/raw", "machine", "server"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(text.String(), "PASS") && !strings.Contains(text.String(), "MISS") {
		t.Errorf("no PASS/MISS marker in:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := benchreport.WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not decode: %v", err)
	}
	if back.Cases[0].Median != rep.Cases[0].Median {
		t.Errorf("JSON round trip changed the figures: %+v != %+v", back.Cases[0].Median, rep.Cases[0].Median)
	}
}

func TestRun_RequestsAndPayload(t *testing.T) {
	srv := startServer(t)
	cfg := shortConfig(srv.ClientURL())
	cfg.Duration = 0
	cfg.Requests = 40
	cfg.Payload = 100
	cfg.Repeats = 1
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cases {
		if want := int64(cfg.Requests * c.Clients); c.Median.Ops != want {
			t.Errorf("%s with %d clients: %d calls, want %d", c.Side, c.Clients, c.Median.Ops, want)
		}
		checkSane(t, c.Side, c.Median)
	}
}

func TestConfig_Validate(t *testing.T) {
	good := shortConfig("nats://127.0.0.1:4222")
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"good", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "no server URL"},
		{"bad side", func(c *Config) { c.Sides = []string{"grpc"} }, `side "grpc"`},
		{"zero clients", func(c *Config) { c.Clients = []int{1, 0} }, "clients 0"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"requests instead", func(c *Config) { c.Duration, c.Requests = 0, 10 }, ""},
		{"no repeats", func(c *Config) { c.Repeats = 0 }, "repeats 0"},
		{"negative payload", func(c *Config) { c.Payload = -1 }, "payload -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
		})
	}
}

func TestMedianSummary_PerFigure(t *testing.T) {
	runs := []Summary{
		{Ops: 10, OpsPerSec: 100, P50: 30},
		{Ops: 30, OpsPerSec: 300, P50: 10},
		{Ops: 20, OpsPerSec: 200, P50: 20},
	}
	m := medianSummary(runs)
	if m.Ops != 20 || m.OpsPerSec != 200 || m.P50 != 20 {
		t.Errorf("median of 3: got %+v", m)
	}
	m = medianSummary(runs[:2])
	if m.OpsPerSec != 200 || m.P50 != 20 {
		t.Errorf("median of 2 is the mean of both: got %+v", m)
	}
}
