package dispatchbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// The scenarios.
const (
	ScenarioFast = "fast"
	ScenarioHung = "hung"
	ScenarioStep = "step"
)

// AllScenarios are the scenarios in the order they are run and reported.
var AllScenarios = []string{ScenarioFast, ScenarioHung, ScenarioStep}

// Config shapes a run. Zero fields take the defaults in brackets.
type Config struct {
	// URL is the NATS server, with JetStream (for the pull side).
	URL string
	// Sides and Scenarios to run [all of them].
	Sides     []string
	Scenarios []string

	// Duration is the length of each measured fast run (per client
	// count and side) and of each hung run [10s].
	Duration time.Duration
	// Warmup is an unmeasured fast run before each measured one
	// [Duration/10, at most 1s; negative: none].
	Warmup time.Duration
	// Clients are the fast scenario's numbers of closed-loop clients [1,4,8].
	Clients []int
	// FastConcurrency is the fast scenario's instance's [16].
	FastConcurrency int

	// Rate is the hung scenario's arrivals per second [100].
	Rate float64
	// Concurrency are the hung scenario's instances' concurrencies, one
	// run each [1,16].
	Concurrency []int
	// HungWork is what the working instance of the hung scenario spends
	// on a call [5ms].
	HungWork time.Duration
	// Timeout is each hung call's [1s].
	Timeout time.Duration

	// StepRate is the step scenario's arrivals per second [100].
	StepRate float64
	// StepWork is the step scenario's handler time [20ms].
	StepWork time.Duration
	// StepBefore is the load before the new instances bind [1s];
	// StepAfter the load after [3s].
	StepBefore, StepAfter time.Duration
	// StepAdd is how many instances bind [4].
	StepAdd int
	// StepTimeout is each step call's [5s].
	StepTimeout time.Duration
	// Bucket is the step scenario's reporting interval [250ms].
	Bucket time.Duration
	// SLA bounds the step scenario's p95 [100ms].
	SLA time.Duration

	// Queue, if set, is the omq instances' omq.Queue [omq's default].
	Queue *int

	// Seed seeds the arrivals [1]: every side gets the same schedule.
	Seed uint64
	// Progress, if set, receives a line per run.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if len(c.Sides) == 0 {
		c.Sides = AllSides
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = AllScenarios
	}
	def(&c.Duration, 10*time.Second)
	def(&c.Warmup, min(c.Duration/10, time.Second))
	if len(c.Clients) == 0 {
		c.Clients = []int{1, 4, 8}
	}
	if c.FastConcurrency == 0 {
		c.FastConcurrency = 16
	}
	if c.Rate == 0 {
		c.Rate = 100
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 16}
	}
	def(&c.HungWork, 5*time.Millisecond)
	def(&c.Timeout, time.Second)
	if c.StepRate == 0 {
		c.StepRate = 100
	}
	def(&c.StepWork, 20*time.Millisecond)
	def(&c.StepBefore, time.Second)
	def(&c.StepAfter, 3*time.Second)
	if c.StepAdd == 0 {
		c.StepAdd = 4
	}
	def(&c.StepTimeout, 5*time.Second)
	def(&c.Bucket, 250*time.Millisecond)
	def(&c.SLA, 100*time.Millisecond)
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("no server URL"))
	}
	for _, s := range c.Sides {
		if !slices.Contains(AllSides, s) {
			errs = append(errs, fmt.Errorf("unknown side %q (want push, refuse or pull)", s))
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (want fast, hung or step)", s))
		}
	}
	for _, n := range c.Clients {
		if n < 1 {
			errs = append(errs, fmt.Errorf("clients %d: want at least 1", n))
		}
	}
	for _, n := range append([]int{c.FastConcurrency}, c.Concurrency...) {
		if n < 1 {
			errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", n))
		}
	}
	if c.Duration < 0 || c.Rate < 0 || c.StepRate < 0 || c.StepAdd < 0 || c.Timeout < 0 || c.StepTimeout < 0 || c.Bucket < 0 {
		errs = append(errs, errors.New("durations, rates and counts must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dispatchbench: %w", errors.Join(errs...))
	}
	return nil
}

func (c Config) progressf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// Run runs the scenarios for every side on the server at cfg.URL. When ctx
// ends it returns what finished, Interrupted set, with ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg}
	rep := &Report{Machine: benchreport.ReadMachine(), Settings: settingsOf(cfg)}
	rep.Load.Start = benchreport.LoadAvg()
	defer func() { rep.Load.End = benchreport.LoadAvg() }()
	for _, sc := range AllScenarios {
		if !slices.Contains(cfg.Scenarios, sc) {
			continue
		}
		var err error
		switch sc {
		case ScenarioFast:
			err = r.fast(ctx, rep)
		case ScenarioHung:
			err = r.hung(ctx, rep)
		case ScenarioStep:
			err = r.step(ctx, rep)
		}
		if ctx.Err() != nil {
			rep.Interrupted = true
			return rep, ctx.Err()
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", sc, err)
		}
	}
	return rep, nil
}

// runner runs scenarios; ids number the lanes, so that no run sees
// another's service or stream.
type runner struct {
	cfg Config
	ids int
}

func (r *runner) lane(ctx context.Context, side string, ackWait time.Duration) (lane, error) {
	r.ids++
	return newLane(ctx, side, r.cfg.URL, r.ids, ackWait, r.cfg.Queue)
}

func (r *runner) sides() []string {
	var out []string
	for _, s := range AllSides {
		if slices.Contains(r.cfg.Sides, s) {
			out = append(out, s)
		}
	}
	return out
}
