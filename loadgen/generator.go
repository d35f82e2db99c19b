package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Config shapes a Generator.
type Config struct {
	// Function is the function called on every service (its arguments
	// none, its reply decoded as a string, the instance id of work.work).
	Function string
	// Timeout is each call's.
	Timeout time.Duration
	// MaxInflight is the most calls in flight per service; a call over it
	// is dropped (and recorded as such), not queued.
	MaxInflight int
	// Served, if set, is told of every call that ended well: the
	// service's index, the instance that answered (the reply decoded as
	// a string) and when the reply was collected. It runs on the
	// service's collector goroutine, so it must be quick.
	Served func(svc int, instance string, at time.Time)
}

// target is one service the load goes to.
type target struct {
	name     string
	stub     *omq.Stub
	inflight atomic.Int64
	done     chan *omq.Call
}

// callReply receives a call's answer (the instance id), and carries what
// the collector needs to know of the call: omq hands the Call back with
// its Reply, so no map from calls to their data is needed.
type callReply struct {
	due      time.Time
	sec      int
	instance string
}

func (r *callReply) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &r.instance) }

// Generator sends the same open-loop schedule of calls to every service:
// the schedule never waits for a reply, so a slow service gets its calls
// on time, as it would from independent users. Every call is recorded in
// the Recorder, by the second of the load it was due in.
//
// Use: NewGenerator, Run with the arrivals, then Drain once.
type Generator struct {
	cfg     Config
	targets []*target
	rec     *Recorder
	wg      sync.WaitGroup // calls not yet collected
	// callCtx is the calls' context: apart from the run's, so that an
	// interrupt stops the schedule but lets the calls in flight end and
	// be counted.
	callCtx    context.Context
	cancelCall context.CancelFunc
	collectors sync.WaitGroup
}

// NewGenerator calls services (the Recorder's, service i at index i)
// through node.
func NewGenerator(node *omq.Node, rec *Recorder, cfg Config) *Generator {
	g := &Generator{cfg: cfg, rec: rec}
	g.callCtx, g.cancelCall = context.WithCancel(context.Background())
	for i, name := range rec.Services() {
		t := &target{name: name, stub: node.Lookup(name), done: make(chan *omq.Call, cfg.MaxInflight)}
		g.targets = append(g.targets, t)
		g.collectors.Add(1)
		go g.collect(i, t)
	}
	return g
}

// Run sends a call to every service at each arrival, from start, until
// the arrivals end or ctx does; it returns the arrivals sent.
func (g *Generator) Run(ctx context.Context, start time.Time, next Arrivals) int {
	n := 0
	for {
		at, ok := next()
		if !ok {
			return n
		}
		due := start.Add(at)
		if wait := time.Until(due); wait > 0 {
			if !Sleep(ctx, wait) {
				return n
			}
		} else if ctx.Err() != nil {
			return n
		}
		// Behind schedule (a pause of this process), the call still goes
		// out now and its latency counts from when it was due.
		sec := int(at / time.Second)
		for i, t := range g.targets {
			if t.inflight.Load() >= int64(g.cfg.MaxInflight) {
				g.rec.Sent(i, sec, true)
				continue
			}
			g.rec.Sent(i, sec, false)
			t.inflight.Add(1)
			g.wg.Add(1)
			t.stub.Go(g.callCtx, g.cfg.Function, nil, &callReply{due: due, sec: sec}, t.done, omq.Timeout(g.cfg.Timeout))
		}
		n++
	}
}

// collect records target i's calls as they end.
func (g *Generator) collect(i int, t *target) {
	defer g.collectors.Done()
	for c := range t.done {
		r := c.Reply.(*callReply)
		lat := time.Since(r.due)
		o := OutcomeOK
		switch {
		case c.Error == nil:
		case errors.Is(c.Error, omq.ErrTimeout):
			o = OutcomeTimeout
		default:
			o = OutcomeError
		}
		g.rec.Done(i, r.sec, o, lat)
		if o == OutcomeOK && g.cfg.Served != nil {
			g.cfg.Served(i, r.instance, r.due.Add(lat))
		}
		t.inflight.Add(-1)
		g.wg.Done()
	}
}

// Drain waits for the calls in flight to end, for at most wait (beyond
// which they are cancelled and counted as errors), then stops the
// collectors. Call it once, after Run.
func (g *Generator) Drain(wait time.Duration) {
	ended := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(wait):
		g.cancelCall()
		<-ended
	}
	g.cancelCall()
	for _, t := range g.targets {
		close(t.done)
	}
	g.collectors.Wait()
}

// SampleInstances counts each of rec's services' instances by $SRV.PING
// (answers within window) once a second from start until ctx ends,
// recording them in rec.
func SampleInstances(ctx context.Context, node *omq.Node, rec *Recorder, start time.Time, window time.Duration) {
	var wg sync.WaitGroup
	for i, name := range rec.Services() {
		wg.Go(func() {
			for {
				sec := int(time.Since(start) / time.Second)
				pings, err := node.PingWithin(ctx, name, window)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					rec.Instances(i, sec, len(pings))
				}
				// The next whole second of the load.
				if !Sleep(ctx, time.Until(start.Add(time.Duration(sec+1)*time.Second))) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// Sleep sleeps for d, or less if ctx ends first; false when it did.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
