package omq_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetters reads every message of the dead-letter stream.
func deadLetters(t *testing.T, nc *nats.Conn) []*jetstream.RawStreamMsg {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctxT(t, 5*time.Second), omq.DefaultDeadStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; seq++ {
		m, err := st.GetMsg(ctxT(t, 5*time.Second), seq, jetstream.WithGetMsgSubject("dpc.dead.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence
	}
}

// failing answers every call to "record" with err and counts the runs.
func failing(runs *atomic.Int64, err error) omq.Handlers {
	return omq.Handlers{"record": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
		runs.Add(1)
		return nil, err
	})}
}

// A call answered with a 4xx is given up on at once: one dead letter with
// the call's payload and headers and why, and nothing left in the lane.
func TestDeadLetter_RejectedCallIsBuried(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	n, _ := e.node()
	inst := bind(t, n, "worker", failing(&runs, omq.Errorf(422, "no such order")), omq.AckWait(time.Second))
	cli, cnc := e.node()
	sendDurable(t, cli, 7, 8)
	waitFor(t, func() bool { return settled(t, cli, inst) && len(deadLetters(t, cnc)) == 1 }, "the rejected call buried")
	if r := runs.Load(); r != 1 {
		t.Fatalf("the handler ran %d times, want once", r)
	}
	dl := deadLetters(t, cnc)[0]
	h := dl.Header
	if dl.Subject != "dpc.dead.worker.record" || string(dl.Data) != "[7]" {
		t.Fatalf("dead letter on %s with %q, want dpc.dead.worker.record with [7]", dl.Subject, dl.Data)
	}
	for k, want := range map[string]string{
		omq.HeaderDeadReason: "422: no such order", omq.HeaderDeadCode: "422",
		omq.HeaderDeadDeliveries: "1", omq.HeaderDeadStreamSeq: "1", omq.HeaderDeadInstance: inst.ID(),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if h.Get(omq.HeaderSent) == "" || h.Get(omq.HeaderDeadTime) == "" {
		t.Errorf("headers %v lack Dpc-Sent or Dpc-Dead-Time", h)
	}
	if id := h.Get("Nats-Msg-Id"); len(id) < len("dead.DPC_ASYNC.1.") || id[:len("dead.DPC_ASYNC.1.")] != "dead.DPC_ASYNC.1." {
		t.Errorf("Nats-Msg-Id %q, want dead.DPC_ASYNC.1.<time>", id)
	}
}

// A call that fails every time is buried after the consumer's last
// delivery, with the number of deliveries.
func TestDeadLetter_FailingCallBuriedAfterMaxDeliver(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	n, _ := e.node()
	inst := bind(t, n, "worker", failing(&runs, errors.New("disk on fire")), omq.AckWait(time.Second), omq.MaxDeliver(3))
	cli, cnc := e.node()
	sendDurable(t, cli, 1, 2)
	waitFor(t, func() bool { return settled(t, cli, inst) && len(deadLetters(t, cnc)) == 1 }, "the failing call buried")
	if r := runs.Load(); r != 3 {
		t.Fatalf("the handler ran %d times, want MaxDeliver, 3", r)
	}
	h := deadLetters(t, cnc)[0].Header
	if h.Get(omq.HeaderDeadReason) != "500: disk on fire" || h.Get(omq.HeaderDeadDeliveries) != "3" {
		t.Fatalf("reason %q after %s deliveries, want 500: disk on fire after 3", h.Get(omq.HeaderDeadReason), h.Get(omq.HeaderDeadDeliveries))
	}
}

// A dead letter that cannot be written does not cost the call: it stays
// in the lane.
func TestDeadLetter_UnwritableKeepsTheCall(t *testing.T) {
	e := newEnv(t)
	cli, cnc := e.node()
	js, err := jetstream.New(cnc)
	if err != nil {
		t.Fatal(err)
	}
	// A stream of that name that does not take dead letters.
	if _, err := js.CreateStream(ctxT(t, 5*time.Second), jetstream.StreamConfig{Name: omq.DefaultDeadStream, Subjects: []string{"elsewhere.>"}}); err != nil {
		t.Fatal(err)
	}
	logs, logger := newLogged()
	var runs atomic.Int64
	n, _ := e.node(omq.WithLogger(logger), omq.WithTimeout(time.Second))
	bind(t, n, "worker", failing(&runs, omq.Errorf(400, "bad")), omq.AckWait(time.Second), omq.MaxDeliver(2))
	sendDurable(t, cli, 1, 2)
	waitFor(t, func() bool { return len(logs.with("could not be written")) >= 2 }, "both deliveries to fail to write the dead letter")
	if b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker"); err != nil || b != 1 {
		t.Fatalf("backlog %d, %v; want the call kept, 1", b, err)
	}
}

func TestDeadLetter_ReplayOfRoundTrip(t *testing.T) {
	hdr := nats.Header{}
	hdr.Set(omq.HeaderSent, "17")
	hdr.Set(omq.HeaderDeadline, "18")
	hdr.Set("Nats-Msg-Id", "order-7")
	hdr.Set("Nats-Expected-Stream", "DPC_ASYNC")
	hdr.Set("X-Trace", "abc")
	stored := time.Unix(0, 123456789)
	dl, err := omq.NewDeadLetter("dpc", "dpc.async.worker.record", hdr, []byte("[7]"),
		omq.Death{Stream: "DPC_ASYNC", Seq: 9, Stored: stored, Deliveries: 2, Reason: "the process did not answer"})
	if err != nil {
		t.Fatal(err)
	}
	if dl.Subject != "dpc.dead.worker.record" || dl.Header.Get("Nats-Msg-Id") != omq.DeadLetterID("DPC_ASYNC", 9, stored) ||
		dl.Header.Get("Nats-Expected-Stream") != "" || dl.Header.Get(omq.HeaderDeadCode) != "" ||
		dl.Header.Get(omq.HeaderDeadReason) != "the process did not answer" || dl.Header.Get(omq.HeaderDeadInstance) != "" {
		t.Fatalf("dead letter %s %v", dl.Subject, dl.Header)
	}
	if svc, fn := omq.DeadLetterCall("dpc", dl.Subject); svc != "worker" || fn != "record" {
		t.Fatalf("DeadLetterCall: %s %s", svc, fn)
	}
	re, err := omq.ReplayOf("dpc", dl.Subject, dl.Header, dl.Data, 4, stored)
	if err != nil {
		t.Fatal(err)
	}
	if re.Subject != "dpc.async.worker.record" || string(re.Data) != "[7]" || re.Header.Get(omq.HeaderSent) != "17" ||
		re.Header.Get("X-Trace") != "abc" || re.Header.Get(omq.HeaderDeadline) != "" || re.Header.Get(omq.HeaderDeadReason) != "" ||
		re.Header.Get("Nats-Msg-Id") != "replay.DPC_DEAD.4."+strconv.FormatInt(stored.UnixNano(), 10) {
		t.Fatalf("replay %s %v", re.Subject, re.Header)
	}
	for _, bad := range []string{"dpc.svc.worker.record", "dpc.async.worker", "dpc.async.a.b.c", "dpc.async.*.x"} {
		if _, err := omq.NewDeadLetter("dpc", bad, nil, nil, omq.Death{}); err == nil {
			t.Errorf("NewDeadLetter accepted %q", bad)
		}
	}
	if _, err := omq.ReplayOf("dpc", "dpc.async.worker.record", nil, nil, 1, stored); err == nil {
		t.Error("ReplayOf accepted a durable call's subject")
	}
}

// The consumer of a name nobody serves any more is deleted after its
// InactiveThreshold, not while an instance is bound; calls sent meanwhile
// wait in the stream, and the next instance to bind gets them.
func TestDurable_InactiveConsumerRemovedCallsKept(t *testing.T) {
	e := newEnv(t)
	n, nc := e.node()
	if got := consumerInfo(t, nc, "omq_"+bindDefault(t, n)).Config.InactiveThreshold; got != omq.DefaultInactiveThreshold {
		t.Fatalf("default InactiveThreshold %s, want %s", got, omq.DefaultInactiveThreshold)
	}
	const threshold = 500 * time.Millisecond
	inst := bind(t, n, "worker", &recorder{}, omq.InactiveThreshold(threshold))
	if got := consumerInfo(t, nc, "omq_worker").Config.InactiveThreshold; got != threshold {
		t.Fatalf("InactiveThreshold %s, want %s", got, threshold)
	}
	// The scenario, not a guess at a duration: several thresholds (and the
	// server's up to 1s of jitter) pass while the instance is bound.
	time.Sleep(4 * threshold)
	consumerInfo(t, nc, "omq_worker") // fails the test if it is gone
	if err := inst.Unbind(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := js.Consumer(ctxT(t, 5*time.Second), omq.DefaultStream, "omq_worker")
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	}, "the unused consumer deleted")
	cli, _ := e.node()
	sendDurable(t, cli, 0, 3)
	if b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker"); err != nil || b != 3 {
		t.Fatalf("backlog %d, %v; want 3 calls kept", b, err)
	}
	r := &recorder{}
	bind(t, n, "worker", r, omq.InactiveThreshold(threshold))
	wantValues(t, r, 0, 3)
}

// bindDefault binds a service with the default options and returns its
// name.
func bindDefault(t *testing.T, n *omq.Node) string {
	t.Helper()
	bind(t, n, "defaults", &recorder{})
	return "defaults"
}

// A consumer made by an older omq gets the current MaxDeliver, the BackOff
// of its own AckWait and an InactiveThreshold; a current one is left alone.
func TestUpgradeConsumer(t *testing.T) {
	old := jetstream.ConsumerConfig{Durable: "omq_w", AckWait: 2 * time.Second, MaxDeliver: -1, AckPolicy: jetstream.AckExplicitPolicy}
	got, changed := omq.UpgradeConsumer(old)
	if !changed || got.MaxDeliver != omq.DefaultMaxDeliver || got.InactiveThreshold != omq.DefaultInactiveThreshold ||
		len(got.BackOff) != omq.DefaultMaxDeliver-1 || got.BackOff[0] != 2100*time.Millisecond || got.AckWait != got.BackOff[0] {
		t.Fatalf("upgraded: changed %v MaxDeliver %d Inactive %s BackOff %v AckWait %s", changed, got.MaxDeliver, got.InactiveThreshold, got.BackOff, got.AckWait)
	}
	if again, changed := omq.UpgradeConsumer(got); changed || again.AckWait != got.AckWait {
		t.Fatalf("upgraded twice: changed %v, AckWait %s", changed, again.AckWait)
	}
	mid := jetstream.ConsumerConfig{AckWait: 1100 * time.Millisecond, MaxDeliver: 2, BackOff: []time.Duration{1100 * time.Millisecond}}
	if got, changed := omq.UpgradeConsumer(mid); !changed || got.MaxDeliver != 2 || len(got.BackOff) != 1 || got.InactiveThreshold != omq.DefaultInactiveThreshold {
		t.Fatalf("a consumer with MaxDeliver but no InactiveThreshold: changed %v, %+v", changed, got)
	}
}
