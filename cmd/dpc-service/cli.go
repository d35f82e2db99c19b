package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
	"github.com/nats-io/nats.go"
)

// CLI is dpc-service's arguments.
type CLI struct {
	Service     string `arg:"" help:"Service to run: ${services}." enum:"${services}"`
	NATS        string `name:"nats" help:"Hub URL(s), comma-separated." env:"NATS_URL" default:"nats://127.0.0.1:4222"`
	Manifest    string `help:"Manifest file to use instead of the service's own." type:"existingfile"`
	Name        string `help:"Run the service under this name instead of its manifest's: its instances form a queue group of their own, so two configurations of one service can run side by side (work and work-fixed)." placeholder:"NAME"`
	InstanceID  string `name:"instance-id" help:"This instance's id (default: a random one); unique among the service's instances. A process supervisor sets it to find its process among the instances." env:"DPC_INSTANCE_ID" placeholder:"ID"`
	Concurrency int    `help:"Calls handled at once by this instance." default:"16"`
	Host        string `help:"Name of this machine in the catalog (default: hostname)."`
	User        string `help:"User name for the hub." env:"DPC_USER"`
	Password    string `help:"Password for the hub." env:"DPC_PASSWORD"`
	TLSCA       string `name:"tls-ca" help:"PEM CA to trust the hub's certificate with." type:"existingfile"`
	TLSCert     string `name:"tls-cert" help:"PEM client certificate." type:"existingfile"`
	TLSKey      string `name:"tls-key" help:"PEM key of --tls-cert." type:"existingfile"`
	LogLevel    string `name:"log-level" help:"debug, info, warn or error." default:"info" enum:"debug,info,warn,error"`

	// Flags of the services that use them; the others ignore them.
	ServiceTime     time.Duration `name:"service-time" help:"work: mean time a call takes; the instance waits, it does not compute." default:"20ms"`
	ServiceTimeDist string        `name:"service-time-dist" help:"work: fixed (every call takes --service-time) or exp (exponential with that mean)." default:"fixed" enum:"fixed,exp"`
}

func (c *CLI) Run(ctx context.Context) error {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	var m *manifests.Manifest
	if c.Manifest != "" {
		var err error
		if m, err = manifests.Load(c.Manifest); err != nil {
			return err
		}
	}
	svc, err := services.Get(c.Service, m, services.Options{
		Name:            c.Name,
		ServiceTime:     c.ServiceTime,
		ServiceTimeDist: c.ServiceTimeDist,
	})
	if err != nil {
		return err
	}
	name := svc.Manifest.Name
	opts := hubconn.Options("dpc-service "+name, log, hubconn.Auth{User: c.User, Password: c.Password, TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey})
	nc, err := nats.Connect(c.NATS, opts...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", c.NATS, err)
	}
	defer nc.Close()
	node, err := omq.New(nc, omq.WithLogger(log))
	if err != nil {
		return err
	}
	log.Info("starting", "service", name, "hub", c.NATS, "functions", servicehost.FunctionNames(svc.Manifest))
	return servicehost.Run(ctx, node, svc, servicehost.Config{Concurrency: c.Concurrency, Host: c.Host, InstanceID: c.InstanceID, Logger: log})
}
