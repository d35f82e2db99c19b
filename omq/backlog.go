package omq

import (
	"time"

	"github.com/nats-io/nats.go"
)

// backlog estimates when the calls buffered in a subscription came in. A
// call's deadline is its arrival plus its Dpc-Timeout (callDeadline), but
// a subscription whose delivery blocks while every handler slot is taken
// (dispatch.go) leaves further calls in the client's buffer, and nats.go
// does not say when it received them: counted from their delivery, a
// call that waited there past its caller's timeout would still run.
//
// So while delivery is blocked, the buffer is looked at every
// backlogPoll: the messages buffered behind the one being delivered at
// time t were received by t. Each is given the first such t — the latest
// it can have come — so a buffered call's deadline errs late, by at most
// backlogPoll, and never early: a call is not dropped while its caller
// may still wait.
//
// One per subscription, used only by its delivery goroutine.
type backlog struct {
	marks   []backlogMark // oldest first
	covered int           // buffered messages the marks account for
}

// backlogMark: the next n buffered messages were received by at.
type backlogMark struct {
	at time.Time
	n  int
}

// maxBacklogMarks bounds the marks a subscription keeps. Messages beyond
// them count from their delivery: late, as without marks, never early.
const maxBacklogMarks = 128

// backlogPoll is how often a blocked delivery looks at its buffer: the
// most a buffered call's deadline can be late by. Only while blocked.
const backlogPoll = 5 * time.Millisecond

// arrival is when the message being delivered at now came: the time of
// the first block that saw it buffered, or now. Called once per message,
// in delivery order.
func (b *backlog) arrival(now time.Time) time.Time {
	if len(b.marks) == 0 {
		return now
	}
	m := &b.marks[0]
	at := m.at
	m.n--
	b.covered--
	if m.n == 0 {
		n := copy(b.marks, b.marks[1:])
		b.marks = b.marks[:n]
	}
	return at
}

// wait blocks the delivery of a message of sub until sem takes a token,
// noting the buffer as it fills.
func (b *backlog) wait(sem chan<- struct{}, sub *nats.Subscription) {
	b.look(sub)
	t := time.NewTicker(backlogPoll)
	defer t.Stop()
	for {
		select {
		case sem <- struct{}{}:
			return
		case <-t.C:
			b.look(sub)
		}
	}
}

// look notes the messages buffered in sub now that no mark accounts for
// yet.
func (b *backlog) look(sub *nats.Subscription) {
	if sub == nil {
		return
	}
	// Read before the time: what is buffered had come by then.
	pending, _, err := sub.Pending()
	t := time.Now()
	if err != nil {
		return
	}
	// Pending counts the message being delivered until its callback
	// returns.
	behind := pending - 1 - b.covered
	if behind <= 0 || len(b.marks) >= maxBacklogMarks {
		return
	}
	b.marks = append(b.marks, backlogMark{at: t, n: behind})
	b.covered += behind
}
