package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/dpc-project/dpc/internal/callbench"
	"github.com/dpc-project/dpc/internal/hubconn"
)

// CompareCmd is the omq-vs-raw comparison's flags.
type CompareCmd struct {
	URL      string        `help:"NATS server or DPC hub to run against instead of an embedded one, reached as every DPC command reaches a hub: --creds and --tls-ca, else this machine's DPC profile ($DPC_HOME or ~/.config/dpc; DPC_HOME=none for a server without TLS or authentication)." env:"NATS_URL" placeholder:"nats://HOST:4222"`
	Creds    string        `name:"creds" help:"With --url: NATS credentials file to connect with (default: the DPC profile's). The embedded server takes none." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA    string        `name:"tls-ca" help:"With --url: PEM CA of the hub (default: the DPC profile's). The embedded server has no TLS." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`
	Clients  []int         `help:"Numbers of concurrent clients to measure, each client on its own connection." default:"1,8"`
	Duration time.Duration `help:"Length of each measured run." default:"5s"`
	Requests int           `help:"Requests per client per run, instead of --duration (0: use --duration)." default:"0"`
	Warmup   time.Duration `help:"Unmeasured run of each side before the measured ones, per client count (0 skips it)." default:"1s"`
	Repeats  int           `help:"Measured runs of each side per client count; the median is reported." default:"3"`
	Payload  int           `help:"Request payload in bytes (0: empty request, omq calls nop; otherwise both sides echo it)." default:"0"`
	Timeout  time.Duration `help:"Timeout of each request." default:"5s"`
	Sides    []string      `help:"Sides to run: raw (nats.go request to a queue-group responder) and omq (omq Call). The omq/raw comparison needs both." default:"raw,omq" enum:"raw,omq"`

	MinThroughput float64 `name:"target-throughput" help:"Target: omq ops/s at least this times raw's." default:"0.90"`
	MaxP50        float64 `name:"target-p50" help:"Target: omq p50 latency at most this times raw's." default:"1.15"`

	JSON       bool   `help:"Print the report as JSON on stdout instead of tables."`
	Quiet      bool   `short:"q" help:"No progress lines on stderr."`
	CPUProfile string `name:"cpuprofile" help:"Write a CPU profile of the whole run (clients, responders and the embedded server) to this file." type:"path" placeholder:"FILE"`
}

// Run does the whole bench: the server, the measurements, the report on
// stdout. Progress goes to stderr. A target missed is not an error.
func (c *CompareCmd) Run(ctx context.Context, stdout, stderr io.Writer) error {
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	cfg := callbench.Config{
		URL:      c.URL,
		Sides:    c.Sides,
		Clients:  c.Clients,
		Duration: c.Duration,
		Requests: c.Requests,
		Warmup:   c.Warmup,
		Repeats:  c.Repeats,
		Payload:  c.Payload,
		Timeout:  c.Timeout,
		Targets:  callbench.Targets{MinThroughput: c.MinThroughput, MaxP50: c.MaxP50},
	}
	if !c.Quiet {
		cfg.Progress = stderr
	}
	embedded := cfg.URL == ""
	if embedded {
		srv, err := callbench.StartEmbedded(ctx)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		cfg.URL = srv.ClientURL()
		cfg.Progressf("embedded NATS server at %s", cfg.URL)
	} else {
		// A given server is reached as DPC's commands reach a hub: its
		// CA, the identity's credentials and inbox prefix. The embedded
		// one has neither TLS nor authentication, and a profile on this
		// machine must not change how it is reached.
		url, opts, err := hubconn.Resolve(cfg.URL, c.Creds, c.TLSCA)
		if err != nil {
			return err
		}
		cfg.URL, cfg.Options = url, opts
		cfg.Progressf("NATS server at %s", cfg.URL)
	}

	rep, err := callbench.Run(ctx, cfg)
	interrupted := err != nil && ctx.Err() != nil
	if err != nil && !interrupted {
		return err
	}
	if rep == nil {
		return errInterrupted
	}
	rep.Server.Embedded = embedded
	rep.Interrupted = interrupted
	return printReport(stdout, c.JSON, rep, callbench.WriteText, interrupted)
}
