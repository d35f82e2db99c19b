package callbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Config is one bench run against one NATS server.
type Config struct {
	// URL is the server every responder and client connects to over TCP.
	URL string
	// Options are every connection's options: for a hub, its CA, the
	// credentials and the identity's inbox prefix (hubconn.Resolve); nil
	// for a server without TLS or authentication.
	Options []nats.Option
	// Sides to run, in this order on the first repeat; the comparison needs
	// both raw and omq.
	Sides []string
	// Clients lists the numbers of concurrent clients to measure.
	Clients []int
	// Duration of each measured run; Requests per client, when > 0,
	// replaces it.
	Duration time.Duration
	Requests int
	// Warmup is the length of the unmeasured run of each side before the
	// measured ones, per number of clients.
	Warmup time.Duration
	// Repeats is the number of measured runs per side and number of
	// clients; the report gives their median.
	Repeats int
	// Payload is the request size in bytes (0: no body, omq calls nop).
	Payload int
	// Timeout bounds each call.
	Timeout time.Duration
	Targets Targets
	// Progress receives a line per run; nil for none.
	Progress io.Writer
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("no server URL"))
	}
	if len(c.Sides) == 0 {
		errs = append(errs, errors.New("no sides to run"))
	}
	for _, s := range c.Sides {
		if s != SideRaw && s != SideOMQ {
			errs = append(errs, fmt.Errorf("side %q: want %s or %s", s, SideRaw, SideOMQ))
		}
	}
	if len(c.Clients) == 0 {
		errs = append(errs, errors.New("no client counts"))
	}
	for _, n := range c.Clients {
		if n < 1 {
			errs = append(errs, fmt.Errorf("clients %d: must be at least 1", n))
		}
	}
	if c.Requests < 0 {
		errs = append(errs, fmt.Errorf("requests %d: must not be negative", c.Requests))
	}
	if c.Requests == 0 && c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %s: must be positive (or give requests)", c.Duration))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup %s: must not be negative", c.Warmup))
	}
	if c.Repeats < 1 {
		errs = append(errs, fmt.Errorf("repeats %d: must be at least 1", c.Repeats))
	}
	if c.Payload < 0 {
		errs = append(errs, fmt.Errorf("payload %d: must not be negative", c.Payload))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// Run measures every side at every client count. Per client count it warms
// every side up, then does Repeats measured runs of each, alternating the
// order (A B, B A, A B, …) so that neither side always runs first or
// last, and reports the median of the runs.
//
// When ctx ends, Run returns the cases finished so far along with ctx's
// error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Machine: benchreport.ReadMachine(), Config: reportConfig(cfg)}
	var err error
	rep.Server, err = probeServer(cfg.URL, cfg.Options)
	if err != nil {
		return nil, err
	}

	p := sideParams{runID: nuid.Next(), payload: cfg.Payload, timeout: cfg.Timeout, conn: cfg.Options}
	sides := make([]side, len(cfg.Sides))
	for i, name := range cfg.Sides {
		if sides[i], err = newSide(name, p); err != nil {
			return nil, err
		}
		stop, err := sides[i].Serve(ctx, cfg.URL)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	for _, n := range cfg.Clients {
		cases, err := runClients(ctx, cfg, sides, n)
		rep.Cases = append(rep.Cases, cases...)
		if c, ok := compare(cases, n, cfg.Targets); ok {
			rep.Comparisons = append(rep.Comparisons, c)
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runClients does the warm-up and the measured runs of every side with n
// clients each.
func runClients(ctx context.Context, cfg Config, sides []side, n int) ([]Case, error) {
	conns := make([][]client, len(sides))
	defer func() {
		for _, cs := range conns {
			for _, c := range cs {
				c.Close()
			}
		}
	}()
	for i, s := range sides {
		for range n {
			c, err := s.Dial(cfg.URL)
			if err != nil {
				return nil, err
			}
			conns[i] = append(conns[i], c)
		}
	}
	cases := make([]Case, len(sides))
	for i, s := range sides {
		cases[i] = Case{Side: s.Name(), Clients: n}
	}

	hints := make([]int, len(sides))
	if cfg.Warmup > 0 {
		for i, s := range sides {
			w, err := measure(ctx, conns[i], load{duration: cfg.Warmup})
			if err != nil {
				return nil, fmt.Errorf("%s, %d clients, warm-up: %w", s.Name(), n, err)
			}
			cases[i].Warmup = &w
			cfg.Progressf("%-3s %s  warm-up  %s", s.Name(), clientsLabel(n), progressFigures(w))
			// Room for 25% more calls per client than the warm-up's rate.
			hints[i] = int(w.OpsPerSec/float64(n)*cfg.Duration.Seconds()*1.25) + 64
		}
	}

	order := make([]int, len(sides))
	for r := range cfg.Repeats {
		for i := range order {
			order[i] = i
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			s := sides[i]
			// Collect the previous run's garbage now, not on this run's time.
			runtime.GC()
			sum, err := measure(ctx, conns[i], load{duration: cfg.Duration, perClient: cfg.Requests, capHint: hints[i]})
			if err != nil {
				if ctx.Err() != nil {
					return finished(cases), err
				}
				return finished(cases), fmt.Errorf("%s, %d clients, run %d: %w", s.Name(), n, r+1, err)
			}
			cases[i].Runs = append(cases[i].Runs, sum)
			cfg.Progressf("%-3s %s  run %d/%d  %s", s.Name(), clientsLabel(n), r+1, cfg.Repeats, progressFigures(sum))
		}
	}
	for i := range cases {
		cases[i].Median = medianSummary(cases[i].Runs)
	}
	return cases, nil
}

// finished keeps the cases that have measured runs, with their medians so
// far, for a report cut short.
func finished(cases []Case) []Case {
	var out []Case
	for _, c := range cases {
		if len(c.Runs) > 0 {
			c.Median = medianSummary(c.Runs)
			c.Partial = true
			out = append(out, c)
		}
	}
	return out
}

// Progressf prints a progress line to c.Progress, if set.
func (c Config) Progressf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "dpc-bench: "+format+"\n", args...)
	}
}

func clientsLabel(n int) string {
	if n == 1 {
		return "  1 client "
	}
	return fmt.Sprintf("%3d clients", n)
}

func progressFigures(s Summary) string {
	return fmt.Sprintf("%9.0f ops/s  p50 %s  p90 %s  p99 %s", s.OpsPerSec, benchreport.Micros(s.P50), benchreport.Micros(s.P90), benchreport.Micros(s.P99))
}

// probeServer connects once to check the URL and learn the server's
// version, whether the connection is TLS and whether the server
// authenticates its clients.
func probeServer(url string, opts []nats.Option) (Server, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("dpc-bench probe")}, opts...)...)
	if err != nil {
		return Server{}, fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	_, tlsErr := nc.TLSConnectionState()
	return Server{URL: url, Version: nc.ConnectedServerVersion(), TLS: tlsErr == nil, Auth: nc.AuthRequired()}, nil
}
