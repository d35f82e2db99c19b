package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/logging"
	"github.com/dpc-project/dpc/internal/metricsserver"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/nats-io/nats.go/jetstream"
)

const configHelp = `The config file (YAML) names the services to keep sized:

  period: 2s
  services:
    - name: work
      min: 1
      max: 8
      policy: target-tracking        # reactive | predictive | combined | target-tracking | fixed
      target_tracking: {target: 50ms, percentile: 90, tolerance: 0.1, down_window: 30s}
    - name: tst
      manifest: tst.yml              # scaling from the manifest
    - name: report
      min: 0                         # no instance while idle: the first call starts one (it waits for it)
      idle: 30s                      # stopped after this long without calls (default 30s)
      policy: fixed
      instances: 1

Spawn requests name the service only: each agent runs its own command for it, the command of the manifest installed in its --manifests directory, or dpc-service <service>.

See docs/ELASTICITY.md for every field and policy.`

// CLI is dpc-provisioner's arguments.
type CLI struct {
	Config  string        `help:"Config file (YAML) with the services to supervise." type:"existingfile" required:"" env:"DPC_PROVISIONER_CONFIG"`
	Period  time.Duration `help:"Time between rounds (overrides the file's period)."`
	Metrics string        `help:"Listen address of /metrics; empty: none." default:"127.0.0.1:9091" env:"DPC_PROVISIONER_METRICS"`
	DryRun  bool          `name:"dry-run" help:"Decide and log, but start and stop nothing."`

	hubconn.HubFlags `embed:""`
	logging.LogFlags `embed:""`
}

// Run supervises until ctx ends.
func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()
	fc, err := provisioner.LoadConfig(c.Config)
	if err != nil {
		return command.Usage(err)
	}
	if len(fc.Services) == 0 {
		return command.Usage(fmt.Errorf("%s: no services to supervise", c.Config))
	}
	// Check every service's policy before connecting anywhere, so that a
	// config mistake is reported at once, not after a wait for the hub.
	if _, err := fc.BuildServices(nil); err != nil {
		return command.Usage(err)
	}
	if c.Period > 0 {
		fc.Period = manifests.Duration(c.Period) // the flag wins; what follows from it too
	}
	cfg := fc.Supervisor(provisioner.DefaultConfig())
	cfg.Logger = log
	cfg.DryRun = c.DryRun
	if err := cfg.Validate(); err != nil {
		return command.Usage(err)
	}
	if fc.History != "memory" && !c.DryRun {
		if err := fc.Lease(cfg.Period).Validate(); err != nil {
			return command.Usage(fmt.Errorf("%s: lease_expiry: %w", c.Config, err))
		}
	}

	nc, err := c.Connect("dpc-provisioner", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Provisioners take turns under one name; the instance tells them
	// apart.
	defer c.PublishLogs(nc, logstream.Source{Kind: logstream.KindProvisioner, Name: logstream.KindProvisioner, Instance: logstream.NewInstanceID()})()
	node, err := hubconn.NewNode(nc, omq.WithLogger(log))
	if err != nil {
		return err
	}

	var hist provisioner.History = provisioner.NewMemoryHistory()
	lease := "none"
	if fc.History != "memory" {
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		kv, err := provisioner.NewKVHistory(hctx, js, provisioner.DefaultHistoryBucket)
		if err != nil {
			return fmt.Errorf("predictive history (set history: memory in %s to run without JetStream): %w", c.Config, err)
		}
		hist = kv
		// A dry run decides nothing that matters: it must not keep the
		// lease from a provisioner that acts.
		if !c.DryRun {
			l, err := provisioner.NewKVLease(hctx, js, provisioner.DefaultHistoryBucket, fc.Lease(cfg.Period))
			if err != nil {
				return err
			}
			cfg.Lease = l
			lease = fmt.Sprintf("%s/%s as %s, expiry %v", provisioner.DefaultHistoryBucket, provisioner.LeaseKey, l.Holder(), l.Expiry())
		}
	} else {
		log.Info("no lease: with history: memory there is no shared bucket, so this provisioner acts alone; run only one for the hub")
	}
	services, err := fc.BuildServices(hist)
	if err != nil {
		return command.Usage(err)
	}

	reg := metricsserver.NewRegistry()
	if err := c.LogStream().Register(reg); err != nil {
		return err
	}
	cfg.Metrics = provisioner.NewMetrics(reg)
	ms, err := metricsserver.Start(c.Metrics, reg, log)
	if err != nil {
		return err
	}
	defer ms.Close()
	metricsURL := ms.URL()

	sup, err := provisioner.New(node, agent.NewClient(node), cfg, services)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(services))
	for _, s := range services {
		name := fmt.Sprintf("%s(%s %d..%d", s.Name, s.Policy.Name(), s.Limits.Min, s.Limits.Max)
		if s.DownWindow > 0 {
			name += fmt.Sprintf(", down window %v", s.DownWindow)
		}
		if s.Idle > 0 {
			name += fmt.Sprintf(", idle %v", s.Idle)
		}
		names = append(names, name+")")
	}
	log.Info("dpc-provisioner ready", "nats", c.URL(), "period", cfg.Period, "services", names, "metrics", metricsURL, "dry_run", c.DryRun,
		"lease", lease, "wakes", node.WakeSubject("*"))
	err = sup.Run(ctx)
	log.Info("dpc-provisioner stopped")
	return err
}
