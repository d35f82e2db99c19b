package main

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/logging"
	"github.com/dpc-project/dpc/omq"
)

// CLI is dpc-agent's arguments. Flags win over the config file.
type CLI struct {
	Config       string        `help:"YAML config file (see the example above)." type:"existingfile" placeholder:"FILE"`
	ID           string        `help:"Agent id, unique among agents (default: the file's, else the host name's first label)."`
	Host         string        `help:"Host name reported in list (default: the file's, else the host name)."`
	Allow        []string      `help:"Programs a spawn request may run: names looked up in PATH, or absolute paths (repeat or comma-separate; replaces the file's; default dpc-service)." placeholder:"PROGRAM"`
	Grace        time.Duration `help:"Time from SIGTERM to SIGKILL when stopping a process (default: the file's, else 10s)."`
	MaxProcesses int           `name:"max-processes" help:"Processes run at once (default: the file's, else 64)."`

	hubconn.HubFlags `embed:""`
	logging.LogFlags `embed:""`
}

// agentConfig is the config file with the flags applied.
func (c *CLI) agentConfig(log *slog.Logger) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if c.Config != "" {
		if err := loadConfig(c.Config, &cfg); err != nil {
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
		cfg.Allow = nil
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
	// Processes connect to the same hub as the agent, the same way:
	// dpc-service reads the address and credentials from these variables.
	cfg.NATSURL = c.NATS
	env := c.Environ()
	maps.Copy(env, cfg.Env) // the file's env wins
	cfg.Env = env
	cfg.Logger = log
	return cfg, cfg.Validate()
}

func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()
	cfg, err := c.agentConfig(log)
	if err != nil {
		return command.Usage(err)
	}
	a, err := agent.New(cfg)
	if err != nil {
		return command.Usage(err)
	}
	log = log.With("agent", cfg.ID)

	nc, err := c.Connect("dpc-agent "+cfg.ID, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	node, err := omq.New(nc, omq.WithLogger(log))
	if err != nil {
		return err
	}

	inst, err := hubconn.Retry(ctx, log, "bind", func(ctx context.Context) (*omq.Instance, error) { return a.Bind(ctx, node) })
	if err != nil {
		return nil // stopped before the hub was reached: nothing to undo
	}
	log.Info("dpc-agent ready", "id", cfg.ID, "host", cfg.Host, "hub", c.NATS,
		"services", strings.Join(a.List().Services, ","), "allow", strings.Join(cfg.Allow, ","))

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
