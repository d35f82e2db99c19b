package omq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

// seen is what a handler found in its context.
type seen struct {
	sc       trace.SpanContext
	instance string
}

// spanRecorder binds service on n with one function, f, that reports the
// span context its handler sees on got and returns 1.
func spanRecorder(t *testing.T, n *omq.Node, service string, got chan<- seen, opts ...omq.BindOption) *omq.Instance {
	t.Helper()
	return bind(t, n, service, omq.Handlers{
		"f": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			got <- seen{trace.SpanContextFromContext(ctx), r.Instance}
			return 1, nil
		}),
	}, opts...)
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// A call made in a handler with the handler's context continues the
// caller's trace: the inner handler sees the same trace id, its call's
// span is a child of the outer call's span, and both spans come back to
// the caller that started the trace, with the instances' timings.
func TestTrace_NestedCallContinuesTheTrace(t *testing.T) {
	e := newEnv(t)
	innerNode, _ := e.node()
	outerNode, _ := e.node()
	caller, _ := e.node()
	innerSeen := make(chan seen, 1)
	outerSeen := make(chan seen, 1)
	inner := spanRecorder(t, innerNode, "inner", innerSeen, omq.NoDurable())
	outer := bind(t, outerNode, "outer", omq.Handlers{
		"f": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			outerSeen <- seen{trace.SpanContextFromContext(ctx), r.Instance}
			var n int
			err := outerNode.Lookup("inner").Call(ctx, "f", nil, &n)
			return n + 1, err
		}),
	}, omq.NoDurable())

	ctx, tr := omq.StartTrace(ctxT(t, 10*time.Second))
	var got int
	if err := caller.Lookup("outer").Call(ctx, "f", nil, &got); err != nil || got != 2 {
		t.Fatalf("call: %d, %v", got, err)
	}
	o, i := receive(t, outerSeen, "outer call"), receive(t, innerSeen, "inner call")
	for _, s := range []seen{o, i} {
		if s.sc.TraceID().String() != tr.TraceID() || !s.sc.IsSampled() || !s.sc.IsRemote() {
			t.Fatalf("%s's handler sees %+v, want trace %s, sampled, remote", s.instance, s.sc, tr.TraceID())
		}
	}
	if o.sc.SpanID().String() == tr.SpanID() || i.sc.SpanID() == o.sc.SpanID() {
		t.Fatalf("each call has a span of its own: caller %s, outer %s, inner %s", tr.SpanID(), o.sc.SpanID(), i.sc.SpanID())
	}
	spans := tr.Spans()
	if len(spans) != 2 || tr.Dropped() != 0 {
		t.Fatalf("spans %+v, dropped %d; want the inner call's and the outer call's", spans, tr.Dropped())
	}
	in, out := spans[0], spans[1]
	if out.Service != "outer" || out.SpanID != o.sc.SpanID().String() || out.ParentID != tr.SpanID() || out.Instance != outer.ID() {
		t.Fatalf("outer span %+v: want span %s, parent %s, instance %s", out, o.sc.SpanID(), tr.SpanID(), outer.ID())
	}
	if in.Service != "inner" || in.SpanID != i.sc.SpanID().String() || in.ParentID != out.SpanID || in.Instance != inner.ID() {
		t.Fatalf("inner span %+v: want span %s, parent %s (the outer call's), instance %s", in, i.sc.SpanID(), out.SpanID, inner.ID())
	}
	if out.Total <= 0 || out.Handler <= 0 || out.Handler > out.Total || in.Total > out.Handler {
		t.Fatalf("timings: outer %+v, inner %+v: the outer handler's time holds the inner call", out, in)
	}
}

// headersOf answers every request on subject with {} and hands over its
// headers.
func headersOf(t *testing.T, nc *nats.Conn, subject string) <-chan nats.Header {
	t.Helper()
	ch := make(chan nats.Header, 4)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		ch <- m.Header
		_ = m.Respond([]byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// An untraced call sends no trace header; a traced one sends a W3C
// traceparent with the trace's id and a new span id, and its tracestate.
func TestTrace_HeadersOnTheWire(t *testing.T) {
	e := newEnv(t)
	n, nc := e.node()
	hdrs := headersOf(t, nc, "dpc.svc.raw.f")
	stub := n.Lookup("raw")
	ctx := ctxT(t, 10*time.Second)

	if err := stub.Call(ctx, "f", nil, nil); err != nil {
		t.Fatal(err)
	}
	h := receive(t, hdrs, "untraced call")
	for _, k := range []string{omq.HeaderTraceparent, omq.HeaderTracestate, omq.HeaderParentSpan} {
		if _, ok := h[k]; ok {
			t.Fatalf("untraced call sent %s: %v", k, h)
		}
	}

	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, TraceState: ts,
	})
	tctx := trace.ContextWithSpanContext(ctx, parent)
	if err := stub.Call(tctx, "f", nil, nil); err != nil {
		t.Fatal(err)
	}
	h = receive(t, hdrs, "traced call")
	tp := strings.Split(h.Get(omq.HeaderTraceparent), "-")
	if len(tp) != 4 || tp[0] != "00" || tp[1] != parent.TraceID().String() || tp[2] == parent.SpanID().String() || tp[3] != "01" {
		t.Fatalf("traceparent %q: want 00-%s-<a new span>-01", h.Get(omq.HeaderTraceparent), parent.TraceID())
	}
	if h.Get(omq.HeaderTracestate) != "vendor=x" || h.Get(omq.HeaderParentSpan) != parent.SpanID().String() {
		t.Fatalf("headers %v: want tracestate vendor=x and the parent span", h)
	}

	// The pooled request's header forgets the trace for the next call.
	if err := stub.Call(ctx, "f", nil, nil); err != nil {
		t.Fatal(err)
	}
	if h := receive(t, hdrs, "untraced call"); h.Get(omq.HeaderTraceparent) != "" {
		t.Fatalf("an untraced call after a traced one sent %v", h)
	}
}

// logRecords is a slog.Handler keeping every record.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// calls returns the "omq: call" records, each as its attributes.
func (l *logRecords) calls() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if r.Message != "omq: call" {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

// A traceparent from the wire decides what the instance does: a sampled
// one is logged at INFO and answered with Dpc-Trace; an unsampled one is
// logged at DEBUG, continued in the handler's context, and answered
// without; a malformed one is ignored (W3C), never an error.
func TestTrace_IncomingTraceparent(t *testing.T) {
	e := newEnv(t)
	logs := &logRecords{}
	server, _ := e.node(omq.WithLogger(slog.New(logs)))
	_, nc := e.node()
	got := make(chan seen, 1)
	inst := spanRecorder(t, server, "svc", got, omq.NoDurable())
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	for _, tc := range []struct {
		name, traceparent string
		valid, sampled    bool
	}{
		{"sampled", "00-" + tid + "-" + sid + "-01", true, true},
		{"not sampled", "00-" + tid + "-" + sid + "-00", true, false},
		{"garbage", "not a traceparent", false, false},
		{"zero trace id", "00-00000000000000000000000000000000-" + sid + "-01", false, false},
		{"upper case", "00-" + strings.ToUpper(tid) + "-" + sid + "-01", false, false},
		{"extra field in version 00", "00-" + tid + "-" + sid + "-01-extra", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.calls())
			msg := &nats.Msg{Subject: "dpc.svc.svc.f", Header: nats.Header{omq.HeaderTraceparent: {tc.traceparent}, omq.HeaderParentSpan: {"b7ad6b7169203331"}}}
			resp, err := nc.RequestMsg(msg, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get(omq.HeaderErrorCode) != "" || string(resp.Data) != "1" {
				t.Fatalf("reply %q %v: want 1 and no error", resp.Data, resp.Header)
			}
			s := receive(t, got, "call")
			if s.sc.IsValid() != tc.valid || (tc.valid && (s.sc.TraceID().String() != tid || s.sc.SpanID().String() != sid || s.sc.IsSampled() != tc.sampled)) {
				t.Fatalf("handler sees %+v (valid %v)", s.sc, s.sc.IsValid())
			}
			report := resp.Header.Get(omq.HeaderTrace)
			if tc.sampled != (report != "") {
				t.Fatalf("Dpc-Trace %q, want one only for a sampled call", report)
			}
			if report != "" {
				var r omq.TraceReport
				if err := json.Unmarshal([]byte(report), &r); err != nil || r.Instance != inst.ID() || r.Handler <= 0 {
					t.Fatalf("Dpc-Trace %s (%v): want instance %s and its handler time", report, err, inst.ID())
				}
			}
			recs := logs.calls()[before:]
			if !tc.valid {
				if len(recs) != 0 {
					t.Fatalf("an untraced call was logged: %v", recs)
				}
				return
			}
			want := map[string]string{
				"level": "DEBUG", "trace_id": tid, "span_id": sid, "parent_span_id": "b7ad6b7169203331",
				"service": "svc", "function": "f", "instance": inst.ID(), "kind": "unicast", "code": "0",
			}
			if tc.sampled {
				want["level"] = "INFO"
			}
			if len(recs) != 1 {
				t.Fatalf("records %v, want one", recs)
			}
			for k, v := range want {
				if recs[0][k] != v {
					t.Fatalf("record %v: %s is %q, want %q", recs[0], k, recs[0][k], v)
				}
			}
			for _, k := range []string{"queue_wait", "handler"} {
				if _, ok := recs[0][k]; !ok {
					t.Fatalf("record %v lacks %s", recs[0], k)
				}
			}
		})
	}
}

// One-way, multi and durable calls carry the trace too: each instance's
// handler sees it, and a multi call records one span per instance.
func TestTrace_EveryLane(t *testing.T) {
	e := newEnv(t)
	a, _ := e.node()
	b, _ := e.node()
	caller, _ := e.node()
	got := make(chan seen, 4)
	ia := spanRecorder(t, a, "svc", got)
	ib := spanRecorder(t, b, "svc", got)
	stub := caller.Lookup("svc")

	for _, lane := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"send", func(ctx context.Context) error { return stub.Send(ctx, "f", nil) }},
		{"durable", func(ctx context.Context) error { return stub.Send(ctx, "f", nil, omq.Durable()) }},
		{"multisend", func(ctx context.Context) error { return stub.MultiSend(ctx, "f", nil) }},
		{"multicall", func(ctx context.Context) error { _, err := stub.MultiCall(ctx, "f", nil, omq.Expect(2)); return err }},
	} {
		t.Run(lane.name, func(t *testing.T) {
			ctx, tr := omq.StartTrace(ctxT(t, 10*time.Second))
			if err := lane.call(ctx); err != nil {
				t.Fatal(err)
			}
			n := 1
			if strings.HasPrefix(lane.name, "multi") {
				n = 2
			}
			for range n {
				if s := receive(t, got, "call"); s.sc.TraceID().String() != tr.TraceID() {
					t.Fatalf("instance %s's handler sees trace %s, want %s", s.instance, s.sc.TraceID(), tr.TraceID())
				}
			}
			if lane.name != "multicall" {
				return
			}
			spans := tr.Spans()
			insts := map[string]bool{}
			for _, s := range spans {
				insts[s.Instance] = true
			}
			if len(spans) != 2 || !insts[ia.ID()] || !insts[ib.ID()] || spans[0].SpanID != spans[1].SpanID {
				t.Fatalf("multi call spans %+v: want the call's span once per instance", spans)
			}
		})
	}
}

// A handler that makes more calls than a trace keeps sends at most
// MaxTraceSpans spans back and counts the rest as dropped; the caller
// keeps the call's own span first.
func TestTrace_ReportIsBounded(t *testing.T) {
	e := newEnv(t)
	server, _ := e.node()
	_, nc := e.node()
	caller, _ := e.node()
	bind(t, server, "leaf", &Calc{}, omq.NoDurable())
	const calls = omq.MaxTraceSpans + 10
	bind(t, server, "fan", omq.Handlers{
		"f": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			for range calls {
				if err := server.Lookup("leaf").Call(ctx, "nop", nil, nil); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}),
	}, omq.NoDurable())

	// The header on the wire.
	msg := &nats.Msg{Subject: "dpc.svc.fan.f", Header: nats.Header{omq.HeaderTraceparent: {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}
	resp, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r omq.TraceReport
	if err := json.Unmarshal([]byte(resp.Header.Get(omq.HeaderTrace)), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Spans) != omq.MaxTraceSpans || r.Dropped != calls-omq.MaxTraceSpans {
		t.Fatalf("Dpc-Trace: %d spans, %d dropped; want %d and %d", len(r.Spans), r.Dropped, omq.MaxTraceSpans, calls-omq.MaxTraceSpans)
	}

	// The caller's trace.
	ctx, tr := omq.StartTrace(ctxT(t, 10*time.Second))
	if err := caller.Lookup("fan").Call(ctx, "f", nil, nil); err != nil {
		t.Fatal(err)
	}
	spans := tr.Spans()
	if len(spans) != omq.MaxTraceSpans || tr.Dropped() != calls+1-omq.MaxTraceSpans {
		t.Fatalf("trace: %d spans, %d dropped; want %d and %d", len(spans), tr.Dropped(), omq.MaxTraceSpans, calls+1-omq.MaxTraceSpans)
	}
	if last := spans[len(spans)-1]; last.Service != "fan" || last.ParentID != tr.SpanID() {
		t.Fatalf("the call's own span is not kept: last %+v", last)
	}
}

// Trace a call whose handler calls another service: the trace has both
// calls, the nested one as a child of the outer one.
func ExampleStartTrace() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	if _, err := node.Bind(ctx, "tst", Tst{}, omq.NoDurable()); err != nil {
		panic(err)
	}
	_, err := node.Bind(ctx, "relay", omq.Handlers{
		"count": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			var n int
			// The handler's ctx: the call joins the caller's trace.
			err := node.Lookup("tst").Call(ctx, "countChars", omq.Args("héllo"), &n)
			return n, err
		}),
	}, omq.NoDurable())
	if err != nil {
		panic(err)
	}

	tctx, tr := omq.StartTrace(ctx)
	var n int
	if err := node.Lookup("relay").Call(tctx, "count", nil, &n); err != nil {
		panic(err)
	}
	spans := tr.Spans()
	fmt.Println("result:", n)
	for _, s := range spans {
		fmt.Printf("%s.%s, child of the outer call: %v\n", s.Service, s.Function, s.ParentID == spans[1].SpanID)
	}
	// Output:
	// result: 5
	// tst.countChars, child of the outer call: true
	// relay.count, child of the outer call: false
}
