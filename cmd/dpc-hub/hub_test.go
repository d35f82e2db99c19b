package main

import (
	"context"
	"io"
	"net"
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
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("%v: %v, want exit 2", tc.args, err)
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
	if err := os.WriteFile(bad, []byte("port: 4222\nprot: 1\nhttp_port: 0\nport: 4333\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", bad, "--data", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":4: port is set twice (first on line 1)") {
		t.Fatalf("config setting a key twice: %v\n%s", err, out)
	}
	if err := os.WriteFile(bad, []byte("port: 4222\nprot: 1\nhttp_port: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "--config", bad, "--data", dir).CombinedOutput()
	// Every unknown key, with its line and what was meant; the error
	// first, and a pointer to --help rather than the help itself.
	for _, want := range []string{
		bad + ":2: unknown setting prot (did you mean port?)",
		bad + ":3: unknown setting http_port (did you mean http-port?)",
		"Run 'dpc-hub --help' for usage.",
	} {
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("bad config: %v; output lacks %q:\n%s", err, want, out)
		}
	}
	if strings.Contains(string(out), "Flags:") || !strings.HasPrefix(string(out), "dpc-hub: "+bad) {
		t.Fatalf("bad config: the output should start with the error and not hold the help:\n%s", out)
	}

	good := filepath.Join(dir, "hub.yml")
	cfg := "host: 127.0.0.1\nport: -1\nhttp-port: 0\nmetrics: \"\"\nlog-format: json\ndata: " + filepath.Join(dir, "data") + "\n"
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

// A hub whose ports another process holds names every one of them and the
// flag that moves it, not only the first the server tried.
func TestHub_PortsInUse(t *testing.T) {
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		addrs = append(addrs, l.Addr().String())
	}
	_, clientPort, _ := net.SplitHostPort(addrs[0])
	_, httpPort, _ := net.SplitHostPort(addrs[1])
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", clientPort, "--http-port", httpPort, "--metrics=", "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "DPC_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("started on ports in use:\n%s", out)
	}
	for _, want := range []string{addrs[0] + " (NATS clients, --port)", addrs[1] + " (monitoring, --http-port)", "another dpc-hub"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

// `make run`, the README's first command, stopped with Ctrl-C (SIGINT to
// the terminal's process group: make, its shell and the hub) ends with
// the hub's clean stop and no error from make.
func TestMakeRun_CtrlCStopsCleanly(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: the README's `make run` cannot be tried")
	}
	flags := "--data " + filepath.Join(t.TempDir(), "data") + " --host 127.0.0.1 --port=-1 --http-port=0 --metrics= --log-format json"
	cmd := exec.Command("make", "-C", filepath.Join("..", ".."), "--no-print-directory", "run", "HUB_FLAGS="+flags)
	cmd.Env = append(os.Environ(), "DPC_HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out proctest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := proctest.WaitForLog(ctx, &out, "dpc-hub ready"); err != nil {
		t.Fatalf("make run: no ready line: %v\n%s", err, out.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("make run did not stop within 60s of Ctrl-C:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"dpc-hub stopped"`) || strings.Contains(out.String(), "make: ***") {
		t.Fatalf("make run after Ctrl-C: want the hub's clean stop and no error from make:\n%s", out.String())
	}
}
