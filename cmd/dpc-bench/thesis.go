package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dpc-project/dpc/omq"
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

// thesisCalls is the thesis's numRepeats, the calls in each of its runs.
const thesisCalls = 1000

// The thesis's figures: table 4.4 (the third experiment, after both busy
// loops were fixed) and table 4.1 (CPU use, from top, during the runs).
var (
	thesisFunctions = []thesisFunction{
		{Name: "hub.nopKserv", Service: hubService, Function: "nopKserv", Thesis: ThesisFigures{
			Name: "nopKserv", RunSeconds: []float64{2.49, 2.46, 2.47, 2.47, 2.51}, AverageSeconds: 2.48, OpsPerSec: 403.23}},
		{Name: "tst.nopExtra", Service: tstService, Function: "nopExtra", Thesis: ThesisFigures{
			Name: "nopExtra", RunSeconds: []float64{2.69, 2.74, 2.74, 2.73, 2.83}, AverageSeconds: 2.75, OpsPerSec: 363.64}},
	}
	// thesisCPU: per process of ours, the thesis's counterpart and its CPU
	// use during the nop experiments. The service is tst#1 when the bench
	// starts it, and presumably tst when named with --pid.
	thesisCPU = map[string]ThesisCPU{
		hubProc:           {Process: "K-serv", Percent: "38–60"},
		tstService + "#1": {Process: "Tst-serv", Percent: "10–15"},
		tstService:        {Process: "Tst-serv", Percent: "10–15"},
		clientProc:        {Process: "K-app", Percent: "25–40"},
	}
)

type thesisFunction struct {
	Name              string
	Service, Function string
	Thesis            ThesisFigures
}

// ThesisFigures are the thesis's own figures for one function.
type ThesisFigures struct {
	Name           string    `json:"name"`
	RunSeconds     []float64 `json:"run_s"`
	AverageSeconds float64   `json:"average_s"`
	OpsPerSec      float64   `json:"ops_per_s"`
}

// ThesisCPU is the thesis's CPU figure for the counterpart of one of our
// processes.
type ThesisCPU struct {
	Process string `json:"process"`
	Percent string `json:"percent"`
}

// ThesisReport is what dpc-bench thesis found, as printed by --json.
type ThesisReport struct {
	Machine   Machine          `json:"machine"`
	System    SystemInfo       `json:"system"`
	Config    ThesisConfig     `json:"config"`
	Functions []ThesisFunction `json:"functions"`
	// ThesisCPU maps our process names to the thesis's figures for their
	// counterparts.
	ThesisCPU   map[string]ThesisCPU `json:"thesis_cpu"`
	Load        Load                 `json:"load"`
	Interrupted bool                 `json:"interrupted,omitempty"`
}

// ThesisConfig is what shaped the figures.
type ThesisConfig struct {
	Runs    int           `json:"runs"`
	Calls   int           `json:"calls_per_run"`
	Warmup  int           `json:"warmup_calls"`
	Timeout time.Duration `json:"timeout_ns"`
}

// ThesisFunction is one function's runs, the average and the comparison.
type ThesisFunction struct {
	Name string      `json:"name"`
	Runs []ThesisRun `json:"runs"`
	// AverageSeconds is the mean time of a run; OpsPerSec is calls /
	// AverageSeconds, as the thesis computed it.
	AverageSeconds float64       `json:"average_s"`
	OpsPerSec      float64       `json:"ops_per_s"`
	PerCall        time.Duration `json:"per_call_ns"`
	// CPU is each process's use over all the runs of this function
	// together: one run is too short for the 10ms ticks of /proc.
	CPU    []ProcCPU     `json:"cpu,omitempty"`
	Thesis ThesisFigures `json:"thesis"`
	// Ratio is OpsPerSec / the thesis's.
	Ratio float64 `json:"ratio"`
}

// ThesisRun is one run of one function.
type ThesisRun struct {
	Seconds   float64   `json:"s"`
	OpsPerSec float64   `json:"ops_per_s"`
	CPU       []ProcCPU `json:"cpu,omitempty"`
}

// perCall fills in each process's CPU per call of a run.
func (r *ThesisRun) perCall(calls int) {
	for i := range r.CPU {
		r.CPU[i].PerCall = r.CPU[i].CPU / time.Duration(calls)
	}
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
	sys, err := startSystem(ctx, c.SystemFlags, 1, progress)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	defer func() {
		if stopErr := sys.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	load := Load{Start: loadAvg()}
	rep, runErr := c.measure(ctx, sys, progress)
	load.End = loadAvg()
	rep.Load = load
	interrupted := runErr != nil && ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Interrupted = interrupted
	if c.JSON {
		err = writeJSON(stdout, rep)
	} else {
		err = writeThesisText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}

// measure does the warm-up and the runs. Each run calls nopKserv --calls
// times, then nopExtra, as K-app did, so slow drift in the machine falls
// on both alike.
func (c *ThesisCmd) measure(ctx context.Context, sys *system, progress func(string, ...any)) (*ThesisReport, error) {
	rep := &ThesisReport{
		Machine: readMachine(), System: sys.info, ThesisCPU: thesisCPU,
		Config: ThesisConfig{Runs: c.Runs, Calls: c.Calls, Warmup: c.Warmup, Timeout: c.Timeout},
	}
	nc, err := sys.connect("dpc-bench thesis client")
	if err != nil {
		return rep, err
	}
	defer nc.Close()
	node, err := omq.New(nc, omq.WithTimeout(c.Timeout))
	if err != nil {
		return rep, err
	}
	meter := newCPUMeter(sys.procs, true)
	spans := make([]*cpuSpan, len(thesisFunctions))
	for i, f := range thesisFunctions {
		rep.Functions = append(rep.Functions, ThesisFunction{Name: f.Name, Thesis: f.Thesis})
		spans[i] = meter.span()
		if c.Warmup > 0 {
			if _, err := callN(ctx, node.Lookup(f.Service), f.Function, c.Warmup); err != nil {
				return rep, fmt.Errorf("%s warm-up: %w", f.Name, err)
			}
		}
	}
	defer func() {
		for i := range rep.Functions {
			averageRuns(&rep.Functions[i], c.Calls, meter.percents(spans[i]))
		}
	}()
	for r := range c.Runs {
		for i, f := range thesisFunctions {
			before := meter.snap()
			elapsed, err := callN(ctx, node.Lookup(f.Service), f.Function, c.Calls)
			after := meter.snap()
			if err != nil {
				return rep, fmt.Errorf("%s, run %d: %w", f.Name, r+1, err)
			}
			spans[i].add(before, after)
			one := meter.span()
			one.add(before, after)
			run := ThesisRun{Seconds: elapsed.Seconds(), OpsPerSec: float64(c.Calls) / elapsed.Seconds(), CPU: meter.percents(one)}
			run.perCall(c.Calls)
			rep.Functions[i].Runs = append(rep.Functions[i].Runs, run)
			progress("%-12s run %d/%d  %d calls in %.3fs  %7.0f ops/s", f.Name, r+1, c.Runs, c.Calls, run.Seconds, run.OpsPerSec)
		}
	}
	return rep, nil
}

// callN makes n sequential calls of fn and returns the time they took.
func callN(ctx context.Context, stub *omq.Stub, fn string, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := stub.Call(ctx, fn, nil, nil); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// averageRuns fills in the average of the runs so far and the comparison.
func averageRuns(f *ThesisFunction, calls int, cpu []ProcCPU) {
	if len(f.Runs) == 0 {
		return
	}
	var sum float64
	for _, r := range f.Runs {
		sum += r.Seconds
	}
	f.AverageSeconds = sum / float64(len(f.Runs))
	f.OpsPerSec = float64(calls) / f.AverageSeconds
	f.PerCall = time.Duration(f.AverageSeconds / float64(calls) * float64(time.Second))
	for i := range cpu {
		cpu[i].PerCall = cpu[i].CPU / time.Duration(len(f.Runs)*calls)
	}
	f.CPU = cpu
	f.Ratio = f.OpsPerSec / f.Thesis.OpsPerSec
}
