package omq

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// replies receives the replies of a node's synchronous calls on one
// wildcard subscription, <inbox>.*, each call's reply subject being
// <inbox>.<n> for a counter n. nats.go's own request does the same with a
// map of tokens to new channels; this one keys its map by number and
// takes the channels and timers from pools, so a call allocates only its
// reply subject. A reply that arrives after its call gave up finds no
// entry and is dropped; a number is never reused.
type replies struct {
	nc     *nats.Conn
	prefix string // "<inbox>."

	mu      sync.Mutex
	sub     *nats.Subscription
	closed  chan struct{} // closed when sub closes (the connection went)
	next    uint64
	waiting map[uint64]chan *nats.Msg
}

// replyChans are one-slot channels, drained before they are put back.
var replyChans = sync.Pool{New: func() any { return make(chan *nats.Msg, 1) }}

// replyTimers are stopped timers.
var replyTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func newReplies(nc *nats.Conn) *replies {
	return &replies{nc: nc, prefix: nc.NewInbox() + ".", waiting: map[uint64]chan *nats.Msg{}}
}

// start subscribes on first use. Lock held.
func (r *replies) start() error {
	if r.sub != nil {
		return nil
	}
	sub, err := r.nc.Subscribe(r.prefix+"*", r.deliver)
	if err != nil {
		return err
	}
	r.closed = make(chan struct{})
	go func(closed chan struct{}, status <-chan nats.SubStatus) {
		<-status
		close(closed)
	}(r.closed, sub.StatusChanged(nats.SubscriptionClosed))
	r.sub = sub
	return nil
}

// deliver hands a reply to the call waiting for it, if any.
func (r *replies) deliver(m *nats.Msg) {
	n, err := strconv.ParseUint(m.Subject[len(r.prefix):], 10, 64)
	if err != nil {
		return
	}
	r.mu.Lock()
	if ch, ok := r.waiting[n]; ok {
		delete(r.waiting, n)
		ch <- m // one slot, and the entry is gone: never blocks
	}
	r.mu.Unlock()
}

// request publishes msg with a reply subject of its own and waits for
// the reply until timeout or ctx ends (ctx.Done() may be nil). Errors are
// nats.go's: ErrNoResponders, ErrTimeout, ErrConnectionClosed, ctx's.
func (r *replies) request(ctx context.Context, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	ch := replyChans.Get().(chan *nats.Msg)
	r.mu.Lock()
	if err := r.start(); err != nil {
		r.mu.Unlock()
		replyChans.Put(ch)
		return nil, err
	}
	r.next++
	n, closed := r.next, r.closed
	r.waiting[n] = ch
	r.mu.Unlock()

	var buf [128]byte // one allocation for the subject, not two
	msg.Reply = string(strconv.AppendUint(append(buf[:0], r.prefix...), n, 10))
	err := r.nc.PublishMsg(msg)
	var resp *nats.Msg
	if err == nil {
		t := replyTimers.Get().(*time.Timer)
		t.Reset(timeout)
		select {
		case resp = <-ch:
		case <-t.C:
			err = nats.ErrTimeout
		case <-ctx.Done():
			err = ctx.Err()
		case <-closed:
			err = nats.ErrConnectionClosed
		}
		t.Stop()
		replyTimers.Put(t)
	}
	r.mu.Lock()
	delete(r.waiting, n)
	r.mu.Unlock()
	// A reply delivered while the call was giving up is in ch: empty it
	// before another call takes it.
	select {
	case <-ch:
	default:
	}
	replyChans.Put(ch)
	if err != nil {
		return nil, err
	}
	if len(resp.Data) == 0 && resp.Header.Get("Status") == "503" {
		return nil, nats.ErrNoResponders
	}
	return resp, nil
}
