package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// The owner's view of the dead letters, as the omq service deadletters
// (owner only: the server lets no other role send to
// dpc.*.deadletters.>): list, replay, purge. Nobody else reads the
// DPC_DEAD stream; a service only writes its own dead letters into it.
//
// Every call is bounded: list returns at most trust.MaxDeadList letters
// and reads only their headers; replay and purge take at most
// trust.MaxDeadIDs ids; a replay of all goes in batches of deadBatch, the
// caller asking for the next; a purge of all is one purge of the stream,
// up to the last letter there when it was asked for.

// deadBatch is how many dead letters one replay of all handles.
const deadBatch = 100

// headerMsgSize is the size of a message a headers-only consumer
// delivers without its payload.
const headerMsgSize = "Nats-Msg-Size"

func (h *Hub) bindDeadLetters(ctx context.Context) error {
	_, err := h.node.Bind(ctx, trust.DeadLettersService, deadLetters{h: h, batch: deadBatch}, omq.NoDurable(),
		omq.Description("DPC dead letters: durable calls that could not succeed; list, replay, purge (owner only)"))
	return err
}

type deadLetters struct {
	h *Hub
	// batch is how many letters one replay of all handles (deadBatch;
	// tests make it small).
	batch int
}

// deadFilter is the subject filter of a service's dead letters, or of
// all.
func deadFilter(service string) (string, error) {
	if service == "" {
		return omq.DefaultPrefix + ".dead.>", nil
	}
	if !omq.ValidName(service) {
		return "", omq.Errorf(omq.CodeBadArguments, "service name %q: letters, digits, '-' and '_' only", service)
	}
	return omq.DefaultPrefix + ".dead." + service + ".*", nil
}

func (d deadLetters) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := d.h.js.Stream(ctx, omq.DefaultDeadStream)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return st, nil
}

// List returns the oldest dead letters (of one service, if asked), with
// how many there are. It reads headers only, through a short-lived
// consumer, so the size of the letters costs nothing.
func (d deadLetters) List(ctx context.Context, req trust.DeadListRequest) (trust.DeadListReply, error) {
	filter, err := deadFilter(req.Service)
	if err != nil {
		return trust.DeadListReply{}, err
	}
	limit := req.Limit
	if limit < 0 || limit > trust.MaxDeadList {
		return trust.DeadListReply{}, omq.Errorf(omq.CodeBadArguments, "limit %d: from 1 to %d (0: %d)", limit, trust.MaxDeadList, trust.MaxDeadList)
	}
	if limit == 0 {
		limit = trust.MaxDeadList
	}
	st, err := d.stream(ctx)
	if err != nil {
		return trust.DeadListReply{}, err
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:   "dpc-hub: dead letters list",
		FilterSubject: filter, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckNonePolicy, HeadersOnly: true,
		MemoryStorage: true, InactiveThreshold: time.Minute,
	})
	if err != nil {
		return trust.DeadListReply{}, fmt.Errorf("dead letters: %w", err)
	}
	defer func() { _ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	total := int(cons.CachedInfo().NumPending)
	out := make([]trust.DeadLetter, 0, min(total, limit))
	for len(out) < min(total, limit) {
		batch, err := cons.FetchNoWait(min(total, limit) - len(out))
		if err != nil {
			return trust.DeadListReply{}, fmt.Errorf("dead letters: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, letterOf(m))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return trust.DeadListReply{}, fmt.Errorf("dead letters: %w", err)
		}
		if got == 0 {
			break // purged meanwhile
		}
	}
	return trust.DeadListReply{Letters: out, Total: total, More: total > len(out)}, nil
}

// letterOf reads a dead letter's headers (delivered headers only).
func letterOf(m jetstream.Msg) trust.DeadLetter {
	h := m.Headers()
	l := trust.DeadLetter{Reason: h.Get(omq.HeaderDeadReason), LargeBody: h.Get(omq.HeaderBodyObject) != ""}
	l.Service, l.Function = omq.DeadLetterCall(omq.DefaultPrefix, m.Subject())
	l.Code, _ = strconv.Atoi(h.Get(omq.HeaderDeadCode))
	l.Deliveries, _ = strconv.Atoi(h.Get(omq.HeaderDeadDeliveries))
	l.Size, _ = strconv.Atoi(h.Get(headerMsgSize))
	if md, err := m.Metadata(); err == nil {
		l.ID, l.Time = md.Sequence.Stream, md.Timestamp.UTC()
	}
	if ns, err := strconv.ParseInt(h.Get(omq.HeaderDeadTime), 10, 64); err == nil && ns > 0 {
		l.Time = time.Unix(0, ns).UTC()
	}
	return l
}

// checkSelection refuses a request that selects nothing, or too much at
// once.
func checkSelection(req trust.DeadRequest) error {
	switch {
	case len(req.IDs) == 0 && !req.All:
		return omq.Errorf(omq.CodeBadArguments, "say which dead letters: ids, or all")
	case len(req.IDs) > 0 && req.All:
		return omq.Errorf(omq.CodeBadArguments, "ids or all, not both")
	case len(req.IDs) > trust.MaxDeadIDs:
		return omq.Errorf(omq.CodeBadArguments, "%d ids: at most %d at once", len(req.IDs), trust.MaxDeadIDs)
	case len(req.IDs) > 0 && req.Service != "":
		return omq.Errorf(omq.CodeBadArguments, "service narrows all; ids say exactly which")
	}
	return nil
}

// Replay sends dead letters again as durable calls to the function they
// were for — their payload and the call's own headers, with a Nats-Msg-Id
// of their own — and deletes each once it is stored in the lane. A
// letter whose arguments were in the large-body store that has since
// removed them is left alone (the replay could only fail).
func (d deadLetters) Replay(ctx context.Context, req trust.DeadRequest) (trust.DeadReply, error) {
	if err := checkSelection(req); err != nil {
		return trust.DeadReply{}, err
	}
	st, err := d.stream(ctx)
	if err != nil {
		return trust.DeadReply{}, err
	}
	var rep trust.DeadReply
	replay := func(raw *jetstream.RawStreamMsg) error {
		why, err := d.replayOne(ctx, st, raw)
		switch {
		case err != nil:
			return err
		case why != "":
			rep.Skipped = append(rep.Skipped, trust.DeadSkip{ID: raw.Sequence, Why: why})
		default:
			rep.Done++
		}
		return nil
	}
	if !req.All {
		for _, id := range req.IDs {
			raw, err := st.GetMsg(ctx, id)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				rep.Skipped = append(rep.Skipped, trust.DeadSkip{ID: id, Why: "no such dead letter"})
				continue
			}
			if err != nil {
				return rep, fmt.Errorf("dead letter %d: %w", id, err)
			}
			if err := replay(raw); err != nil {
				return rep, err
			}
		}
		return rep, nil
	}
	filter, err := deadFilter(req.Service)
	if err != nil {
		return rep, err
	}
	rep.To = req.To
	if rep.To == 0 {
		rep.To = st.CachedInfo().State.LastSeq
	}
	seq := max(req.From, 1)
	for n := 0; ; n++ {
		if n == max(d.batch, 1) {
			rep.Next = seq
			return rep, nil
		}
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return rep, nil
		}
		if err != nil {
			return rep, fmt.Errorf("dead letters: %w", err)
		}
		if raw.Sequence > rep.To {
			return rep, nil // arrived after the replay began (a replayed call failing again, say)
		}
		if err := replay(raw); err != nil {
			return rep, err
		}
		seq = raw.Sequence + 1
	}
}

// replayOne replays one dead letter; why says why it did not.
func (d deadLetters) replayOne(ctx context.Context, st jetstream.Stream, raw *jetstream.RawStreamMsg) (why string, err error) {
	h := d.h
	msg, err := omq.ReplayOf(omq.DefaultPrefix, raw.Subject, raw.Header, raw.Data, raw.Sequence, raw.Time)
	if err != nil {
		return "not a dead letter of a durable call (its subject is " + raw.Subject + ")", nil
	}
	if name := raw.Header.Get(omq.HeaderBodyObject); name != "" {
		store, err := h.js.ObjectStore(ctx, bodiesBucket)
		if err != nil {
			return "", fmt.Errorf("large-body store: %w", err)
		}
		if _, err := store.GetInfo(ctx, name); errors.Is(err, jetstream.ErrObjectNotFound) {
			return "its arguments were a large body, which the large-body store no longer has (it keeps them 7 days); purge it", nil
		} else if err != nil {
			return "", fmt.Errorf("large-body store: %w", err)
		}
	}
	if _, err := h.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(omq.DefaultStream)); err != nil {
		return "", fmt.Errorf("replaying dead letter %d: %w", raw.Sequence, err)
	}
	if _, err := deleteMsg(ctx, st, raw.Sequence); err != nil {
		return "", fmt.Errorf("dead letter %d was replayed but not deleted: %w", raw.Sequence, err)
	}
	svc, fn := omq.DeadLetterCall(omq.DefaultPrefix, raw.Subject)
	h.log.Info("dead letter replayed", "id", raw.Sequence, "service", svc, "function", fn)
	return "", nil
}

// Purge deletes dead letters: by id, or all of them (of one service)
// that were there when it was asked, in one purge of the stream.
func (d deadLetters) Purge(ctx context.Context, req trust.DeadRequest) (trust.DeadReply, error) {
	if err := checkSelection(req); err != nil {
		return trust.DeadReply{}, err
	}
	st, err := d.stream(ctx)
	if err != nil {
		return trust.DeadReply{}, err
	}
	var rep trust.DeadReply
	if !req.All {
		for _, id := range req.IDs {
			was, err := deleteMsg(ctx, st, id)
			if err != nil {
				return rep, fmt.Errorf("dead letter %d: %w", id, err)
			}
			if !was {
				rep.Skipped = append(rep.Skipped, trust.DeadSkip{ID: id, Why: "no such dead letter"})
				continue
			}
			rep.Done++
		}
		d.h.log.Info("dead letters purged", "count", rep.Done)
		return rep, nil
	}
	filter, err := deadFilter(req.Service)
	if err != nil {
		return rep, err
	}
	rep.To = req.To
	if rep.To == 0 {
		rep.To = st.CachedInfo().State.LastSeq
	}
	n, err := d.purge(ctx, filter, rep.To)
	if err != nil {
		return rep, err
	}
	rep.Done = n
	d.h.log.Info("dead letters purged", "service", req.Service, "count", n)
	return rep, nil
}

// purge removes the dead letters on filter up to sequence to, and says
// how many it removed. It asks the JetStream API itself: the client's
// Purge does not return the count.
func (d deadLetters) purge(ctx context.Context, filter string, to uint64) (int, error) {
	body, err := json.Marshal(jetstream.StreamPurgeRequest{Subject: filter, Sequence: to + 1})
	if err != nil {
		return 0, err
	}
	msg, err := d.h.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+omq.DefaultDeadStream, body)
	if err != nil {
		return 0, fmt.Errorf("purging dead letters: %w", err)
	}
	var resp struct {
		Success bool                `json:"success"`
		Purged  uint64              `json:"purged"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("purging dead letters: %w", err)
	}
	if resp.Error != nil || !resp.Success {
		return 0, fmt.Errorf("purging dead letters: %v", resp.Error)
	}
	return int(resp.Purged), nil
}
