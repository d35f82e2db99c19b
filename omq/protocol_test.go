package omq_test

// These tests hold docs/PROTOCOL.md to the code: one side of every exchange
// is a plain nats.go connection that knows only what the document says.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const protocolDoc = "../docs/PROTOCOL.md"

func unixNano(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// headerOf builds request headers from name/value pairs.
func headerOf(kv ...string) nats.Header {
	if len(kv) == 0 {
		return nil
	}
	h := nats.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// rawRequest is a request as any NATS client makes it.
func rawRequest(t *testing.T, nc *nats.Conn, subject, body string, hdr nats.Header) (*nats.Msg, error) {
	t.Helper()
	return nc.RequestMsg(&nats.Msg{Subject: subject, Data: []byte(body), Header: hdr}, 10*time.Second)
}

// inbox subscribes a fresh inbox for gathering several replies.
func inbox(t *testing.T, nc *nats.Conn) (string, chan *nats.Msg) {
	t.Helper()
	subj := nc.NewInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(subj, ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return subj, ch
}

// collect takes n messages from ch, failing after a bounded wait.
func collect(t *testing.T, ch <-chan *nats.Msg, n int, what string) []*nats.Msg {
	t.Helper()
	var out []*nats.Msg
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-timeout:
			t.Fatalf("%s: %d of %d messages", what, len(out), n)
		}
	}
	return out
}

// wantResult checks a success reply: the JSON result and no error headers.
func wantResult(t *testing.T, m *nats.Msg, err error, body string) {
	t.Helper()
	if err != nil {
		t.Fatalf("got error %v, want reply %s", err, body)
	}
	if c := m.Header.Get("Nats-Service-Error-Code"); c != "" {
		t.Fatalf("got error reply %s %q, want %s", c, m.Header.Get("Nats-Service-Error"), body)
	}
	if string(m.Data) != body {
		t.Fatalf("reply body %q, want %q", m.Data, body)
	}
}

// wantErrorReply checks an error reply: empty body, both ADR-32 headers.
func wantErrorReply(t *testing.T, m *nats.Msg, err error, code int, desc string) {
	t.Helper()
	if err != nil {
		t.Fatalf("got %v, want a %d reply", err, code)
	}
	if len(m.Data) != 0 {
		t.Fatalf("error reply has body %q, want none", m.Data)
	}
	if got := m.Header.Get("Nats-Service-Error-Code"); got != strconv.Itoa(code) {
		t.Fatalf("Nats-Service-Error-Code %q, want %d (description %q)", got, code, m.Header.Get("Nats-Service-Error"))
	}
	if got := m.Header.Get("Nats-Service-Error"); !strings.Contains(got, desc) {
		t.Fatalf("Nats-Service-Error %q, want it to contain %q", got, desc)
	}
}

// rawStats asks one instance for $SRV.STATS and decodes it loosely.
func rawStats(t *testing.T, nc *nats.Conn, service, id string) map[string]any {
	t.Helper()
	m, err := nc.Request("$SRV.STATS."+service+"."+id, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// endpointData returns the "data" object of one function's STATS endpoint.
func endpointData(t *testing.T, st map[string]any, fn string) map[string]any {
	t.Helper()
	eps, _ := st["endpoints"].([]any)
	for _, e := range eps {
		ep, _ := e.(map[string]any)
		if ep["name"] == fn {
			d, _ := ep["data"].(map[string]any)
			return d
		}
	}
	t.Fatalf("no endpoint %q in STATS", fn)
	return nil
}

func endpointField(t *testing.T, st map[string]any, fn, field string) any {
	t.Helper()
	for _, e := range st["endpoints"].([]any) {
		ep := e.(map[string]any)
		if ep["name"] == fn {
			return ep[field]
		}
	}
	t.Fatalf("no endpoint %q in STATS", fn)
	return nil
}

func moment(d map[string]any, which, field string) float64 {
	m, _ := d[which].(map[string]any)
	f, _ := m[field].(float64)
	return f
}

// Section 2 and 3: a raw client calls an omq unicast function by position,
// by name, with and without headers, and reads error replies.
func TestProtocol_RawClientCallsUnicast(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "calc", &Calc{}, omq.ArgNames("add", "a", "b"))
	nc := brokertest.Connect(t, e.srv)

	now := time.Now()
	tests := []struct {
		name, fn, body string
		hdr            nats.Header
		want           string // success body
		code           int    // or error code …
		desc           string // … and (part of) its description
	}{
		{name: "by position", fn: "add", body: "[2,3]", want: "5"},
		{name: "by name", fn: "add", body: `{"a":2,"b":3}`, want: "5"},
		{name: "whitespace around the body", fn: "add", body: " [2,3]\n", want: "5"},
		{name: "no arguments", fn: "nop", body: "", want: "null"},
		{name: "empty array", fn: "nop", body: "[]", want: "null"},
		{name: "with headers", fn: "add", body: "[2,3]", want: "5",
			hdr: headerOf("Dpc-Sent", unixNano(now), "Dpc-Timeout", "60000000000")},
		{name: "with the deprecated Dpc-Deadline", fn: "add", body: "[2,3]", want: "5",
			hdr: headerOf("Dpc-Sent", unixNano(now), "Dpc-Deadline", unixNano(now.Add(time.Minute)))},
		{name: "unparsable headers are ignored", fn: "add", body: "[2,3]", want: "5",
			hdr: headerOf("Dpc-Sent", "yesterday", "Dpc-Timeout", "5s", "Dpc-Deadline", "soon")},
		{name: "a non-positive timeout is ignored", fn: "add", body: "[2,3]", want: "5",
			hdr: headerOf("Dpc-Timeout", "-1")},
		{name: "null body", fn: "add", body: "null", code: 400,
			desc: `malformed arguments to add: want a JSON array (by position) or object (by name), got "null"`},
		{name: "scalar body", fn: "add", body: "2", code: 400, desc: `got "2"`},
		{name: "invalid JSON", fn: "add", body: "[2,", code: 400, desc: "malformed arguments to add"},
		{name: "wrong type", fn: "add", body: `["2",3]`, code: 400, desc: "argument 1 (a) of add: got JSON string, want int"},
		{name: "too few", fn: "add", body: "[2]", code: 400, desc: "add takes 2 arguments (a int, b int), got 1"},
		{name: "missing name", fn: "add", body: `{"a":2}`, code: 400, desc: `add: missing argument "b"`},
		{name: "unknown name", fn: "add", body: `{"a":1,"b":2,"c":3}`, code: 400, desc: `add has no argument "c"`},
		{name: "empty object to a function without parameters", fn: "nop", body: "{}", want: "null"},
		{name: "unknown function", fn: "mul", body: "[2,3]", code: 404,
			desc: `service calc has no function "mul" (it has: add, fail, nop, panic, sleep)`},
		{name: "handler error", fn: "fail", code: 500, desc: "it broke"},
		{name: "handler panic", fn: "panic", code: 500, desc: "panic panicked: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := rawRequest(t, nc, "dpc.svc.calc."+tc.fn, tc.body, tc.hdr)
			if tc.code == 0 {
				wantResult(t, m, err, tc.want)
			} else {
				wantErrorReply(t, m, err, tc.code, tc.desc)
			}
			if id := m.Header.Get("Dpc-Instance"); id != "" {
				t.Fatalf("unicast reply carries Dpc-Instance %q", id)
			}
		})
	}

	t.Run("no responders", func(t *testing.T) {
		_, err := rawRequest(t, nc, "dpc.svc.nosuch.add", "[2,3]", nil)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("got %v, want the server's no-responders status", err)
		}
	})
}

// Section 3 and 4: direct and multi calls from a raw client, counting the
// instances with $SRV.PING and reading Dpc-Instance.
func TestProtocol_RawClientCallsDirectAndMulti(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 2 {
		n, _ := e.node()
		ids = append(ids, bind(t, n, "calc", &Calc{}).ID())
	}
	sort.Strings(ids)
	nc := brokertest.Connect(t, e.srv)

	// Count the instances as MultiCall does: PING the name.
	pingInbox, pings := inbox(t, nc)
	if err := nc.PublishRequest("$SRV.PING.calc", pingInbox, nil); err != nil {
		t.Fatal(err)
	}
	var pinged []string
	for _, m := range collect(t, pings, 2, "$SRV.PING.calc") {
		var p struct{ Name, ID, Type string }
		if err := json.Unmarshal(m.Data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Name != "calc" || p.Type != "io.nats.micro.v1.ping_response" {
			t.Fatalf("ping reply %s", m.Data)
		}
		pinged = append(pinged, p.ID)
	}
	sort.Strings(pinged)
	if !slices.Equal(pinged, ids) {
		t.Fatalf("PING found %v, want %v", pinged, ids)
	}

	for _, id := range ids {
		m, err := rawRequest(t, nc, "dpc.one.calc."+id+".add", "[2,3]", nil)
		wantResult(t, m, err, "5")
		if got := m.Header.Get("Dpc-Instance"); got != id {
			t.Fatalf("direct reply Dpc-Instance %q, want %q", got, id)
		}
		m, err = rawRequest(t, nc, "dpc.one.calc."+id+".fail", "", nil)
		wantErrorReply(t, m, err, 500, "it broke")
		if got := m.Header.Get("Dpc-Instance"); got != id {
			t.Fatalf("direct error reply Dpc-Instance %q, want %q", got, id)
		}
	}
	if _, err := rawRequest(t, nc, "dpc.one.calc.nosuch.add", "[2,3]", nil); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("direct call to a missing instance: %v, want no responders", err)
	}

	replyTo, replies := inbox(t, nc)
	msg := &nats.Msg{Subject: "dpc.all.calc.add", Reply: replyTo, Data: []byte("[2,3]"),
		Header: headerOf("Dpc-Sent", unixNano(time.Now()), "Dpc-Timeout", "60000000000")}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	var answered []string
	for _, m := range collect(t, replies, 2, "multi call replies") {
		wantResult(t, m, nil, "5")
		answered = append(answered, m.Header.Get("Dpc-Instance"))
	}
	sort.Strings(answered)
	if !slices.Equal(answered, ids) {
		t.Fatalf("multi call answered by %v, want %v", answered, ids)
	}

	// A multi call to a name nobody serves gets the server's 503 status.
	if err := nc.PublishRequest("dpc.all.nosuch.add", replyTo, []byte("[2,3]")); err != nil {
		t.Fatal(err)
	}
	m := collect(t, replies, 1, "no-responders status")[0]
	if m.Header.Get("Status") != "503" || len(m.Data) != 0 {
		t.Fatalf("got status %q body %q, want a bare 503", m.Header.Get("Status"), m.Data)
	}
}

// Section 2: queue wait is measured from Dpc-Sent on the caller's clock and
// floored at zero; STATS reports it in seconds.
func TestProtocol_QueueWaitFromDpcSent(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	inst := bind(t, n, "calc", &Calc{})
	nc := brokertest.Connect(t, e.srv)
	direct := "dpc.one.calc." + inst.ID() + "."

	hourAgo := headerOf("Dpc-Sent", unixNano(time.Now().Add(-time.Hour)))
	m, err := rawRequest(t, nc, direct+"add", "[1,1]", hourAgo)
	wantResult(t, m, err, "2")
	future := headerOf("Dpc-Sent", unixNano(time.Now().Add(time.Hour)))
	m, err = rawRequest(t, nc, direct+"nop", "", future)
	wantResult(t, m, err, "null")

	st := rawStats(t, nc, "calc", inst.ID())
	add := endpointData(t, st, "add")
	if c, s := moment(add, "queue_wait", "count"), moment(add, "queue_wait", "sum_s"); c != 1 || s < 3600 {
		t.Fatalf("add queue_wait count %v sum %vs, want 1 call waiting at least 3600s", c, s)
	}
	nop := endpointData(t, st, "nop")
	if c, s := moment(nop, "queue_wait", "count"), moment(nop, "queue_wait", "sum_s"); c != 1 || s != 0 {
		t.Fatalf("nop queue_wait count %v sum %vs, want 1 call floored at 0", c, s)
	}
	data := st["data"].(map[string]any)
	if p99 := data["queue_wait_p99_s"].(float64); p99 < 3600 {
		t.Fatalf("queue_wait_p99_s %v, want the hour-long wait in seconds", p99)
	}
}

// Section 2 and 7: a call whose Dpc-Deadline has passed runs nothing, gets
// no reply, and is counted as expired rather than as a request.
func TestProtocol_ExpiredDeadlineGetsNoReply(t *testing.T) {
	e := newEnv(t)
	n, instConn := e.node()
	calc := &Calc{}
	inst := bind(t, n, "calc", calc)
	nc := brokertest.Connect(t, e.srv)

	replyTo, replies := inbox(t, nc)
	for _, subject := range []string{"dpc.svc.calc.add", "dpc.one.calc." + inst.ID() + ".add"} {
		msg := &nats.Msg{Subject: subject, Reply: replyTo, Data: []byte("[2,3]"),
			Header: headerOf("Dpc-Sent", unixNano(time.Now()), "Dpc-Deadline", "1")}
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		return endpointData(t, rawStats(t, nc, "calc", inst.ID()), "add")["expired"] == float64(2)
	}, "both expired calls to be counted")
	st := rawStats(t, nc, "calc", inst.ID())
	if got := endpointField(t, st, "add", "num_requests"); got != float64(0) {
		t.Fatalf("num_requests %v, want expired calls left out", got)
	}

	// Unbind waits for every delivered call; after both connections flush,
	// any reply the instance had sent would be in the inbox.
	if err := inst.Unbind(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := instConn.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-replies:
		t.Fatalf("expired call got a reply: headers %v body %q", m.Header, m.Data)
	default:
	}
	if got := calc.calls.Load(); got != 0 {
		t.Fatalf("handler ran %d times for expired calls", got)
	}
}

// Section 2: a call that runs past its Dpc-Deadline is counted but gets no
// reply: the caller has stopped waiting.
func TestProtocol_NoReplyAfterDeadline(t *testing.T) {
	e := newEnv(t)
	n, instConn := e.node()
	inst := bind(t, n, "calc", &Calc{})
	nc := brokertest.Connect(t, e.srv)

	replyTo, replies := inbox(t, nc)
	// sleep waits on its context, which ends at the deadline: a second
	// after it reached the instance.
	msg := &nats.Msg{Subject: "dpc.svc.calc.sleep", Reply: replyTo, Data: []byte("[600000]"),
		Header: headerOf("Dpc-Timeout", "1000000000")}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st := rawStats(t, nc, "calc", inst.ID())
		// Ran past the deadline, or (on a very slow machine) skipped before
		// it started: either way the instance is done with it.
		return endpointField(t, st, "sleep", "num_requests") == float64(1) ||
			endpointData(t, st, "sleep")["expired"] == float64(1)
	}, "the call to end at its deadline")

	if err := inst.Unbind(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := instConn.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-replies:
		t.Fatalf("a call past its deadline got a reply: headers %v body %q", m.Header, m.Data)
	default:
	}
}

// Section 5: a service written against the document with raw nats.go is
// called by an omq Stub, which gets results and typed errors.
func TestProtocol_ForeignServiceCalledByOmq(t *testing.T) {
	e := newEnv(t)
	nc := brokertest.Connect(t, e.srv) // the foreign program: no omq
	const id = "geo-1"
	type seenMsg struct {
		fn, body, reply string
		hdr             nats.Header
	}
	seen := make(chan seenMsg, 64)

	serve := func(m *nats.Msg, instance string) {
		arrived := time.Now()
		fn := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		select {
		case seen <- seenMsg{fn: fn, body: string(m.Data), reply: m.Reply, hdr: m.Header}:
		default:
		}
		// The deadline counts from arrival, on this program's clock.
		if ns, err := strconv.ParseInt(m.Header.Get("Dpc-Timeout"), 10, 64); err == nil && ns > 0 &&
			!time.Now().Before(arrived.Add(time.Duration(ns))) {
			return // expired: nobody is waiting
		}
		if m.Reply == "" {
			return // one-way
		}
		out := nats.NewMsg(m.Reply)
		if instance != "" {
			out.Header.Set("Dpc-Instance", instance)
		}
		fail := func(code int, desc string) {
			out.Header.Set("Nats-Service-Error", desc)
			out.Header.Set("Nats-Service-Error-Code", strconv.Itoa(code))
		}
		switch fn {
		case "add":
			var pos []float64
			var named struct{ A, B *float64 }
			switch {
			case json.Unmarshal(m.Data, &pos) == nil && len(pos) == 2:
				out.Data = fmt.Appendf(nil, "%g", pos[0]+pos[1])
			case json.Unmarshal(m.Data, &named) == nil && named.A != nil && named.B != nil:
				out.Data = fmt.Appendf(nil, "%g", *named.A+*named.B)
			default:
				fail(400, "add takes [a, b] or {\"a\": a, \"b\": b}")
			}
		case "hello":
			out.Data = []byte(`"hi"`)
		case "nothing":
			out.Data = []byte("null")
		case "boom":
			fail(500, "boom")
		case "teapot":
			fail(418, "I'm a teapot")
		default:
			fail(404, "geo has no function "+fn)
		}
		if err := m.RespondMsg(out); err != nil {
			t.Errorf("respond: %v", err)
		}
	}
	subs := []struct {
		subject, queue, instance string
	}{
		{"dpc.svc.geo.*", "geo", ""},
		{"dpc.all.geo.*", "", id},
		{"dpc.one.geo." + id + ".*", "", id},
	}
	for _, s := range subs {
		if _, err := nc.QueueSubscribe(s.subject, s.queue, func(m *nats.Msg) { serve(m, s.instance) }); err != nil {
			t.Fatal(err)
		}
	}
	ping := `{"name":"geo","id":"` + id + `","version":"1.0.0","metadata":{},"type":"io.nats.micro.v1.ping_response"}`
	if _, err := nc.Subscribe("$SRV.PING.geo", func(m *nats.Msg) { _ = m.Respond([]byte(ping)) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func() seenMsg {
		t.Helper()
		select {
		case s := <-seen:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("the foreign service saw nothing")
		}
		return seenMsg{}
	}

	cli, _ := e.node()
	geo := cli.Lookup("geo")
	ctx := ctxT(t, 20*time.Second)

	var sum float64
	if err := geo.Call(ctx, "add", omq.Args(2, 3), &sum); err != nil || sum != 5 {
		t.Fatalf("add(2,3) = %v, %v; want 5", sum, err)
	}
	s := next()
	if s.body != "[2,3]" {
		t.Fatalf("positional body %q, want [2,3]", s.body)
	}
	sent, err1 := strconv.ParseInt(s.hdr.Get("Dpc-Sent"), 10, 64)
	timeout, err2 := strconv.ParseInt(s.hdr.Get("Dpc-Timeout"), 10, 64)
	if err1 != nil || err2 != nil || sent <= 0 || timeout <= 0 || timeout > int64(20*time.Second) || s.hdr.Get("Dpc-Deadline") != "" {
		t.Fatalf("headers Dpc-Sent %q Dpc-Timeout %q Dpc-Deadline %q: want decimal Unix nanoseconds, the time left in nanoseconds (at most the context's 20s), no deadline",
			s.hdr.Get("Dpc-Sent"), s.hdr.Get("Dpc-Timeout"), s.hdr.Get("Dpc-Deadline"))
	}

	if err := geo.Call(ctx, "add", map[string]int{"a": 40, "b": 2}, &sum); err != nil || sum != 42 {
		t.Fatalf("add by name = %v, %v; want 42", sum, err)
	}
	if s := next(); s.body != `{"a":40,"b":2}` {
		t.Fatalf("named body %q", s.body)
	}
	var hi string
	if err := geo.Call(ctx, "hello", nil, &hi); err != nil || hi != "hi" {
		t.Fatalf("hello = %q, %v", hi, err)
	}
	if s := next(); s.body != "" {
		t.Fatalf("no-argument body %q, want empty", s.body)
	}
	kept := 7
	if err := geo.Call(ctx, "nothing", nil, &kept); err != nil || kept != 7 {
		t.Fatalf("null result: %v, %v; want no error and the reply untouched", kept, err)
	}
	next()

	for _, tc := range []struct {
		fn     string
		args   any
		wantIs error
		code   int
	}{
		{"add", omq.Args("x"), omq.ErrBadArguments, 400},
		{"nosuch", nil, omq.ErrUnknownFunction, 404},
		{"boom", nil, omq.ErrHandlerFailure, 500},
		{"teapot", nil, nil, 418},
	} {
		err := geo.Call(ctx, tc.fn, tc.args, nil)
		next()
		var oe *omq.Error
		if !errors.As(err, &oe) || oe.Code != tc.code {
			t.Fatalf("%s: got %v, want an *omq.Error with code %d", tc.fn, err, tc.code)
		}
		if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
			t.Fatalf("%s: got %v, want errors.Is %v", tc.fn, err, tc.wantIs)
		}
		if tc.code == 418 && (oe.Description != "I'm a teapot" || errors.Is(err, omq.ErrHandlerFailure)) {
			t.Fatalf("teapot: %+v", oe)
		}
	}

	if err := geo.At(id).Call(ctx, "add", omq.Args(1, 2), &sum); err != nil || sum != 3 {
		t.Fatalf("direct add = %v, %v", sum, err)
	}
	next()

	// Without Expect, MultiCall counts instances by PING, which the foreign
	// instance answers.
	replies, err := geo.MultiCall(ctx, "add", omq.Args(1, 2))
	if err != nil || len(replies) != 1 || replies[0].Instance != id {
		t.Fatalf("multi call: %+v, %v; want one reply from %s", replies, err, id)
	}
	if err := replies[0].Decode(&sum); err != nil || sum != 3 {
		t.Fatalf("multi reply %v, %v", sum, err)
	}
	if s := next(); s.hdr.Get("Dpc-Timeout") == "" || s.hdr.Get("Dpc-Deadline") != "" {
		t.Fatalf("multi call headers %v: want Dpc-Timeout, no Dpc-Deadline", s.hdr)
	}

	if err := geo.Send(ctx, "add", omq.Args(4, 5)); err != nil {
		t.Fatal(err)
	}
	s = next()
	if s.reply != "" || s.body != "[4,5]" || s.hdr.Get("Dpc-Sent") == "" || s.hdr.Get("Dpc-Deadline") != "" || s.hdr.Get("Dpc-Timeout") != "" {
		t.Fatalf("one-way call: reply %q body %q headers %v; want no reply subject, Dpc-Sent only", s.reply, s.body, s.hdr)
	}
}

// Section 6: the stream and consumer are as documented, and a raw
// JetStream publish is handled, acknowledged, terminated or redelivered as
// the table says.
func TestProtocol_RawDurablePublish(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	got := make(chan *omq.Request, 16)
	var flaky atomic.Int64
	inst := bind(t, n, "worker", omq.Handlers{
		"record": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
			got <- r
			return nil, nil
		}),
		"flaky": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
			if flaky.Add(1) == 1 {
				return nil, errors.New("not yet")
			}
			got <- r
			return nil, nil
		}),
	}, omq.MaxDeliver(3)) // a 404 is retried twice, then dropped
	nc := brokertest.Connect(t, e.srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)

	stream, err := js.Stream(ctx, "DPC_ASYNC")
	if err != nil {
		t.Fatalf("the stream should exist once an instance is bound: %v", err)
	}
	sc := stream.CachedInfo().Config
	if !slices.Equal(sc.Subjects, []string{"dpc.async.>"}) || sc.Retention != jetstream.WorkQueuePolicy || sc.Storage != jetstream.FileStorage {
		t.Fatalf("stream config: subjects %v retention %v storage %v", sc.Subjects, sc.Retention, sc.Storage)
	}
	cons, err := js.Consumer(ctx, "DPC_ASYNC", "omq_worker")
	if err != nil {
		t.Fatal(err)
	}
	cc := cons.CachedInfo().Config
	// BackOff: each delivery's ack timeout is AckWait plus the pause
	// before the next one (100ms, 200ms, …), one entry per possible
	// redelivery; the server sets AckWait to the first.
	backoff := []time.Duration{omq.DefaultAckWait + 100*time.Millisecond, omq.DefaultAckWait + 200*time.Millisecond}
	if cc.Durable != "omq_worker" || cc.FilterSubject != "dpc.async.worker.*" || cc.AckPolicy != jetstream.AckExplicitPolicy ||
		cc.AckWait != backoff[0] || cc.MaxDeliver != 3 || !slices.Equal(cc.BackOff, backoff) || cc.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Fatalf("consumer config: %+v", cc)
	}

	drained := func() bool {
		ci, err := cons.Info(ctx)
		if err != nil {
			return false
		}
		si, err := stream.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && si.State.Msgs == 0
	}
	take := func(what string) *omq.Request {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the handler never ran", what)
		}
		return nil
	}

	sentAt := unixNano(time.Now())
	msg := &nats.Msg{Subject: "dpc.async.worker.record", Data: []byte("[7]"), Header: headerOf("Dpc-Sent", sentAt)}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	r := take("raw publish")
	if r.Kind != omq.KindDurable || string(r.Args) != "[7]" || r.Header.Get("Dpc-Sent") != sentAt {
		t.Fatalf("durable request: kind %v args %s Dpc-Sent %q", r.Kind, r.Args, r.Header.Get("Dpc-Sent"))
	}

	// A durable call ignores Dpc-Timeout (its time in the stream is
	// unknown to the instance): a nanosecond's timeout still runs.
	msg = &nats.Msg{Subject: "dpc.async.worker.record", Data: []byte("[8]"), Header: headerOf("Dpc-Timeout", "1")}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if r := take("durable publish with Dpc-Timeout"); string(r.Args) != "[8]" {
		t.Fatalf("durable request args %s, want [8]", r.Args)
	}
	waitFor(t, drained, "the handled message to be acknowledged")

	// A 500 is redelivered after a delay; the second delivery succeeds.
	if _, err := js.Publish(ctx, "dpc.async.worker.flaky", []byte("[1]")); err != nil {
		t.Fatal(err)
	}
	take("redelivery after a 500")
	waitFor(t, drained, "the redelivered message to be acknowledged")
	if got := flaky.Load(); got != 2 {
		t.Fatalf("flaky ran %d times, want 2", got)
	}

	// Unknown functions (after MaxDeliver tries), other codes below 500 and
	// expired deadlines never reach a handler, and the messages leave the
	// stream.
	for _, m := range []*nats.Msg{
		{Subject: "dpc.async.worker.nosuch", Data: []byte("[1]")},
		{Subject: "dpc.async.worker.record", Data: []byte("5")},
		{Subject: "dpc.async.worker.record", Data: []byte("[1]"), Header: headerOf("Dpc-Deadline", "1")},
	} {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, drained, "rejected and expired messages to leave the stream")
	select {
	case r := <-got:
		t.Fatalf("handler ran for a rejected or expired message: %s %s", r.Function, r.Args)
	default:
	}
	st := rawStats(t, nc, "worker", inst.ID())
	if got := endpointData(t, st, "record")["expired"]; got != float64(1) {
		t.Fatalf("record expired %v, want 1", got)
	}
}

// jsonShape describes a JSON value's structure: object keys and value
// kinds, arrays by their first element.
func jsonShape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + jsonShape(x[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + jsonShape(x[0]) + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Section 7: the PING, INFO and STATS examples in the document have the
// shape of what an instance really sends.
func TestProtocol_SRVExamplesMatchReplies(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	var examples []any
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1) {
		var v any
		if err := json.Unmarshal(m[1], &v); err != nil {
			t.Fatalf("a JSON example in %s does not parse: %v\n%s", protocolDoc, err, m[1])
		}
		// Other sections have JSON examples too (log records): the
		// $SRV replies are those of a micro type.
		if o, ok := v.(map[string]any); ok && strings.HasPrefix(fmt.Sprint(o["type"]), "io.nats.micro.v1.") {
			examples = append(examples, v)
		}
	}
	if len(examples) != 3 {
		t.Fatalf("%d $SRV JSON examples in %s, want PING, INFO and STATS", len(examples), protocolDoc)
	}

	e := newEnv(t)
	n, _ := e.node()
	inst := bind(t, n, "calc", &Calc{}, omq.Version("1.0.0"), omq.Description("arithmetic"), omq.ArgNames("add", "a", "b"))
	nc := brokertest.Connect(t, e.srv)
	for i, verb := range []string{"PING", "INFO", "STATS"} {
		m, err := nc.Request("$SRV."+verb+".calc."+inst.ID(), nil, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Header) != 0 {
			t.Fatalf("%s reply has headers %v", verb, m.Header)
		}
		var live any
		if err := json.Unmarshal(m.Data, &live); err != nil {
			t.Fatal(err)
		}
		if got, want := jsonShape(live), jsonShape(examples[i]); got != want {
			t.Fatalf("%s: the instance sends\n%s\nthe document shows\n%s", verb, got, want)
		}
		if verb != "PING" {
			eps := live.(map[string]any)["endpoints"].([]any)
			docEps := examples[i].(map[string]any)["endpoints"].([]any)
			if len(eps) != len(docEps) {
				t.Fatalf("%s: %d endpoints, the document shows %d", verb, len(eps), len(docEps))
			}
		}
	}
}

// The document names the code's constants, and every field omq adds to
// STATS.
func TestProtocol_DocNamesTheCode(t *testing.T) {
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	want := []string{
		"`" + omq.HeaderSent + "`", "`" + omq.HeaderTimeout + "`", "`" + omq.HeaderDeadline + "`", "`" + omq.HeaderInstance + "`",
		"`" + omq.HeaderError + "`", "`" + omq.HeaderErrorCode + "`",
		"`" + omq.DefaultPrefix + ".svc.<service>.<function>`",
		"`" + omq.DefaultPrefix + ".all.<service>.<function>`",
		"`" + omq.DefaultPrefix + ".one.<service>.<instance>.<function>`",
		"`" + omq.DefaultPrefix + ".async.<service>.<function>`",
		"`" + omq.DefaultStream + "`", "`omq_<service>`", "^[A-Za-z0-9_-]+$",
		fmt.Sprintf("| %d | `omq.ErrBadArguments`", omq.CodeBadArguments),
		fmt.Sprintf("| %d | `omq.ErrUnknownFunction`", omq.CodeUnknownFunction),
		fmt.Sprintf("| %d | `omq.ErrHandlerFailure`", omq.CodeHandlerFailure),
		fmt.Sprintf("| %d | `omq.ErrTooLarge`", omq.CodeTooLarge),
		fmt.Sprintf("ack wait | %s", omq.DefaultAckWait),
		fmt.Sprintf("default %d", omq.DefaultConcurrency),
		fmt.Sprintf("`omq.DefaultRetries` = %d", omq.DefaultRetries),
	}
	for _, typ := range []any{omq.FunctionData{}, omq.InstanceData{}, omq.Moments{}} {
		rt := reflect.TypeOf(typ)
		for i := range rt.NumField() {
			tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			want = append(want, "`"+tag+"`")
		}
	}
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("%s does not mention %s", protocolDoc, w)
		}
	}

	// The name rule, as Bind applies it.
	e := newEnv(t)
	n, _ := e.node()
	ctx := ctxT(t, 10*time.Second)
	for _, name := range []string{"calc-2_X", "a.b", "a b", "a*", "a>", ""} {
		inst, err := n.Bind(ctx, name, &Calc{}, omq.NoDurable())
		if valid := regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(name); valid != (err == nil) {
			t.Errorf("Bind(%q): %v; the documented rule says valid=%v", name, err, valid)
		}
		if inst != nil {
			_ = inst.Unbind(ctx)
		}
	}
}
