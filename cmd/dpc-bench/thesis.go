package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/thesis"
)

// ThesisCmd redoes the experiment of the DPC thesis's chapter 4: K-app
// made numRepeats = 1000 sequential calls of the hub's built-in nopKserv
// and reported the time taken, then did the same for nopExtra, a function
// of the extra service Tst-serv; five runs, and the average time, and
// numRepeats / average time as ops/s. Here the client is this process,
// over TCP to a real dpc-hub process, with a dpc-service tst process
// connected to the hub.
type ThesisCmd struct {
	Runs   int `help:"Runs; each makes --calls calls of hub.nopKserv, then of tst.nopExtra." default:"5"`
	Calls  int `help:"Sequential calls of each function per run (the thesis's numRepeats)." default:"1000"`
	Warmup int `help:"Unmeasured calls of each function before the first run (0: none)." default:"100"`

	SystemFlags `embed:""`
}

// Validate reports every problem at once.
func (c *ThesisCmd) Validate() error {
	var errs []error
	if c.Runs < 1 {
		errs = append(errs, fmt.Errorf("--runs %d: must be at least 1", c.Runs))
	}
	if c.Calls < 1 {
		errs = append(errs, fmt.Errorf("--calls %d: must be at least 1", c.Calls))
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

// Run starts the system (or takes the one at --nats), makes the runs, and
// prints the report. Interrupted, it prints the runs that finished.
func (c *ThesisCmd) Run(ctx context.Context, stdout, stderr io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	progress := c.progressTo(stderr)
	sys, err := benchsys.StartTst(ctx, c.options(), 1, progress)
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

	load := benchreport.Load{Start: benchreport.LoadAvg()}
	rep, runErr := thesis.Measure(ctx, sys, thesis.Config{Runs: c.Runs, Calls: c.Calls, Warmup: c.Warmup, Timeout: c.Timeout}, progress)
	load.End = benchreport.LoadAvg()
	rep.Load = load
	interrupted := runErr != nil && ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Interrupted = interrupted
	return printReport(stdout, c.JSON, rep, thesis.WriteText, interrupted)
}
