package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dpc-project/dpc/internal/procgroup"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// SystemFlags are the flags of the commands that measure a system of real
// processes: which system, and how to reach it.
type SystemFlags struct {
	NATS       string         `name:"nats" help:"Measure the system already running at this URL instead of starting one. NATS_URL is not read: a variable left set must not change what is measured." placeholder:"nats://HOST:4222"`
	PIDs       map[string]int `name:"pid" help:"With --nats: a process on this machine to measure, NAME=PID, repeatable; the one named hub is the hub (--pid hub=1234 --pid tst=5678)." placeholder:"NAME=PID"`
	MetricsURL string         `name:"metrics" help:"With --nats: the hub's Prometheus endpoint, for its Go heap." placeholder:"http://HOST:9090/metrics"`
	Creds      string         `name:"creds" help:"With --nats: NATS credentials file to connect with (default: this machine's DPC profile's, in $DPC_HOME or ~/.config/dpc). A system the bench starts has a profile of its own." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA      string         `name:"tls-ca" help:"With --nats: PEM CA of the hub (default: the DPC profile's)." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`

	HubBin       string        `name:"hub-bin" help:"dpc-hub binary to start (default: go build one into a temporary directory; needs the module's source)." type:"existingfile" placeholder:"FILE"`
	ServiceBin   string        `name:"service-bin" help:"dpc-service binary to start (default: go build one)." type:"existingfile" placeholder:"FILE"`
	StartTimeout time.Duration `name:"start-timeout" help:"How long the processes may take to start and be ready." default:"60s"`

	Timeout time.Duration `help:"Timeout of each call." default:"5s"`
	JSON    bool          `help:"Print the report as JSON on stdout instead of tables."`
	Quiet   bool          `short:"q" help:"No progress lines on stderr."`
}

// progressTo returns a printf to stderr, or a no-op under --quiet.
func (f SystemFlags) progressTo(stderr io.Writer) func(string, ...any) {
	if f.Quiet {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		fmt.Fprintf(stderr, "dpc-bench: "+format+"\n", args...)
	}
}

// The packages of the binaries the bench builds when not given them.
const (
	hubPackage     = "github.com/dpc-project/dpc/cmd/dpc-hub"
	servicePackage = "github.com/dpc-project/dpc/cmd/dpc-service"
	// tstService is the service the commands start and call: the thesis's
	// Tst-serv.
	tstService = "tst"
	// hubService is the name the hub's built-in functions are bound under.
	hubService = "hub"
	// hubProc is the hub's process in reports, and in --pid.
	hubProc = "hub"
)

// SystemInfo is the measured system, as reported.
type SystemInfo struct {
	URL           string `json:"url"`
	ServerVersion string `json:"server_version"`
	// Started is true when the bench started the processes itself.
	Started    bool       `json:"started"`
	MetricsURL string     `json:"metrics_url,omitempty"`
	Processes  []ProcInfo `json:"processes"`
}

// ProcInfo is one measured process.
type ProcInfo struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Command string `json:"command,omitempty"`
}

// proc is one process of the system: started by the bench (cmd set), or
// named by --pid.
type proc struct {
	name string
	pid  int
	cmd  *exec.Cmd
	log  *logTail
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

func (p *proc) exited() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// system is the hub and service processes the thesis and soak commands
// measure.
type system struct {
	info  SystemInfo
	procs []*proc // the hub first when known, then the services
	dir   string  // temporary directory of a started system
	// home is a started system's DPC_HOME (in dir), where the hub
	// installs its owner's profile: every process of the system, and the
	// bench's own clients, act as that owner, and the user's profile is
	// neither read nor touched.
	home string
	// conn are the options of the bench's connections to the hub: its
	// CA, the credentials and the identity's inbox prefix
	// (hubconn.Resolve).
	conn     []nats.Option
	progress func(string, ...any)
	// logDir, when set, gets each started process's whole output in
	// <name>.log, beside the tail kept for errors.
	logDir string
}

// startSystem starts a hub and instances tst service processes, or, with
// --nats, takes the running system at that URL, and waits until tst is
// callable and the hub's catalog lists that many instances of it (at
// least one with --nats). On error nothing started is left running.
func startSystem(ctx context.Context, f SystemFlags, instances int, progress func(string, ...any)) (_ *system, err error) {
	s := &system{progress: progress}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, f.StartTimeout)
	defer cancel()

	if f.NATS != "" {
		url, opts, err := hubconn.Resolve(f.NATS, f.Creds, f.TLSCA)
		if err != nil {
			return nil, err
		}
		s.info = SystemInfo{URL: url, MetricsURL: f.MetricsURL}
		s.conn = opts
		names := make([]string, 0, len(f.PIDs))
		for name := range f.PIDs {
			names = append(names, name)
		}
		// The hub first, then the others by name.
		slices.SortFunc(names, func(a, b string) int {
			if (a == hubProc) != (b == hubProc) {
				if a == hubProc {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, name := range names {
			pid := f.PIDs[name]
			if _, err := procCPU(pid); err != nil {
				return nil, fmt.Errorf("--pid %s=%d: %w", name, pid, err)
			}
			s.procs = append(s.procs, &proc{name: name, pid: pid})
		}
		instances = 1
	} else {
		if err := s.start(ctx, f, instances); err != nil {
			return nil, err
		}
	}
	for _, p := range s.procs {
		s.info.Processes = append(s.info.Processes, ProcInfo{Name: p.name, PID: p.pid, Command: commandLine(p.cmd)})
	}
	if err := s.waitReady(ctx, instances); err != nil {
		return nil, err
	}
	return s, nil
}

// start builds the binaries it was not given, and starts the hub, then the
// services.
func (s *system) start(ctx context.Context, f SystemFlags, instances int) error {
	if err := s.makeDir("dpc-bench-"); err != nil {
		return err
	}
	hubBin, svcBin, err := s.binaries(ctx, f)
	if err != nil {
		return err
	}
	if err := s.startHub(ctx, hubBin); err != nil {
		return err
	}
	for i := range instances {
		p, err := s.startProc(fmt.Sprintf("%s#%d", tstService, i+1), svcBin, "--nats", s.info.URL, tstService)
		if err != nil {
			return err
		}
		s.progress("dpc-service %s (pid %d) started", tstService, p.pid)
	}
	return nil
}

// makeDir makes the temporary directory of a system the bench starts,
// with the system's empty DPC_HOME in it.
func (s *system) makeDir(pattern string) error {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return err
	}
	s.dir = dir
	s.info.Started = true
	s.home = filepath.Join(dir, "dpc-home")
	return os.Mkdir(s.home, 0o700)
}

// connect opens a connection of the bench, called name, to the hub.
func (s *system) connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(s.info.URL, append([]nats.Option{nats.Name(name)}, s.conn...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.info.URL, err)
	}
	return nc, nil
}

// startHub starts dpc-hub on random loopback ports with its data in the
// system's directory, waits until it says it is ready, and records its
// URLs in s.info. The hub installs its owner's profile in the system's
// DPC_HOME, which the bench then connects with.
func (s *system) startHub(ctx context.Context, hubBin string) error {
	hub, ready, err := s.startProcReady(hubProc, hubBin, nil, "dpc-hub ready",
		"--name", "dpc-bench-hub", "--host", "127.0.0.1", "--port=-1", "--http-port=0",
		"--metrics", "127.0.0.1:0", "--data", filepath.Join(s.dir, "data"), "--log-format", "json")
	if err != nil {
		return err
	}
	var rec hubReady
	select {
	case line := <-ready:
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("dpc-hub's ready line %s: %w", line, err)
		}
	case <-hub.done:
		return fmt.Errorf("dpc-hub exited before it was ready: %v%s", hub.err, hub.log.String())
	case <-ctx.Done():
		return fmt.Errorf("dpc-hub not ready: %w%s", context.Cause(ctx), hub.log.String())
	}
	s.info.URL, s.info.MetricsURL = rec.NATS, rec.Metrics
	prof, err := trust.LoadProfile(s.home)
	if err != nil {
		return fmt.Errorf("dpc-hub's owner profile: %w%s", err, hub.log.String())
	}
	// All three given: the bench's own DPC_HOME is not read.
	url, opts, err := hubconn.Resolve(s.info.URL, prof.CredsFile(), prof.CAFile())
	if err != nil {
		return fmt.Errorf("dpc-hub's owner profile: %w", err)
	}
	s.info.URL, s.conn = url, opts
	s.progress("dpc-hub (pid %d) ready at %s, metrics at %s; its owner's profile in %s", hub.pid, rec.NATS, rec.Metrics, s.home)
	return nil
}

// binaries returns the binaries to run: those given, the others built.
func (s *system) binaries(ctx context.Context, f SystemFlags) (hub, svc string, err error) {
	hub, svc = f.HubBin, f.ServiceBin
	var pkgs []string
	if hub == "" {
		pkgs = append(pkgs, hubPackage)
		hub = filepath.Join(s.dir, "dpc-hub")
	}
	if svc == "" {
		pkgs = append(pkgs, servicePackage)
		svc = filepath.Join(s.dir, "dpc-service")
	}
	if len(pkgs) == 0 {
		return hub, svc, nil
	}
	s.progress("building %s", strings.Join(pkgs, " "))
	if err := goBuild(ctx, s.dir, pkgs...); err != nil {
		return "", "", err
	}
	return hub, svc, nil
}

// goBuild builds the packages into dir with the go command, which must be
// run within the module (or given GOFLAGS that find it).
func goBuild(ctx context.Context, dir string, pkgs ...string) error {
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s(run from within the dpc module, or give --hub-bin and --service-bin)", err, out)
	}
	return nil
}

// hubReady is the hub's "dpc-hub ready" log record.
type hubReady struct {
	Msg     string `json:"msg"`
	NATS    string `json:"nats"`
	Metrics string `json:"metrics"`
}

// startProc starts one process of the system, its output kept in a log
// tail.
func (s *system) startProc(name, bin string, args ...string) (*proc, error) {
	p, _, err := s.startProcReady(name, bin, nil, "", args...)
	return p, err
}

// startProcReady starts one process of the system with env added to
// childEnv's, its output kept in a log tail. The channel gets the first
// JSON log line (as slog's JSON handler writes) whose msg is ready,
// should one appear.
func (s *system) startProcReady(name, bin string, env []string, ready string, args ...string) (*proc, <-chan []byte, error) {
	readyc := make(chan []byte, 1)
	p := &proc{name: name, done: make(chan struct{})}
	p.log = newLogTail(20, func(line string) {
		if ready == "" || !strings.HasPrefix(line, "{") {
			return
		}
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == ready {
			select {
			case readyc <- []byte(line):
			default:
			}
		}
	})
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(childEnv(s.dir, s.home), env...)
	var out io.Writer = p.log
	var logFile *os.File
	if s.logDir != "" {
		f, err := os.Create(filepath.Join(s.logDir, name+".log"))
		if err != nil {
			return nil, nil, fmt.Errorf("log of %s: %w", name, err)
		}
		logFile, out = f, io.MultiWriter(p.log, f)
	}
	p.cmd.Stderr = out
	p.cmd.Stdout = out
	// A group of its own: a Ctrl-C at the terminal reaches the bench
	// alone, which stops its processes in order (services, then the hub)
	// with SIGTERM; SIGTERM too should the bench die without doing so.
	p.cmd.SysProcAttr = procgroup.Attr(syscall.SIGTERM)
	if err := p.cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.pid = p.cmd.Process.Pid
	s.procs = append(s.procs, p)
	go func() {
		p.err = p.cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(p.done)
	}()
	return p, readyc, nil
}

// childEnv is the bench's environment without what would change the
// processes' configuration behind their flags' backs: the DPC_HUB_*
// fall-backs of the hub's flags, NATS_URL, DPC_CREDS and DPC_TLS_CA of
// the other commands, the user's DPC profile (DPC_HOME is the system's
// own, dpcHome) and a hub config file in the user's home (HOME and
// XDG_CONFIG_HOME point into the bench's temporary directory, dir,
// instead).
func childEnv(dir, dpcHome string) []string {
	env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), trust.EnvHome + "=" + dpcHome}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DPC_") || strings.HasPrefix(kv, "NATS_URL=") ||
			strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls until tst.nopExtra answers and the hub's catalog lists
// at least instances instances of tst, or a process exits, or ctx ends.
func (s *system) waitReady(ctx context.Context, instances int) error {
	nc, err := s.connect("dpc-bench probe")
	if err != nil {
		return err
	}
	defer nc.Close()
	s.info.ServerVersion = nc.ConnectedServerVersion()
	node, err := omq.New(nc, omq.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, p := range s.procs {
			if p.exited() {
				return fmt.Errorf("%s exited before the system was ready: %v%s", p.name, p.err, p.log.String())
			}
		}
		if last = ready(ctx, node, instances); last == nil {
			s.progress("%s callable, the catalog lists %d instance(s) of it", tstService, instances)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("system not ready: %w (last: %v)", context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}

// ready is one readiness check: a call of tst.nopExtra, and the catalog's
// list of services.
func ready(ctx context.Context, node *omq.Node, instances int) error {
	if err := node.Lookup(tstService).Call(ctx, "nopExtra", nil, nil); err != nil {
		return err
	}
	var services []catalog.ServiceInfo
	if err := node.Lookup("catalog").Call(ctx, "services", nil, &services); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	for _, svc := range services {
		if svc.Name == tstService {
			if len(svc.Instances) >= instances {
				return nil
			}
			return fmt.Errorf("catalog lists %d instance(s) of %s, want %d", len(svc.Instances), tstService, instances)
		}
	}
	return fmt.Errorf("catalog does not list %s yet", tstService)
}

// hub is the hub's process, or nil when it is not known (--nats without
// --pid hub=…).
func (s *system) hub() *proc {
	if len(s.procs) > 0 && s.procs[0].name == hubProc {
		return s.procs[0]
	}
	return nil
}

// stopWait bounds how long a process may take to stop after SIGTERM (the
// hub gives calls in flight 10s) before it is killed.
const stopWait = 15 * time.Second

// stop ends the processes the bench started, services first, each with
// SIGTERM, and removes the temporary directory. It reports a process that
// did not stop cleanly. Processes named by --pid are left alone. Safe to
// call twice.
func (s *system) stop() error {
	var errs []error
	for _, p := range slices.Backward(s.procs) {
		if p.cmd == nil || p.cmd.Process == nil {
			continue
		}
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d): %w%s", p.name, p.pid, p.err, p.log.String()))
			}
		case <-time.After(stopWait):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM; killed%s", p.name, p.pid, stopWait, p.log.String()))
		}
		p.cmd = nil
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, err)
		}
		s.dir = ""
	}
	return errors.Join(errs...)
}

func commandLine(cmd *exec.Cmd) string {
	if cmd == nil {
		return ""
	}
	args := slices.Clone(cmd.Args)
	args[0] = filepath.Base(cmd.Path)
	return strings.Join(args, " ")
}

// logTail keeps the last lines a process wrote, to show when it fails, and
// hands each line to a callback.
type logTail struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
	onLine  func(string)
}

func newLogTail(max int, onLine func(string)) *logTail {
	return &logTail{max: max, onLine: onLine}
}

func (l *logTail) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := slices.Index(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.onLine != nil {
			l.onLine(line)
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > l.max {
			l.lines = l.lines[1:]
		}
	}
	return len(b), nil
}

// String is the tail as an indented block after a newline, or "" when
// the process wrote nothing.
func (l *logTail) String() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(l.partial) > 0 {
		lines = append(slices.Clone(lines), string(l.partial))
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n  last output:\n    " + strings.Join(lines, "\n    ")
}
