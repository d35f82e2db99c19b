package omq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Stub calls the functions of one service name, or of one instance of it
// (see At). A Stub is cheap, holds no resources and is safe for concurrent
// use.
type Stub struct {
	node     *Node
	service  string
	instance string
	// subjects caches the call subject of each function called (up to
	// maxCachedSubjects), copied on write: a call builds none.
	subjects atomic.Pointer[map[string]string]
}

// maxCachedSubjects bounds a stub's subject cache: function names come
// from callers, who may make up any number of them.
const maxCachedSubjects = 64

// Service is the name the stub calls.
func (s *Stub) Service() string { return s.service }

// At returns a stub whose calls go to the one instance with the given id
// (from Instances, a multi-call reply, or Instance.ID).
func (s *Stub) At(instanceID string) *Stub {
	return &Stub{node: s.node, service: s.service, instance: instanceID}
}

func (s *Stub) subject(fn string) string {
	cached := s.subjects.Load()
	if cached != nil {
		if subj, ok := (*cached)[fn]; ok {
			return subj
		}
	}
	var subj string
	if s.instance != "" {
		subj = s.node.subj.direct(s.service, s.instance, fn)
	} else {
		subj = s.node.subj.unicast(s.service, fn)
	}
	if cached == nil || len(*cached) < maxCachedSubjects {
		m := map[string]string{}
		if cached != nil {
			m = maps.Clone(*cached)
		}
		m[fn] = subj
		// Losing a race to another call only loses a cache entry.
		s.subjects.CompareAndSwap(cached, &m)
	}
	return subj
}

func (s *Stub) check(fn string) error {
	if err := checkName("service", s.service); err != nil {
		return err
	}
	if s.instance != "" {
		if err := checkName("instance", s.instance); err != nil {
			return err
		}
	}
	return checkName("function", fn)
}

func callOptions(opts []CallOption) callConfig {
	if len(opts) == 0 {
		return callConfig{retries: DefaultRetries}
	}
	cc := callConfig{retries: -1}
	for _, o := range opts {
		o(&cc)
	}
	if cc.retries < 0 {
		cc.retries = DefaultRetries
	}
	return cc
}

// withTimeout applies the call's timeout unless ctx already ends sooner.
func (s *Stub) withTimeout(ctx context.Context, cc callConfig) (context.Context, context.CancelFunc) {
	d := cc.timeout
	if d <= 0 {
		if _, ok := ctx.Deadline(); ok {
			return context.WithCancel(ctx)
		}
		d = s.node.cfg.timeout
	}
	return context.WithTimeout(ctx, d)
}

// Call invokes fn synchronously and decodes its result into reply (which may
// be nil to discard it). args is nil, a slice or array (by position: see
// Args), or a map or struct (by name).
//
// It fails with ErrNoResponders when nothing is bound (after waiting for an
// instance: WithInstanceWait, WaitForInstance), ErrTimeout when no reply
// arrives in time (the context's deadline, Timeout, or the node's default),
// or an *Error the instance sent. A call marked Idempotent is repeated after
// a timed-out attempt or a lost instance.
func (s *Stub) Call(ctx context.Context, fn string, args, reply any, opts ...CallOption) error {
	m := s.node.cfg.metrics
	cs := startCallSpan(ctx)
	if m == nil && cs == nil {
		return s.call(ctx, fn, args, reply, callOptions(opts), nil)
	}
	start := time.Now()
	err := s.call(ctx, fn, args, reply, callOptions(opts), cs)
	m.observeCall(s.service, fn, "call", time.Since(start), err)
	cs.finish(s.service, fn, err)
	return err
}

// call makes the call; cs is its span when ctx carries a trace (trace.go).
func (s *Stub) call(ctx context.Context, fn string, args, reply any, cc callConfig, cs *callSpan) error {
	if err := s.check(fn); err != nil {
		return err
	}
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := encodeArgsInto(buf, args)
	if err != nil {
		return err
	}
	if err := s.node.checkSend(bodyOf{"arguments", s.service, fn}, len(body)); err != nil {
		return err
	}
	now := time.Now()
	deadline := s.deadline(ctx, cc, now)
	attempts := 1
	if cc.idempotent {
		attempts += cc.retries
	}
	// Until waitUntil, "no responders" is answered by sending again: no
	// instance received the call, so even a call that is not idempotent
	// may be, and it costs no attempt.
	wait := s.node.cfg.instanceWait
	if cc.instanceWaitSet {
		wait = cc.instanceWait
	}
	var waitUntil time.Time
	pause, maxPause := 10*time.Millisecond, 500*time.Millisecond
	subject := s.subject(fn)
	busy := 0
	for a := 0; ; {
		attemptDeadline := deadline
		if left := attempts - a; left > 1 {
			attemptDeadline = now.Add(deadline.Sub(now) / time.Duration(left))
		}
		resp, err := s.request(ctx, fn, subject, body, now, attemptDeadline, busy, cs)
		if err == nil && refusedBusy(resp) {
			// Not started: send it again, as the same attempt sent at
			// the same time (see busy.go).
			busy++
			if !s.busyPause(ctx, busy, attemptDeadline) {
				if ctx.Err() != nil {
					return s.callError(ctx, fn, ctx.Err())
				}
				if time.Now().Before(deadline) && a+1 < attempts {
					a++
					now = time.Now()
					continue
				}
				return &timeoutError{what: fmt.Sprintf("every instance of %s that %s.%s reached was busy (%d refusals)", s.service, s.service, fn, busy)}
			}
			continue
		}
		if err == nil {
			e := replyError(resp)
			if e == nil || e.Code != CodeUnavailable {
				return decodeReply(s.service, fn, resp, reply)
			}
			err = e
		}
		if ctx.Err() != nil || !retryable(err) || !time.Now().Before(deadline) {
			return s.callError(ctx, fn, err)
		}
		// An idempotent call the instance answered "unavailable" is sent
		// again until the deadline, like one nobody received; neither
		// costs an attempt while it may go on.
		free := false
		switch {
		case errors.Is(err, ErrNoResponders):
			if waitUntil.IsZero() {
				waitUntil = time.Now().Add(wait)
			}
			free = time.Now().Before(waitUntil)
			if free && s.instance == "" {
				// Someone may start an instance for this wait (a
				// provisioner, for a service scaled to zero): ask, and
				// look again often enough that the backoff adds little
				// to the cold start.
				s.node.wake(s.service)
				maxPause = wakePause
			}
		case errors.Is(err, ErrUnavailable):
			free = cc.idempotent
		}
		if !free && a+1 >= attempts {
			return s.callError(ctx, fn, err)
		}
		if free || errors.Is(err, ErrNoResponders) {
			// No instance for now (one may be reconnecting or restarting),
			// or one that cannot serve yet: back off, with jitter,
			// doubling to half a second.
			d := pause/2 + time.Duration(rand.Int64N(int64(pause)))
			pause = min(2*pause, maxPause)
			if time.Until(deadline) < d || !sleepCtx(ctx, d) {
				return s.callError(ctx, fn, err)
			}
		}
		if !free {
			a++
		}
		now = time.Now()
	}
}

// busyPause waits before a call refused busy for the n-th time is sent
// again, and says false if that would pass deadline or ctx ended. The
// first resend goes at once (the server picks a member at random, likely
// another); then a jittered pause from 1 ms, doubling up to 16 ms: a few
// hundred resends a second per waiting call at most, and a freed slot
// waits little for its next call.
func (s *Stub) busyPause(ctx context.Context, n int, deadline time.Time) bool {
	if n == 1 {
		return time.Now().Before(deadline)
	}
	p := time.Millisecond << min(n-2, 4)
	d := p/2 + time.Duration(rand.Int64N(int64(p)))
	if time.Until(deadline) < d {
		return false
	}
	return sleepCtx(ctx, d)
}

// resendsWhenBusy says whether the stub's calls offer to be sent again
// when refused busy: unicast calls of a node that has it on.
func (s *Stub) resendsWhenBusy() bool { return s.instance == "" && !s.node.cfg.noBusyResend }

// wakePause caps the backoff of a call waiting for an instance it asked
// for: a few no-responders round trips a second cost the server next to
// nothing, and a cap of 500 ms would add 250 ms on average (up to 750 ms)
// to a cold start that itself takes a few hundred.
const wakePause = 100 * time.Millisecond

// maxWoken bounds how many services a node remembers waking: callers may
// name any number of services.
const maxWoken = 1024

// wake publishes a wake for service (fire-and-forget, empty body) unless
// this node did so less than WakeEvery ago. It reports whether it
// published.
func (n *Node) wake(service string) bool {
	now := time.Now()
	n.mu.Lock()
	if n.woken == nil {
		n.woken = map[string]time.Time{}
	}
	w := n.woken
	last, ok := w[service]
	send := !ok || now.Sub(last) >= WakeEvery
	if send && !ok && len(w) >= maxWoken {
		for k, t := range w {
			if now.Sub(t) >= WakeEvery {
				delete(w, k)
			}
		}
		send = len(w) < maxWoken
	}
	if send {
		w[service] = now
	}
	n.mu.Unlock()
	if !send {
		return false
	}
	// A publish that fails (connection closed, or denied: the caller
	// then only waits, as before) does not fail the call.
	if err := n.nc.Publish(n.WakeSubject(service), nil); err != nil {
		n.log.Debug("wake", "service", service, "err", err)
	}
	return true
}

// WakeSubject is the subject on which this node's calls ask for an
// instance of service while they wait for one (<prefix>.wake.<service>);
// "*" gives the subject of every service's wakes, for a provisioner to
// subscribe to.
func (n *Node) WakeSubject(service string) string { return n.subj.prefix + ".wake." + service }

// deadline is when the call gives up: the context's deadline, or Timeout
// (else the node's default) from now, whichever is sooner.
func (s *Stub) deadline(ctx context.Context, cc callConfig, now time.Time) time.Time {
	ctxDeadline, hasCtxDeadline := ctx.Deadline()
	d := cc.timeout
	if d <= 0 {
		if hasCtxDeadline {
			return ctxDeadline
		}
		d = s.node.cfg.timeout
	}
	dl := now.Add(d)
	if hasCtxDeadline && ctxDeadline.Before(dl) {
		return ctxDeadline
	}
	return dl
}

// retryable: errors after which a call may be sent again. ErrUnavailable
// only reaches an idempotent call's retries (a call with one attempt
// fails on it).
func retryable(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrNoResponders) || errors.Is(err, ErrUnavailable)
}

func (s *Stub) callError(ctx context.Context, fn string, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, ErrNoResponders) {
		return fmt.Errorf("omq: call %s.%s: %w", s.service, fn, ctx.Err())
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// request sends one attempt with the send-time and timeout headers and
// waits for the reply until deadline or the end of ctx; refused is how
// many times instances refused this call busy so far (see busy.go). The
// caller has checked body against the node's maximum.
func (s *Stub) request(ctx context.Context, fn, subject string, body []byte, now, deadline time.Time, refused int, cs *callSpan) (*nats.Msg, error) {
	var msg *nats.Msg
	// Dpc-Sent is the first send (a call resent after a refusal keeps
	// it); Dpc-Timeout, and the wait, are the time left as it goes.
	var left time.Duration
	if s.node.tooLarge(len(body)) {
		msg = &nats.Msg{Subject: subject, Data: body, Header: nats.Header{
			HeaderSent: {formatTime(now)},
		}}
		if cs != nil {
			cs.setHeaders(msg.Header)
		}
		bctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.node.outgoing(bctx, bodyOf{"arguments", s.service, fn}, msg)
		cancel()
		if err != nil {
			return nil, err
		}
		// After the upload, not before it.
		left = time.Until(deadline)
		msg.Header[HeaderTimeout] = []string{formatDuration(left)}
	} else {
		// nats.go encodes the message as it sends it and keeps none of
		// it, so the message and its headers are reused.
		rm := requestMsgs.Get().(*requestMsg)
		defer requestMsgs.Put(rm)
		busy := busyNone
		if s.resendsWhenBusy() {
			busy = busyHeader(refused)
		}
		left = time.Until(deadline)
		msg = rm.set(subject, body, now, left, busy, cs)
	}
	var resp *nats.Msg
	var err error
	if left <= 0 {
		err = nats.ErrTimeout
	} else {
		resp, err = s.node.replies.request(ctx, msg, left)
	}
	switch {
	case err == nil:
		if cs != nil {
			cs.replied(resp.Header)
		}
		if hasBodyObject(resp.Header) || len(resp.Data) > s.node.cfg.maxBody {
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.node.cfg.timeout)
			defer cancel()
			if resp.Data, err = s.node.incoming(bctx, bodyOf{"reply", s.service, fn}, resp.Header, resp.Data, true); err != nil {
				return nil, err
			}
		}
		return resp, nil
	case errors.Is(err, nats.ErrNoResponders):
		return nil, &noRespondersError{subject: subject}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, &timeoutError{what: "no reply on " + subject}
	case errors.Is(err, context.Canceled):
		return nil, fmt.Errorf("omq: request %s: %w", subject, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		return nil, fmt.Errorf("omq: request %s: %w", subject, ErrClosed)
	}
	return nil, fmt.Errorf("omq: request %s: %w", subject, err)
}

// requestMsg is a request's message with its two time headers, pooled.
type requestMsg struct {
	msg    nats.Msg
	header nats.Header
	vals   [2]string
	times  [2 * 20]byte // the digits of the send time and the timeout
	// traced: the header holds a trace's headers, for the next call to
	// take out.
	traced bool
}

var requestMsgs = sync.Pool{New: func() any { return &requestMsg{header: make(nats.Header, 3)} }}

// set fills the message in for one attempt, with busy as Dpc-Busy unless
// it is empty, and the trace headers of cs unless it is nil.
func (rm *requestMsg) set(subject string, body []byte, now time.Time, timeout time.Duration, busy []string, cs *callSpan) *nats.Msg {
	// Both values share one string: one allocation for the two.
	b := strconv.AppendInt(rm.times[:0], now.UnixNano(), 10)
	k := len(b)
	b = strconv.AppendInt(b, int64(timeout), 10)
	both := string(b)
	rm.vals = [2]string{both[:k], both[k:]}
	rm.header[HeaderSent] = rm.vals[0:1:1]
	rm.header[HeaderTimeout] = rm.vals[1:2:2]
	if len(busy) > 0 {
		rm.header[HeaderBusy] = busy
	} else {
		delete(rm.header, HeaderBusy)
	}
	switch {
	case cs != nil:
		delete(rm.header, HeaderTracestate)
		cs.setHeaders(rm.header)
		rm.traced = true
	case rm.traced:
		delete(rm.header, HeaderTraceparent)
		delete(rm.header, HeaderTracestate)
		delete(rm.header, HeaderParentSpan)
		rm.traced = false
	}
	rm.msg = nats.Msg{Subject: subject, Data: body, Header: rm.header}
	return &rm.msg
}

// decodeReply turns a reply message into the caller's result or error.
func decodeReply(svc, fn string, resp *nats.Msg, reply any) error {
	if e := replyError(resp); e != nil {
		return e
	}
	if reply == nil || len(resp.Data) == 0 {
		return nil
	}
	if err := unmarshal(resp.Data, reply); err != nil {
		return fmt.Errorf("omq: decoding the reply of %s.%s into %T: %w", svc, fn, reply, err)
	}
	return nil
}

// replyError reads the ADR-32 error headers; either one marks an error.
func replyError(m *nats.Msg) *Error {
	if m.Header == nil {
		return nil
	}
	desc, code := m.Header.Get(HeaderError), m.Header.Get(HeaderErrorCode)
	if desc == "" && code == "" {
		return nil
	}
	return remoteError(desc, code)
}

// Call is an asynchronous call in progress, as in net/rpc.
type Call struct {
	Function string
	Args     any
	Reply    any
	Error    error
	// Done receives the Call itself when it completes.
	Done chan *Call
}

// Go invokes fn asynchronously and returns at once. When the call completes,
// Reply holds the result, Error the failure, and the Call is sent on done.
// If done is nil a channel is made; a non-nil done must be buffered (Go
// panics otherwise, as net/rpc does, since an unbuffered channel would
// stall the call).
func (s *Stub) Go(ctx context.Context, fn string, args, reply any, done chan *Call, opts ...CallOption) *Call {
	if done == nil {
		done = make(chan *Call, 1)
	} else if cap(done) == 0 {
		panic("omq: Go: done channel is unbuffered")
	}
	c := &Call{Function: fn, Args: args, Reply: reply, Done: done}
	go func() {
		c.Error = s.Call(ctx, fn, args, reply, opts...)
		c.Done <- c
	}()
	return c
}

// Send invokes fn one-way: no reply, no error from the function. Without
// Durable the message goes to one instance if any is listening, and is
// lost otherwise (fire-and-forget). With Durable it is stored in JetStream
// first, and Send returns once the server has it.
func (s *Stub) Send(ctx context.Context, fn string, args any, opts ...CallOption) error {
	err := ctx.Err()
	if err == nil {
		err = s.send(ctx, fn, args, callOptions(opts))
	}
	s.node.cfg.metrics.observeCall(s.service, fn, "send", 0, err)
	return err
}

func (s *Stub) send(ctx context.Context, fn string, args any, cc callConfig) error {
	if err := s.check(fn); err != nil {
		return err
	}
	body, err := encodeArgs(args)
	if err != nil {
		return err
	}
	if cc.durable {
		if s.instance != "" {
			return errors.New("omq: a durable send goes to any instance; it cannot be addressed to one")
		}
		ctx, cancel := s.withTimeout(ctx, cc)
		defer cancel()
		return s.node.publishDurable(ctx, s.service, fn, body, cc)
	}
	return s.publish(ctx, fn, s.subject(fn), body)
}

func (s *Stub) publish(ctx context.Context, fn, subject string, body []byte) error {
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSent, formatTime(time.Now()))
	if cs := startCallSpan(ctx); cs != nil {
		// One-way: the instance logs the call with its trace; no reply
		// brings a span back.
		cs.setHeaders(msg.Header)
	}
	if err := s.node.outgoing(ctx, bodyOf{"arguments", s.service, fn}, msg); err != nil {
		return err
	}
	if err := s.node.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("omq: send %s: %w", subject, err)
	}
	return nil
}

// MultiSend invokes fn on every instance, one-way.
func (s *Stub) MultiSend(ctx context.Context, fn string, args any, opts ...CallOption) error {
	err := ctx.Err()
	if err == nil {
		err = s.multiSend(ctx, fn, args)
	}
	s.node.cfg.metrics.observeCall(s.service, fn, "multisend", 0, err)
	return err
}

func (s *Stub) multiSend(ctx context.Context, fn string, args any) error {
	if err := s.check(fn); err != nil {
		return err
	}
	body, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return s.publish(ctx, fn, s.node.subj.multi(s.service, fn), body)
}

// Reply is one instance's answer to a multi call.
type Reply struct {
	Instance string
	Data     json.RawMessage
	// Err is the instance's *Error, if it answered with one.
	Err error
}

// Decode decodes the reply's result into v, or returns its error.
func (r Reply) Decode(v any) error {
	if r.Err != nil {
		return r.Err
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("omq: decoding the reply of instance %s: %w", r.Instance, err)
	}
	return nil
}

// MultiCall invokes fn on every instance and gathers the replies. It
// returns as soon as the expected number are in: Expect(n), or else the
// number of live instances, counted first with $SRV.PING. If the timeout
// comes first it returns the replies that arrived and an error matching
// ErrTimeout that says how many were missing.
func (s *Stub) MultiCall(ctx context.Context, fn string, args any, opts ...CallOption) ([]Reply, error) {
	start := time.Now()
	replies, err := s.multiCall(ctx, fn, args, callOptions(opts))
	s.node.cfg.metrics.observeCall(s.service, fn, "multicall", time.Since(start), err)
	return replies, err
}

func (s *Stub) multiCall(ctx context.Context, fn string, args any, cc callConfig) ([]Reply, error) {
	if err := s.check(fn); err != nil {
		return nil, err
	}
	body, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	if err := s.node.checkSend(bodyOf{"arguments", s.service, fn}, len(body)); err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx, cc)
	defer cancel()
	expect := cc.expect
	if expect <= 0 {
		insts, err := s.Instances(ctx)
		if err != nil {
			return nil, err
		}
		if expect = len(insts); expect == 0 {
			return nil, &noRespondersError{subject: s.node.subj.multi(s.service, fn)}
		}
	}
	nc := s.node.nc
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, expect+8)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("omq: multi call: %w", err)
	}
	defer sub.Unsubscribe()
	subject := s.node.subj.multi(s.service, fn)
	msg := &nats.Msg{Subject: subject, Reply: inbox, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSent, formatTime(time.Now()))
	cs := startCallSpan(ctx)
	if cs != nil {
		cs.setHeaders(msg.Header)
	}
	if err := s.node.outgoing(ctx, bodyOf{"arguments", s.service, fn}, msg); err != nil {
		return nil, err
	}
	// The time left as it goes (after any body upload); ctx always has a
	// deadline here (withTimeout).
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, &timeoutError{what: fmt.Sprintf("multi call %s: 0 of %d replies", subject, expect)}
		}
		msg.Header[HeaderTimeout] = []string{formatDuration(left)}
	}
	if err := nc.PublishMsg(msg); err != nil {
		return nil, fmt.Errorf("omq: multi call %s: %w", subject, err)
	}
	replies := make([]Reply, 0, expect)
	for len(replies) < expect {
		select {
		case m := <-ch:
			if m.Header != nil && m.Header.Get("Status") == "503" {
				return nil, &noRespondersError{subject: subject}
			}
			r := Reply{Instance: m.Header.Get(HeaderInstance)}
			// One span per instance: the call's span, as each saw it.
			cs.finishMulti(s.service, fn, m.Header, replyError(m))
			if e := replyError(m); e != nil {
				r.Err = e
			} else if r.Data, err = s.node.incoming(ctx, bodyOf{"reply", s.service, fn}, m.Header, m.Data, true); err != nil {
				// One instance's unreadable or oversize reply is that
				// reply's error, not the whole call's.
				r.Err = fmt.Errorf("omq: instance %s: %w", r.Instance, err)
			}
			replies = append(replies, r)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return replies, &timeoutError{what: fmt.Sprintf("multi call %s: %d of %d replies", subject, len(replies), expect)}
			}
			return replies, fmt.Errorf("omq: multi call %s: %w", subject, ctx.Err())
		}
	}
	return replies, nil
}

// Instances lists the live instances of the service by $SRV.PING; see
// Node.Ping.
func (s *Stub) Instances(ctx context.Context) ([]micro.Ping, error) {
	if err := checkName("service", s.service); err != nil {
		return nil, err
	}
	return s.node.Ping(ctx, s.service)
}
