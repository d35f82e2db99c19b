package omq

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing. A call whose context carries an OpenTelemetry span context
// (trace.SpanContextFromContext) is sent with a W3C traceparent naming a
// new span, the call's, in the same trace; the instance hands its handler
// a context carrying that span context as its remote parent, so calls the
// handler makes, and a developer's own OpenTelemetry spans, continue the
// trace. A context without one sends no trace header at all: untraced
// calls cost what they did.
//
// When the trace is sampled, the instance also answers with Dpc-Trace:
// its own timing and the spans of the calls its handler made, which a
// caller that records (StartTrace) adds to its Trace. See
// docs/PROTOCOL.md, "Tracing".

// Trace headers. traceparent and tracestate are W3C Trace Context's, in
// its lower case.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	// HeaderParentSpan is the span (16 hex digits) in whose context the
	// caller made the call: the parent of the call's span, for the
	// instance's log record. Optional.
	HeaderParentSpan = "Dpc-Parent-Span"
	// HeaderTrace is a reply's timing, sent only for a sampled call: a
	// JSON TraceReport.
	HeaderTrace = "Dpc-Trace"
)

// MaxTraceSpans bounds the spans one Trace keeps, and so the spans one
// Dpc-Trace header carries; the rest are counted as dropped.
const MaxTraceSpans = 64

// maxTraceHeader bounds the Dpc-Trace a caller reads: a longer one (from
// an instance that does not keep the bound) is ignored.
const maxTraceHeader = 32 << 10

// Span is one call of a trace as its caller saw it, with the answering
// instance's own figures when it sent them.
type Span struct {
	SpanID   string `json:"span"`
	ParentID string `json:"parent,omitempty"`
	Service  string `json:"service"`
	Function string `json:"function"`
	// Instance is the instance that answered ("" when none did, or it
	// sent no timing).
	Instance string `json:"instance,omitempty"`
	// Total is the call's time as its caller saw it, send to reply.
	Total time.Duration `json:"total_ns"`
	// QueueWait is from the caller's send time to the handler's start
	// (so it includes the request's trip); Handler is the handler's time.
	QueueWait time.Duration `json:"wait_ns"`
	Handler   time.Duration `json:"handler_ns"`
	// Code is the call's error code, 0 when it succeeded.
	Code int `json:"code,omitempty"`
}

// Hops is the call's time outside the instance: Total less queue wait
// and handler time, 0 when the instance sent no timing (or the clocks of
// caller and instance disagree by more than it).
func (s Span) Hops() time.Duration {
	if s.Instance == "" {
		return 0
	}
	return max(0, s.Total-s.QueueWait-s.Handler)
}

// TraceReport is a Dpc-Trace header: the answering instance's timing and
// the spans of the calls its handler made.
type TraceReport struct {
	Instance  string        `json:"instance"`
	QueueWait time.Duration `json:"wait_ns"`
	Handler   time.Duration `json:"handler_ns"`
	Spans     []Span        `json:"spans,omitempty"`
	Dropped   int           `json:"dropped,omitempty"`
}

// Trace records the spans of the calls made with a context from
// StartTrace, and of the calls those made in turn, up to MaxTraceSpans.
// It is safe for concurrent use.
type Trace struct {
	sc      trace.SpanContext
	mu      sync.Mutex
	spans   []Span
	dropped int
}

type traceKey struct{}

// StartTrace returns a context whose calls are traced and sampled, and the
// Trace that records them: the trace of ctx's span context if it has a
// sampled one, else a new trace.
func StartTrace(ctx context.Context) (context.Context, *Trace) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		var tid trace.TraceID
		binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rand.Uint64()|1) // never all zero
		sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: newSpanID(), TraceFlags: trace.FlagsSampled})
		ctx = trace.ContextWithSpanContext(ctx, sc)
	}
	t := &Trace{sc: sc}
	return context.WithValue(ctx, traceKey{}, t), t
}

// TraceID is the trace's id, 32 hex digits: what the instances' log
// records carry as trace_id.
func (t *Trace) TraceID() string { return t.sc.TraceID().String() }

// SpanID is the span the trace's calls are children of.
func (t *Trace) SpanID() string { return t.sc.SpanID().String() }

// Spans returns the spans recorded so far, each call after the calls it
// made.
func (t *Trace) Spans() []Span {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Span(nil), t.spans...)
}

// Dropped is how many spans were not kept, past MaxTraceSpans.
func (t *Trace) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// add records the nested spans of a call, then the call's own; past
// MaxTraceSpans the call's own span is kept before those of its calls.
func (t *Trace) add(s Span, r *TraceReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	room := MaxTraceSpans - len(t.spans)
	if r != nil {
		t.dropped = min(t.dropped+r.Dropped, maxDropped)
		keep := min(len(r.Spans), max(room-1, 0))
		t.spans = append(t.spans, r.Spans[:keep]...)
		t.dropped += len(r.Spans) - keep
		room -= keep
	}
	if room <= 0 {
		t.dropped++
		return
	}
	t.spans = append(t.spans, s)
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	binary.BigEndian.PutUint64(id[:], rand.Uint64()|1<<63) // never all zero
	return id
}

// headerCarrier reads and writes W3C headers in a NATS header, whose keys
// are case-sensitive: W3C's lower-case names.
type headerCarrier nats.Header

func (h headerCarrier) Get(k string) string { return nats.Header(h).Get(k) }
func (h headerCarrier) Set(k, v string)     { h[k] = []string{v} }
func (h headerCarrier) Keys() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}

// callSpan is the span of one traced call, caller side.
type callSpan struct {
	sc          trace.SpanContext
	rec         *Trace // nil: nothing records the span
	start       time.Time
	traceparent string
	tracestate  string
	parentHex   string
	report      *TraceReport // of the last reply
}

// startCallSpan starts the span of a call made with ctx, or returns nil
// (at the cost of one context lookup) when ctx carries no span context.
func startCallSpan(ctx context.Context) *callSpan {
	parent := trace.SpanContextFromContext(ctx)
	if !parent.IsValid() {
		return nil
	}
	sc := parent.WithSpanID(newSpanID()).WithRemote(false)
	c := &callSpan{sc: sc, start: time.Now(), parentHex: parent.SpanID().String()}
	if sc.IsSampled() {
		c.rec, _ = ctx.Value(traceKey{}).(*Trace)
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	c.traceparent, c.tracestate = carrier[HeaderTraceparent], carrier[HeaderTracestate]
	return c
}

// setHeaders puts the span's headers in h.
func (c *callSpan) setHeaders(h nats.Header) {
	h[HeaderTraceparent] = []string{c.traceparent}
	if c.tracestate != "" {
		h[HeaderTracestate] = []string{c.tracestate}
	}
	h[HeaderParentSpan] = []string{c.parentHex}
}

// replied notes the reply of an attempt: its Dpc-Trace, when something
// records the span.
func (c *callSpan) replied(h nats.Header) {
	if c.rec != nil {
		c.report = readTraceReport(h)
	}
}

// finish records the call, which ended with err.
func (c *callSpan) finish(svc, fn string, err error) {
	if c == nil || c.rec == nil {
		return
	}
	c.record(Span{Service: svc, Function: fn, Total: time.Since(c.start), Code: errorCode(err)}, c.report)
}

// finishMulti records one instance's reply to a multi call.
func (c *callSpan) finishMulti(svc, fn string, h nats.Header, e *Error) {
	if c == nil || c.rec == nil {
		return
	}
	s := Span{Service: svc, Function: fn, Total: time.Since(c.start)}
	if e != nil {
		s.Code = e.Code
	}
	r := readTraceReport(h)
	if r == nil {
		// No timing, but which instance answered.
		r = &TraceReport{Instance: h.Get(HeaderInstance)}
	}
	c.record(s, r)
}

func (c *callSpan) record(s Span, r *TraceReport) {
	s.SpanID, s.ParentID = c.sc.SpanID().String(), c.parentHex
	if r != nil {
		s.Instance, s.QueueWait, s.Handler = r.Instance, r.QueueWait, r.Handler
	}
	c.rec.add(s, r)
}

// errorCode is err's code for a span: an *Error's, 408 for a timeout,
// 503 without an instance, 500 for anything else.
func errorCode(err error) int {
	var e *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrTimeout):
		return 408
	case errors.Is(err, ErrNoResponders):
		return CodeUnavailable
	}
	return CodeHandlerFailure
}

// readTraceReport reads a reply's Dpc-Trace, nil when it has none or one
// that is malformed or too long (a trace never fails a call).
func readTraceReport(h nats.Header) *TraceReport {
	v := h[HeaderTrace]
	if len(v) == 0 || len(v[0]) > maxTraceHeader {
		return nil
	}
	var r TraceReport
	if json.Unmarshal([]byte(v[0]), &r) != nil || !ValidName(r.Instance) || r.QueueWait < 0 || r.Handler < 0 {
		return nil
	}
	r.Dropped = min(max(r.Dropped, 0), maxDropped)
	// What a caller shows of a span is names, ids and figures: a span
	// with anything else (from an instance in another language with a
	// bug, say) is dropped rather than printed.
	kept := r.Spans[:0]
	for _, s := range r.Spans {
		if len(kept) < MaxTraceSpans && validSpan(s) {
			kept = append(kept, s)
		} else {
			r.Dropped = min(r.Dropped+1, maxDropped)
		}
	}
	r.Spans = kept
	return &r
}

// maxDropped bounds the dropped count a report may claim.
const maxDropped = 1 << 30

func validSpan(s Span) bool {
	_, err := trace.SpanIDFromHex(s.SpanID)
	if err != nil || !ValidName(s.Service) || !ValidName(s.Function) || s.Total < 0 || s.QueueWait < 0 || s.Handler < 0 || s.Code < 0 {
		return false
	}
	if s.ParentID != "" {
		if _, err := trace.SpanIDFromHex(s.ParentID); err != nil {
			return false
		}
	}
	return s.Instance == "" || ValidName(s.Instance)
}

// incomingTrace is the trace context of a call an instance received.
type incomingTrace struct {
	sc     trace.SpanContext // the call's span, remote
	parent string            // Dpc-Parent-Span if well formed
	rec    *Trace            // the handler's calls, when sampled
}

// incomingTraceOf reads a request's trace context: nil without a
// traceparent, or with a malformed one (W3C: ignore it).
func incomingTraceOf(hdr nats.Header) *incomingTrace {
	if len(hdr[HeaderTraceparent]) == 0 {
		return nil
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), headerCarrier(hdr)))
	if !sc.IsValid() {
		return nil
	}
	t := &incomingTrace{sc: sc}
	if id, err := trace.SpanIDFromHex(hdr.Get(HeaderParentSpan)); err == nil {
		t.parent = id.String()
	}
	if sc.IsSampled() {
		t.rec = &Trace{sc: sc}
	}
	return t
}

// context is the handler's ctx: with the call's span context as remote
// parent and, when sampled, the Trace its calls are recorded in.
func (t *incomingTrace) context(ctx context.Context) context.Context {
	ctx = trace.ContextWithRemoteSpanContext(ctx, t.sc)
	if t.rec != nil {
		ctx = context.WithValue(ctx, traceKey{}, t.rec)
	}
	return ctx
}

// report is the reply's Dpc-Trace, "" unless the call is sampled.
func (t *incomingTrace) report(instance string, wait, handler time.Duration) string {
	if t == nil || t.rec == nil {
		return ""
	}
	r := TraceReport{Instance: instance, QueueWait: wait, Handler: handler}
	r.Spans, r.Dropped = t.rec.Spans(), t.rec.Dropped()
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	return string(b)
}

// logCall writes the instance's record of one traced call: at INFO when
// the trace is sampled, at DEBUG otherwise. trace_id is what `dpc-cli
// logs --trace` finds records by.
func (i *Instance) logCall(t *incomingTrace, kind Kind, fnName string, wait, handler time.Duration, e *Error) {
	level := slog.LevelDebug
	if t.sc.IsSampled() {
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !i.node.log.Enabled(ctx, level) {
		return
	}
	code := 0
	if e != nil {
		code = e.Code
	}
	i.node.log.LogAttrs(ctx, level, "omq: call",
		slog.String("trace_id", t.sc.TraceID().String()),
		slog.String("span_id", t.sc.SpanID().String()),
		slog.String("parent_span_id", t.parent),
		slog.String("service", i.name),
		slog.String("function", fnName),
		slog.String("instance", i.id),
		slog.String("kind", kind.String()),
		slog.Duration("queue_wait", wait),
		slog.Duration("handler", handler),
		slog.Int("code", code))
}
