package dispatchbench

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/loadgen"
)

// fastTimeout bounds a fast call: long enough never to be reached.
const fastTimeout = 5 * time.Second

// result is one call of an open-loop load.
type result struct {
	sent time.Duration // from the start of the load
	lat  time.Duration // from its sending until it ended
	ok   bool
}

// openLoad sends calls at the times of an arrival schedule, each on a
// goroutine of its own, without waiting for replies (open loop).
type openLoad struct {
	start time.Time
	wg    sync.WaitGroup
	mu    sync.Mutex
	res   []result
}

// run sends the schedule's calls through c until it ends or ctx does.
// The calls themselves end by their timeout, not by ctx.
func (o *openLoad) run(ctx context.Context, c caller, next loadgen.Arrivals, timeout time.Duration) {
	for {
		at, ok := next()
		if !ok {
			return
		}
		if !loadgen.Sleep(ctx, time.Until(o.start.Add(at))) {
			return
		}
		o.wg.Go(func() {
			t0 := time.Now()
			err := c.call(context.Background(), timeout)
			lat := time.Since(t0)
			o.mu.Lock()
			o.res = append(o.res, result{sent: t0.Sub(o.start), lat: lat, ok: err == nil})
			o.mu.Unlock()
		})
	}
}

// results waits for every call to end.
func (o *openLoad) results() []result {
	o.wg.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.res
}

func poisson(rate float64, length time.Duration, seed uint64) loadgen.Arrivals {
	return loadgen.PoissonArrivals(loadgen.Constant{PerSec: rate, For: length}, rand.New(rand.NewPCG(seed, 0x5eed)))
}

// counted wraps work to count the calls an instance takes.
func counted(n *atomic.Int64, work func(ctx context.Context)) func(ctx context.Context) {
	return func(ctx context.Context) {
		n.Add(1)
		work(ctx)
	}
}

func nop(context.Context) {}

func sleepFor(d time.Duration) func(context.Context) {
	return func(context.Context) { time.Sleep(d) }
}

// setup holds what one scenario run started, to stop it in order:
// callers first, then whatever holds handlers, then instances, the lane.
type setup struct {
	lane      lane
	callers   []caller
	instances []instance
	release   chan struct{}
	mu        sync.Mutex // instances may bind in parallel
}

func (s *setup) stop() {
	for _, c := range s.callers {
		c.close()
	}
	if s.release != nil {
		close(s.release)
	}
	var wg sync.WaitGroup
	for _, i := range s.instances {
		wg.Go(i.stop)
	}
	wg.Wait()
	if s.lane != nil {
		s.lane.close()
	}
}

func (s *setup) bind(ctx context.Context, conc int, work func(context.Context)) error {
	i, err := s.lane.bind(ctx, conc, work)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.instances = append(s.instances, i)
	s.mu.Unlock()
	return nil
}

func (s *setup) caller(ctx context.Context) (caller, error) {
	c, err := s.lane.caller(ctx)
	if err != nil {
		return nil, err
	}
	s.callers = append(s.callers, c)
	return c, nil
}

// fast: a nop, one instance, closed-loop clients.
func (r *runner) fast(ctx context.Context, rep *Report) error {
	for _, n := range r.cfg.Clients {
		for _, side := range r.sides() {
			row, err := r.fastRun(ctx, side, n)
			if err != nil {
				return err
			}
			rep.Fast = append(rep.Fast, row)
			r.cfg.progressf("fast   %-6s %d clients: %.0f calls/s, p50 %s, p99 %s, %d errors",
				side, n, row.Throughput, ms(row.P50Ms), ms(row.P99Ms), row.Errors)
		}
	}
	return nil
}

func (r *runner) fastRun(ctx context.Context, side string, clients int) (FastRow, error) {
	row := FastRow{Side: side, Clients: clients}
	l, err := r.lane(ctx, side, fastTimeout)
	if err != nil {
		return row, err
	}
	s := &setup{lane: l}
	defer s.stop()
	if err := s.bind(ctx, r.cfg.FastConcurrency, nop); err != nil {
		return row, err
	}
	cs := make([]caller, clients)
	for k := range cs {
		if cs[k], err = s.caller(ctx); err != nil {
			return row, err
		}
	}
	if r.cfg.Warmup > 0 {
		closedLoop(ctx, cs, r.cfg.Warmup)
	}
	start := time.Now()
	lats, errs := closedLoop(ctx, cs, r.cfg.Duration)
	elapsed := time.Since(start)
	row.Calls, row.Errors, row.Seconds = len(lats), errs, elapsed.Seconds()
	row.Throughput = float64(len(lats)) / elapsed.Seconds()
	p := percentiles(lats, 0.50, 0.99)
	row.P50Ms, row.P99Ms = p[0], p[1]
	return row, nil
}

// closedLoop has each caller make one call after another for d; it
// returns the latencies of the calls that succeeded and how many failed.
func closedLoop(ctx context.Context, cs []caller, d time.Duration) ([]time.Duration, int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lats := make([][]time.Duration, len(cs))
	errs := make([]int, len(cs))
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				err := c.call(context.Background(), fastTimeout)
				switch {
				case err == nil:
					lats[k] = append(lats[k], time.Since(t0))
				case ctx.Err() == nil:
					errs[k]++
				}
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	n := 0
	for k := range cs {
		all = append(all, lats[k]...)
		n += errs[k]
	}
	return all, n
}

// hung: one hung instance, one working one, open-loop calls.
func (r *runner) hung(ctx context.Context, rep *Report) error {
	for _, conc := range r.cfg.Concurrency {
		for _, side := range r.sides() {
			row, err := r.hungRun(ctx, side, conc)
			if err != nil {
				return err
			}
			rep.Hung = append(rep.Hung, row)
			r.cfg.progressf("hung   %-6s concurrency %d: %d calls, %.2f%% ok, %d failed, p50 %s, p99 %s",
				side, conc, row.Calls, row.OKPercent, row.Failed, ms(row.P50Ms), ms(row.P99Ms))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (r *runner) hungRun(ctx context.Context, side string, conc int) (HungRow, error) {
	row := HungRow{Side: side, Concurrency: conc, Rate: r.cfg.Rate}
	l, err := r.lane(ctx, side, r.cfg.Timeout)
	if err != nil {
		return row, err
	}
	s := &setup{lane: l, release: make(chan struct{})}
	defer s.stop()
	var hungTook, workTook atomic.Int64
	release := s.release
	if err := s.bind(ctx, conc, counted(&hungTook, func(context.Context) { <-release })); err != nil {
		return row, err
	}
	if err := s.bind(ctx, conc, counted(&workTook, sleepFor(r.cfg.HungWork))); err != nil {
		return row, err
	}
	c, err := s.caller(ctx)
	if err != nil {
		return row, err
	}
	load := &openLoad{start: time.Now()}
	load.run(ctx, c, poisson(r.cfg.Rate, r.cfg.Duration, r.cfg.Seed), r.cfg.Timeout)
	res := load.results()
	var ok []time.Duration
	for _, x := range res {
		if x.ok {
			ok = append(ok, x.lat)
		}
	}
	row.Calls, row.OK, row.Failed = len(res), len(ok), len(res)-len(ok)
	if len(res) > 0 {
		row.OKPercent = 100 * float64(len(ok)) / float64(len(res))
	}
	p := percentiles(ok, 0.50, 0.99)
	row.P50Ms, row.P99Ms = p[0], p[1]
	row.TakenHung, row.TakenWorking = hungTook.Load(), workTook.Load()
	return row, nil
}

// step: a backlog at one instance, then more instances.
func (r *runner) step(ctx context.Context, rep *Report) error {
	for _, side := range r.sides() {
		res, err := r.stepRun(ctx, side)
		if err != nil {
			return err
		}
		rep.Step = append(rep.Step, res)
		r.cfg.progressf("step   %-6s %d calls, %d failed, p95 within %s %s after binding; served %v",
			side, res.Calls, res.Failed, ms(msOf(r.cfg.SLA)), recoveryText(res.RecoveryMs), res.Served)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func (r *runner) stepRun(ctx context.Context, side string) (StepResult, error) {
	cfg := r.cfg
	out := StepResult{Side: side}
	l, err := r.lane(ctx, side, cfg.StepTimeout)
	if err != nil {
		return out, err
	}
	s := &setup{lane: l}
	defer s.stop()
	served := make([]atomic.Int64, 1+cfg.StepAdd)
	work := sleepFor(cfg.StepWork)
	if err := s.bind(ctx, 1, counted(&served[0], work)); err != nil {
		return out, err
	}
	c, err := s.caller(ctx)
	if err != nil {
		return out, err
	}
	load := &openLoad{start: time.Now()}
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		load.run(ctx, c, poisson(cfg.StepRate, cfg.StepBefore+cfg.StepAfter, cfg.Seed), cfg.StepTimeout)
	}()
	var bindErr error
	if loadgen.Sleep(ctx, time.Until(load.start.Add(cfg.StepBefore))) {
		out.BindStartMs = msOf(time.Since(load.start))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for k := 1; k <= cfg.StepAdd; k++ {
			wg.Go(func() {
				err := s.bind(ctx, 1, counted(&served[k], work))
				mu.Lock()
				bindErr = errors.Join(bindErr, err)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	bound := time.Since(load.start)
	out.BoundMs = msOf(bound)
	firstAtBind := served[0].Load()
	<-scheduled
	res := load.results()
	if bindErr != nil {
		return out, bindErr
	}
	for k := range served {
		out.Served = append(out.Served, served[k].Load())
	}
	out.FirstAfterBind = served[0].Load() - firstAtBind

	nb := int((cfg.StepBefore + cfg.StepAfter - bound + cfg.Bucket - 1) / cfg.Bucket)
	buckets := make([][]time.Duration, max(nb, 0))
	var before []time.Duration
	for _, x := range res {
		lat := x.lat
		if !x.ok {
			out.Failed++
			lat = cfg.StepTimeout
		}
		out.Calls++
		if x.sent < bound {
			before = append(before, lat)
			continue
		}
		k := int((x.sent - bound) / cfg.Bucket)
		if k < len(buckets) {
			buckets[k] = append(buckets[k], lat)
		}
	}
	out.CallsBefore = len(before)
	out.P95BeforeMs = percentiles(before, 0.95)[0]
	out.RecoveryMs = 0
	sla := msOf(cfg.SLA)
	for k, b := range buckets {
		p95 := percentiles(b, 0.95)[0]
		over := len(b) > 0 && p95 > sla
		out.Buckets = append(out.Buckets, Bucket{FromMs: msOf(time.Duration(k) * cfg.Bucket), Calls: len(b), P95Ms: p95, OverSLA: over})
		if over {
			out.RecoveryMs = msOf(time.Duration(k+1) * cfg.Bucket)
			if k == len(buckets)-1 {
				out.RecoveryMs = -1
			}
		}
	}
	return out, nil
}
