package omq

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Dispatch. NATS' client hands a subscription its messages one at a time,
// on one delivery goroutine. An instance takes one of cfg.concurrency
// handler slots per call (blocking delivery while all are busy, so further
// messages wait in the client's pending queue), then:
//
//   - runs a fast function inline, on the delivery goroutine, as a plain
//     NATS responder would: a call that takes microseconds gains nothing
//     from a goroutine of its own, and replies written back to back from
//     one goroutine are flushed to the socket together;
//   - runs a slow function on a goroutine of its own, so that up to
//     cfg.concurrency calls run at once.
//
// "Fast" is a smoothed service time under inlineBelow, per function. A new
// function starts as slow, so it never holds up delivery before it has
// shown it is fast; a fast function that turns slow goes off-line from its
// next call.
//
// A unicast call whose caller resends it when refused is offered instead
// (busy.go): it never waits behind calls the instance cannot start.
//
// The durable lane (durable.go) takes the same slots but never blocks its
// pulling goroutine: it pulls only into free slots and runs every durable
// handler on a goroutine of its own.

// inlineBelow is the smoothed service time under which a function runs
// inline.
const inlineBelow = 50 * time.Microsecond

func (f *function) inline() bool { return f.ewma.Load() < int64(inlineBelow) }

// observeService folds one service time into the smoothed figure (weight
// 1/8). Concurrent updates may overwrite each other; the figure only
// steers dispatch.
func (f *function) observeService(d time.Duration) {
	old := f.ewma.Load()
	f.ewma.Store(old + (int64(d)-old)/8)
}

// acquire takes a handler slot, blocking the subscription's delivery while
// all are busy (noted in bl, for the messages buffered behind m), and says
// whether it had to wait.
func (i *Instance) acquire(bl *backlog, m *nats.Msg) (waited bool) {
	select {
	case i.sem <- struct{}{}:
	default:
		waited = true
		i.waiting.Add(1)
		bl.wait(i.sem, m.Sub)
		i.waiting.Add(-1)
	}
	i.took()
	return waited
}

// startTime is when handling starts inline: the arrival, unless the call
// waited for a slot.
func startTime(arrival time.Time, waited bool) time.Time {
	if waited {
		return time.Now()
	}
	return arrival
}

func (i *Instance) release() {
	i.running.Add(-1)
	<-i.sem
	if i.left.Load() {
		go i.rejoinGroup()
	}
	// Tell the durable lane, which pulls only into free slots.
	select {
	case i.slotFreed <- struct{}{}:
	default:
	}
	i.inflight.Done()
}

func (i *Instance) onMsg(kind Kind) nats.MsgHandler {
	bl := &backlog{} // this subscription's: see backlog.go
	return func(m *nats.Msg) {
		i.inCallback.Add(1)
		defer i.inCallback.Add(-1)
		fnName := lastToken(m.Subject)
		fn := i.funcs[fnName]
		if kind == KindUnicast {
			how := busyOfferOf(m)
			if how != sentAgain && how != mayQueue {
				// Offered to the service for the first time.
				i.offered.Add(1)
			}
			if how != notResendable {
				i.offer(fn, fnName, m, how)
				return
			}
		}
		delivered := i.arrive(fn)
		// When it came, if it waited in the client's buffer behind a
		// blocked delivery: its timeout runs from then.
		arrival := bl.arrival(delivered)
		waited := i.acquire(bl, m)
		if fn == nil || fn.inline() {
			i.serveCore(kind, fn, fnName, m, arrival, startTime(delivered, waited))
			i.release()
			return
		}
		go func() {
			defer i.release()
			i.serveCore(kind, fn, fnName, m, arrival, time.Now())
		}()
	}
}

func (i *Instance) serveCore(kind Kind, fn *function, fnName string, m *nats.Msg, arrival, start time.Time) {
	o := i.run(kind, fn, fnName, m.Header, m.Data, arrival, start, time.Time{})
	defer o.release() // the reply is sent (nats.go copies it) or not at all
	if o.noReply() || m.Reply == "" {
		return
	}
	i.reply(kind, fnName, m.Reply, o.data, o.err, o.trace)
}

// arrive records an arrival at the instance, in delivery order, and
// returns its time.
func (i *Instance) arrive(fn *function) time.Time {
	now := time.Now()
	i.statMu.Lock()
	if !i.lastArriv.IsZero() {
		i.arrivals.add(now.Sub(i.lastArriv).Seconds())
	}
	i.lastArriv = now
	i.statMu.Unlock()
	if fn != nil {
		fn.stats.arrival(now)
	}
	return now
}

func (i *Instance) recordWait(start time.Time, d time.Duration) {
	i.statMu.Lock()
	i.waits.add(start, d)
	i.statMu.Unlock()
}
