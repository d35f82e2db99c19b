package omq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The durable async lane: one JetStream work-queue stream holds every
// durable call; each service name has one durable pull consumer that all
// its instances share, so each message goes to exactly one instance. A
// message is acknowledged only after its handler returns, so a crash
// mid-call means redelivery (at least once).

func consumerName(service string) string { return "omq_" + service }

func (i *Instance) startDurable(ctx context.Context) error {
	js, err := i.node.ensureStream(ctx)
	if errors.Is(err, ErrNoJetStream) {
		i.node.log.Debug("omq: durable lane off: no JetStream", "service", i.name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("omq: bind %s: %w", i.name, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, i.node.cfg.stream, jetstream.ConsumerConfig{
		Durable:       consumerName(i.name),
		Description:   "omq durable lane of " + i.name,
		FilterSubject: i.node.subj.durable(i.name, "*"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       i.cfg.ackWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("omq: bind %s: durable consumer: %w", i.name, err)
	}
	cc, err := cons.Consume(i.onDurable,
		jetstream.PullMaxMessages(i.cfg.concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			i.node.log.Debug("omq: durable lane", "service", i.name, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("omq: bind %s: durable consume: %w", i.name, err)
	}
	i.consumer = cc
	return nil
}

// settle acknowledges, retries or drops a durable call after handling.
func (i *Instance) settle(m jetstream.Msg, fnName string, o outcome) {
	delivered := uint64(1)
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	log := i.node.log.With("service", i.name, "function", fnName, "delivery", delivered)
	switch {
	case o.expired:
		log.Warn("omq: durable call expired before it ran; dropping it")
		_ = m.Term()
	case o.err == nil:
		_ = m.Ack()
	case o.err.Code == CodeUnknownFunction && delivered < uint64(i.cfg.maxDeliver):
		// Another instance (a newer version, during a rolling upgrade) may
		// have the function: let the lane try again.
		_ = m.NakWithDelay(redeliveryDelay(delivered))
	case o.err.Code < 500 && o.err.Code != CodeUnknownFunction:
		// Bad arguments will not improve with another delivery.
		log.Error("omq: durable call rejected; dropping it", "code", o.err.Code, "err", o.err.Description)
		_ = m.Term()
	case delivered >= uint64(i.cfg.maxDeliver):
		log.Error("omq: durable call failed on every delivery; dropping it", "code", o.err.Code, "err", o.err.Description)
		_ = m.Term()
	default:
		_ = m.NakWithDelay(redeliveryDelay(delivered))
	}
}

// redeliveryDelay backs off a failing durable call: 100ms, 200ms, … up to 30s.
func redeliveryDelay(attempt uint64) time.Duration {
	d := 100 * time.Millisecond
	for k := uint64(1); k < attempt && d < 30*time.Second; k++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// publishDurable stores one durable call in the stream.
func (n *Node) publishDurable(ctx context.Context, svc, fn string, body []byte, cc callConfig) error {
	js, err := n.ensureStream(ctx)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: n.subj.durable(svc, fn), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSent, formatTime(time.Now()))
	if err := n.outgoing(ctx, bodyOf{"arguments", svc, fn}, msg); err != nil {
		return err
	}
	var opts []jetstream.PublishOpt
	if cc.msgID != "" {
		opts = append(opts, jetstream.WithMsgID(cc.msgID))
	}
	if _, err := js.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("omq: durable send %s.%s: %w", svc, fn, err)
	}
	return nil
}

// DurableBacklog is the number of durable calls to service waiting in the
// lane: not yet delivered, or delivered and not yet acknowledged. The
// stream is a work queue, so every message still in it under the
// service's subjects is one of those — whether or not an instance has
// ever bound the service. No stream (no durable call ever made, or no
// JetStream) is a backlog of 0.
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
