package main

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// workFunction is the function a replay calls on every service.
const workFunction = "work"

// loadTarget is one service the load goes to.
type loadTarget struct {
	name     string
	stub     *omq.Stub
	inflight atomic.Int64
	done     chan *omq.Call
}

// workReply receives work's answer (the instance id), and carries what
// the collector needs to know of the call: omq hands the Call back with
// its Reply, so no map from calls to their data is needed.
type workReply struct {
	due      time.Time
	sec      int
	instance string
}

func (r *workReply) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &r.instance) }

// loadConfig shapes the load generator.
type loadConfig struct {
	Timeout     time.Duration // of each call
	MaxInflight int           // per service; a call over it is dropped, not queued
}

// generator sends the same open-loop schedule of calls to every target:
// the schedule never waits for a reply, so a slow service gets its calls
// on time, as it would from independent users.
type generator struct {
	cfg     loadConfig
	targets []*loadTarget
	rec     *recorder
	wg      sync.WaitGroup // calls not yet collected
	// callCtx is the calls' context: apart from the run's, so that an
	// interrupt stops the schedule but lets the calls in flight end and
	// be counted.
	callCtx    context.Context
	cancelCall context.CancelFunc
	collectors sync.WaitGroup
}

func newGenerator(node *omq.Node, services []string, rec *recorder, cfg loadConfig) *generator {
	g := &generator{cfg: cfg, rec: rec}
	g.callCtx, g.cancelCall = context.WithCancel(context.Background())
	for i, name := range services {
		t := &loadTarget{name: name, stub: node.Lookup(name), done: make(chan *omq.Call, cfg.MaxInflight)}
		g.targets = append(g.targets, t)
		g.collectors.Add(1)
		go g.collect(i, t)
	}
	return g
}

// run sends a call to every target at each arrival, from start, until the
// arrivals end or ctx does; it returns the arrivals sent.
func (g *generator) run(ctx context.Context, start time.Time, next Arrivals) int {
	n := 0
	for {
		at, ok := next()
		if !ok {
			return n
		}
		due := start.Add(at)
		if wait := time.Until(due); wait > 0 {
			if !sleepCtx(ctx, wait) {
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
				g.rec.sent(i, sec, true)
				continue
			}
			g.rec.sent(i, sec, false)
			t.inflight.Add(1)
			g.wg.Add(1)
			t.stub.Go(g.callCtx, workFunction, nil, &workReply{due: due, sec: sec}, t.done, omq.Timeout(g.cfg.Timeout))
		}
		n++
	}
}

// collect records target i's calls as they end.
func (g *generator) collect(i int, t *loadTarget) {
	defer g.collectors.Done()
	for c := range t.done {
		r := c.Reply.(*workReply)
		lat := time.Since(r.due)
		o := outcomeOK
		switch {
		case c.Error == nil:
		case errors.Is(c.Error, omq.ErrTimeout):
			o = outcomeTimeout
		default:
			o = outcomeError
		}
		g.rec.done(i, r.sec, o, lat)
		t.inflight.Add(-1)
		g.wg.Done()
	}
}

// drain waits for the calls in flight to end, for at most wait (beyond
// which they are cancelled and counted as errors), then stops the
// collectors.
func (g *generator) drain(wait time.Duration) {
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

// sampleInstances counts each service's instances by $SRV.PING once a
// second from start until ctx ends, recording them in rec.
func sampleInstances(ctx context.Context, node *omq.Node, services []string, rec *recorder, start time.Time, window time.Duration) {
	var wg sync.WaitGroup
	for i, name := range services {
		wg.Go(func() {
			for {
				sec := int(time.Since(start) / time.Second)
				pings, err := node.PingWithin(ctx, name, window)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					rec.instances(i, sec, len(pings))
				}
				// The next whole second of the load.
				if !sleepCtx(ctx, time.Until(start.Add(time.Duration(sec+1)*time.Second))) {
					return
				}
			}
		})
	}
	wg.Wait()
}
