package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// bin is dpc-hub, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { bin = b["./cmd/dpc-hub"] }, "./cmd/dpc-hub"))
}

// The hub starts on its defaults (ports made random for the test), serves
// its built-in function to its owner and /metrics on loopback, survives
// SIGHUP (it reloads its certificate), and stops cleanly on SIGTERM.
func TestHub_ServesAndStopsOnSignal(t *testing.T) {
	data := t.TempDir()
	home := t.TempDir()
	cmd := exec.Command(bin, "--port=-1", "--http-port=-1", "--data", data, "--log-format", "json", "--metrics", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "DPC_HOME="+home)
	hub := proctest.Start(t, "dpc-hub", cmd)
	readyCtx, cancelReady := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelReady()
	rec, err := proctest.WaitForLog(readyCtx, hub.Output(), "dpc-hub ready")
	if err != nil {
		t.Fatalf("hub did not report ready: %v", err)
	}
	natsURL, _ := rec["nats"].(string)
	metricsURL, _ := rec["metrics"].(string)
	monitorURL, _ := rec["monitoring"].(string)
	if natsURL == "" || metricsURL == "" || monitorURL == "" {
		t.Fatalf("ready line lacks addresses: %v", rec)
	}
	// Monitoring shows every connection: loopback unless asked otherwise.
	if !strings.HasPrefix(monitorURL, "http://127.0.0.1:") {
		t.Fatalf("monitoring listens on %s, want loopback", monitorURL)
	}

	// Nothing unauthenticated gets in, not even over plain TCP.
	if nc, err := nats.Connect(natsURL, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials or TLS connected")
	}
	// The owner's profile the hub installed works as it is.
	c, err := trust.Connection{}.Resolve(home)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URL(), opts...)
	if err != nil {
		t.Fatalf("owner connect with the installed profile: %v", err)
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

	// SIGHUP reloads; the hub keeps serving.
	if err := hub.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := proctest.WaitForLog(readyCtx, hub.Output(), "reloaded the TLS certificate"); err != nil {
		t.Fatalf("no reload after SIGHUP: %v", err)
	}
	if err := node.Lookup("hub").Call(ctx, "nopKserv", nil, nil); err != nil {
		t.Fatalf("hub.nopKserv after SIGHUP: %v", err)
	}

	// Once the hub has exited its log is complete.
	if err := hub.Stop(30 * time.Second); err != nil {
		t.Fatalf("hub exited with %v after SIGTERM", err)
	}
	if !strings.Contains(hub.Output().String(), `"dpc-hub stopped"`) {
		t.Fatal(`no "dpc-hub stopped" log line`)
	}
}

// Bad flags fail with a message naming the flag and a non-zero exit.
func TestHub_RejectsBadFlags(t *testing.T) {
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
	cmd.Env = append(os.Environ(), "DPC_HOME="+t.TempDir())
	hub := proctest.Start(t, "dpc-hub", cmd)
	readyCtx, cancelReady := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelReady()
	if _, err := proctest.WaitForLog(readyCtx, hub.Output(), "dpc-hub ready"); err != nil {
		t.Fatalf("hub with a config file did not start: %v\n%s", err, hub.Output().String())
	}
	// The data directory came from the file.
	if _, err := os.Stat(filepath.Join(dir, "data", "jetstream")); err != nil {
		t.Fatalf("data directory from the config file not used: %v", err)
	}
	// SIGHUP takes a new log level from the file.
	if err := os.WriteFile(good, []byte(cfg+"log-level: debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := hub.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec, err := proctest.WaitForLog(readyCtx, hub.Output(), "reloaded")
	if err != nil || rec["log_level"] != "debug" {
		t.Fatalf("after SIGHUP: %v %v", rec, err)
	}
}
