package main

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/logging"
	"github.com/dpc-project/dpc/internal/metricsserver"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
)

// CLI is dpc-agent's arguments. Flags win over the config file.
type CLI struct {
	Config          string        `help:"YAML config file (see the example above)." type:"existingfile" placeholder:"FILE"`
	ID              string        `help:"Agent id, unique among agents (default: the file's, else the host name's first label)."`
	Host            string        `help:"Host name reported in list (default: the file's, else the host name)."`
	Allow           []string      `help:"Programs the commands of manifests may run: names looked up in PATH, or absolute paths (repeat or comma-separate; replaces the file's; default dpc-service; the bare name dpc-service also runs a service with no command as dpc-service <service>, an absolute path to it does not; in the file, allow: [] allows none)." placeholder:"PROGRAM"`
	Manifests       []string      `help:"Directory of approved manifests: the command of each *.yml or *.yaml manifest there starts its service (repeat or comma-separate; replaces the file's)." env:"DPC_AGENT_MANIFESTS" placeholder:"DIR"`
	Grace           time.Duration `help:"Time from SIGTERM to SIGKILL when stopping a process (default: the file's, else 10s)."`
	MaxProcesses    int           `name:"max-processes" help:"Processes run at once (default: the file's, else 64)."`
	Metrics         string        `help:"Listen address of /metrics (the agent's own Go and process figures, and per process it started: memory, CPU, start time; at most max-processes series each) and of /sd, Prometheus's HTTP service discovery of the processes' own /metrics; empty: none." default:"127.0.0.1:9092" env:"DPC_AGENT_METRICS" placeholder:"ADDR"`
	InstanceMetrics string        `name:"instance-metrics" help:"With --metrics on, each process gets DPC_SERVICE_METRICS=ADDR, dpc-service's listen address of /metrics (the config file's env may override it): its instance serves its omq series there and /sd lists them; port 0 lets each pick a free one; empty: not set." default:"127.0.0.1:0" env:"DPC_AGENT_INSTANCE_METRICS" placeholder:"ADDR"`

	hubconn.HubFlags `embed:""`
	logging.LogFlags `embed:""`
}

// sdPath is where the agent serves Prometheus's HTTP service discovery,
// beside /metrics.
const sdPath = "/sd"

// sdURL is the service discovery's URL next to the metrics URL, or "".
func sdURL(metrics string) string {
	if metrics == "" {
		return ""
	}
	return strings.TrimSuffix(metrics, "/metrics") + sdPath
}

// agentConfig is the config file with the flags applied.
func (c *CLI) agentConfig(log *slog.Logger) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	var dirs []string // of approved manifests
	if c.Config != "" {
		var err error
		if dirs, err = loadConfig(c.Config, &cfg); err != nil {
			return cfg, err
		}
	}
	if c.ID != "" {
		cfg.ID = c.ID
	}
	if c.Host != "" {
		cfg.Host = c.Host
	}
	if len(c.Allow) > 0 {
		cfg.Allow = []string{}
		for _, a := range c.Allow {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Allow = append(cfg.Allow, a)
			}
		}
	}
	if c.Grace != 0 {
		cfg.Grace = c.Grace
	}
	if c.MaxProcesses != 0 {
		cfg.MaxProcesses = c.MaxProcesses
	}
	if len(c.Manifests) > 0 {
		dirs = nil
		for _, d := range c.Manifests {
			if d = strings.TrimSpace(d); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	approved, err := agent.LoadManifests(dirs...)
	if err != nil {
		return cfg, err
	}
	cfg.Manifests = approved
	// Processes connect to the same hub as the agent, trusting it the
	// same way, but never as the agent: its user, password and client
	// certificate stay with it (dpc-service reads these variables).
	cfg.NATSURL = c.NATS
	env := map[string]string{}
	for k, v := range c.PublicEnviron() {
		if k == agent.EnvNATS { // the agent sets NATS_URL itself
			if cfg.NATSURL == "" { // the hub came from the profile
				cfg.NATSURL = v
			}
			continue
		}
		env[k] = v
	}
	maps.Copy(env, cfg.Env) // the file's env wins
	cfg.Env = env
	if c.Metrics != "" { // else no /sd lists the instances' /metrics
		cfg.InstanceMetrics = c.InstanceMetrics
	}
	cfg.Logger = log
	return cfg, cfg.Validate()
}

func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()
	cfg, err := c.agentConfig(log)
	if err != nil {
		return command.Usage(err)
	}
	log = log.With("agent", cfg.ID)
	prof, err := hubconn.Retry(ctx, log, "agent identity", func(ctx context.Context) (*trust.Profile, error) { return c.identity(ctx, cfg.ID, log) })
	if err != nil {
		return err
	}
	hub := c.HubFlags
	if prof != nil {
		hub.Creds, hub.TLSCA = prof.CredsFile(), prof.CAFile()
		log.Info("agent identity", "name", prof.Name, "profile", prof.Dir())
	}
	issuer, err := hubconn.Retry(ctx, log, "agent signing key", func(ctx context.Context) (*trust.InstanceIssuer, error) { return c.issuer(ctx, prof, cfg.ID) })
	if err != nil {
		return err
	}
	if issuer != nil {
		defer os.RemoveAll(issuer.Dir)
		cfg.Credentials = issuer
	} else {
		log.Warn("no agent identity in a DPC profile: the instances this agent starts get no hub credentials")
	}
	reg := metricsserver.NewRegistry()
	if err := c.LogStream().Register(reg); err != nil {
		return err
	}
	cfg.Metrics = reg
	a, err := agent.New(cfg)
	if err != nil {
		return command.Usage(err)
	}
	ms, err := metricsserver.Start(c.Metrics, reg, log, metricsserver.Route{Path: sdPath, Handler: a.ServiceDiscovery()})
	if err != nil {
		return err
	}
	defer ms.Close()

	nc, err := hub.Connect("dpc-agent "+cfg.ID, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Its records go under its identity's name, the one its role may
	// publish under.
	defer c.PublishLogs(nc, logstream.Source{Kind: logstream.KindAgent, Name: logName(prof, hub.Creds, cfg.ID), Instance: logstream.NewInstanceID()})()
	node, err := hubconn.NewNode(nc, omq.WithLogger(log))
	if err != nil {
		return err
	}

	inst, err := hubconn.Retry(ctx, log, "bind", func(ctx context.Context) (*omq.Instance, error) { return a.Bind(ctx, node) })
	if err != nil {
		return nil // stopped before the hub was reached: nothing to undo
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Manifests)) {
		mc := cfg.Manifests[name]
		log.Info("approved manifest", "service", name, "file", mc.File, "command", mc.Command)
	}
	st := a.List()
	log.Info("dpc-agent ready", "id", cfg.ID, "host", cfg.Host, "hub", hub.URL(),
		"services", strings.Join(st.Services, ","), "manifests", strings.Join(st.Manifests, ","),
		"fallback", st.Fallback, "allow", strings.Join(cfg.Allow, ","), "metrics", ms.URL(), "sd", sdURL(ms.URL()))

	<-ctx.Done()
	log.Info("dpc-agent stopping")
	// Spawn is refused from here on, list keeps answering while the
	// processes stop, then the agent leaves the hub.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace+5*time.Second)
	defer cancel()
	err = a.Shutdown(sctx)
	if uerr := inst.Unbind(sctx); uerr != nil {
		log.Warn("unbind", "err", uerr)
	}
	log.Info("dpc-agent stopped")
	return err
}
