package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	// DefaultGrace is how long a stopped process has between SIGTERM and
	// SIGKILL: long enough for a service to withdraw from the catalog and
	// finish its calls in flight.
	DefaultGrace = 10 * time.Second
	// DefaultMaxProcesses bounds the processes one agent runs, so that a
	// supervisor gone wrong cannot fork-bomb a host.
	DefaultMaxProcesses = 64
	// DefaultKeepExited is how long an exited process stays in list, so a
	// supervisor polling every few seconds sees each death.
	DefaultKeepExited = time.Minute
	// DefaultProgram is the one program on the default allow list: the
	// program of manifests' commands, and the one the agent runs, as
	// "dpc-service <service>", for a service it has no command for.
	DefaultProgram = "dpc-service"
)

// ServiceCommand is how the agent itself starts a service: it wins over a
// manifest's command, and is allowed whatever Allow says.
type ServiceCommand struct {
	// Command is the program and its arguments; a program without a slash
	// is looked up in PATH.
	Command []string
	// Env is added to the environment of the service's processes.
	Env map[string]string
	// Dir is the working directory (default: the agent's).
	Dir string
}

// ManifestCommand is a service's command from a manifest the agent's owner
// installed on its host (see LoadManifests).
type ManifestCommand struct {
	// Command is the manifest's command, program first; the program must
	// be on the agent's allow list.
	Command []string
	// File is the manifest's path and Line the line of its program (0:
	// unknown), for messages.
	File string
	Line int
}

// where is the manifest's command for messages: "file:line: command[0]".
func (mc ManifestCommand) where() string {
	if mc.Line > 0 {
		return fmt.Sprintf("%s:%d: command[0]", mc.File, mc.Line)
	}
	return mc.File + ": command[0]"
}

// Credentials gives each spawned instance its own way into the hub. Issue
// runs before the process starts; the env it returns is added to the
// child's environment (e.g. a path to a credentials file the child reads),
// and cleanup runs after the child has exited (e.g. removing that file).
type Credentials interface {
	Issue(ctx context.Context, service, instanceID string) (env map[string]string, cleanup func(), err error)
}

// Config configures an Agent. New gives zero fields their defaults (see
// DefaultConfig); a nil Allow means the default list, an empty one that
// no manifest's command runs and there is no dpc-service fallback.
type Config struct {
	// ID names the agent: its omq instance id and part of the ids it
	// makes. Letters, digits, '-' and '_' (default: the host name's first
	// label, other characters replaced by '-').
	ID string
	// Host is reported in list and in the agent's $SRV metadata (default:
	// the host name).
	Host string
	// Grace is the default time between SIGTERM and SIGKILL.
	Grace time.Duration
	// Services are the agent's own commands, by service name.
	Services map[string]ServiceCommand
	// Manifests are commands from manifests the owner installed on the
	// host, by service name, for services not in Services.
	Manifests map[string]ManifestCommand
	// Allow lists the programs the commands of Manifests may run: a name
	// without a slash matches an argv[0] that is that same bare name
	// (found in the agent's PATH), not a path ending in it; a path matches
	// that exact path. Commands in Services are always allowed. With
	// DefaultProgram on it (as a bare name), a service with neither runs
	// as "dpc-service <service>".
	Allow []string
	// Env is added to every process's environment (before a service's own
	// Env), for settings all instances share. It may not set SecretEnv's
	// variables, nor a NATS_URL with a user or password in it.
	Env map[string]string
	// Credentials gives each instance its own hub credentials; nil: an
	// instance gets none (only NATS_URL, DPC_SERVICE and
	// DPC_INSTANCE_ID), which a hub that requires them refuses.
	Credentials Credentials
	// MaxProcesses bounds the processes running or stopping at once.
	MaxProcesses int
	// KeepExited is how long exited processes stay in list.
	KeepExited time.Duration
	// NATSURL is given to the processes as NATS_URL (unless Env or the
	// service's Env sets it), without any user or password written into
	// it; empty: they get the agent's own NATS_URL, if any, likewise.
	NATSURL string
	// Logger receives the agent's log and its processes' output (default:
	// discarded).
	Logger *slog.Logger
	// Metrics receives the agent's Prometheus series (dpc_agent_*: its
	// processes' memory, CPU and start time, counts by state, spawns and
	// exits); nil: none. With it on, the agent also asks each process it
	// starts for the URL of its own /metrics, for ServiceDiscovery.
	Metrics prometheus.Registerer
	// InstanceMetrics is given to every process as DPC_SERVICE_METRICS
	// (before Env and the service's Env, which may override it), so that
	// a dpc-service instance serves its omq series there: "127.0.0.1:0"
	// lets each pick a free loopback port, which it reports in its $SRV
	// metadata. A program that is not dpc-service ignores the variable.
	// Empty: not set.
	InstanceMetrics string
}

// DefaultConfig is a configuration with every default filled in.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		ID:           idFromHost(host),
		Host:         host,
		Grace:        DefaultGrace,
		Allow:        []string{DefaultProgram},
		MaxProcesses: DefaultMaxProcesses,
		KeepExited:   DefaultKeepExited,
	}
}

// idFromHost makes an agent id from a host name: omq ids may not hold
// dots, so "node1.lab.example" gives "node1".
func idFromHost(host string) string {
	host, _, _ = strings.Cut(host, ".")
	id := strings.Map(func(r rune) rune {
		if r < 0x80 && omq.ValidName(string(r)) {
			return r
		}
		return '-'
	}, host)
	if id == "" {
		return "agent"
	}
	return id
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if !omq.ValidName(c.ID) {
		errs = append(errs, fmt.Errorf("agent: id %q: use letters, digits, '-' and '_' only", c.ID))
	}
	if c.Grace <= 0 {
		errs = append(errs, fmt.Errorf("agent: grace %s must be positive", c.Grace))
	}
	if c.MaxProcesses < 1 {
		errs = append(errs, fmt.Errorf("agent: max processes %d must be at least 1", c.MaxProcesses))
	}
	if c.KeepExited < 0 {
		errs = append(errs, fmt.Errorf("agent: keep exited %s must not be negative", c.KeepExited))
	}
	for _, a := range c.Allow {
		if a == "" || strings.ContainsRune(a, '/') && !filepath.IsAbs(a) {
			errs = append(errs, fmt.Errorf("agent: allow %q: want a program name or an absolute path", a))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		sc := c.Services[name]
		if !omq.ValidName(name) {
			errs = append(errs, fmt.Errorf("agent: service %q: use letters, digits, '-' and '_' only", name))
		}
		if len(sc.Command) == 0 || sc.Command[0] == "" {
			errs = append(errs, fmt.Errorf("agent: service %s: empty command", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Manifests)) {
		mc := c.Manifests[name]
		switch {
		case !omq.ValidName(name):
			errs = append(errs, fmt.Errorf("agent: manifest %s: service %q: use letters, digits, '-' and '_' only", mc.File, name))
		case len(mc.Command) == 0 || mc.Command[0] == "":
			errs = append(errs, fmt.Errorf("agent: manifest %s: service %s: empty command", mc.File, name))
		case !c.allowed(mc.Command[0]):
			errs = append(errs, fmt.Errorf("agent: %s: service %s: program %q is not on the allow list (allowed: %s)",
				mc.where(), name, mc.Command[0], listOrNone(c.Allow)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		if slices.Contains(SecretEnv, k) {
			errs = append(errs, fmt.Errorf("agent: env %s: the agent gives no process shared hub credentials (a service's own env may set them; Credentials gives each instance its own)", k))
		} else if k == EnvNATS && hubconn.PublicURL(c.Env[k]) != c.Env[k] {
			errs = append(errs, fmt.Errorf("agent: env %s: a user or password in the hub URL would reach every process; leave them out", k))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ID == "" {
		c.ID = d.ID
	}
	if c.Host == "" {
		c.Host = d.Host
	}
	if c.Grace == 0 {
		c.Grace = d.Grace
	}
	if c.Allow == nil {
		c.Allow = d.Allow
	}
	if c.MaxProcesses == 0 {
		c.MaxProcesses = d.MaxProcesses
	}
	if c.KeepExited == 0 {
		c.KeepExited = d.KeepExited
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// fallback is the program the agent runs as "<program> <service>" for a
// service it has no command for, or "" if none.
func (c Config) fallback() string {
	if c.allowed(DefaultProgram) {
		return DefaultProgram
	}
	return ""
}

// allowed says whether a manifest's command may run argv0. A bare name allows that
// name only as a bare name, looked up in the agent's PATH: otherwise
// "dpc-service" would also allow /tmp/anything/dpc-service, a program a
// manifest's author could have put there. A path allows exactly that path.
func (c Config) allowed(argv0 string) bool {
	for _, a := range c.Allow {
		if strings.ContainsRune(a, '/') {
			if filepath.Clean(argv0) == a {
				return true
			}
		} else if argv0 == a {
			return true
		}
	}
	return false
}
