package omq

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Dispatch to the idle. NATS gives a queue group's message to a member
// picked at random, busy or not; left at that, a call waits behind the
// calls of whichever instance it landed on (or forever, behind a hung
// handler) while other instances idle. So a caller that will send a call
// again says so (Dpc-Busy: resend), and an instance takes such a call
// only if it can start it soon:
//
//   - with a free handler slot it starts at once;
//   - with every slot taken, a call refused busyQueueAfter times already
//     (Dpc-Busy: resent: every instance it met was busy, so probably
//     all are) waits for a slot among at most cfg.queue others, no longer
//     than about two of the function's service times (shedAfter);
//   - otherwise, or when the instance is stalled (every slot taken and
//     none freed for StallAfter), it refuses the call at once: an error
//     reply 429 with Dpc-Busy: refused, sent before any handler ran, so
//     the caller sends the same call again — another pick of the queue
//     group — keeping its first Dpc-Sent, so the instance that runs it
//     counts the whole wait. A stalled instance also leaves the queue
//     group until a slot frees.
//
// The queue of calls no instance can start yet is thus held by the
// callers, spread over all instances as slots free, and not stranded at
// one. docs/ARCHITECTURE.md ("Dispatch") has the options measured.
//
// Calls without the header (from `nats req`, a client built before it, a
// one-way send, a direct or multi call) are queued at the instance as
// before.

// HeaderBusy is sent with a call by a caller that resends it when refused
// (value "resend"), and with the refusal by an instance (value "refused").
const HeaderBusy = "Dpc-Busy"

// CodeBusy is the code of a refusal: every handler slot of the instance
// was taken; the call was not started.
const CodeBusy = 429

const (
	busyResend  = "resend" // a first send
	busyAgain   = "again"  // refused once
	busyResent  = "resent" // refused busyQueueAfter times or more
	busyRefused = "refused"
)

// busyQueueAfter is how many times a call is refused before it says so
// (Dpc-Busy: resent) and may wait in an instance's queue: the first sends
// look for a free slot elsewhere (three random picks all busy is
// unlikely unless every instance is), later ones stop bouncing.
const busyQueueAfter = 2

// The request header's values, shared by every request.
var (
	busyNone        []string
	busyResendValue = []string{busyResend}
	busyAgainValue  = []string{busyAgain}
	busyResentValue = []string{busyResent}
)

// busyHeader is Dpc-Busy for a call refused refused times so far.
func busyHeader(refused int) []string {
	switch {
	case refused == 0:
		return busyResendValue
	case refused < busyQueueAfter:
		return busyAgainValue
	}
	return busyResentValue
}

// DefaultStallAfter is how long an instance may have every handler slot
// taken without any of them freeing before it counts as stalled (and at
// least four of its slowest function's smoothed service times). A stalled
// instance leaves its queue group until a slot frees.
const DefaultStallAfter = 2 * time.Second

// busyOffer is what Dpc-Busy says of a call.
type busyOffer int

const (
	notResendable busyOffer = iota // no header: the call waits here
	firstSend                      // resend
	sentAgain                      // again
	mayQueue                       // resent
)

// busyOfferOf reads m's Dpc-Busy; a call without a reply subject is
// never resent.
func busyOfferOf(m *nats.Msg) busyOffer {
	if m.Reply == "" || m.Header == nil {
		return notResendable
	}
	v := m.Header[HeaderBusy]
	if len(v) == 0 {
		return notResendable
	}
	switch v[0] {
	case busyResend:
		return firstSend
	case busyAgain:
		return sentAgain
	case busyResent:
		return mayQueue
	}
	return notResendable
}

// refusedBusy says whether a reply is an instance's busy refusal.
func refusedBusy(m *nats.Msg) bool {
	if m.Header == nil {
		return false
	}
	v := m.Header[HeaderBusy]
	return len(v) > 0 && v[0] == busyRefused
}

// offer takes a call whose caller resends it when refused: see above.
func (i *Instance) offer(fn *function, fnName string, m *nats.Msg, how busyOffer) {
	if fn == nil {
		// Unknown: answered at once, without a slot.
		arrival := time.Now()
		i.serveCore(KindUnicast, fn, fnName, m, arrival, arrival)
		return
	}
	if i.tryAcquire() {
		arrival := i.arrive(fn)
		if fn.inline() {
			i.serveCore(KindUnicast, fn, fnName, m, arrival, arrival)
			i.release()
			return
		}
		go func() {
			defer i.release()
			i.serveCore(KindUnicast, fn, fnName, m, arrival, time.Now())
		}()
		return
	}
	now := time.Now()
	if i.stalledAt(now) {
		i.refuse(m)
		if !i.left.Load() {
			go i.leaveGroup()
		}
		return
	}
	if how != mayQueue || !i.reserveQueue() {
		i.refuse(m)
		return
	}
	// Counted in flight while it waits, so Unbind waits for it too.
	i.inflight.Add(1)
	go func() {
		defer i.inflight.Done()
		ok := i.acquireWithin(shedAfter(fn))
		i.queued.Add(-1)
		if !ok {
			i.refuse(m)
			return
		}
		defer i.release()
		// Counted as an arrival now that it is taken; its Dpc-Timeout
		// and its wait run from when it came (now, above).
		start := i.arrive(fn)
		i.serveCore(KindUnicast, fn, fnName, m, now, start)
	}()
}

// leaveGroup takes a stalled instance out of its queue group, so that
// calls stop reaching it at all rather than being refused by it; release
// brings it back as soon as a slot frees. (Only a stalled one: leaving
// and joining on every saturation would cost the server an interest
// change per call.)
func (i *Instance) leaveGroup() {
	i.groupMu.Lock()
	g := i.group
	if g == nil || i.closing {
		i.groupMu.Unlock()
		return
	}
	i.group = nil
	i.left.Store(true)
	i.groupMu.Unlock()
	// Drained, not dropped: calls already delivered to this client are
	// still refused, so sent elsewhere.
	if err := g.Drain(); err != nil {
		i.node.log.Debug("omq: leaving the queue group", "service", i.name, "err", err)
	}
	i.node.log.Warn("omq: instance stalled: every handler slot taken and none freed; out of the queue group until one frees",
		"service", i.name, "instance", i.id, "slots", i.cfg.concurrency, "stall_after", i.stallAfter())
}

// rejoinGroup puts an instance that left its queue group back in it.
func (i *Instance) rejoinGroup() {
	i.groupMu.Lock()
	defer i.groupMu.Unlock()
	if i.group != nil || i.closing {
		return
	}
	g, err := i.node.nc.QueueSubscribe(i.node.subj.unicast(i.name, "*"), i.name, i.onMsg(KindUnicast))
	if err != nil {
		// Tried again when the next slot frees.
		i.node.log.Warn("omq: rejoining the queue group", "service", i.name, "err", err)
		return
	}
	i.group = g
	i.left.Store(false)
	i.node.log.Info("omq: instance serving again: back in the queue group", "service", i.name, "instance", i.id)
}

// shedAfter is how long a call may wait at an instance for a slot before
// it is refused and sent elsewhere: two of the function's smoothed service
// times, within [1ms, 250ms].
func shedAfter(fn *function) time.Duration {
	return min(max(2*time.Duration(fn.ewma.Load()), time.Millisecond), 250*time.Millisecond)
}

// tryAcquire takes a free handler slot if there is one.
func (i *Instance) tryAcquire() bool {
	select {
	case i.sem <- struct{}{}:
	default:
		return false
	}
	i.took()
	return true
}

// acquireWithin waits up to d for a free slot.
func (i *Instance) acquireWithin(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case i.sem <- struct{}{}:
		i.took()
		return true
	case <-t.C:
		return false
	case <-i.ctx.Done():
		return false
	}
}

// took counts a slot taken; the start that takes the last free slot
// marks when the instance became saturated.
func (i *Instance) took() {
	if i.running.Add(1) >= int64(i.cfg.concurrency) {
		i.progress.Store(time.Now().UnixNano())
	}
	i.inflight.Add(1)
}

func (i *Instance) reserveQueue() bool {
	if i.queued.Add(1) > int64(i.cfg.queue) {
		i.queued.Add(-1)
		return false
	}
	return true
}

// refuse answers a call it did not start with the busy refusal.
func (i *Instance) refuse(m *nats.Msg) {
	i.refused.Add(1)
	out := nats.Msg{Subject: m.Reply, Header: refusalHeader}
	if err := i.node.nc.PublishMsg(&out); err != nil {
		i.node.log.Debug("omq: refusal not sent", "service", i.name, "err", err)
	}
}

// refusalHeader is every refusal's header. Refusals come fast under
// overload (a waiting call is refused every few milliseconds), and
// nats.go only reads a message's header as it sends it: one map for all.
var refusalHeader = nats.Header{
	HeaderBusy:      {busyRefused},
	HeaderError:     {"instance busy: every handler slot is taken; the call was not started"},
	HeaderErrorCode: {"429"},
}

// saturated says whether every handler slot is taken.
func (i *Instance) saturated() bool { return i.running.Load() >= int64(i.cfg.concurrency) }

// stalledAt says whether every slot has been taken, with none freed, for
// longer than the stall time: the handlers stopped finishing.
func (i *Instance) stalledAt(now time.Time) bool {
	if !i.saturated() {
		return false
	}
	since := now.Sub(time.Unix(0, i.progress.Load()))
	return since > i.stallAfter()
}

// stallAfter is the bind's stall time, or four of the slowest function's
// smoothed service times if that is longer: an instance of a function
// that takes a minute is not stalled after ten seconds.
func (i *Instance) stallAfter() time.Duration {
	d := i.cfg.stallAfter
	for _, f := range i.funcs {
		d = max(d, 4*time.Duration(f.ewma.Load()))
	}
	return d
}

// state is the instance's InstanceData.State.
func (i *Instance) state(now time.Time) string {
	switch {
	case i.stalledAt(now):
		return StateStalled
	case i.saturated():
		return StateSaturated
	}
	return StateOK
}
