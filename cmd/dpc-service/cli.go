package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/logging"
	"github.com/dpc-project/dpc/internal/metricsserver"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
	"github.com/nats-io/nuid"
)

// CLI is dpc-service's arguments.
type CLI struct {
	Service     string `arg:"" optional:"" help:"Service to run: ${services}. Leave it out to run a manifest whose functions run commands (--manifest FILE)."`
	Manifest    string `help:"Manifest file: with a service, to use instead of its own; without one, a manifest whose every function names the command that implements it (exec; see manifests/README.md)." type:"existingfile"`
	Name        string `help:"Run the service under this name instead of its manifest's: its instances form a queue group of their own, so two configurations of one service can run side by side (work and work-fixed)." placeholder:"NAME"`
	InstanceID  string `name:"instance-id" help:"This instance's id (default: a random one); unique among the service's instances. A process supervisor sets it to find its process among the instances." env:"DPC_INSTANCE_ID" placeholder:"ID"`
	Concurrency int    `help:"Calls handled at once by this instance." default:"16"`
	Host        string `help:"Name of this machine in the catalog (default: hostname)."`
	Metrics     string `help:"Listen address of /metrics: this instance's calls (omq_*) and its Go and process figures; port 0 picks a free one, which the starting log line and the instance's $SRV metadata (dpc.metrics) report; empty: none. An agent sets it (DPC_SERVICE_METRICS=127.0.0.1:0) for the instances it starts when its own metrics are on." placeholder:"ADDR"`

	// Flags of the services that use them; the others ignore them.
	ServiceTime     time.Duration `name:"service-time" help:"work: mean time a call takes; the instance waits, it does not compute." default:"20ms"`
	ServiceTimeDist string        `name:"service-time-dist" help:"work: fixed (every call takes --service-time) or exp (exponential with that mean)." default:"fixed" enum:"fixed,exp"`

	// Commands of a manifest without a service.
	ExecEnv []string `name:"exec-env" help:"Commands get PATH, HOME, LANG, LC_ALL and TZ from this process's environment, DPC_HOME=none and nothing else; pass this variable too (repeatable), e.g. XDG_RUNTIME_DIR for notify-send. DPC_ and NATS_ variables are refused." placeholder:"NAME"`

	hubconn.HubFlags `embed:""`
	logging.LogFlags `embed:""`
}

// Validate checks the service name as kong's enum would; an enum cannot
// be left out, and leaving the name out runs a manifest's commands.
func (c *CLI) Validate() error {
	if names := services.Names(); c.Service != "" && !slices.Contains(names, c.Service) {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = strconv.Quote(n)
		}
		return fmt.Errorf("<service> must be one of %s but got %q", strings.Join(quoted, ","), c.Service)
	}
	return nil
}

func (c *CLI) Run(ctx context.Context) error {
	log := c.Logger()

	svc, err := c.service(log)
	if err != nil {
		return err
	}
	name := svc.Manifest.Name
	nc, err := c.Connect("dpc-service "+name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Its records go to the hub's window too, under the instance id omq
	// binds with (picked here when none is given, so both agree).
	if c.InstanceID == "" {
		c.InstanceID = nuid.Next()
	}
	defer c.PublishLogs(nc, logstream.Source{Kind: logstream.KindService, Name: name, Instance: c.InstanceID})()
	reg := metricsserver.NewRegistry()
	if err := c.LogStream().Register(reg); err != nil {
		return err
	}
	metrics, err := omq.NewMetrics(reg)
	if err != nil {
		return err
	}
	ms, err := metricsserver.Start(c.Metrics, reg, log)
	if err != nil {
		return err
	}
	defer ms.Close()
	node, err := hubconn.NewNode(nc, omq.WithLogger(log), omq.WithMetrics(metrics))
	if err != nil {
		return err
	}
	log.Info("starting", "service", name, "hub", c.URL(), "functions", servicehost.FunctionNames(svc.Manifest), "metrics", ms.URL())
	// The URL goes in the instance's $SRV metadata too: the agent that
	// started it lists it for Prometheus (its port may be a random one).
	cfg := servicehost.Config{Concurrency: c.Concurrency, Host: c.Host, InstanceID: c.InstanceID, Logger: log, Metrics: ms.URL()}
	inst, err := hubconn.Retry(ctx, log, "bind", func(ctx context.Context) (*omq.Instance, error) {
		return servicehost.Bind(ctx, node, svc, cfg)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the hub was reached: nothing to undo
		}
		return err
	}
	return servicehost.Serve(ctx, node, svc, inst, cfg)
}
