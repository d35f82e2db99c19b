package omq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The durable async lane: one JetStream work-queue stream holds every
// durable call; each service name has one durable pull consumer that all
// its instances share, so each message goes to exactly one instance. A
// message is acknowledged only after its handler returns, so a crash
// mid-call means redelivery (at least once).
//
// Who owns what. The stream belongs to whoever may create it (a DPC hub
// creates it at start; omq creates it when missing if its connection may).
// The consumer omq_<service> belongs to the first instance that finds it
// missing (at bind, or when the lane finds it gone): it creates it from
// its own AckWait and MaxDeliver. Every other instance uses the consumer
// as it is, never rewriting it, and logs once at Warn what differs from
// its own options. To change a consumer's settings, delete it (an
// operator's or the hub's right, not a service identity's): the bound
// instances notice and one of them creates it again from its options;
// the stream keeps the calls meanwhile.
//
// The consumer's settings are the whole retry policy, on the server:
//
//   - MaxDeliver (omq.MaxDeliver, default 10) ends a crash loop: a message
//     whose handler kills its process is not offered again after that many
//     deliveries.
//   - BackOff is the ack timeout of each delivery. JetStream uses
//     BackOff[n-1] instead of AckWait as the time it waits for an ack of
//     delivery n (the last entry for later ones), and refuses more entries
//     than MaxDeliver (older servers: as many); only MaxDeliver-1
//     redeliveries can happen, so omq writes one entry per redelivery up
//     to the first with the capped pause, and none for MaxDeliver 1.
//     Entry n-1 is AckWait + redeliveryDelay(n):
//     the handler keeps its whole AckWait, and an instance that crashed or
//     hung is followed by the same pause (100ms × 2^(n−1), capped at 30s)
//     that omq's NakWithDelay puts after a 5xx. The server sets AckWait to
//     BackOff[0], AckWait + 100ms.
//
//   - InactiveThreshold (omq.InactiveThreshold, default 72h) lets the
//     server delete the consumer of a name nobody has served for that long;
//     the calls stay in the stream for the next binder.
//
// An instance's own handling follows the consumer it uses, not its
// options: a handler's time (see budget) comes from the consumer's ack
// timeout for that delivery, and a failing call (5xx, 404) is naked with
// the same pause up to the consumer's MaxDeliver. A call that cannot
// succeed — a 4xx, or a failure on the last delivery — becomes a dead
// letter (deadletter.go). (A consumer without a MaxDeliver, made by an
// older omq, is capped by the instance's own MaxDeliver, as before.)

func consumerName(service string) string { return "omq_" + service }

// Pull requests: how long one waits on the server for messages, and the
// idle heartbeat that tells a live pull from one the server has lost.
const (
	pullExpiry    = 30 * time.Second
	pullHeartbeat = 5 * time.Second
	// Retries of a lost lane back off from rebuildMin to rebuildMax.
	rebuildMin = 100 * time.Millisecond
	rebuildMax = 30 * time.Second
	// maxPause caps the pause before a redelivery.
	maxPause = 30 * time.Second
)

// redeliveryDelay is the pause before the delivery after delivery n fails
// (a 5xx, a 404, or no ack at all): 100ms, 200ms, … up to 30s.
func redeliveryDelay(n uint64) time.Duration {
	d := 100 * time.Millisecond
	for k := uint64(1); k < n && d < maxPause; k++ {
		d *= 2
	}
	return min(d, maxPause)
}

// backoffSchedule is the BackOff of a consumer that omq creates: for each
// delivery n that may be followed by another (n < maxDeliver), the
// handler's ackWait plus the pause before the next delivery. It stops once
// the pause reaches its cap, since JetStream uses the last entry for every
// later delivery.
func backoffSchedule(ackWait time.Duration, maxDeliver int) []time.Duration {
	var out []time.Duration
	for n := 1; n < maxDeliver; n++ {
		p := redeliveryDelay(uint64(n))
		out = append(out, ackWait+p)
		if p >= maxPause {
			break
		}
	}
	return out
}

// consumerConfig is the consumer this instance creates when its name has
// none.
func (i *Instance) consumerConfig() jetstream.ConsumerConfig {
	backoff := backoffSchedule(i.cfg.ackWait, i.cfg.maxDeliver)
	ackWait := i.cfg.ackWait
	if len(backoff) > 0 {
		ackWait = backoff[0] // what the server would set; pedantic servers require it
	}
	return jetstream.ConsumerConfig{
		Durable:       consumerName(i.name),
		Description:   "omq durable lane of " + i.name,
		FilterSubject: i.node.subj.durable(i.name, "*"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    i.cfg.maxDeliver,
		BackOff:       backoff,
		DeliverPolicy: jetstream.DeliverAllPolicy,

		InactiveThreshold: i.cfg.inactive,
	}
}

// UpgradeConsumer brings the settings of a durable consumer made by an
// older omq to what omq creates now, and says whether anything changed:
// one without MaxDeliver gets DefaultMaxDeliver and the BackOff that goes
// with its AckWait (which omq then took as the handler's time, so the
// handler keeps it); one without InactiveThreshold gets
// DefaultInactiveThreshold. Everything else stays as it is. The server
// allows these updates; an instance never rewrites a consumer it did not
// create (openConsumer), so a DPC hub makes them, once, at its start.
func UpgradeConsumer(c jetstream.ConsumerConfig) (jetstream.ConsumerConfig, bool) {
	changed := false
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = max(DefaultMaxDeliver, len(c.BackOff))
		if len(c.BackOff) == 0 {
			if c.AckWait <= 0 {
				c.AckWait = DefaultAckWait
			}
			if c.BackOff = backoffSchedule(c.AckWait, c.MaxDeliver); len(c.BackOff) > 0 {
				c.AckWait = c.BackOff[0]
			}
		}
		changed = true
	}
	if c.InactiveThreshold <= 0 {
		c.InactiveThreshold = DefaultInactiveThreshold
		changed = true
	}
	return c, changed
}

// consumerView is what an instance takes from the consumer it uses.
type consumerView struct {
	ackWait time.Duration
	backoff []time.Duration
	// maxDeliver is the consumer's, or the instance's own MaxDeliver when
	// the consumer has no limit (one made by an older omq).
	maxDeliver int
}

func viewOf(c jetstream.ConsumerConfig, ownMaxDeliver int) *consumerView {
	v := &consumerView{ackWait: c.AckWait, backoff: c.BackOff, maxDeliver: c.MaxDeliver}
	if v.maxDeliver <= 0 {
		v.maxDeliver = ownMaxDeliver
	}
	return v
}

// budget is how long a handler of delivery n may run, from the moment the
// server's ack timer last started (the delivery, or an InProgress), so
// that it ends before the server offers the message again: the ack
// timeout of that delivery less the pause omq's schedule puts after it (so
// exactly AckWait on a consumer omq made).
func (v *consumerView) budget(n uint64) time.Duration {
	if len(v.backoff) == 0 {
		return v.ackWait
	}
	idx := min(max(n, 1), uint64(len(v.backoff))) - 1
	t := v.backoff[idx]
	if b := t - redeliveryDelay(idx+1); b > 0 {
		return b
	}
	return t
}

// consumerDiffs names, in omq's terms, how an existing consumer differs
// from the one this instance would have created.
func consumerDiffs(have, want jetstream.ConsumerConfig) []string {
	var d []string
	if have.FilterSubject != want.FilterSubject {
		d = append(d, fmt.Sprintf("FilterSubject %q (this instance: %q)", have.FilterSubject, want.FilterSubject))
	}
	if have.AckPolicy != want.AckPolicy {
		d = append(d, fmt.Sprintf("AckPolicy %s (this instance: %s)", have.AckPolicy, want.AckPolicy))
	}
	if h, w := viewOf(have, 0).budget(1), viewOf(want, 0).budget(1); h != w {
		d = append(d, fmt.Sprintf("AckWait %s (this instance: %s)", h, w))
	}
	if have.MaxDeliver != want.MaxDeliver {
		d = append(d, fmt.Sprintf("MaxDeliver %s (this instance: %d)", maxDeliverString(have.MaxDeliver), want.MaxDeliver))
	}
	if !slices.Equal(have.BackOff, want.BackOff) {
		d = append(d, fmt.Sprintf("BackOff %s (this instance: %s)", durationsString(have.BackOff), durationsString(want.BackOff)))
	}
	if have.InactiveThreshold != want.InactiveThreshold {
		d = append(d, fmt.Sprintf("InactiveThreshold %s (this instance: %s)", inactiveString(have.InactiveThreshold), inactiveString(want.InactiveThreshold)))
	}
	return d
}

func maxDeliverString(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func inactiveString(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}

func durationsString(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := make([]string, len(ds))
	for k, d := range ds {
		s[k] = d.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// openConsumer returns the name's consumer: the existing one as it is, or
// one created from this instance's options when there is none. It needs
// only what a service identity has: consumer info, and consumer create
// (action "create", which never changes an existing consumer).
func (i *Instance) openConsumer(ctx context.Context, js jetstream.JetStream, warned *atomic.Bool) (jetstream.Consumer, *consumerView, error) {
	stream, name := i.node.cfg.stream, consumerName(i.name)
	want := i.consumerConfig()
	cons, err := js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(ctx, stream, want)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			// Another instance created it in between, with other
			// settings: use that one.
			cons, err = js.Consumer(ctx, stream, name)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("durable consumer %s: %w", name, err)
	}
	have := cons.CachedInfo().Config
	if have.DeliverSubject != "" {
		return nil, nil, fmt.Errorf("durable consumer %s is a push consumer (deliver subject %s); omq needs a pull consumer", name, have.DeliverSubject)
	}
	if d := consumerDiffs(have, want); len(d) > 0 && warned.CompareAndSwap(false, true) {
		i.node.log.Warn("omq: the durable consumer exists with other settings than this instance's; using it as it is (delete it to change them)",
			"service", i.name, "instance", i.id, "consumer", name, "differences", strings.Join(d, "; "))
	}
	return cons, viewOf(have, i.cfg.maxDeliver), nil
}

func (i *Instance) startDurable(ctx context.Context) error {
	js, err := i.node.ensureStream(ctx)
	if errors.Is(err, ErrNoJetStream) {
		i.node.log.Debug("omq: durable lane off: no JetStream", "service", i.name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("omq: bind %s: %w", i.name, err)
	}
	l := &lane{i: i, log: i.node.log.With("service", i.name, "instance", i.id), done: make(chan struct{})}
	cons, view, err := i.openConsumer(ctx, js, &l.warned)
	if err != nil {
		return fmt.Errorf("omq: bind %s: %w", i.name, err)
	}
	l.cons = cons
	l.view.Store(view)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	i.lane = l
	go l.run()
	return nil
}

// lane is an instance's side of the durable lane: the consumer it takes
// messages from and the goroutine that pulls them.
//
// No call may run twice because it waited for a handler slot: the server
// starts a message's ack timer when it delivers it, so a message that sat
// in the client while the instance was busy would be offered to another
// instance before its handler had run its time. So:
//
//   - the lane pulls only as many messages as there are free slots (and
//     none while the instance is full), so a message normally starts the
//     moment it arrives and the instance's busy time stays with it instead
//     of leaving calls other instances could take;
//   - a message that still finds no slot (a core call took it between the
//     pull and the delivery) sends InProgress while it waits, and once
//     more when it starts, which restarts the server's timer;
//   - a handler's deadline is computed from that last restart (delivery
//     or InProgress), not from when the handler starts, so it ends before
//     the server would redeliver.
//
// A lost consumer or stream (a server that came back without its
// JetStream data; an operator's delete) is noticed — a pull ending in
// error or the connection coming back leads to a consumer info — and
// rebuilt with backoff: the stream by a connection that may create it
// (else the lane waits for it to exist again), then the consumer.
type lane struct {
	i   *Instance
	log *slog.Logger

	// cons is the consumer in use; nil while lost. Only run touches it
	// once the lane has started.
	cons jetstream.Consumer
	// view is what handlers and settle take from the consumer.
	view atomic.Pointer[consumerView]
	// warned: the differences of the consumer's settings were logged.
	warned atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the lane's pulling and waits for its goroutine, which never
// blocks on a handler. Messages it had already received are handled.
func (l *lane) stop() {
	l.cancel()
	<-l.done
}

func (l *lane) run() {
	defer close(l.done)
	nc := l.i.node.nc
	// CONNECTED: the server may have restarted and lost the pull (and
	// perhaps the consumer): end it, check, pull again. CLOSED: the
	// connection is gone for good; so is the lane.
	status := nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(status)
	fails := 0
	for l.ctx.Err() == nil && !nc.IsClosed() {
		if l.cons == nil {
			if err := l.rebuild(); err != nil {
				if l.ctx.Err() != nil {
					return
				}
				fails++
				level := slog.LevelWarn
				if errors.Is(err, errStreamCreateDenied) {
					level = slog.LevelInfo // waiting for the hub
				}
				l.log.Log(l.ctx, level, "omq: durable lane: re-creating the consumer failed; will retry", "attempt", fails, "err", err)
				l.pause(fails)
				continue
			}
			fails = 0
			l.log.Info("omq: durable lane back", "consumer", consumerName(l.i.name))
		}
		k, event := l.freeSlots(status)
		if event {
			l.check(nil)
			continue
		}
		if k == 0 {
			return // stopped
		}
		begun, got := time.Now(), 0
		fctx, cancel := context.WithTimeout(l.ctx, pullExpiry)
		batch, err := l.cons.Fetch(k, jetstream.FetchContext(fctx), jetstream.FetchHeartbeat(pullHeartbeat))
		if err != nil {
			cancel()
			fails++
			if !l.check(err) {
				l.pause(fails)
			}
			continue
		}
		// Every message the pull brought is handled, even once the pull
		// has been ended.
		msgs := batch.Messages()
		for msgs != nil {
			select {
			case m, ok := <-msgs:
				if !ok {
					msgs = nil
					continue
				}
				got++
				l.deliver(m)
			case <-status:
				event = true
				cancel()
			}
		}
		cancel()
		err = batch.Error()
		switch {
		case l.ctx.Err() != nil:
			return
		case event:
			l.check(nil)
		case err == nil && (got > 0 || time.Since(begun) > pullExpiry/2):
			fails = 0
		default:
			// Consumer deleted, no responders (no consumer), no
			// heartbeat, a pull ended early with nothing, …: find out
			// whether the consumer is still there.
			fails++
			if !l.check(err) && fails > 1 {
				l.pause(fails)
			}
		}
	}
}

// freeSlots waits until the instance has a free handler slot and says how
// many: slots neither taken nor promised to a call waiting for one. It
// returns 0 when the lane stops, or event when the connection's status
// changed meanwhile.
func (l *lane) freeSlots(status <-chan nats.Status) (k int, event bool) {
	i := l.i
	for {
		if k := cap(i.sem) - len(i.sem) - int(i.waiting.Load()); k > 0 {
			return k, false
		}
		select {
		case <-i.slotFreed:
		case <-status:
			return 0, true
		case <-l.ctx.Done():
			return 0, false
		}
	}
}

// check asks the server whether the consumer is still there after cause
// (nil: the connection came back). It reports whether the lane was lost:
// then it is rebuilt on the next turn.
func (l *lane) check(cause error) (lost bool) {
	ctx, cancel := context.WithTimeout(l.ctx, l.i.node.cfg.timeout)
	defer cancel()
	_, err := l.cons.Info(ctx)
	switch {
	case err == nil:
		if cause != nil {
			l.log.Debug("omq: durable lane: pull failed; the consumer is there", "err", cause)
		}
		return false
	case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		l.log.Warn("omq: durable lane lost: re-creating it", "consumer", consumerName(l.i.name), "err", err, "cause", cause)
		l.cons = nil
		l.i.node.forgetStream()
		return true
	default:
		if l.ctx.Err() == nil {
			l.log.Debug("omq: durable lane: consumer info failed", "err", err, "cause", cause)
		}
		return false
	}
}

// rebuild makes the stream (or waits for it) and the consumer again.
func (l *lane) rebuild() error {
	ctx, cancel := context.WithTimeout(l.ctx, l.i.node.cfg.timeout)
	defer cancel()
	js, err := l.i.node.ensureStream(ctx)
	if err != nil {
		return err
	}
	cons, view, err := l.i.openConsumer(ctx, js, &l.warned)
	if err != nil {
		return err
	}
	l.cons = cons
	l.view.Store(view)
	return nil
}

// pause waits before retry n: rebuildMin doubling up to rebuildMax.
func (l *lane) pause(n int) {
	d := rebuildMin
	for k := 1; k < n && d < rebuildMax; k++ {
		d *= 2
	}
	t := time.NewTimer(min(d, rebuildMax))
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
	}
}

// deliver hands one pulled message to a handler slot. It never blocks:
// handlers run on goroutines of their own, and a message that finds no
// free slot waits on its own goroutine.
func (l *lane) deliver(m jetstream.Msg) {
	i := l.i
	fnName := lastToken(m.Subject())
	fn := i.funcs[fnName]
	arrival := i.arrive(fn)
	i.inflight.Add(1) // before the lane's goroutine ends; Unbind waits for both
	select {
	case i.sem <- struct{}{}:
		i.running.Add(1)
		if fn == nil {
			// No handler runs: answer the 404 at once.
			i.serveDurable(fn, fnName, m, arrival, arrival, arrival)
			i.release()
			return
		}
		go func() {
			defer i.release()
			i.serveDurable(fn, fnName, m, arrival, time.Now(), arrival)
		}()
	default:
		i.waiting.Add(1)
		go func() {
			touched, ok := l.awaitSlot(m)
			i.waiting.Add(-1)
			if !ok {
				i.inflight.Done()
				return
			}
			i.running.Add(1)
			defer i.release()
			i.serveDurable(fn, fnName, m, arrival, time.Now(), touched)
		}()
	}
}

// awaitSlot takes a handler slot for a message that found none, keeping
// the message from being redelivered meanwhile with InProgress, and
// returns when the server's ack timer last restarted. If the instance
// gives up (Unbind's context ended), it naks the message for another
// instance and reports false.
func (l *lane) awaitSlot(m jetstream.Msg) (touched time.Time, ok bool) {
	i := l.i
	every := max(l.view.Load().budget(deliveryCount(m))/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case i.sem <- struct{}{}:
			touched = time.Now()
			_ = m.InProgress()
			return touched, true
		case <-t.C:
			_ = m.InProgress()
		case <-i.ctx.Done():
			_ = m.Nak()
			return time.Time{}, false
		}
	}
}

func deliveryCount(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 0 {
		return md.NumDelivered
	}
	return 1
}

func (i *Instance) serveDurable(fn *function, fnName string, m jetstream.Msg, arrival, start, touched time.Time) {
	view := i.lane.view.Load()
	n := deliveryCount(m)
	o := i.run(KindDurable, fn, fnName, m.Headers(), m.Data(), arrival, start, touched.Add(view.budget(n)))
	i.settle(m, fnName, o, n, view)
}

// settle acknowledges, retries or buries a durable call after handling,
// delivery n of at most view.maxDeliver.
func (i *Instance) settle(m jetstream.Msg, fnName string, o outcome, n uint64, view *consumerView) {
	log := i.node.log.With("service", i.name, "function", fnName, "delivery", n)
	last := n >= uint64(view.maxDeliver)
	switch {
	case o.expired:
		// Its caller's deadline passed: nobody wants it any more.
		log.Warn("omq: durable call expired before it ran; dropping it")
		_ = m.Term()
	case o.err == nil:
		_ = m.Ack()
	case o.err.Code < 500 && o.err.Code != CodeUnknownFunction:
		// Bad arguments will not improve with another delivery.
		i.bury(m, o.err, n, log)
	case last:
		// The server would not deliver it again either.
		i.bury(m, o.err, n, log.With("max_deliver", view.maxDeliver))
	default:
		// A 5xx, or a 404 (another instance, a newer version during a
		// rolling upgrade, may have the function): let the lane try again
		// after the pause of the consumer's BackOff.
		_ = m.NakWithDelay(redeliveryDelay(n))
	}
}

// publishDurable stores one durable call in the stream.
func (n *Node) publishDurable(ctx context.Context, svc, fn string, body []byte, cc callConfig) error {
	js, err := n.ensureStream(ctx)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: n.subj.durable(svc, fn), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSent, formatTime(time.Now()))
	if cs := startCallSpan(ctx); cs != nil {
		// Stored with the call: the instance that takes it, maybe much
		// later, logs it in the trace (and a dead letter keeps it).
		cs.setHeaders(msg.Header)
	}
	if err := n.outgoing(ctx, bodyOf{"arguments", svc, fn}, msg); err != nil {
		return err
	}
	var opts []jetstream.PublishOpt
	if cc.msgID != "" {
		opts = append(opts, jetstream.WithMsgID(cc.msgID))
	}
	_, err = js.PublishMsg(ctx, msg, opts...)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		// No stream takes the subject any more (a server back without
		// its JetStream data?): forget that it was there, make sure of it
		// again, and try once more.
		n.forgetStream()
		js, serr := n.ensureStream(ctx)
		if serr != nil {
			return fmt.Errorf("omq: durable send %s.%s: %w; the stream again: %w", svc, fn, err, serr)
		}
		_, err = js.PublishMsg(ctx, msg, opts...)
	}
	if err != nil {
		return fmt.Errorf("omq: durable send %s.%s: %w", svc, fn, err)
	}
	return nil
}

// DurableBacklog is the number of durable calls to service waiting in the
// lane: not yet delivered, or delivered and not yet acknowledged. The
// stream is a work queue, so every message still in it under the
// service's subjects is one of those — whether or not an instance has
// ever bound the service — or one the consumer gave up on after
// MaxDeliver deliveries without an answer (each crashed or hung its
// instance): JetStream keeps those until someone removes them (a DPC hub
// moves them to the dead letters; deadletter.go). No stream
// (no durable call ever made, or no JetStream) is a backlog of 0.
func (n *Node) DurableBacklog(ctx context.Context, service string) (int64, error) {
	if err := checkName("service", service); err != nil {
		return 0, err
	}
	js, err := n.jetStream()
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, n.cfg.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("omq: durable backlog of %s: %w", service, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(n.subj.durable(service, "*")))
	if err != nil {
		return 0, fmt.Errorf("omq: durable backlog of %s: %w", service, err)
	}
	var total int64
	for _, c := range info.State.Subjects {
		total += int64(c)
	}
	return total, nil
}
