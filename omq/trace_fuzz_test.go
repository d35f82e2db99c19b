package omq

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// FuzzTraceHeaders feeds arbitrary trace headers, from a caller and from
// an instance, to what reads them: a traceparent is either a valid span
// context or ignored, and a Dpc-Trace either a report within the bounds
// or ignored, never a panic or an error.
func FuzzTraceHeaders(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "b7ad6b7169203331", `{"instance":"x","wait_ns":1,"handler_ns":2,"spans":[{"span":"00f067aa0ba902b7","service":"s","function":"f","total_ns":3},{"span":"a","service":"s\u001b[2J","function":"f"}],"dropped":1}`)
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "zz", `{"dropped":-5}`)
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "", `[`)
	f.Fuzz(func(t *testing.T, traceparent, parent, report string) {
		hdr := nats.Header{HeaderTraceparent: {traceparent}, HeaderParentSpan: {parent}, HeaderTrace: {report}}
		if tr := incomingTraceOf(hdr); tr != nil {
			if !tr.sc.IsValid() || !tr.sc.IsRemote() || (tr.parent != "" && len(tr.parent) != 16) {
				t.Fatalf("traceparent %q, parent %q: %+v", traceparent, parent, tr)
			}
		}
		if r := readTraceReport(hdr); r != nil {
			if len(r.Spans) > MaxTraceSpans || r.Dropped < 0 || r.Dropped > maxDropped {
				t.Fatalf("Dpc-Trace %q: %d spans, %d dropped", report, len(r.Spans), r.Dropped)
			}
			for _, s := range r.Spans {
				if !validSpan(s) {
					t.Fatalf("Dpc-Trace %q: span %+v kept", report, s)
				}
			}
		}
	})
}

// The Dpc-Trace example of docs/PROTOCOL.md is one a caller reads.
func TestTrace_DocExampleIsAReport(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(doc), "### Tracing\n")
	m := regexp.MustCompile("(?s)```\n(.*?)```").FindStringSubmatch(after)
	if m == nil {
		t.Fatal("no Dpc-Trace example under ### Tracing in docs/PROTOCOL.md")
	}
	r := readTraceReport(nats.Header{HeaderTrace: {strings.ReplaceAll(m[1], "\n", "")}})
	if r == nil || len(r.Spans) != 1 || r.Spans[0].Service != "tst" || r.Handler != 2100*time.Microsecond {
		t.Fatalf("the example does not read as a report: %+v\n%s", r, m[1])
	}
}
