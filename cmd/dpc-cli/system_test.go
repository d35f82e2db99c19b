package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// The tests run dpc-cli in-process (run, with pipes for its streams)
// against a real system: the dpc-hub binary, built once, and services
// hosted in the test process with servicehost.Run, as dpc-service hosts
// them.

var hubBinary, cliBinary string

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) {
		hubBinary, cliBinary = b["./cmd/dpc-hub"], b["./cmd/dpc-cli"]
	}, "./cmd/dpc-hub", "./cmd/dpc-cli"))
}

const waitLong = 30 * time.Second

// hub is a dpc-hub process.
type hub struct {
	url  string
	data string
	proc *proctest.Process
}

// profiles maps a hub's URL to the directory where it installed its
// owner's credentials: every test's dpc-cli and services act as that
// owner (the tests run in parallel, so not through one DPC_HOME).
var profiles sync.Map

// auth is the flags that make dpc-cli the owner of the hub at url.
func auth(url string) []string {
	d, ok := profiles.Load(url)
	if !ok {
		return nil
	}
	return []string{"--creds", filepath.Join(d.(string), "identity.creds"), "--tls-ca", filepath.Join(d.(string), "hub-ca.pem")}
}

// withAuth is args after --nats url and the owner's credentials, unless
// args give credentials of their own: a second --creds would not replace
// the first (kong keeps the first value of an existingfile flag), and the
// command would run as the owner.
func withAuth(url string, args []string) []string {
	if slices.Contains(args, "--creds") {
		return append([]string{"--nats", url}, args...)
	}
	return append(append([]string{"--nats", url}, auth(url)...), args...)
}

// connectOwner connects to the hub at url as its owner.
func connectOwner(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	d, _ := profiles.Load(url)
	dir, _ := d.(string)
	c := trust.Connection{URLs: []string{url}, CredsFile: filepath.Join(dir, "identity.creds"), CAFile: filepath.Join(dir, "hub-ca.pem")}
	auth, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(auth, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// startHub runs dpc-hub on port (-1: a random one) with its data in
// data, and stops it at cleanup.
func startHub(t *testing.T, port int, data string) *hub {
	t.Helper()
	h := &hub{data: data}
	cmd := exec.Command(hubBinary, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", port), "--http-port=0",
		"--metrics=", "--data", data, "--log-format", "json", "--sweep-interval", "100ms", "--expiry", "1s")
	profile := filepath.Join(data, "owner-profile")
	cmd.Env = append(os.Environ(), "DPC_HOME="+profile)
	h.proc = proctest.Start(t, "dpc-hub", cmd)
	t.Cleanup(h.stop)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, h.proc.Output(), "dpc-hub ready")
	if err != nil {
		t.Fatalf("dpc-hub did not report ready: %v", err)
	}
	h.url = strings.Replace(rec["nats"].(string), "0.0.0.0", "127.0.0.1", 1)
	profiles.Store(h.url, profile)
	return h
}

// stop ends the hub with SIGTERM and waits for it; safe to call twice.
func (h *hub) stop() {
	_ = h.proc.Stop(waitLong)
}

// port is the hub's client port.
func (h *hub) port() int {
	var p int
	fmt.Sscanf(h.url[strings.LastIndex(h.url, ":")+1:], "%d", &p)
	return p
}

// service is one instance hosted in the test process.
type service struct {
	stop func() // withdraws and unbinds; waits until done
}

// startService runs svc against the hub at url until stopped or cleanup.
// The connection reconnects forever, as dpc-service's does.
func startService(t *testing.T, url string, svc servicehost.Service) *service {
	t.Helper()
	nc := connectOwner(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	node, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servicehost.Run(ctx, node, svc, servicehost.Config{Host: "testhost"}) }()
	var once sync.Once
	s := &service{stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service %s: %v", svc.Manifest.Name, err)
			}
			nc.Close()
		})
	}}
	t.Cleanup(s.stop)
	return s
}

// startBuiltin runs one of the services of package services (tst,
// textutil) and waits until the catalog lists it.
func startBuiltin(t *testing.T, url, name string) *service {
	t.Helper()
	svc, err := services.Get(name, nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := startService(t, url, svc)
	waitCatalog(t, url, name+"."+svc.Manifest.Functions[0].Name, true)
	return s
}

// waitCatalog polls the catalog until function fn (service.function) is
// listed, or no longer listed.
func waitCatalog(t *testing.T, url, fn string, present bool) {
	t.Helper()
	nc := connectOwner(t, url)
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, waitLong, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var fs []catalog.FunctionInfo
		if err := node.Lookup(catalog.ServiceName).Call(ctx, "funcs", omq.Args(""), &fs); err != nil {
			return false
		}
		for _, f := range fs {
			if f.Name == fn {
				return present
			}
		}
		return !present
	}, fmt.Sprintf("catalog lists %s: %v", fn, present))
}

// system is a hub with tst and textutil.
type system struct {
	hub      *hub
	url      string
	tst      *service
	textutil *service
}

func startSystem(t *testing.T) *system {
	t.Helper()
	h := startHub(t, -1, t.TempDir())
	waitCatalog(t, h.url, "hub.save", true)
	return &system{
		hub: h, url: h.url,
		tst:      startBuiltin(t, h.url, "tst"),
		textutil: startBuiltin(t, h.url, "textutil"),
	}
}

// extraManifest is a test service for what the example services cannot
// show: a slow call, a timeout, error codes, a name shared with tst.
const extraManifest = `
name: extra
version: 1.0.0
description: Test functions of dpc-cli's tests.
functions:
  - funct_name: add
    description: Multiply, under the name of tst's add.
    args_list:
      - {arg_name: a, arg_type: int, arg_description: First number}
      - {arg_name: b, arg_type: int, arg_description: Second number}
    return_type: int
    app_list: [test]
  - funct_name: wait
    description: Return when the call is cancelled or times out (--timeout).
    app_list: [test]
  - funct_name: nap
    description: Outlast its own timeout.
    app_list: [test]
    timeout: 100ms
  - funct_name: positive
    description: Refuse negative numbers with a 400.
    args_list:
      - {arg_name: n, arg_type: int, arg_description: A number}
    return_type: int
    app_list: [test]
  - funct_name: fail
    description: Fail with a 500.
    app_list: [test]
  - funct_name: clash
    description: Refuse with a 409.
    app_list: [test]
`

// startExtra runs the extra service and waits until the catalog lists it.
// Each call of wait is announced on waiting (if not nil) before it blocks.
func startExtra(t *testing.T, url string, waiting chan<- struct{}) *service {
	t.Helper()
	release := make(chan struct{})
	s := startService(t, url, extraService(t, waiting, release))
	t.Cleanup(func() { close(release) }) // before the service stops: calls cancelled by the client still run
	waitCatalog(t, url, "extra.wait", true)
	return s
}

// extraService returns the extra service. Its blocking functions return
// when their call's deadline passes or release is closed.
func extraService(t *testing.T, waiting chan<- struct{}, release <-chan struct{}) servicehost.Service {
	t.Helper()
	m, err := manifests.Parse("extra.yml", []byte(extraManifest))
	if err != nil {
		t.Fatal(err)
	}
	ints := func(req *omq.Request) ([]int64, error) {
		var xs []json.RawMessage
		if err := json.Unmarshal(req.Args, &xs); err != nil {
			return nil, err
		}
		out := make([]int64, len(xs))
		for i, x := range xs {
			if err := json.Unmarshal(x, &out[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	block := func(ctx context.Context, _ *omq.Request) (any, error) {
		if waiting != nil {
			waiting <- struct{}{}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return nil, nil
		}
	}
	return servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"add": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
			xs, err := ints(req)
			if err != nil {
				return nil, err
			}
			return xs[0] * xs[1], nil
		}),
		"wait": omq.HandlerFunc(block),
		"nap":  omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) { return block(ctx, req) }),
		"positive": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
			xs, err := ints(req)
			if err != nil {
				return nil, err
			}
			if xs[0] < 0 {
				return nil, omq.Errorf(omq.CodeBadArguments, "n must not be negative, got %d", xs[0])
			}
			return xs[0], nil
		}),
		"fail": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			return nil, fmt.Errorf("it broke")
		}),
		"clash": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			return nil, omq.Errorf(409, "the thing changed meanwhile")
		}),
	}}
}

// result is one run of dpc-cli.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs dpc-cli with args against the hub at url.
func cli(t *testing.T, url string, args ...string) result {
	t.Helper()
	var out, errb proctest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	code := run(ctx, withAuth(url, args), streams{in: strings.NewReader(""), out: &out, err: &errb})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// session is an interactive dpc-cli driven through a pipe.
type session struct {
	*proctest.Session
	t          *testing.T
	in         *os.File // the write end of stdin
	out        *proctest.Buffer
	interrupts chan struct{}
	code       chan int
}

func startShell(t *testing.T, url string, args ...string) *session {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &proctest.Buffer{}
	s := &session{Session: proctest.NewSession(t, w, out, waitLong), t: t, in: w, out: out, interrupts: make(chan struct{}), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s.code <- run(ctx, withAuth(url, args),
			streams{in: r, out: s.out, err: s.out, interrupts: s.interrupts})
	}()
	t.Cleanup(func() {
		cancel()
		w.Close()
		r.Close()
	})
	return s
}

// exit waits for the session to end and returns its exit code.
func (s *session) exit() int {
	s.t.Helper()
	select {
	case c := <-s.code:
		return c
	case <-time.After(waitLong):
		s.t.Fatalf("the session did not end; output:\n%s", s.out.String())
	}
	return -1
}

var menuLine = regexp.MustCompile(`(?m)^\s+(\d+) (\S+)$`)

// menu reads the entries of a menu printed in text: name → number.
func menu(text string) map[string]string {
	m := map[string]string{}
	for _, sm := range menuLine.FindAllStringSubmatch(text, -1) {
		m[sm[2]] = sm[1]
	}
	return m
}

// choose sends the number of entry name in the menu text.
func (s *session) choose(text, name string) {
	s.t.Helper()
	n, ok := menu(text)[name]
	if !ok {
		s.t.Fatalf("no %q in the menu:\n%s", name, text)
	}
	s.Send(n)
}

// writeFile writes content to a new file called name and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// statePath is a notes state file of its own for the test (a device).
func statePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state", "notes.json")
}
