package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Draining. When the server stops it closes every client connection at
// once, so a call still running on an extra service (a dpc-service
// connected as a client) would lose its reply, and its caller would wait
// out its timeout. Before the server stops, Close asks every instance for
// $SRV.STATS and waits, for each one with calls running or queued, until
// it has completed at least that many more calls, answers no more (it is
// gone), or the drain timeout passes. In a cluster that includes the
// instances on the other hubs: this hub's clients may be waiting for their
// replies, and lame-duck mode, which moves those clients, comes after.
//
// Completions are counted, not tracked call by call: an instance does not
// say which calls it is running. New calls keep arriving during the drain
// (the hub serves until it stops), so a fast new call may be counted in
// place of a slow old one on a busy instance; an idle instance (nothing
// running or queued) is done whatever its count says. That also covers
// what the count overstates: omq's backlog counts a call blocked waiting
// for a slot twice (it is still in its subscription's pending count), and
// a call to an unknown function ends without being counted.
//
// The server keeps accepting clients meanwhile. The only way nats-server
// has to close its client listener alone is lame-duck mode, which first
// shuts JetStream down — the hub's notes and the durable lane's acks need
// it until the calls have finished — and then closes the clients, which is
// what the drain is there to delay. An instance whose connection blipped
// also needs to reconnect to deliver the replies it holds.

// DefaultDrainTimeout is Config.DrainTimeout's default: several times
// omq's default call timeout (5 s), whose calls are of no use to anyone
// after it.
const DefaultDrainTimeout = 30 * time.Second

const (
	// drainSnapshot is how long the first $SRV.STATS gathers answers: a
	// fixed window, so that an instance slowed by load is not missed.
	drainSnapshot = 250 * time.Millisecond
	// drainPoll is how often the instances still owing calls are asked.
	drainPoll = 100 * time.Millisecond
	// drainAsk bounds one instance's STATS answer in a poll; a late one is
	// asked again at the next poll.
	drainAsk = time.Second
	// drainSettle is how long the server keeps running once every count
	// is reached: an instance counts a call before it sends the reply, and
	// the reply must still cross the server to the caller.
	drainSettle = 100 * time.Millisecond
)

// errDrainTimeout is the drain's own deadline, told apart from the end of
// Close's context.
var errDrainTimeout = errors.New("hub: drain timeout")

// owed is an instance with calls in flight or queued when the drain began.
type owed struct {
	name, id string
	// target is the completed count at which every call running or
	// queued at the snapshot has ended.
	target int64
	// left is the calls it still owed at the last look.
	left int64
	// refused is its count of calls refused busy at the last look;
	// refusing says that count grew at the last look.
	refused  int64
	refusing bool
}

// completed is the number of calls an instance has ended: handled (with a
// result or an error) or skipped because their deadline had passed.
func completed(st omq.Stats) int64 {
	var n int64
	for _, e := range st.Endpoints {
		n += int64(e.NumRequests)
		var fd omq.FunctionData
		if json.Unmarshal(e.Data, &fd) == nil {
			n += fd.Expired
		}
	}
	return n
}

// owes says how many of the calls the instance owed (o) it has not ended
// yet, going by its STATS now. An instance that refused calls since the
// last look (busy: omq's callers hold them and send them again, to it or
// another) owes what runs now too, and at least one, until it refuses no
// more: the calls held by their callers are in flight as well.
func (o *owed) owes(st omq.Stats) int64 {
	busy := st.Data.InFlight + st.Data.Backlog
	if st.Data.Refused > o.refused {
		o.refused, o.refusing = st.Data.Refused, true
		o.target = max(o.target, completed(st)+busy)
		return max(busy, 1)
	}
	if o.refusing {
		// It stopped refusing since the last look: the calls held until
		// then are running or queued now. Owe them too.
		o.refusing = false
		o.target = max(o.target, completed(st)+busy)
	}
	if busy == 0 {
		return 0
	}
	return min(busy, max(0, o.target-completed(st)))
}

// drain waits until the calls in flight or queued on every service
// instance now have ended, bounded by Config.DrainTimeout and ctx. The
// hub's own instances are among them; they keep serving meanwhile.
func (h *Hub) drain(ctx context.Context) {
	if h.cfg.DrainTimeout <= 0 || h.node == nil || h.nc == nil {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, h.cfg.DrainTimeout, errDrainTimeout)
	defer cancel()
	stats, err := h.node.StatsWithin(ctx, "", drainSnapshot)
	if err != nil {
		h.log.Warn("draining: cannot ask the instances for their calls in flight", "err", err)
		return
	}
	var waiting []*owed
	var calls int64
	for _, st := range stats {
		if n := st.Data.InFlight + st.Data.Backlog; n > 0 {
			waiting = append(waiting, &owed{name: st.Name, id: st.ID, target: completed(st) + n, left: n, refused: st.Data.Refused})
			calls += n
		}
	}
	if len(waiting) == 0 {
		h.log.Debug("draining: no calls in flight", "instances", len(stats))
		return
	}
	h.log.Info("draining: waiting for calls in flight", "calls", calls, "instances", len(waiting), "timeout", h.cfg.DrainTimeout)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	gone := 0
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			var left int64
			for _, o := range waiting {
				left += o.left
			}
			msg := "draining: timed out with calls in flight"
			if !errors.Is(context.Cause(ctx), errDrainTimeout) {
				msg = "draining: stopped with calls in flight"
			}
			h.log.Warn(msg, "calls", left, "instances", len(waiting), "after", time.Since(start).Round(time.Millisecond))
			return
		case <-tick.C:
		}
		var g int
		waiting, g = h.pollOwed(ctx, waiting)
		gone += g
	}
	// Let the last replies reach their callers before the server closes
	// the connections.
	select {
	case <-ctx.Done():
	case <-time.After(drainSettle):
	}
	h.log.Info("draining: calls in flight finished", "calls", calls, "instances_gone", gone, "took", time.Since(start).Round(time.Millisecond))
}

// pollOwed asks each instance still owing calls for its STATS, at once,
// and returns those that still owe some and how many have gone.
func (h *Hub) pollOwed(ctx context.Context, waiting []*owed) (still []*owed, gone int) {
	type answer struct {
		st  omq.Stats
		err error
	}
	answers := make([]answer, len(waiting))
	var wg sync.WaitGroup
	for k, o := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[k].st, answers[k].err = h.instanceStats(ctx, o.name, o.id)
		}()
	}
	wg.Wait()
	for k, o := range waiting {
		a := answers[k]
		switch {
		case errors.Is(a.err, nats.ErrNoResponders):
			// The instance has gone (stopped or lost its connection):
			// nothing more will come from it through this hub.
			gone++
			h.log.Debug("draining: instance gone", "service", o.name, "instance", o.id, "calls", o.left)
		case a.err != nil:
			still = append(still, o) // no answer this time: ask again
		default:
			if o.left = o.owes(a.st); o.left > 0 {
				still = append(still, o)
			}
		}
	}
	return still, gone
}

// instanceStats asks one instance for its $SRV.STATS.
func (h *Hub) instanceStats(ctx context.Context, name, id string) (omq.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, drainAsk)
	defer cancel()
	subject := micro.APIPrefix + "." + micro.StatsVerb.String() + "." + name + "." + id
	m, err := h.nc.RequestWithContext(ctx, subject, nil)
	if err != nil {
		return omq.Stats{}, fmt.Errorf("hub: %s: %w", subject, err)
	}
	var st omq.Stats
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return omq.Stats{}, fmt.Errorf("hub: %s: %w", subject, err)
	}
	return st, nil
}
