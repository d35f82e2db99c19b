package benchsys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/procgroup"
	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// The packages of the binaries a system runs, built when not given.
const (
	HubPackage         = "github.com/dpc-project/dpc/cmd/dpc-hub"
	ServicePackage     = "github.com/dpc-project/dpc/cmd/dpc-service"
	AgentPackage       = "github.com/dpc-project/dpc/cmd/dpc-agent"
	ProvisionerPackage = "github.com/dpc-project/dpc/cmd/dpc-provisioner"
)

// HubProc is the hub's process in reports, and in --pid.
const HubProc = "hub"

// Info is the measured system, as reported.
type Info struct {
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

// Proc is one process of the system: started by the bench, or named by
// its pid (--pid).
type Proc struct {
	Name string
	PID  int
	cmd  *exec.Cmd // nil for a process named by its pid
	log  *logTail
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// Exited reports whether a process the bench started has exited.
func (p *Proc) Exited() bool {
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

// WaitReady waits for p's ready log line on ready (from
// System.StartProcReady).
func (p *Proc) WaitReady(ctx context.Context, ready <-chan []byte) error {
	select {
	case <-ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it was ready: %v%s", p.Name, p.err, p.log.String())
	case <-ctx.Done():
		return fmt.Errorf("%s not ready: %w%s", p.Name, context.Cause(ctx), p.log.String())
	}
}

// System is a hub and the processes around it that a bench measures.
type System struct {
	Info  Info
	Procs []*Proc // the hub first when known, then the others
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

// New is an empty system that reports its progress to progress; logDir,
// unless "", gets each process's output.
func New(progress func(string, ...any), logDir string) *System {
	return &System{progress: progress, logDir: logDir}
}

// Home is a started system's DPC_HOME, with the hub owner's profile.
func (s *System) Home() string { return s.home }

// MakeDir makes the temporary directory of a system the bench starts,
// named by pattern (as os.MkdirTemp), with the system's empty DPC_HOME in
// it.
func (s *System) MakeDir(pattern string) error {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return err
	}
	s.dir = dir
	s.Info.Started = true
	s.home = filepath.Join(dir, "dpc-home")
	return os.Mkdir(s.home, 0o700)
}

// Connect opens a connection of the bench, called name, to the hub.
func (s *System) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(s.Info.URL, append([]nats.Option{nats.Name(name)}, s.conn...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.Info.URL, err)
	}
	return nc, nil
}

// Node connects the bench to the hub as name (see Connect) and makes an
// omq node of the connection; closing node.Conn() ends both.
func (s *System) Node(name string, opts ...omq.Option) (*omq.Node, error) {
	nc, err := s.Connect(name)
	if err != nil {
		return nil, err
	}
	node, err := omq.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return node, nil
}

// HubOptions are what a bench changes of the hub StartHubWith starts.
type HubOptions struct {
	// Env is added to the hub's environment (childEnv's, which has no
	// DPC_* of the bench's own): the DPC_HUB_* settings that have no
	// flag, such as DPC_HUB_MAX_NOTE.
	Env []string
	// NoMetrics starts the hub without its metrics listener (--metrics
	// ""); s.Info.MetricsURL stays "".
	NoMetrics bool
}

// StartHub starts dpc-hub on random loopback ports with its data in the
// system's directory, waits until it says it is ready, and records its
// URLs in s.Info. The hub installs its owner's profile in the system's
// DPC_HOME, which the bench then connects with.
func (s *System) StartHub(ctx context.Context, hubBin string) error {
	return s.StartHubWith(ctx, hubBin, HubOptions{})
}

// StartHubWith is StartHub with hubOpts: the hub's extra environment,
// and whether it serves metrics.
func (s *System) StartHubWith(ctx context.Context, hubBin string, hubOpts HubOptions) error {
	metrics := "127.0.0.1:0"
	if hubOpts.NoMetrics {
		metrics = ""
	}
	hub, ready, err := s.StartProcReady(HubProc, hubBin, hubOpts.Env, "dpc-hub ready",
		"--name", "dpc-bench-hub", "--host", "127.0.0.1", "--port=-1", "--http-port=0",
		"--metrics", metrics, "--web=", "--data", filepath.Join(s.dir, "data"), "--log-format", "json")
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
	s.Info.URL, s.Info.MetricsURL = rec.NATS, rec.Metrics
	prof, err := trust.LoadProfile(s.home)
	if err != nil {
		return fmt.Errorf("dpc-hub's owner profile: %w%s", err, hub.log.String())
	}
	// All three given: the bench's own DPC_HOME is not read.
	url, opts, err := hubconn.Resolve(s.Info.URL, prof.CredsFile(), prof.CAFile())
	if err != nil {
		return fmt.Errorf("dpc-hub's owner profile: %w", err)
	}
	s.Info.URL, s.conn = url, opts
	metricsAt := ", metrics at " + rec.Metrics
	if rec.Metrics == "" {
		metricsAt = ""
	}
	s.progress("dpc-hub (pid %d) ready at %s%s; its owner's profile in %s", hub.PID, rec.NATS, metricsAt, s.home)
	return nil
}

// Build builds the packages into dir with the go command, which must be
// run within the module (or given GOFLAGS that find it).
func Build(ctx context.Context, dir string, pkgs ...string) error {
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

// StartProc starts one process of the system, its output kept in a log
// tail.
func (s *System) StartProc(name, bin string, args ...string) (*Proc, error) {
	p, _, err := s.StartProcReady(name, bin, nil, "", args...)
	return p, err
}

// StartProcReady starts one process of the system with env added to
// childEnv's, its output kept in a log tail. The channel gets the first
// JSON log line (as slog's JSON handler writes) whose msg is ready,
// should one appear.
func (s *System) StartProcReady(name, bin string, env []string, ready string, args ...string) (*Proc, <-chan []byte, error) {
	readyc := make(chan []byte, 1)
	p := &Proc{Name: name, done: make(chan struct{})}
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
	p.PID = p.cmd.Process.Pid
	s.Procs = append(s.Procs, p)
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

// recordProcs lists the system's processes in s.Info.
func (s *System) recordProcs() {
	for _, p := range s.Procs {
		s.Info.Processes = append(s.Info.Processes, ProcInfo{Name: p.Name, PID: p.PID, Command: commandLine(p.cmd)})
	}
}

// waitUntil polls check every every until it returns nil, or one of the
// system's processes exits (an error that it did so before what), or ctx
// ends (an error starting with notYet, with check's last error).
func (s *System) waitUntil(ctx context.Context, every time.Duration, what, notYet string, check func() error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, p := range s.Procs {
			if p.Exited() {
				return fmt.Errorf("%s exited before %s: %v%s", p.Name, what, p.err, p.log.String())
			}
		}
		last := check()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", notYet, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}

// Measured are the system's processes, as procstat measures them.
func (s *System) Measured() []procstat.Process {
	out := make([]procstat.Process, len(s.Procs))
	for i, p := range s.Procs {
		out[i] = procstat.Process{Name: p.Name, PID: p.PID}
	}
	return out
}

// Hub is the hub's process, or nil when it is not known (a running
// system without --pid hub=…).
func (s *System) Hub() *Proc {
	if len(s.Procs) > 0 && s.Procs[0].Name == HubProc {
		return s.Procs[0]
	}
	return nil
}

// stopWait bounds how long a process may take to stop after SIGTERM (the
// hub gives calls in flight 10s) before it is killed.
const stopWait = 15 * time.Second

// Stop ends the processes the bench started, the last started first,
// each with SIGTERM, and removes the temporary directory. It reports a
// process that did not stop cleanly. Processes named by their pid are
// left alone. Safe to call twice.
func (s *System) Stop() error {
	var errs []error
	for _, p := range slices.Backward(s.Procs) {
		if p.cmd == nil || p.cmd.Process == nil {
			continue
		}
		if !p.Exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d): %w%s", p.Name, p.PID, p.err, p.log.String()))
			}
		case <-time.After(stopWait):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM; killed%s", p.Name, p.PID, stopWait, p.log.String()))
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
