// Package e2e tests DPC as a person uses it: the hub, services and dpc-cli
// as separate processes built from this repository, talking over TCP on
// loopback, with processes killed and restarted as in real life.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bins are the binaries under test, built once by TestMain.
var bins struct{ hub, service, cli string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dpc-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&bins.hub, "dpc-hub"}, {&bins.service, "dpc-service"}, {&bins.cli, "dpc-cli"}} {
		*b.dst = filepath.Join(dir, b.pkg)
		out, err := exec.Command("go", "build", "-o", *b.dst, "../cmd/"+b.pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	stateDirs.Range(func(_, d any) bool { os.RemoveAll(d.(string)); return true })
	os.Exit(code)
}

// syncBuffer collects a process's output for polling.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running process of the system.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func start(t *testing.T, name string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.out.String())
		}
		p.done <- nil // let a later wait return
	})
	return p
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- nil
}

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop() error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not stop after SIGTERM", p.name)
		return nil
	}
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
// say it is ready.
func startHub(t *testing.T, port int, dir string) (*proc, string) {
	t.Helper()
	p := start(t, "dpc-hub", bins.hub, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--http-port=0", "--metrics=", "--data", dir, "--log-format", "json",
		"--sweep-interval", "200ms", "--expiry", "1s")
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	eventually(t, 60*time.Second, func() bool { return strings.Contains(p.out.String(), `"msg":"dpc-hub ready"`) }, "the hub to be ready")
	return p, url
}

func startService(t *testing.T, url, name string) *proc {
	t.Helper()
	return start(t, "dpc-service "+name, bins.service, "--nats", url, name)
}

// result of one dpc-cli run.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs one dpc-cli command to completion.
func cli(t *testing.T, url string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.cli, append([]string{"--nats", url}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateDir(t))
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

// eventually polls cond every 100ms.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// session is an interactive dpc-cli driven through its stdin.
type session struct {
	t    *testing.T
	p    *proc
	in   io.WriteCloser
	seen int // how much of the output expect has consumed
}

func startSession(t *testing.T, url string, args ...string) *session {
	t.Helper()
	s := &session{t: t}
	s.p = &proc{t: t, name: "dpc-cli (interactive)", out: &syncBuffer{}, done: make(chan error, 1)}
	s.p.cmd = exec.Command(bins.cli, append([]string{"--nats", url}, args...)...)
	s.p.cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateDir(t))
	s.p.cmd.Stdout, s.p.cmd.Stderr = s.p.out, s.p.out
	var err error
	if s.in, err = s.p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.p.done <- s.p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.p.cmd.Process.Kill()
		<-s.p.done
		if t.Failed() {
			t.Logf("--- interactive session:\n%s", s.p.out.String())
		}
	})
	return s
}

// expect waits for text in the output after what was already expected,
// and returns the output from the previous point through text.
func (s *session) expect(text string) string {
	s.t.Helper()
	var got string
	eventually(s.t, 30*time.Second, func() bool {
		all := s.p.out.String()
		i := strings.Index(all[s.seen:], text)
		if i < 0 {
			return false
		}
		got = all[s.seen : s.seen+i+len(text)]
		s.seen += i + len(text)
		return true
	}, fmt.Sprintf("interactive output %q", text))
	return got
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatalf("send %q: %v", line, err)
	}
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
