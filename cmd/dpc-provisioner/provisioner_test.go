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
