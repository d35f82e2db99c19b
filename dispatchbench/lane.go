package dispatchbench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The sides.
const (
	SidePush   = "push"
	SideRefuse = "refuse"
	SidePull   = "pull"
)

// AllSides are the sides in the order they are run and reported.
var AllSides = []string{SidePush, SideRefuse, SidePull}

// lane is one dispatch option, set up for one scenario run: instances bind
// to it and callers call through it, each on a connection of its own.
type lane interface {
	// bind starts an instance that runs work for each call, up to conc
	// at once.
	bind(ctx context.Context, conc int, work func(ctx context.Context)) (instance, error)
	// caller opens a client.
	caller(ctx context.Context) (caller, error)
	// close removes what the lane set up on the server.
	close()
}

type instance interface {
	// stop unbinds the instance, waiting for its handlers, and closes its
	// connection.
	stop()
}

type caller interface {
	// call makes one call and waits for its reply, up to timeout.
	call(ctx context.Context, timeout time.Duration) error
	close()
}

var errTimeout = errors.New("dispatchbench: no reply within the timeout")

// newLane sets up side for a run; id keeps the run's names apart from
// other runs'.
func newLane(ctx context.Context, side, url string, id int, ackWait time.Duration, queue *int) (lane, error) {
	switch side {
	case SidePush, SideRefuse:
		return &omqLane{url: url, service: fmt.Sprintf("dbench-%d", id), push: side == SidePush, queue: queue}, nil
	case SidePull:
		return newPullLane(ctx, url, id, ackWait)
	}
	return nil, fmt.Errorf("dispatchbench: unknown side %q (want push, refuse or pull)", side)
}

// stopTimeout bounds an instance's unbinding: its handlers have been
// released by then, so it waits only for calls still queued.
const stopTimeout = 10 * time.Second

// omqLane is push or refuse: omq's unicast calls, through the service's
// NATS queue group.
type omqLane struct {
	url     string
	service string
	push    bool
	queue   *int
}

func (l *omqLane) bind(ctx context.Context, conc int, work func(ctx context.Context)) (instance, error) {
	nc, err := nats.Connect(l.url)
	if err != nil {
		return nil, err
	}
	node, err := omq.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	h := omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
		work(ctx)
		return nil, nil
	})}
	opts := []omq.BindOption{omq.Concurrency(conc), omq.NoDurable()}
	if l.queue != nil {
		opts = append(opts, omq.Queue(*l.queue))
	}
	if _, err := node.Bind(ctx, l.service, h, opts...); err != nil {
		nc.Close()
		return nil, err
	}
	return &omqInstance{nc: nc, node: node}, nil
}

type omqInstance struct {
	nc   *nats.Conn
	node *omq.Node
}

func (i *omqInstance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = i.node.Close(ctx)
	i.nc.Close()
}

func (l *omqLane) caller(context.Context) (caller, error) {
	nc, err := nats.Connect(l.url)
	if err != nil {
		return nil, err
	}
	node, err := omq.New(nc, omq.WithResendWhenBusy(!l.push))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &omqCaller{nc: nc, node: node, stub: node.Lookup(l.service)}, nil
}

func (l *omqLane) close() {}

type omqCaller struct {
	nc   *nats.Conn
	node *omq.Node
	stub *omq.Stub
}

func (c *omqCaller) call(ctx context.Context, timeout time.Duration) error {
	return c.stub.Call(ctx, "work", nil, nil, omq.Timeout(timeout))
}

func (c *omqCaller) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = c.node.Close(ctx)
	c.nc.Close()
}

// The pull lane's headers: where the reply goes, and when the caller
// stops waiting (Unix nanoseconds); a slot drops a call it takes after
// that, as an omq instance does.
const (
	headerReply    = "Dbench-Reply"
	headerDeadline = "Dbench-Deadline"
	consumerName   = "dbench"
)

// pullLane is the JetStream lane: a memory work-queue stream with one
// durable pull consumer, which instances pull from only into free slots.
type pullLane struct {
	url     string
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  string
	subject string
}

func newPullLane(ctx context.Context, url string, id int, ackWait time.Duration) (*pullLane, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	l := &pullLane{url: url, nc: nc, js: js,
		stream: fmt.Sprintf("DBENCH_%d", id), subject: fmt.Sprintf("dbench.%d.work", id)}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      l.stream,
		Subjects:  []string{fmt.Sprintf("dbench.%d.>", id)},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.MemoryStorage,
		Discard:   jetstream.DiscardNew,
		MaxMsgs:   100_000,
		MaxBytes:  64 << 20,
		Replicas:  1,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("pull lane: stream: %w", err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, l.stream, jetstream.ConsumerConfig{
		Durable:       consumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 10_000,
		MaxWaiting:    4096,
	})
	if err != nil {
		l.close()
		return nil, fmt.Errorf("pull lane: consumer: %w", err)
	}
	return l, nil
}

func (l *pullLane) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.js.DeleteStream(ctx, l.stream)
	l.nc.Close()
}

func (l *pullLane) bind(ctx context.Context, conc int, work func(ctx context.Context)) (instance, error) {
	nc, err := nats.Connect(l.url)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cons, err := js.Consumer(ctx, l.stream, consumerName)
	if err != nil {
		nc.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	inst := &pullInstance{nc: nc, cancel: cancel}
	for range conc {
		inst.wg.Go(func() { inst.slot(runCtx, cons, work) })
	}
	return inst, nil
}

type pullInstance struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// slot is one handler slot: it asks for one message only when free.
func (i *pullInstance) slot(ctx context.Context, cons jetstream.Consumer, work func(ctx context.Context)) {
	for ctx.Err() == nil {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) {
				time.Sleep(10 * time.Millisecond) // a hiccup of the server: ask again soon
			}
			continue
		}
		i.handle(m, work)
	}
}

func (i *pullInstance) handle(m jetstream.Msg, work func(ctx context.Context)) {
	h := m.Headers()
	reply := h.Get(headerReply)
	ns, _ := strconv.ParseInt(h.Get(headerDeadline), 10, 64)
	deadline := time.Unix(0, ns)
	if reply == "" || !time.Now().Before(deadline) {
		_ = m.Ack() // its caller has given up: not run
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	work(ctx)
	cancel()
	_ = i.nc.Publish(reply, nil)
	_ = m.Ack()
}

func (i *pullInstance) stop() {
	i.cancel()
	i.wg.Wait()
	i.nc.Close()
}

func (l *pullLane) caller(context.Context) (caller, error) {
	nc, err := nats.Connect(l.url)
	if err != nil {
		return nil, err
	}
	c := &pullCaller{nc: nc, subject: l.subject, prefix: nats.NewInbox(), pending: map[string]chan struct{}{}}
	c.sub, err = nc.Subscribe(c.prefix+".*", c.onReply)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// pullCaller publishes calls into the stream and takes their replies on
// one wildcard subscription of its own inbox.
type pullCaller struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	subject string
	prefix  string
	next    atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan struct{}
}

func (c *pullCaller) onReply(m *nats.Msg) {
	token := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	c.mu.Lock()
	ch := c.pending[token]
	delete(c.pending, token)
	c.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
}

func (c *pullCaller) call(ctx context.Context, timeout time.Duration) error {
	token := strconv.FormatUint(c.next.Add(1), 36)
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.pending[token] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, token)
		c.mu.Unlock()
	}
	deadline := time.Now().Add(timeout)
	m := nats.NewMsg(c.subject)
	m.Header.Set(headerReply, c.prefix+"."+token)
	m.Header.Set(headerDeadline, strconv.FormatInt(deadline.UnixNano(), 10))
	// A core publish: the stream takes it; the reply is the confirmation.
	if err := c.nc.PublishMsg(m); err != nil {
		forget()
		return err
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		forget()
		return errTimeout
	case <-ctx.Done():
		forget()
		return ctx.Err()
	}
}

func (c *pullCaller) close() {
	_ = c.sub.Unsubscribe()
	c.nc.Close()
}
