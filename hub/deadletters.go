package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Moving the durable calls the server gave up on to the dead letters.
//
// An instance writes the dead letter of a call it ends for good
// (omq/deadletter.go). A call whose process died or hung on its last
// delivery has nobody to do that: the server stops offering it, publishes
// a max-deliveries advisory and keeps it in the work queue, where it
// would stay forever (and be offered again, with fresh delivery counts,
// to a consumer made again). The hub listens to those advisories (in a
// queue group, so one hub of a cluster takes each), reads the call by its
// sequence, writes its dead letter with the same Nats-Msg-Id an instance
// would have used, and then deletes it from the lane.
//
// Advisories are not stored: one published while no hub listens (all
// down, or this hub's queue full) is lost. So the hub also sweeps, at
// start and every minute, for calls of a consumer's subjects that are
// still in the work queue although the consumer is not waiting for their
// answer: at or below its ack floor, or at or below the last one it
// delivered while it waits for no answer at all (no acks pending; the
// server does not move the ack floor over a call it gives up on until a
// later ack). Such a call was acknowledged or terminated — and is about
// to leave the work queue: in a cluster the removal takes a moment — or
// given up on. So a sweep moves only the calls that the previous sweep,
// a minute earlier, found in the same state. A sweep costs one consumer
// list and, per consumer that may have such calls, one message read; it
// looks at deadSweepMax calls per consumer at most. (A given-up call
// above both marks — an earlier one still waiting for its answer — is
// found by a later sweep.)

const (
	maxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
	// deadQueue is the queue group of the hubs of a cluster.
	deadQueue      = "dpc-hub-dead-letters"
	deadSweepEvery = time.Minute
	deadSweepMax   = 100
	// deadPending bounds the advisories waiting to be handled; more are
	// left to the next sweep.
	deadPending = 1024
	// deadOpTimeout bounds one move.
	deadOpTimeout = 10 * time.Second
	// reasonNoAnswer is the Dpc-Dead-Reason of a call the server gave up
	// on.
	reasonNoAnswer = "max deliveries: the process did not answer"
)

// deliveryExceeded is the part of JetStream's max-deliveries advisory
// (io.nats.jetstream.advisory.v1.max_deliver) the hub reads.
type deliveryExceeded struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// startDeadLetters subscribes to the durable lane's max-deliveries
// advisories and starts moving the calls they name, and sweeping, until
// bg ends.
func (h *Hub) startDeadLetters(bg context.Context) error {
	todo := make(chan deliveryExceeded, deadPending)
	sub, err := h.nc.QueueSubscribe(maxDeliveriesAdvisory+omq.DefaultStream+".*", deadQueue, func(m *nats.Msg) {
		var adv deliveryExceeded
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream != omq.DefaultStream || adv.StreamSeq == 0 {
			h.log.Debug("dead letters: an advisory that is not for the durable lane", "subject", m.Subject, "err", err)
			return
		}
		select {
		case todo <- adv:
		default:
			h.log.Warn("dead letters: too many given-up calls at once; the next sweep moves the rest", "stream_seq", adv.StreamSeq)
		}
	})
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	if err := h.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("dead letters: %w", err)
	}
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		defer func() { _ = sub.Unsubscribe() }()
		h.collectDead(bg, todo)
	}()
	return nil
}

// collectDead moves the calls of the advisories as they come, and sweeps
// at once and then every deadSweepEvery.
func (h *Hub) collectDead(ctx context.Context, todo <-chan deliveryExceeded) {
	sweep := time.NewTimer(0)
	defer sweep.Stop()
	var seen sweptCalls
	for {
		select {
		case <-ctx.Done():
			return
		case adv := <-todo:
			if err := h.moveToDead(ctx, adv.StreamSeq, adv.Deliveries); err != nil && ctx.Err() == nil {
				h.log.Warn("dead letters: moving a given-up call failed; the sweep will try again", "consumer", adv.Consumer, "stream_seq", adv.StreamSeq, "err", err)
			}
		case <-sweep.C:
			n, next, err := h.sweepDead(ctx, seen)
			seen = next
			if err != nil && ctx.Err() == nil {
				h.log.Warn("dead letters: sweep", "moved", n, "err", err)
			} else if n > 0 {
				h.log.Info("dead letters: the sweep moved given-up calls", "moved", n)
			}
			sweep.Reset(deadSweepEvery)
		}
	}
}

// moveToDead moves the call at seq of the durable lane, which the server
// gave up on after deliveries deliveries, to the dead letters. A call
// that is gone already (acknowledged, terminated, moved) is no error.
func (h *Hub) moveToDead(ctx context.Context, seq, deliveries uint64) error {
	ctx, cancel := context.WithTimeout(ctx, deadOpTimeout)
	defer cancel()
	st, err := h.js.Stream(ctx, omq.DefaultStream)
	if err != nil {
		return err
	}
	raw, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.bury(ctx, st, raw, deliveries)
}

// sweptCalls are the calls a sweep found given up on, by their sequence
// in the lane, with the time the stream stored them (a stream made again
// reuses sequences).
type sweptCalls map[uint64]time.Time

// sweepDead finds the calls that the lane's consumers are not waiting
// for and that are still in the lane, and moves those that the previous
// sweep found too (seen). It returns what it found, for the next sweep.
func (h *Hub) sweepDead(ctx context.Context, seen sweptCalls) (moved int, found sweptCalls, err error) {
	ctx, cancel := context.WithTimeout(ctx, 6*deadOpTimeout)
	defer cancel()
	found = sweptCalls{}
	st, err := h.js.Stream(ctx, omq.DefaultStream)
	if err != nil {
		return 0, found, err
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return 0, found, nil
	}
	var infos []*jetstream.ConsumerInfo
	lister := st.ListConsumers(ctx)
	for info := range lister.Info() {
		infos = append(infos, info)
	}
	if err := lister.Err(); err != nil {
		return 0, found, err
	}
	var errs []error
	for _, info := range infos {
		// Up to where the consumer waits for no answer.
		upTo := info.AckFloor.Stream
		if info.NumAckPending == 0 {
			upTo = max(upTo, info.Delivered.Stream)
		}
		filter := info.Config.FilterSubject
		if info.Config.MaxDeliver <= 0 || filter == "" || upTo < state.FirstSeq {
			continue // never gives up, or nothing of the stream is that far
		}
		for seq, n := state.FirstSeq, 0; n < deadSweepMax; n++ {
			raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("consumer %s: %w", info.Name, err))
				break
			}
			if raw.Sequence > upTo {
				break
			}
			seq = raw.Sequence + 1
			if t, ok := seen[raw.Sequence]; !ok || !t.Equal(raw.Time) {
				found[raw.Sequence] = raw.Time // moved by the next sweep, if still here
				continue
			}
			if err := h.bury(ctx, st, raw, uint64(info.Config.MaxDeliver)); err != nil {
				errs = append(errs, fmt.Errorf("consumer %s: %w", info.Name, err))
				found[raw.Sequence] = raw.Time
				break
			}
			moved++
		}
	}
	return moved, found, errors.Join(errs...)
}

// bury writes the dead letter of raw, a call of the lane's stream st,
// then deletes it from st. If the dead letter cannot be written the call
// stays where it is.
func (h *Hub) bury(ctx context.Context, st jetstream.Stream, raw *jetstream.RawStreamMsg, deliveries uint64) error {
	dl, err := omq.NewDeadLetter(omq.DefaultPrefix, raw.Subject, raw.Header, raw.Data, omq.Death{
		Stream: omq.DefaultStream, Seq: raw.Sequence, Stored: raw.Time, Deliveries: deliveries, Reason: reasonNoAnswer,
	})
	if err != nil {
		// Not a call omq could have sent: leave it to its owner.
		h.log.Warn("dead letters: a given-up message that is not a durable call; leaving it", "subject", raw.Subject, "stream_seq", raw.Sequence)
		return nil
	}
	if _, err := h.js.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("writing the dead letter of %d: %w", raw.Sequence, err)
	}
	if _, err := deleteMsg(ctx, st, raw.Sequence); err != nil {
		return fmt.Errorf("deleting %d from the lane after writing its dead letter: %w", raw.Sequence, err)
	}
	svc, fn := omq.DeadLetterCall(omq.DefaultPrefix, dl.Subject)
	h.log.Warn("a durable call got no answer in any of its deliveries; moved it to the dead letters",
		"service", svc, "function", fn, "stream_seq", raw.Sequence, "deliveries", deliveries)
	return nil
}

// deleteMsg deletes seq from st and says whether it was there.
func deleteMsg(ctx context.Context, st jetstream.Stream, seq uint64) (bool, error) {
	err := st.DeleteMsg(ctx, seq)
	if err == nil {
		return true, nil
	}
	// The server says "no message found" only in the text of a general
	// failure: ask whether it is there.
	if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return false, err
}
