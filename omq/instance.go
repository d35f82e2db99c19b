package omq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Instance is one bound copy of a service. Unbind it to stop serving.
type Instance struct {
	node  *Node
	name  string
	id    string
	cfg   bindConfig
	funcs map[string]*function // fixed at bind; read without locks

	// Handler slots; see dispatch.go.
	sem       chan struct{}
	slotFreed chan struct{} // a slot was released (for the durable lane)
	inflight  sync.WaitGroup
	running   atomic.Int64
	waiting   atomic.Int64
	// queued counts offered calls waiting for a slot; refused those sent
	// back busy; progress is when the instance last became saturated
	// (Unix ns). See busy.go.
	queued   atomic.Int64
	refused  atomic.Int64
	offered  atomic.Int64 // unicast calls received for the first time
	progress atomic.Int64
	// inCallback counts the core lanes' subscription callbacks running.
	inCallback atomic.Int64

	subs []*nats.Subscription // the multi and direct call subscriptions
	// group is the unicast queue-group subscription, nil while the
	// instance has left the group (stalled; see busy.go) or after
	// Unbind began (closing).
	groupMu sync.Mutex
	group   *nats.Subscription
	closing bool
	left    atomic.Bool          // out of the group, stalled
	srvSubs []*nats.Subscription // $SRV subscriptions
	lane    *lane                // the durable lane; nil without one
	started time.Time

	statMu    sync.Mutex // guards the instance-wide figures below
	waits     waitWindow
	arrivals  moments
	lastArriv time.Time

	ctx    context.Context // handlers' base context; cancelled if Unbind gives up
	cancel context.CancelFunc

	unbindOnce sync.Once
	unbindErr  error
}

type function struct {
	name    string
	handler Handler
	subject string
	stats   funcStats
	metrics *fnMetrics
	// method is handler when it is a bound method, called directly.
	method *methodHandler
	// usesContext is false for bound methods that take no
	// context.Context: they are spared building one per call.
	usesContext bool
	// ewma is the smoothed service time in nanoseconds; it decides
	// whether calls run inline (see dispatch.go).
	ewma atomic.Int64
}

func newInstance(ctx context.Context, n *Node, name string, hs Handlers, cfg bindConfig) (*Instance, error) {
	id := cfg.id
	if id == "" {
		id = nuid.Next()
	}
	if err := checkName("instance", id); err != nil {
		return nil, err
	}
	i := &Instance{
		node:      n,
		name:      name,
		id:        id,
		cfg:       cfg,
		funcs:     make(map[string]*function, len(hs)),
		sem:       make(chan struct{}, cfg.concurrency),
		slotFreed: make(chan struct{}, 1),
		started:   time.Now().UTC(),
	}
	i.ctx, i.cancel = context.WithCancel(context.Background())
	for fn, h := range hs {
		i.funcs[fn] = &function{
			name:    fn,
			handler: h,
			subject: n.subj.unicast(name, fn),
			metrics: n.cfg.metrics.forFunction(name, fn),

			usesContext: true,
		}
		i.funcs[fn].ewma.Store(int64(inlineBelow) * 10)
		if mh, ok := h.(*methodHandler); ok {
			i.funcs[fn].usesContext = mh.hasCtx
			i.funcs[fn].method = mh
		}
	}
	if err := i.subscribe(ctx); err != nil {
		i.unsubscribeAll()
		i.cancel()
		return nil, err
	}
	return i, nil
}

// Name is the service name the instance is bound under.
func (i *Instance) Name() string { return i.name }

// ID is the instance's unique id; Stub.At(id) addresses it alone.
func (i *Instance) ID() string { return i.id }

// Functions lists the function names the instance serves, sorted.
func (i *Instance) Functions() []string { return slices.Sorted(maps.Keys(i.funcs)) }

func (i *Instance) subscribe(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, i.node.cfg.timeout)
		defer cancel()
	}
	nc := i.node.nc
	s := i.node.subj
	add := func(sub *nats.Subscription, err error) error {
		if err != nil {
			return fmt.Errorf("omq: bind %s: subscribe: %w", i.name, err)
		}
		i.subs = append(i.subs, sub)
		return nil
	}
	group, err := nc.QueueSubscribe(s.unicast(i.name, "*"), i.name, i.onMsg(KindUnicast))
	if err != nil {
		return fmt.Errorf("omq: bind %s: subscribe: %w", i.name, err)
	}
	i.group = group
	if err := add(nc.Subscribe(s.multi(i.name, "*"), i.onMsg(KindMulti))); err != nil {
		return err
	}
	if err := add(nc.Subscribe(s.direct(i.name, i.id, "*"), i.onMsg(KindDirect))); err != nil {
		return err
	}
	if !i.cfg.noDurable {
		if err := i.startDurable(ctx); err != nil {
			return err
		}
	}
	// $SRV last: once an instance answers PING it serves every lane.
	if err := i.subscribeSRV(); err != nil {
		return fmt.Errorf("omq: bind %s: subscribe $SRV: %w", i.name, err)
	}
	// Make sure the server has every subscription before Bind returns, so a
	// call made right after Bind finds this instance.
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("omq: bind %s: flush: %w", i.name, err)
	}
	return nil
}

func lastToken(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

func (i *Instance) reply(kind Kind, fnName, to string, data []byte, rerr *Error, traceReport string) {
	nc := i.node.nc
	if len(data) > i.node.cfg.maxBody {
		i.node.log.Warn("omq: result too large to send", "service", i.name, "function", fnName, "bytes", len(data), "max", i.node.cfg.maxBody)
		data, rerr = nil, Errorf(CodeTooLarge, "the result of %s.%s is %d bytes, more than the instance's %d-byte maximum body", i.name, fnName, len(data), i.node.cfg.maxBody)
	}
	if i.node.tooLarge(len(data)) {
		i.replyLarge(kind, fnName, to, data, traceReport)
		return
	}
	if rerr == nil && kind == KindUnicast && traceReport == "" {
		if err := nc.Publish(to, data); err != nil {
			i.node.log.Warn("omq: reply failed", "service", i.name, "err", err)
		}
		return
	}
	out := &nats.Msg{Subject: to, Data: data, Header: nats.Header{}}
	if kind != KindUnicast {
		out.Header.Set(HeaderInstance, i.id)
	}
	if rerr != nil {
		out.Header.Set(HeaderError, rerr.Description)
		out.Header.Set(HeaderErrorCode, fmt.Sprint(rerr.Code))
	}
	if traceReport != "" {
		out.Header.Set(HeaderTrace, traceReport)
	}
	if err := nc.PublishMsg(out); err != nil {
		i.node.log.Warn("omq: reply failed", "service", i.name, "err", err)
	}
}

// replyLarge sends a result too large for one message through the
// object store.
func (i *Instance) replyLarge(kind Kind, fnName, to string, data []byte, traceReport string) {
	out := &nats.Msg{Subject: to, Data: data, Header: nats.Header{}}
	if kind != KindUnicast {
		out.Header.Set(HeaderInstance, i.id)
	}
	if traceReport != "" {
		out.Header.Set(HeaderTrace, traceReport)
	}
	ctx, cancel := context.WithTimeout(i.ctx, i.node.cfg.timeout)
	defer cancel()
	if err := i.node.outgoing(ctx, bodyOf{"result", i.name, fnName}, out); err != nil {
		i.node.log.Warn("omq: large reply failed", "service", i.name, "function", fnName, "bytes", len(data), "err", err)
		i.reply(kind, fnName, to, nil, Errorf(CodeHandlerFailure, "result of %d bytes could not be sent: %v", len(data), err), traceReport)
		return
	}
	if err := i.node.nc.PublishMsg(out); err != nil {
		i.node.log.Warn("omq: reply failed", "service", i.name, "err", err)
	}
}

var jsonNull = []byte("null")

// outcome is what handling one call produced.
type outcome struct {
	data []byte // encoded result when err is nil
	// buf holds data when it is pooled: release gives it back once the
	// reply is sent. An outcome never released leaves it to the GC.
	buf *bytes.Buffer
	err *Error
	// expired: the caller's deadline had passed before handling started;
	// the handler did not run.
	expired bool
	// late: the deadline passed while the handler ran; the caller has
	// stopped waiting.
	late bool
	// trace is the reply's Dpc-Trace, "" unless the call was sampled.
	trace string
}

// release gives the outcome's buffer back; data is gone after.
func (o *outcome) release() {
	putBuffer(o.buf)
	o.buf, o.data = nil, nil
}

// noReply tells the core lanes not to answer: nobody is waiting, and a
// late reply would only race the caller's timeout (a handler that gave up
// at the deadline must not turn the caller's ErrTimeout into a 500).
func (o outcome) noReply() bool { return o.expired || o.late }

// maxQueueWait bounds the queue wait read from Dpc-Sent, so that one
// request cannot put years into the wait statistics.
const maxQueueWait = 24 * time.Hour

// run handles one call that reached the instance at arrival (which, with
// its Dpc-Timeout, sets the call's deadline) and starts being handled at
// start. A durable call's handler must be done by ackBy
// (see lane), zero for the other kinds.
func (i *Instance) run(kind Kind, fn *function, fnName string, hdr nats.Header, body []byte, arrival, start, ackBy time.Time) outcome {
	wait := start.Sub(arrival)
	var sent time.Time
	if hdr != nil {
		var ok bool
		// On the caller's clock: skew between the two clocks goes into
		// the wait, floored at zero; a send time further back than
		// maxQueueWait (a clock far off, or a made-up header) is not
		// believed, and the wait counts from arrival as without one.
		if sent, ok = parseTime(hdr[HeaderSent]); ok {
			if w := start.Sub(sent); w <= maxQueueWait {
				wait = max(0, w)
			}
		}
	}
	deadline, hasDeadline := callDeadline(kind, hdr, arrival)
	if kind != KindDurable {
		// A durable call's wait includes its time in the stream, which
		// says nothing about this instance's load: keep it out of the
		// window the provisioner reads.
		i.recordWait(start, wait)
	}
	if hasDeadline && !start.Before(deadline) {
		if fn != nil {
			fn.stats.expire()
			fn.metrics.expire()
		}
		return outcome{expired: true}
	}
	// The function first: a call to one the instance does not have is
	// answered without reading its body, however large.
	if fn == nil {
		return outcome{err: Errorf(CodeUnknownFunction, "service %s has no function %q (it has: %s)", i.name, fnName, strings.Join(i.Functions(), ", "))}
	}

	var res any
	var err error
	tr := incomingTraceOf(hdr) // nil for an untraced call
	body, berr := i.args(kind, fnName, hdr, body)
	if berr != nil {
		err = berr
	} else if perr := checkArgs(fnName, body); perr != nil {
		err = perr
	} else {
		ctx, cancel := i.ctx, context.CancelFunc(nil)
		if fn.usesContext {
			ctx, cancel = i.handlerContext(deadline, hasDeadline, ackBy)
			if tr != nil {
				ctx = tr.context(ctx)
			}
		}
		res, err = i.call(ctx, fn, kind, hdr, body, sent)
		if cancel != nil {
			cancel()
		}
	}
	var o outcome
	if err == nil {
		o.buf = getBuffer()
		o.data, err = encodeResult(o.buf, res)
	}
	end := time.Now()
	service := end.Sub(start)
	fn.observeService(service)
	if err != nil {
		var e *Error // not &o.err: that would move o to the heap on every call
		if !errors.As(err, &e) {
			e = &Error{Code: CodeHandlerFailure, Description: err.Error()}
		}
		o.err = e
		if o.err.Code >= 500 {
			i.node.log.Warn("omq: handler failed", "service", i.name, "function", fnName, "code", o.err.Code, "err", o.err.Description)
		}
	}
	fn.stats.done(wait, service, o.err)
	fn.metrics.observe(wait, service, o.err)
	o.late = hasDeadline && !end.Before(deadline)
	if tr != nil {
		i.logCall(tr, kind, fnName, wait, service, o.err)
		o.trace = tr.report(i.id, wait, service)
	}
	return o
}

// args returns a request's body: inline, or read from its body object
// (deleted after reading when this instance is its only reader: a unicast
// or direct request). A body over the node's maximum is a 413, an object
// that cannot be read a 400.
func (i *Instance) args(kind Kind, fnName string, hdr nats.Header, body []byte) ([]byte, *Error) {
	if !hasBodyObject(hdr) && len(body) <= i.node.cfg.maxBody {
		return body, nil
	}
	ctx, cancel := context.WithTimeout(i.ctx, i.node.cfg.timeout)
	defer cancel()
	b, err := i.node.incoming(ctx, bodyOf{"arguments", i.name, fnName}, hdr, body, kind == KindUnicast || kind == KindDirect)
	var big *bodyTooLarge
	switch {
	case err == nil:
		return b, nil
	case errors.As(err, &big):
		return nil, Errorf(CodeTooLarge, "the arguments of %s.%s are %d bytes, more than the instance's %d-byte maximum body", i.name, fnName, big.size, big.max)
	}
	return nil, Errorf(CodeBadArguments, "%v", err)
}

// handlerContext carries the caller's deadline; a durable call also ends
// at ackBy, before the lane would redeliver it to another instance.
func (i *Instance) handlerContext(deadline time.Time, hasDeadline bool, ackBy time.Time) (context.Context, context.CancelFunc) {
	if !ackBy.IsZero() && (!hasDeadline || ackBy.Before(deadline)) {
		deadline, hasDeadline = ackBy, true
	}
	if hasDeadline {
		return context.WithDeadline(i.ctx, deadline)
	}
	return i.ctx, func() {}
}

// call runs the handler, turning a panic into a 500 so that one bad call
// never takes the instance down.
func (i *Instance) call(ctx context.Context, fn *function, kind Kind, hdr nats.Header, body []byte, sent time.Time) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			i.node.log.Error("omq: handler panicked", "service", i.name, "function", fn.name, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, Errorf(CodeHandlerFailure, "%s panicked: %v", fn.name, p)
		}
	}()
	if fn.method != nil {
		// A bound method reads nothing of the request but its body:
		// no Request is built for it.
		return fn.method.call(ctx, body)
	}
	return fn.handler.Handle(ctx, &Request{Service: i.name, Function: fn.name, Instance: i.id, Kind: kind, Args: body, Header: hdr, Sent: sent})
}

// checkArgs rejects bodies that are not empty, a JSON array or a JSON
// object, before any handler sees them.
func checkArgs(fn string, body []byte) *Error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil
	}
	if (t[0] != '[' && t[0] != '{') || !json.Valid(t) {
		return Errorf(CodeBadArguments, "malformed arguments to %s: want a JSON array (by position) or object (by name), got %q", fn, truncate(t, 40))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// encodeResult encodes a handler's result, into buf when not nil.
func encodeResult(buf *bytes.Buffer, res any) ([]byte, error) {
	switch r := res.(type) {
	case nil:
		return jsonNull, nil
	case json.RawMessage:
		if len(r) == 0 {
			return jsonNull, nil
		}
		return r, nil
	}
	b, err := marshalInto(buf, res)
	if err != nil {
		return nil, Errorf(CodeHandlerFailure, "encoding result: %v", err)
	}
	return b, nil
}

// Backlog is the number of calls received but not started: those waiting
// for a free handler slot plus those queued in the NATS client.
func (i *Instance) Backlog() int64 {
	// nats.go counts a message as pending until its callback returns, so
	// a call running inline, or blocked in the callback for a slot, is
	// in Pending too: take those out (a blocked one is in waiting).
	n := -i.inCallback.Load()
	for _, s := range i.callSubs(false) {
		if p, _, err := s.Pending(); err == nil {
			n += int64(p)
		}
	}
	return max(n, 0) + i.waiting.Load() + i.queued.Load()
}

// Unbind stops the instance: it stops answering $SRV requests at once (so
// a MultiCall or the catalog no longer counts it while it drains), leaves
// the queue group and the durable lane, and lets calls already delivered
// to it finish. If ctx ends first, running handlers see their contexts
// cancelled and Unbind returns ctx's error. Safe to call twice.
func (i *Instance) Unbind(ctx context.Context) error {
	i.unbindOnce.Do(func() { i.unbindErr = i.unbind(ctx) })
	return i.unbindErr
}

func (i *Instance) unbind(ctx context.Context) error {
	defer i.node.forget(i)
	defer i.cancel()
	// Out of discovery first: a draining instance takes no new multi
	// calls, so a caller counting instances by $SRV.PING must not wait
	// for its reply.
	i.unsubscribeSRV()
	var errs []error
	if i.lane != nil {
		// Pulls no more; messages already pulled are handled below.
		i.lane.stop()
	}
	// Cut off from the server, a drain would wait for it to confirm the
	// unsubscriptions until ctx ends, and nothing more can arrive anyway:
	// unsubscribe at once. (Calls waiting for a slot are dropped: their
	// replies could not reach their callers now, who retry or time out.)
	subs := i.callSubs(true)
	if !i.node.nc.IsConnected() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, s := range subs {
		if !s.IsValid() {
			continue
		}
		closed := s.StatusChanged(nats.SubscriptionClosed)
		if err := s.Drain(); err != nil {
			if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		if !s.IsValid() {
			continue
		}
		select {
		case <-closed:
		case <-ctx.Done():
			_ = s.Unsubscribe()
		}
	}
	done := make(chan struct{})
	go func() { i.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		i.cancel()
		errs = append(errs, fmt.Errorf("omq: unbind %s: %d calls still running: %w", i.name, i.running.Load(), ctx.Err()))
	}
	return errors.Join(errs...)
}

func (i *Instance) unsubscribeAll() {
	if i.lane != nil {
		i.lane.stop()
	}
	for _, s := range i.callSubs(true) {
		_ = s.Unsubscribe()
	}
	i.unsubscribeSRV()
}

// callSubs lists the call subscriptions, the queue group's first if the
// instance is in it; closing marks the instance closing, so that it does
// not join the group again.
func (i *Instance) callSubs(closing bool) []*nats.Subscription {
	i.groupMu.Lock()
	defer i.groupMu.Unlock()
	if closing {
		i.closing = true
	}
	out := make([]*nats.Subscription, 0, len(i.subs)+1)
	if i.group != nil {
		out = append(out, i.group)
	}
	return append(out, i.subs...)
}

func (i *Instance) unsubscribeSRV() {
	for _, s := range i.srvSubs {
		_ = s.Unsubscribe()
	}
}
