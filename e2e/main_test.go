// Package e2e tests DPC as a person uses it: the hub, services and dpc-cli
// as separate processes built from this repository, talking over TLS on
// loopback, with processes killed and restarted as in real life. The
// package has a DPC_HOME of its own: each hub installs its owner's profile
// there and the other processes act as that owner, except in the security
// tests, where each "machine" has a home of its own.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/nats-io/nats.go"
)

// bins are the binaries under test, built once by TestMain.
var bins struct{ dir, hub, service, cli, agent, provisioner string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dpc-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The package's own DPC_HOME: each hub installs its owner's profile
	// there, and the processes the tests start act as that owner.
	if err := proctest.Isolate(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	built, err := proctest.Build(dir, "./cmd/dpc-hub", "./cmd/dpc-service", "./cmd/dpc-cli", "./cmd/dpc-agent", "./cmd/dpc-provisioner")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bins.dir = dir
	bins.hub, bins.service, bins.cli = built["./cmd/dpc-hub"], built["./cmd/dpc-service"], built["./cmd/dpc-cli"]
	bins.agent, bins.provisioner = built["./cmd/dpc-agent"], built["./cmd/dpc-provisioner"]
	code := m.Run()
	os.RemoveAll(dir)
	stateDirs.Range(func(_, d any) bool { os.RemoveAll(d.(string)); return true })
	os.Exit(code)
}

// freePort finds a loopback port for a hub that must come back on the
// same address after a restart.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHub runs dpc-hub on port with its data in dir, and waits for it to
// say it is ready. It returns the client URL the hub reports
// (tls://127.0.0.1:port). The hub installs its owner's profile in the
// package's DPC_HOME, which the other processes then use.
func startHub(t *testing.T, port int, dir string) (*proctest.Process, string) {
	t.Helper()
	return waitHub(t, exec.Command(bins.hub, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--http-port=0", "--metrics=", "--data", dir, "--log-format", "json",
		"--sweep-interval", "200ms", "--expiry", "1s"))
}

// waitHub starts a dpc-hub command and waits for its ready line; it
// returns the client URL that line reports.
func waitHub(t *testing.T, cmd *exec.Cmd) (*proctest.Process, string) {
	t.Helper()
	p := proctest.Start(t, "dpc-hub", cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), "dpc-hub ready")
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	url, _ := rec["nats"].(string)
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("the hub's ready line reports client URL %q, want tls://…", url)
	}
	return p, url
}

func startService(t *testing.T, url, name string) *proctest.Process {
	t.Helper()
	return proctest.Start(t, "dpc-service "+name, exec.Command(bins.service, "--nats", url, name))
}

// result of one dpc-cli run.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs one dpc-cli command to completion, as the owner whose profile
// the hub installed in the package's DPC_HOME.
func cli(t *testing.T, url string, args ...string) result {
	t.Helper()
	return runCLI(t, append(os.Environ(), "XDG_STATE_HOME="+stateDir(t)), append([]string{"--nats", url}, args...)...)
}

// runCLI runs dpc-cli with args in the environment env.
func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.cli, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("dpc-cli %v: %v", args, err)
	}
	return r
}

var stateDirs sync.Map // test name → directory

// stateDir is where dpc-cli keeps this test's device state: one per
// top-level test, like one device.
func stateDir(t *testing.T) string {
	name, _, _ := strings.Cut(t.Name(), "/")
	if d, ok := stateDirs.Load(name); ok {
		return d.(string)
	}
	d, err := os.MkdirTemp("", "dpc-e2e-state")
	if err != nil {
		t.Fatal(err)
	}
	stateDirs.Store(name, d)
	if t.Name() == name {
		// A new device each run of the test (go test -count=N).
		t.Cleanup(func() { stateDirs.Delete(name); os.RemoveAll(d) })
	}
	return d
}

// funcs lists the qualified function names the catalog knows.
func funcs(t *testing.T, url string) map[string]int {
	t.Helper()
	r := cli(t, url, "--json", "funcs")
	out := map[string]int{}
	if r.code != 0 {
		return out
	}
	var fs []struct {
		Name      string `json:"name"`
		Instances int    `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("funcs --json: %v\n%s", err, r.stdout)
	}
	for _, f := range fs {
		out[f.Name] = f.Instances
	}
	return out
}

// connectOwner connects the test itself to the hub at url as the owner,
// through the profile the hub installed in the package's DPC_HOME, the
// way every DPC command does.
func connectOwner(t *testing.T, url string) *nats.Conn {
	t.Helper()
	u, opts, err := hubconn.Resolve(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u, append(opts, nats.Name("e2e test"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// eventually polls cond every 100ms.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	if !within(timeout, cond) {
		t.Fatalf("not within %s: %s", timeout, what)
	}
}

// within polls cond every 100ms and says whether it held before timeout.
func within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// startSession runs dpc-cli in its interactive mode, driven through its
// stdin.
func startSession(t *testing.T, url string, args ...string) *proctest.Session {
	t.Helper()
	sh, _ := sessionIn(t, append(os.Environ(), "XDG_STATE_HOME="+stateDir(t)), 30*time.Second, append([]string{"--nats", url}, args...)...)
	return sh
}

// sessionIn runs dpc-cli interactively in the environment env; each
// Expect waits at most timeout. It returns the process too.
func sessionIn(t *testing.T, env []string, timeout time.Duration, args ...string) (*proctest.Session, *proctest.Process) {
	t.Helper()
	cmd := exec.Command(bins.cli, args...)
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, "dpc-cli (interactive)", cmd)
	return proctest.NewSession(t, in, p.Output(), timeout), p
}

// choice finds the number a menu gives an entry, in menu text like
// "  6 add".
func choice(t *testing.T, menu, entry string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(menu))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[1] == entry {
			return f[0]
		}
	}
	t.Fatalf("no %q in the menu:\n%s", entry, menu)
	return ""
}
