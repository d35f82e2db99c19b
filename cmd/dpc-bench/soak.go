package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/soak"
)

// SoakCmd looks for the two faults the thesis found in its prototype: busy
// loops (K-serv and Tst-serv at 100% CPU while idle) and a leak (K-serv
// growing about 2 MB per run of the nop experiments). It measures each
// process's CPU while no calls are made, then makes many calls, sampling
// every process's resident memory and the hub's Go heap as they go, and
// then measures idle CPU again.
type SoakCmd struct {
	Instances int           `help:"tst instances to start." default:"2"`
	Settle    time.Duration `help:"Wait after the system is ready before the idle window, so that start-up work is not counted." default:"2s"`
	Idle      time.Duration `help:"Idle window before the calls: no calls, each process's CPU measured over it (0 skips it)." default:"30s"`

	Calls       int `help:"Calls to make, alternately tst.add and hub.nopKserv." default:"100000"`
	Clients     int `help:"Concurrent clients, each on its own connection, each making one call at a time." default:"4"`
	SampleEvery int `name:"sample-every" help:"Sample memory every this many calls." default:"10000"`
	Warmup      int `help:"Calls after which growth is measured (pools, buffers and the heap's target settle first)." default:"10000"`

	IdleAfter time.Duration `name:"idle-after" help:"Idle window after the calls (0 skips it): CPU must fall back, nothing left spinning." default:"10s"`

	SystemFlags `embed:""`
}

// Validate reports every problem at once.
func (c *SoakCmd) Validate() error {
	var errs []error
	if c.Instances < 1 {
		errs = append(errs, fmt.Errorf("--instances %d: must be at least 1", c.Instances))
	}
	if c.Settle < 0 || c.Idle < 0 || c.IdleAfter < 0 {
		errs = append(errs, errors.New("--settle, --idle and --idle-after must not be negative"))
	}
	if c.Calls < 0 {
		errs = append(errs, fmt.Errorf("--calls %d: must not be negative", c.Calls))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("--clients %d: must be at least 1", c.Clients))
	}
	if c.SampleEvery < 1 {
		errs = append(errs, fmt.Errorf("--sample-every %d: must be at least 1", c.SampleEvery))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup %d: must not be negative", c.Warmup))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.Timeout))
	}
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--start-timeout %s: must be positive", c.StartTimeout))
	}
	return errors.Join(errs...)
}

// Run starts the system (or takes the one at --nats), measures, and prints
// the report. Interrupted, it prints what it has.
func (c *SoakCmd) Run(ctx context.Context, stdout, stderr io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	progress := c.progressTo(stderr)
	sys, err := benchsys.StartTst(ctx, c.options(), c.Instances, progress)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	defer func() {
		if stopErr := sys.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	rep := soak.NewReport(sys, soak.Config{
		Instances: c.Instances, Settle: c.Settle, Idle: c.Idle, Calls: c.Calls, Clients: c.Clients,
		SampleEvery: c.SampleEvery, Warmup: c.Warmup, IdleAfter: c.IdleAfter, Timeout: c.Timeout,
	})
	rep.Load.Start = benchreport.LoadAvg()
	runErr := soak.Measure(ctx, sys, rep, progress)
	rep.Load.End = benchreport.LoadAvg()
	interrupted := runErr != nil && ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Growth = soak.Growths(rep.Samples, c.Warmup)
	rep.Interrupted = interrupted
	return printReport(stdout, c.JSON, rep, soak.WriteText, interrupted)
}
