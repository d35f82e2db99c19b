package agent

import (
	"slices"
	"strings"
	"time"
)

// ServiceName is the omq name every agent binds; each agent is one
// instance of it, its instance ID the agent's ID, so that a supervisor
// finds them all with $SRV.PING.agent and reaches one with
// Stub.At(agentID).
const ServiceName = "agent"

// Functions of the agent service.
const (
	FnSpawn = "spawn" // SpawnRequest → Process
	FnStop  = "stop"  // StopRequest → Process
	FnList  = "list"  // (no arguments) → State
)

// Environment a spawned instance receives, besides the agent's own (less
// the agent's hub credentials: see SecretEnv).
const (
	// EnvNATS is the hub URL the agent itself uses, without any user
	// name or password written into it.
	EnvNATS = "NATS_URL"
	// EnvInstanceID is the instance ID the process must bind with (omq
	// InstanceID), so that the supervisor can match the agent's processes
	// to the instances answering $SRV.STATS.
	EnvInstanceID = "DPC_INSTANCE_ID"
	// EnvService is the service the process was spawned for.
	EnvService = "DPC_SERVICE"
	// EnvMetrics is dpc-service's --metrics: the agent sets it to
	// Config.InstanceMetrics so that its instances serve /metrics, which
	// it then lists for Prometheus (ServiceDiscovery).
	EnvMetrics = "DPC_SERVICE_METRICS"
)

// SecretEnv are the variables through which the agent may itself have
// been given its hub credentials (dpc-agent reads its flags' fallbacks
// from them). A process never inherits them from the agent, and the
// agent-wide Config.Env may not set them: a spawned instance gets its own
// way into the hub from Config.Credentials, or none.
var SecretEnv = []string{"DPC_CREDS", "DPC_HOME", "DPC_USER", "DPC_PASSWORD", "DPC_TLS_CERT", "DPC_TLS_KEY"}

// SpawnRequest asks an agent to start one instance of a service. It names
// the service and nothing about how to run it: the command line comes
// from the agent's own configuration, a manifest its owner installed on
// the host, or the dpc-service default (see the package documentation).
// A request with any other field — a "command" above all — is refused
// with a 400.
type SpawnRequest struct {
	Service string `json:"service"`
	// ID is the instance ID to give the process; empty: the agent makes
	// one ("<service>-<agent>-<n>").
	ID string `json:"id,omitempty"`
}

// StopRequest asks an agent to stop one of its instances: SIGTERM, then
// SIGKILL after Grace (the agent's default grace when zero).
type StopRequest struct {
	ID      string `json:"id"`
	GraceMS int64  `json:"grace_ms,omitempty"`
}

// Process states.
const (
	StateRunning  = "running"  // started, not asked to stop
	StateStopping = "stopping" // SIGTERM sent, waiting for it to exit
	StateExited   = "exited"   // gone; kept in lists for a while so a supervisor sees deaths
)

// Process is one instance an agent started.
type Process struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Agent   string    `json:"agent"`
	PID     int       `json:"pid"`
	State   string    `json:"state"`
	Command []string  `json:"command"`
	Started time.Time `json:"started"`
	// Exited, ExitCode and Error are set once the process is gone.
	// ExitCode is -1 when a signal ended it; Error says which ("signal:
	// killed") or why it could not run.
	Exited   *time.Time `json:"exited,omitempty"`
	ExitCode int        `json:"exit_code,omitempty"`
	Error    string     `json:"error,omitempty"`
	// Stopped is true when the exit was asked for (stop, agent shutdown),
	// false when the process died on its own.
	Stopped bool `json:"stopped,omitempty"`
}

// State is an agent's answer to list.
type State struct {
	Agent     string    `json:"agent"`
	Host      string    `json:"host"`
	Processes []Process `json:"processes"`
	// Services are the services the agent has its own command for (its
	// configuration).
	Services []string `json:"services,omitempty"`
	// Manifests are the services the agent can run from manifests its
	// owner installed on the host (Config.Manifests), less those in
	// Services.
	Manifests []string `json:"manifests,omitempty"`
	// Fallback is the program the agent runs, as "<Fallback> <service>",
	// for any other service: DefaultProgram when it is on the agent's
	// allow list, else empty (the agent runs no other service).
	Fallback string `json:"fallback,omitempty"`
}

// Runs says whether the agent would start service: by its own command,
// an approved manifest's, or the fallback (never for a name that would
// read as an option of the fallback's program).
func (s State) Runs(service string) bool {
	return s.Names(service) || s.Fallback != "" && !strings.HasPrefix(service, "-")
}

// Names says whether the agent has a command for service of its own or
// from an approved manifest, rather than only the fallback.
func (s State) Names(service string) bool {
	return slices.Contains(s.Services, service) || slices.Contains(s.Manifests, service)
}

// Codes of the errors the agent answers with (omq.Error codes), so that
// a supervisor tells a request it must not repeat (400, 404, 409) from a
// host that cannot take more now (503). Match them with errors.Is and the
// sentinels in errors.go.
const (
	// CodeBadRequest: malformed request (an unknown field, a command
	// among them), or a service the agent has no command for.
	CodeBadRequest = 400
	// CodeNotFound: no process with that id on this agent.
	CodeNotFound = 404
	// CodeConflict: a live process already has that id.
	CodeConflict = 409
	// CodeFailed: the agent could not start the program (not found, not
	// executable, bad directory) or get the instance its credentials.
	CodeFailed = 500
	// CodeUnavailable: the agent is at MaxProcesses or shutting down.
	CodeUnavailable = 503
)
