package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// Settings come from a YAML config file too; an unknown key is an error
// naming the file and the key.
func TestHub_ConfigFile(t *testing.T) {
	bin := buildHub(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("port: 4222\nprot: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", bad, "--data", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+": unknown setting prot") {
		t.Fatalf("bad config: %v\n%s", err, out)
	}

	good := filepath.Join(dir, "hub.yml")
	cfg := "host: 127.0.0.1\nport: -1\nhttp_port: 0\nmetrics: \"\"\nlog-format: json\ndata: " + filepath.Join(dir, "data") + "\n"
	if err := os.WriteFile(good, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", good)
	var buf syncWriter
	cmd.Stderr = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(buf.String(), `"msg":"dpc-hub ready"`) {
		if time.Now().After(deadline) {
			t.Fatalf("hub with a config file did not start:\n%s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The data directory came from the file.
	if _, err := os.Stat(filepath.Join(dir, "data", "jetstream")); err != nil {
		t.Fatalf("data directory from the config file not used: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
