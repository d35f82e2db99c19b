package omq_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// probe reports the deadline its handlers' contexts carry, as the time
// left in nanoseconds (-1 for none): what a handler has to work with.
type probe struct{}

func (probe) Left(ctx context.Context) int64 { return timeLeft(ctx) }

// Big is Left for a call whose arguments go through the object store.
func (probe) Big(ctx context.Context, blob string) int64 { return timeLeft(ctx) }

func timeLeft(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return int64(time.Until(dl))
}

// wantLeft checks a probe's reply: a deadline, no further away than the
// caller's timeout.
func wantLeft(t *testing.T, what string, m *nats.Msg, err error, timeout time.Duration) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if e := m.Header.Get("Nats-Service-Error"); e != "" {
		t.Fatalf("%s: error reply %q", what, e)
	}
	left, perr := strconv.ParseInt(string(m.Data), 10, 64)
	if perr != nil || left <= 0 || left > int64(timeout) {
		t.Fatalf("%s: the handler's context had %s left (%q), want a deadline within the caller's %v", what, time.Duration(left), m.Data, timeout)
	}
}

// Section 2: a caller whose wall clock is an hour behind or ahead of the
// instance's still gets answers, and its timeout (Dpc-Timeout, relative)
// bounds the handler's context however wrong its Dpc-Deadline would be.
// A caller that sends only the old Dpc-Deadline is still served by it.
func TestProtocol_CallerClockSkew(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	inst := bind(t, n, "probe", probe{})
	nc := brokertest.Connect(t, e.srv)

	const timeout = 30 * time.Second
	ns := strconv.FormatInt(int64(timeout), 10)
	now := time.Now()
	// What a caller whose clock reads now+skew sends: its own send time and
	// (as an older omq did) its absolute deadline, and the time left.
	skewed := func(skew time.Duration) nats.Header {
		return headerOf("Dpc-Sent", unixNano(now.Add(skew)), "Dpc-Deadline", unixNano(now.Add(skew+timeout)), "Dpc-Timeout", ns)
	}
	lanes := []struct {
		name, subject string
		busy          string
	}{
		{name: "unicast", subject: "dpc.svc.probe.left"},
		{name: "unicast, resent when busy", subject: "dpc.svc.probe.left", busy: "resend"},
		{name: "direct", subject: "dpc.one.probe." + inst.ID() + ".left"},
	}
	for _, lane := range lanes {
		for _, c := range []struct {
			name string
			hdr  nats.Header
		}{
			{"caller an hour behind", skewed(-time.Hour)},
			{"caller an hour ahead", skewed(time.Hour)},
			{"old caller sending only Dpc-Deadline", headerOf("Dpc-Sent", unixNano(now), "Dpc-Deadline", unixNano(now.Add(timeout)))},
		} {
			if lane.busy != "" {
				c.hdr.Set("Dpc-Busy", lane.busy)
			}
			m, err := rawRequest(t, nc, lane.subject, "", c.hdr)
			wantLeft(t, lane.name+", "+c.name, m, err, timeout)
		}
	}
	m, err := rawRequest(t, nc, "dpc.svc.probe.left", "", nil)
	if err != nil || string(m.Data) != "-1" {
		t.Fatalf("a call without a timeout: %q, %v; want a handler context without a deadline (-1)", m.Data, err)
	}

	// Multi calls read it the same way.
	replyTo, replies := inbox(t, nc)
	if err := nc.PublishMsg(&nats.Msg{Subject: "dpc.all.probe.left", Reply: replyTo, Header: skewed(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantLeft(t, "multi call, caller an hour ahead", collect(t, replies, 1, "multi call reply")[0], nil, timeout)

	// Dpc-Timeout decides, not Dpc-Deadline: a nanosecond's timeout with a
	// deadline an hour off is skipped, and so is an unparsable timeout
	// with a deadline already past.
	for _, hdr := range []nats.Header{
		headerOf("Dpc-Timeout", "1", "Dpc-Deadline", unixNano(now.Add(time.Hour))),
		headerOf("Dpc-Timeout", "soon", "Dpc-Deadline", "1"),
	} {
		if err := nc.PublishMsg(&nats.Msg{Subject: "dpc.svc.probe.left", Reply: replyTo, Header: hdr}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		return endpointData(t, rawStats(t, nc, "probe", inst.ID()), "left")["expired"] == float64(2)
	}, "both expired calls to be counted")
}

// An omq caller sends the time left, so the handler's context ends within
// the call's timeout: for calls, multi calls and arguments sent through
// the object store.
func TestCall_HandlerDeadlineWithinCallerTimeout(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "probe", probe{})
	cli, _ := e.node()
	p := cli.Lookup("probe")
	ctx := ctxT(t, 60*time.Second)
	const timeout = 20 * time.Second

	check := func(what string, left int64) {
		t.Helper()
		if left <= 0 || left > int64(timeout) {
			t.Fatalf("%s: the handler's context had %v left, want a deadline within the call's %v", what, time.Duration(left), timeout)
		}
	}
	var left int64
	if err := p.Call(ctx, "left", nil, &left, omq.Timeout(timeout)); err != nil {
		t.Fatal(err)
	}
	check("call", left)

	big := strings.Repeat("x", 3<<20) // more than the server's 1 MiB max payload
	if err := p.Call(ctx, "big", omq.Args(big), &left, omq.Timeout(timeout)); err != nil {
		t.Fatal(err)
	}
	check("call with a body in the object store", left)

	replies, err := p.MultiCall(ctx, "left", nil, omq.Timeout(timeout))
	if err != nil || len(replies) != 1 {
		t.Fatalf("multi call: %v, %v", replies, err)
	}
	if err := replies[0].Decode(&left); err != nil {
		t.Fatal(err)
	}
	check("multi call", left)
}

// A call refused busy is sent again with its first Dpc-Sent and, each
// time, the time left then: never more than the send before it.
func TestCall_BusyResendCarriesTimeLeft(t *testing.T) {
	e := newEnv(t)
	nc := brokertest.Connect(t, e.srv) // a foreign instance: refuses twice, then answers
	var mu sync.Mutex
	var seen []nats.Header
	if _, err := nc.QueueSubscribe("dpc.svc.geo.*", "geo", func(m *nats.Msg) {
		mu.Lock()
		seen = append(seen, m.Header)
		k := len(seen)
		mu.Unlock()
		out := nats.NewMsg(m.Reply)
		if k <= 2 {
			out.Header.Set("Dpc-Busy", "refused")
			out.Header.Set("Nats-Service-Error", "busy")
			out.Header.Set("Nats-Service-Error-Code", "429")
		} else {
			out.Data, _ = json.Marshal(k)
		}
		_ = m.RespondMsg(out)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	cli, _ := e.node()
	const timeout = 20 * time.Second
	var k int
	if err := cli.Lookup("geo").Call(ctxT(t, 30*time.Second), "f", nil, &k, omq.Timeout(timeout)); err != nil || k != 3 {
		t.Fatalf("call: %v, %v; want the third send answered", k, err)
	}
	mu.Lock()
	defer mu.Unlock()
	prev := int64(timeout)
	for i, h := range seen {
		left, err := strconv.ParseInt(h.Get("Dpc-Timeout"), 10, 64)
		if err != nil || left <= 0 || left > prev {
			t.Fatalf("send %d: Dpc-Timeout %q, want the time left, at most %v (the previous send's)", i+1, h.Get("Dpc-Timeout"), time.Duration(prev))
		}
		prev = left
		if h.Get("Dpc-Sent") != seen[0].Get("Dpc-Sent") || h.Get("Dpc-Deadline") != "" {
			t.Fatalf("send %d: Dpc-Sent %q (first %q), Dpc-Deadline %q; want the first send time and no deadline",
				i+1, h.Get("Dpc-Sent"), seen[0].Get("Dpc-Sent"), h.Get("Dpc-Deadline"))
		}
	}
}

// Calls that wait in the instance's buffer while its only slot is taken
// (callers that do not resend when busy) count their timeout from when
// they came, not from when the slot frees: those whose callers still wait
// run, while TestInstance_SkipsExpiredCalls shows those whose callers
// gave up are skipped.
func TestInstance_BufferedCallsWithinTimeoutRun(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node(omq.WithResendWhenBusy(false))
	inst := bind(t, n, "calc", &Calc{}, omq.Concurrency(1))
	stub := n.Lookup("calc")
	busy := stub.Go(context.Background(), "sleep", omq.Args(300), nil, nil, omq.Timeout(10*time.Second))
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 1 }, "slot to be busy")
	sums := make([]int, 5)
	calls := make([]*omq.Call, len(sums))
	for k := range calls {
		calls[k] = stub.Go(context.Background(), "add", omq.Args(k, 1), &sums[k], nil, omq.Timeout(10*time.Second))
	}
	for k, c := range append(calls, busy) {
		<-c.Done
		if c.Error != nil {
			t.Fatalf("call %d: %v", k, c.Error)
		}
	}
	for k, s := range sums {
		if s != k+1 {
			t.Fatalf("add(%d, 1) = %d", k, s)
		}
	}
	if got := fnData(t, inst, "add").Expired; got != 0 {
		t.Fatalf("%d buffered calls skipped as expired while their callers waited", got)
	}
}

// Section 7, Clocks: a Dpc-Sent more than a day old (a clock far off, or
// a made-up header) is not believed: the queue wait counts from arrival,
// so one request cannot put decades into the statistics.
func TestProtocol_QueueWaitIgnoresAncientDpcSent(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	inst := bind(t, n, "calc", &Calc{})
	nc := brokertest.Connect(t, e.srv)
	m, err := rawRequest(t, nc, "dpc.one.calc."+inst.ID()+".nop", "", headerOf("Dpc-Sent", "1"))
	wantResult(t, m, err, "null")
	nop := endpointData(t, rawStats(t, nc, "calc", inst.ID()), "nop")
	if c, s := moment(nop, "queue_wait", "count"), moment(nop, "queue_wait", "sum_s"); c != 1 || s >= 24*3600 {
		t.Fatalf("nop queue_wait count %v sum %vs, want 1 call whose wait is not counted from 1970", c, s)
	}
}
