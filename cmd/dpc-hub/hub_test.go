package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// buildHub compiles dpc-hub into a temporary directory.
func buildHub(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dpc-hub")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The hub starts on its defaults (ports made random for the test), serves
// its built-in function and /metrics, and stops cleanly on SIGTERM.
func TestHub_ServesAndStopsOnSignal(t *testing.T) {
	bin := buildHub(t)
	data := t.TempDir()
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port=-1", "--http-port=-1",
		"--metrics", "127.0.0.1:0", "--data", data, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ready := make(chan map[string]any, 1)
	logs := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs <- line
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "dpc-hub ready" {
				ready <- rec
			}
		}
		close(logs)
	}()
	var rec map[string]any
	select {
	case rec = <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("hub did not report ready")
	}
	natsURL, _ := rec["nats"].(string)
	metricsURL, _ := rec["metrics"].(string)
	if natsURL == "" || metricsURL == "" {
		t.Fatalf("ready line lacks addresses: %v", rec)
	}

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := node.Lookup("hub").Call(ctx, "nopKserv", nil, nil); err != nil {
			t.Fatalf("hub.nopKserv: %v", err)
		}
	}

	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `omq_handled_total{function="nopKserv",service="hub"} 3`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %q", want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Read the log to its end (the hub closing stderr as it exits) before
	// Wait, which closes the pipe.
	var sawStopped bool
	timeout := time.After(30 * time.Second)
read:
	for {
		select {
		case line, ok := <-logs:
			if !ok {
				break read
			}
			if strings.Contains(line, `"dpc-hub stopped"`) {
				sawStopped = true
			}
		case <-timeout:
			t.Fatal("hub did not stop after SIGTERM")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hub exited with %v after SIGTERM", err)
	}
	if !sawStopped {
		t.Fatal(`no "dpc-hub stopped" log line`)
	}
}

// Bad flags fail with a message naming the flag and a non-zero exit.
func TestHub_RejectsBadFlags(t *testing.T) {
	bin := buildHub(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "99999"}, "Port"},
		{[]string{"--routes", "nats-route://x:6222"}, "--routes needs --cluster-name"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--tls-cert", "/nonexistent.pem"}, "nonexistent"},
	} {
		out, err := exec.Command(bin, append(tc.args, "--data", t.TempDir())...).CombinedOutput()
		if err == nil {
			t.Fatalf("%v: exit 0", tc.args)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("%v: output %q does not mention %q", tc.args, out, tc.want)
		}
	}
}
