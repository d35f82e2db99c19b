package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
)

var bin string

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { bin = b["./cmd/dpc-provisioner"] }, "./cmd/dpc-provisioner"))
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bad config file stops it at once with exit code 2 and a message that
// names the file and what is wrong where.
func TestProvisioner_BadConfig(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "period: 1s\nservices:\n  - name: work\n    polcy: fixed\n", "line 4: field polcy not found"},
		{"no services", "period: 1s\n", "no services to supervise"},
		{"policy without its target", "services:\n  - name: work\n", "target_tracking.target missing"},
		{"a command for the agents", "services:\n  - name: work\n    command: [dpc-service, work]\n    policy: fixed\n", ":3: services[0].command: agents no longer take a command"},
		{"a lease shorter than two periods", "period: 1s\nlease_expiry: 1500ms\nservices:\n  - name: work\n    policy: fixed\n", "lease_expiry: provisioner: lease: expiry 1.5s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeConfig(t, c.yaml)
			out, err := exec.Command(bin, "--config", cfg, "--nats", "nats://127.0.0.1:1", "--metrics=").CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("err %v, want exit code 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), c.want) || !strings.Contains(string(out), cfg) {
				t.Fatalf("output %q does not name the file and %q", out, c.want)
			}
		})
	}
}

// With a hub it says it is ready, serves its metrics, and stops cleanly on
// SIGTERM.
func TestProvisioner_ReadyMetricsAndStop(t *testing.T) {
	srv := brokertest.Start(t)
	cfg := writeConfig(t, "period: 200ms\nservices:\n  - name: work\n    min: 0\n    policy: fixed\n")
	p := proctest.Start(t, "dpc-provisioner", exec.Command(bin, "--config", cfg, "--nats", srv.ClientURL(),
		"--metrics", "127.0.0.1:0", "--log-format", "json"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), "dpc-provisioner ready")
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if _, err := proctest.WaitForLog(ctx, p.Output(), "decision"); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	resp, err := http.Get(rec["metrics"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dpc_provisioner_instances{service="work",state="desired"} 0`, `dpc_provisioner_decisions_total{action="hold",policy="fixed",service="work"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Output())
	}
	if _, err := proctest.WaitForLog(ctx, p.Output(), "dpc-provisioner stopped"); err != nil {
		t.Fatal(err)
	}
}

// metricsOf reads a provisioner's /metrics.
func metricsOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// Two provisioners for one hub: one is active, the other stands by and
// says so (log and metrics); killed without releasing the lease, the
// active one is replaced by the other within the lease's expiry; stopped
// cleanly, it releases the lease.
func TestProvisioner_OneActiveOneStandby(t *testing.T) {
	srv := brokertest.Start(t)
	cfg := writeConfig(t, "period: 200ms\nlease_expiry: 600ms\nservices:\n  - name: work\n    min: 0\n    policy: fixed\n")
	start := func(name string) (*proctest.Process, string) {
		p := proctest.Start(t, name, exec.Command(bin, "--config", cfg, "--nats", srv.ClientURL(),
			"--metrics", "127.0.0.1:0", "--log-format", "json"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rec, err := proctest.WaitForLog(ctx, p.Output(), "dpc-provisioner ready")
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, p.Output())
		}
		return p, rec["metrics"].(string)
	}
	wait := func(p *proctest.Process, msg string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := proctest.WaitForLog(ctx, p.Output(), msg); err != nil {
			t.Fatalf("%v\n%s", err, p.Output())
		}
	}
	const active, standby = "active: this provisioner holds the lease and supervises", "standby: another provisioner holds the lease"
	first, firstMetrics := start("first")
	wait(first, active)
	second, secondMetrics := start("second")
	wait(second, standby)
	if m := metricsOf(t, firstMetrics); !strings.Contains(m, "\ndpc_provisioner_active 1\n") {
		t.Errorf("the first's metrics lack dpc_provisioner_active 1")
	}
	if m := metricsOf(t, secondMetrics); !strings.Contains(m, "\ndpc_provisioner_active 0\n") || strings.Contains(m, "dpc_provisioner_decisions_total{") {
		t.Errorf("the second's metrics: want dpc_provisioner_active 0 and no decisions:\n%s", m)
	}
	first.Kill()
	wait(second, active)
	wait(second, "decision")
	if m := metricsOf(t, secondMetrics); !strings.Contains(m, "\ndpc_provisioner_active 1\n") {
		t.Errorf("the second's metrics lack dpc_provisioner_active 1 after the takeover")
	}
	if err := second.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, second.Output())
	}
	wait(second, "lease released")
}

// With history: memory there is no shared bucket, hence no lease: the
// provisioner says it acts alone.
func TestProvisioner_NoLeaseWithMemoryHistory(t *testing.T) {
	srv := brokertest.Start(t)
	cfg := writeConfig(t, "period: 200ms\nhistory: memory\nservices:\n  - name: work\n    min: 0\n    policy: fixed\n")
	p := proctest.Start(t, "dpc-provisioner", exec.Command(bin, "--config", cfg, "--nats", srv.ClientURL(), "--metrics=", "--log-format", "json"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), "dpc-provisioner ready")
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if rec["lease"] != "none" || !strings.Contains(p.Output().String(), "no lease: with history: memory") {
		t.Errorf("lease %v; want none, and said so\n%s", rec["lease"], p.Output())
	}
	if _, err := proctest.WaitForLog(ctx, p.Output(), "decision"); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
}
