package omq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead letters. A durable call that cannot succeed is not dropped: it is
// written to a second stream, <PREFIX>_DEAD (DPC_DEAD), on the subject
// <prefix>.dead.<service>.<function> — outside every call subject space —
// with its payload and headers and Dpc-Dead-* headers saying why, and only
// then taken out of the durable lane. The owner lists, replays or purges
// them (a DPC hub's deadletters service).
//
// Two ways in:
//
//   - an instance that ends a call for good writes it: a 4xx answer
//     (another delivery cannot help), or a failure on the consumer's last
//     delivery (see settle). If the dead letter cannot be written, the
//     call is not terminated but naked with the usual pause, so nothing is
//     lost: on its last delivery that leaves it to the server's
//     max-deliveries advisory, i.e. the second way;
//   - a call whose process died (or hung) on its last delivery got no
//     answer at all: the server gives up on it, publishes a max-deliveries
//     advisory and keeps it in the work queue. A DPC hub listens to those
//     advisories and moves the call the same way (hub/deadletters.go).
//
// Both ways give the dead letter the same Nats-Msg-Id, derived from the
// call's place in the lane's stream (DeadLetterID), so if both happen, or
// one happens twice, the dead-letter stream keeps one.

// Dead-letter headers, on top of the call's own.
const (
	// HeaderDeadReason says why: "<code>: <description>" of the last
	// answer, or why there was none.
	HeaderDeadReason = "Dpc-Dead-Reason"
	// HeaderDeadCode is the last answer's error code (absent without one).
	HeaderDeadCode = "Dpc-Dead-Code"
	// HeaderDeadDeliveries is how many times the call was delivered.
	HeaderDeadDeliveries = "Dpc-Dead-Deliveries"
	// HeaderDeadStreamSeq is the call's sequence in the lane's stream.
	HeaderDeadStreamSeq = "Dpc-Dead-Stream-Seq"
	// HeaderDeadTime is when the call was given up on (Unix nanoseconds).
	HeaderDeadTime = "Dpc-Dead-Time"
	// HeaderDeadInstance is the instance that gave up on it ("" when the
	// server did: no instance answered).
	HeaderDeadInstance = "Dpc-Dead-Instance"
)

// headerMsgID is JetStream's de-duplication header.
const headerMsgID = "Nats-Msg-Id"

// DefaultDeadStream is the dead-letter stream under the default prefix.
const DefaultDeadStream = "DPC_DEAD"

// Limits of the dead-letter stream: bounded like every other store of the
// hub, the oldest letters going first when one is reached (a dead letter
// is evidence for a person, and the newest is the likeliest to matter).
const (
	DeadMaxMsgs  = 10_000
	DeadMaxBytes = 256 << 20
	DeadMaxAge   = 30 * 24 * time.Hour
	// DeadDuplicates is the stream's de-duplication window: longer than
	// the default 2 minutes, so that a hub that moved a call and died
	// before deleting it does not write it twice when it sweeps again at
	// its restart.
	DeadDuplicates = time.Hour
)

// DeadStreamName is the dead-letter stream of prefix: DPC_DEAD for "dpc".
func DeadStreamName(prefix string) string { return strings.ToUpper(prefix) + "_DEAD" }

// DeadLetterStream is the configuration of prefix's dead-letter stream as
// omq creates it when missing (a DPC hub creates it at start, with its
// replicas).
func DeadLetterStream(prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DeadStreamName(prefix),
		Description: "omq dead letters: durable calls that could not succeed",
		Subjects:    []string{prefix + ".dead.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     DeadMaxMsgs,
		MaxBytes:    DeadMaxBytes,
		MaxAge:      DeadMaxAge,
		Duplicates:  DeadDuplicates,
		Storage:     jetstream.FileStorage,
	}
}

// DeadLetterID is the Nats-Msg-Id of the dead letter of the call stored at
// seq in stream at time stored. The time tells apart two calls with the
// same sequence in a stream that was made again in between.
func DeadLetterID(stream string, seq uint64, stored time.Time) string {
	return "dead." + stream + "." + strconv.FormatUint(seq, 10) + "." + strconv.FormatInt(stored.UnixNano(), 10)
}

// Death says where a durable call was and why it is given up on.
type Death struct {
	Stream     string    // the lane's stream
	Seq        uint64    // the call's sequence there
	Stored     time.Time // when the stream stored it
	Deliveries uint64
	Code       int // the last answer's code; 0 without one
	Reason     string
	Instance   string
}

// NewDeadLetter makes the dead letter of the durable call that was
// stored on subject (<prefix>.async.<service>.<function>) with hdr and
// data: the same payload and headers (less JetStream's own Nats-*
// headers), the Dpc-Dead-* headers, and its Nats-Msg-Id.
func NewDeadLetter(prefix, subject string, hdr nats.Header, data []byte, d Death) (*nats.Msg, error) {
	svc, fn, ok := splitLane(prefix, "async", subject)
	if !ok {
		return nil, fmt.Errorf("omq: %q is not a durable call's subject (%s.async.<service>.<function>)", subject, prefix)
	}
	out := &nats.Msg{Subject: prefix + ".dead." + svc + "." + fn, Data: data, Header: nats.Header{}}
	for k, v := range hdr {
		if !jetStreamHeader(k) && !deadHeader(k) {
			out.Header[k] = append([]string(nil), v...)
		}
	}
	reason := d.Reason
	if d.Code != 0 {
		out.Header.Set(HeaderDeadCode, strconv.Itoa(d.Code))
		reason = strconv.Itoa(d.Code) + ": " + reason
	}
	out.Header.Set(HeaderDeadReason, oneLine(reason))
	out.Header.Set(HeaderDeadDeliveries, strconv.FormatUint(d.Deliveries, 10))
	out.Header.Set(HeaderDeadStreamSeq, strconv.FormatUint(d.Seq, 10))
	out.Header.Set(HeaderDeadTime, formatTime(time.Now()))
	if d.Instance != "" {
		out.Header.Set(HeaderDeadInstance, d.Instance)
	}
	out.Header.Set(headerMsgID, DeadLetterID(d.Stream, d.Seq, d.Stored))
	return out, nil
}

// ReplayOf is the durable call that replays the dead letter stored at
// seq and time stored on subject (<prefix>.dead.<service>.<function>):
// its payload and the call's own headers, to <prefix>.async.<service>.<function>,
// with a Nats-Msg-Id of its own (so a repeat of the replay is dropped,
// and nothing the call was first sent with is). Dpc-Deadline is left out:
// the owner asks for it to run now, whenever its first caller stopped
// waiting. The service and function come from the subject, which only the
// hub and that service may publish on, never from a header.
func ReplayOf(prefix, subject string, hdr nats.Header, data []byte, seq uint64, stored time.Time) (*nats.Msg, error) {
	svc, fn, ok := splitLane(prefix, "dead", subject)
	if !ok {
		return nil, fmt.Errorf("omq: %q is not a dead letter's subject (%s.dead.<service>.<function>)", subject, prefix)
	}
	out := &nats.Msg{Subject: prefix + ".async." + svc + "." + fn, Data: data, Header: nats.Header{}}
	for k, v := range hdr {
		if !jetStreamHeader(k) && !deadHeader(k) && k != HeaderDeadline {
			out.Header[k] = append([]string(nil), v...)
		}
	}
	out.Header.Set(headerMsgID, "replay."+DeadStreamName(prefix)+"."+strconv.FormatUint(seq, 10)+"."+strconv.FormatInt(stored.UnixNano(), 10))
	return out, nil
}

// DeadLetterCall names the service and function a dead letter's subject
// is for ("", "" if it is not a dead letter's).
func DeadLetterCall(prefix, subject string) (service, function string) {
	svc, fn, ok := splitLane(prefix, "dead", subject)
	if !ok {
		return "", ""
	}
	return svc, fn
}

// splitLane splits <prefix>.<lane>.<service>.<function>.
func splitLane(prefix, lane, subject string) (svc, fn string, ok bool) {
	rest, ok := strings.CutPrefix(subject, prefix+"."+lane+".")
	if !ok {
		return "", "", false
	}
	svc, fn, ok = strings.Cut(rest, ".")
	if !ok || !ValidName(svc) || !ValidName(fn) {
		return "", "", false
	}
	return svc, fn, true
}

// jetStreamHeader: Nats-Msg-Id, Nats-Expected-*, the headers a direct get
// adds, and the like belong to one publish or one read, not to the call.
func jetStreamHeader(k string) bool {
	return len(k) >= 5 && strings.EqualFold(k[:5], "nats-")
}

func deadHeader(k string) bool {
	return len(k) >= 9 && strings.EqualFold(k[:9], "dpc-dead-")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1024 {
		s = s[:1024] + "…"
	}
	return s
}

// bury writes the dead letter of delivery n of m, whose handler answered
// e, and then terminates m; if the dead letter cannot be written it naks
// m instead, so that the call stays in the lane.
func (i *Instance) bury(m jetstream.Msg, e *Error, n uint64, log *slog.Logger) {
	// Writing takes a round trip or two: restart the server's ack timer
	// first, so the call is not offered to another instance meanwhile.
	_ = m.InProgress()
	err := i.writeDeadLetter(m, e, n)
	if err != nil {
		log.Error("omq: durable call cannot succeed, and its dead letter could not be written; keeping it in the lane", "code", e.Code, "err", e.Description, "dead_letter_err", err)
		_ = m.NakWithDelay(redeliveryDelay(n))
		return
	}
	log.Error("omq: durable call cannot succeed; moved it to the dead letters", "code", e.Code, "err", e.Description)
	_ = m.TermWithReason("dead letter")
}

func (i *Instance) writeDeadLetter(m jetstream.Msg, e *Error, n uint64) error {
	md, err := m.Metadata()
	if err != nil {
		return err
	}
	dl, err := NewDeadLetter(i.node.cfg.prefix, m.Subject(), m.Headers(), m.Data(), Death{
		Stream: md.Stream, Seq: md.Sequence.Stream, Stored: md.Timestamp,
		Deliveries: n, Code: e.Code, Reason: e.Description, Instance: i.id,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), i.node.cfg.timeout)
	defer cancel()
	return i.node.publishDeadLetter(ctx, dl)
}

// publishDeadLetter stores a dead letter and waits for the stream's
// acknowledgement. A stream that is missing is created if this
// connection may (a DPC hub creates it at start; a service identity may
// not, and is refused once).
func (n *Node) publishDeadLetter(ctx context.Context, dl *nats.Msg) error {
	js, err := n.jetStream()
	if err != nil {
		return err
	}
	_, err = js.PublishMsg(ctx, dl)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		if serr := n.ensureDeadStream(ctx, js); serr != nil {
			return fmt.Errorf("omq: dead letter %s: %w; the stream: %w", dl.Subject, err, serr)
		}
		_, err = js.PublishMsg(ctx, dl)
	}
	if err != nil {
		return fmt.Errorf("omq: dead letter %s: %w", dl.Subject, err)
	}
	return nil
}

// ensureDeadStream creates the dead-letter stream if it is missing and
// this connection may; it never changes an existing one.
func (n *Node) ensureDeadStream(ctx context.Context, js jetstream.JetStream) error {
	cfg := DeadLetterStream(n.cfg.prefix)
	if n.deadRefused.Load() {
		return fmt.Errorf("stream %s %w", cfg.Name, errStreamCreateDenied)
	}
	_, err := js.CreateStream(ctx, cfg)
	if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil
	}
	if n.createDenied(cfg.Name) {
		n.deadRefused.Store(true)
		return fmt.Errorf("stream %s %w", cfg.Name, errStreamCreateDenied)
	}
	return err
}
