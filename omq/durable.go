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
		FilterSubject: i.node.subj.durable(i.name, ">"),
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

func (i *Instance) onDurable(m jetstream.Msg) {
	fnName := lastToken(m.Subject())
	fn := i.funcs[fnName]
	arrival := i.arrive(fn)
	i.acquire()
	go func() {
		defer i.release()
		_, rerr := i.run(KindDurable, fn, fnName, m.Headers(), m.Data(), arrival)
		switch {
		case rerr == nil:
			_ = m.Ack()
		case rerr.Code < 500:
			// Bad arguments or an unknown function will not improve with
			// another delivery.
			i.node.log.Error("omq: durable call rejected; dropping it", "service", i.name, "function", fnName, "code", rerr.Code, "err", rerr.Description)
			_ = m.Term()
		default:
			n := uint64(1)
			if md, err := m.Metadata(); err == nil {
				n = md.NumDelivered
			}
			_ = m.NakWithDelay(redeliveryDelay(n))
		}
	}()
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
	var opts []jetstream.PublishOpt
	if cc.msgID != "" {
		opts = append(opts, jetstream.WithMsgID(cc.msgID))
	}
	if _, err := js.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("omq: durable send %s.%s: %w", svc, fn, err)
	}
	return nil
}
