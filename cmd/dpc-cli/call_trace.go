package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// call --trace and multi-call --trace: the call is made in a new sampled
// trace (omq.StartTrace), and what the instances sent back (Dpc-Trace,
// docs/PROTOCOL.md) is shown as a tree of calls: where the time went.

// traceOutput is --trace's part of the --json output.
type traceOutput struct {
	TraceID string `json:"trace_id"`
	// Calls are the calls the command made, each with the calls its
	// handler made in turn.
	Calls []*traceCall `json:"calls"`
	// Dropped counts spans not kept (past omq.MaxTraceSpans per handler
	// and for the whole trace).
	Dropped int `json:"dropped,omitempty"`
}

// traceCall is one call of the tree.
type traceCall struct {
	Span     string `json:"span"`
	Parent   string `json:"parent,omitempty"`
	Service  string `json:"service"`
	Function string `json:"function"`
	Instance string `json:"instance,omitempty"`
	// Total is the call as its caller saw it; Wait and Handler the
	// instance's queue wait and handler time; Hops the rest (the trips
	// to and from the instance).
	Total   time.Duration `json:"total_ns"`
	Wait    time.Duration `json:"wait_ns"`
	Handler time.Duration `json:"handler_ns"`
	Hops    time.Duration `json:"hops_ns"`
	Code    int           `json:"code,omitempty"`
	Calls   []*traceCall  `json:"calls,omitempty"`
}

// startTrace starts a sampled trace of the calls made with the context it
// returns when on (--trace); else it returns ctx and nil.
func startTrace(ctx context.Context, on bool) (context.Context, *omq.Trace) {
	if !on {
		return ctx, nil
	}
	return omq.StartTrace(ctx)
}

// traceOf is the tree of tr, nil when nothing was traced.
func traceOf(tr *omq.Trace) *traceOutput {
	if tr == nil {
		return nil
	}
	t := traceTree(tr)
	return &t
}

// traceTree arranges a trace's spans into the calls the command made. A
// call's spans are recorded after those of the calls its handler made
// (omq.Trace.Spans), so each span takes as its calls the spans before it
// that name it as parent and are not yet taken. (By order, not only by
// id: the instances of a multi call share its span.)
func traceTree(tr *omq.Trace) traceOutput {
	out := traceOutput{TraceID: tr.TraceID(), Calls: []*traceCall{}, Dropped: tr.Dropped()}
	var pending []*traceCall
	for _, s := range tr.Spans() {
		c := &traceCall{Span: s.SpanID, Parent: s.ParentID, Service: s.Service, Function: s.Function, Instance: s.Instance,
			Total: s.Total, Wait: s.QueueWait, Handler: s.Handler, Hops: s.Hops(), Code: s.Code}
		kept := pending[:0]
		for _, p := range pending {
			if p.Parent == c.Span {
				c.Calls = append(c.Calls, p)
			} else {
				kept = append(kept, p)
			}
		}
		pending = append(kept, c)
	}
	out.Calls = append(out.Calls, pending...)
	return out
}

// printTrace writes the tree for a person: one line per call, the calls
// a handler made indented under it.
func printTrace(w io.Writer, t traceOutput) {
	fmt.Fprintf(w, "trace %s (its instances' log records: dpc-cli logs --trace %s)\n", t.TraceID, t.TraceID)
	rows := [][]string{{"call", "instance", "total", "queue", "handler", "hops"}}
	var walk func(cs []*traceCall, depth int)
	walk = func(cs []*traceCall, depth int) {
		for _, c := range cs {
			name := strings.Repeat("  ", depth) + c.Service + "." + c.Function
			if c.Code != 0 {
				name += fmt.Sprintf(" (error %d)", c.Code)
			}
			inst, wait, handler, hops := "-", "-", "-", "-"
			if c.Instance != "" {
				inst, wait, handler, hops = c.Instance, duration(c.Wait), duration(c.Handler), duration(c.Hops)
			}
			rows = append(rows, []string{name, inst, duration(c.Total), wait, handler, hops})
			walk(c.Calls, depth+1)
		}
	}
	walk(t.Calls, 0)
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, v := range r {
			widths[i] = max(widths[i], len([]rune(v)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, v := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(v)))
			switch {
			case i < 2: // names left, figures right
				b.WriteString("  " + v + pad)
			default:
				b.WriteString("  " + pad + v)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if t.Dropped > 0 {
		fmt.Fprintf(w, "  (%d more calls not kept: a trace keeps %d per handler)\n", t.Dropped, omq.MaxTraceSpans)
	}
}

// duration rounds d for reading: microseconds under a millisecond, three
// figures above.
func duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 100*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < 10*time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
