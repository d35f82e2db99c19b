package execfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
)

const (
	// DefaultTimeout bounds a call of a function whose manifest gives no
	// timeout. It is the durable lane's default ack wait: a durable call
	// gets no more than that anyway.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxOutput bounds a command's standard output, which is the
	// result: a reply is one NATS message, and a function meant to move
	// more than this wants a Go service and streaming.
	DefaultMaxOutput = 1 << 20
)

// Config tunes how commands run. The zero value is usable.
type Config struct {
	// Timeout bounds a call of a function whose manifest gives no timeout
	// (default DefaultTimeout).
	Timeout time.Duration
	// MaxOutput bounds a command's standard output, in bytes (default
	// DefaultMaxOutput).
	MaxOutput int
	// PassEnv names variables of this process's environment that commands
	// get besides those Environ gives them, such as XDG_RUNTIME_DIR for
	// notify-send. DPC_ and NATS_ variables are refused.
	PassEnv []string
	Logger  *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, checkPassEnv(c.PassEnv)
}

// Service hosts m's functions as commands: every function must have
// exec. Run the result with servicehost.Run (or Bind and Serve), as any
// Go service.
func Service(m *manifests.Manifest, cfg Config) (servicehost.Service, error) {
	var errs []error
	for i, f := range m.Functions {
		if len(f.Exec) == 0 {
			errs = append(errs, fmt.Errorf("execfn: %s: functions[%d] (%s) has no exec, so nothing would serve it: give it the command that implements it", m.Name, i, f.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return servicehost.Service{}, err
	}
	hs, err := Handlers(m, cfg)
	if err != nil {
		return servicehost.Service{}, err
	}
	svc := servicehost.Service{Manifest: m, Handlers: hs}
	return svc, svc.Check()
}

// Handlers returns a handler for each function of m that has exec (and
// none for the others), after checking that every program can be run on
// this host. A handler expects its arguments as servicehost passes them:
// checked against the manifest, a JSON array in its order.
func Handlers(m *manifests.Manifest, cfg Config) (omq.Handlers, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("execfn: %s: %w", m.Name, err)
	}
	r := &runner{env: Environ(os.Environ(), cfg.PassEnv), maxOutput: cfg.MaxOutput, log: cfg.Logger}
	hs := omq.Handlers{}
	var errs []error
	for i := range m.Functions {
		f := &m.Functions[i]
		if len(f.Exec) == 0 {
			continue
		}
		name := m.Name + "." + f.Name
		path, err := lookPath(f.Exec[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("execfn: %s: %w", name, err))
			continue
		}
		tmpl, err := newTemplate(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("execfn: %s: %w", name, err))
			continue
		}
		timeout := f.Timeout.D()
		if timeout <= 0 {
			timeout = cfg.Timeout
		}
		hs[f.Name] = &handler{
			f:    f,
			tmpl: tmpl,
			cmd:  command{fn: name, program: f.Exec[0], path: path, timeout: timeout},
			r:    r,
		}
	}
	return hs, errors.Join(errs...)
}

// CheckProgram says whether program can be run here, found the way a
// call finds it: a name without a slash in PATH (this process's, which
// commands get), a path as it is. It is manifests.Options.CheckProgram
// for a host that will run the commands, so that a program missing on
// it is reported at start with the manifest's file and line.
func CheckProgram(program string) error {
	_, err := lookPath(program)
	return err
}

func lookPath(program string) (string, error) {
	p, err := exec.LookPath(program)
	switch {
	case err == nil:
		// Absolute, so that the working directory does not matter.
		return filepath.Abs(p)
	case errors.Is(err, exec.ErrDot):
		return "", fmt.Errorf("program %q is found only in a relative directory of PATH; name it by its path", program)
	case !strings.Contains(program, "/"):
		return "", fmt.Errorf("program %q is not on this host: not found in PATH (%s)", program, os.Getenv("PATH"))
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("program %q does not exist", program)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("program %q is not executable", program)
	}
	return "", fmt.Errorf("program %q cannot be run: %w", program, err)
}

// handler runs one function's command per call.
type handler struct {
	f    *manifests.Function
	tmpl *template
	cmd  command
	r    *runner
}

func (h *handler) Handle(ctx context.Context, req *omq.Request) (any, error) {
	var args []json.RawMessage
	if len(bytes.TrimSpace(req.Args)) > 0 {
		if err := json.Unmarshal(req.Args, &args); err != nil {
			return nil, omq.Errorf(omq.CodeBadArguments, "%s: want the arguments as a JSON array: %v", h.cmd.fn, err)
		}
	}
	argv, err := h.tmpl.argv(args)
	if err != nil {
		return nil, omq.Errorf(omq.CodeBadArguments, "%v", err)
	}
	c := h.cmd
	c.args = argv
	out, stderr, err := h.r.run(ctx, c)
	if err != nil {
		return nil, omq.Errorf(omq.CodeHandlerFailure, "%v", err)
	}
	v, err := parseOutput(h.f.ReturnType, out)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", h.cmd.fn, err)
		if stderr != "" {
			msg += "; stderr: " + stderr
		}
		return nil, omq.Errorf(omq.CodeHandlerFailure, "%s", msg)
	}
	if v == nil {
		return nil, nil
	}
	return v, nil
}
